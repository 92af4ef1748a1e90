// SPDX-License-Identifier: Apache-2.0
/*
 * Sockets for the node's transparent proxy. Node has no API for IP_TRANSPARENT, and the proxy's
 * listener needs it: the datapath assigns it packets addressed to other hosts (bpf_sk_assign), and
 * only a transparent socket may accept them and answer from the original destination. The socket
 * is made here (in the node's network namespace when one is named), bound and listening, and its
 * fd handed to Node (`net.Server.listen({ fd })`), which owns and closes it from then on.
 */
#include "napi_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IP_TRANSPARENT
#define IP_TRANSPARENT 19
#endif
#ifndef IPV6_TRANSPARENT
#define IPV6_TRANSPARENT 75
#endif

struct listen_req {
	int family;	/* AF_INET | AF_INET6 */
	int type;	/* SOCK_STREAM | SOCK_DGRAM */
	char addr[64];
	uint32_t port;
	bool reuseport;	/* join the port's SO_REUSEPORT group (the agent and cilium-l7proxy share the proxy ports) */
	int fd;		/* out */
	const char *failed;
};

static int make_listener(void *arg)
{
	struct listen_req *r = arg;
	int one = 1;
	int fd = socket(r->family, r->type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0) {
		r->failed = "socket";
		return -errno;
	}
	int v6 = r->family == AF_INET6;
	struct sockaddr_storage ss = { 0 };
	socklen_t len;

	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(r->port);
		if (inet_pton(AF_INET6, r->addr, &s6->sin6_addr) != 1) {
			close(fd);
			r->failed = "inet_pton";
			return -EINVAL;
		}
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(r->port);
		if (inet_pton(AF_INET, r->addr, &s4->sin_addr) != 1) {
			close(fd);
			r->failed = "inet_pton";
			return -EINVAL;
		}
		len = sizeof(*s4);
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) {
		r->failed = "setsockopt(SO_REUSEADDR)";
		goto fail;
	}
	if (r->reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
		r->failed = "setsockopt(SO_REUSEPORT)";
		goto fail;
	}
	if (v6 ? setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one))
	       : setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one))) {
		r->failed = "setsockopt(IP_TRANSPARENT)";
		goto fail;
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		r->failed = "bind";
		goto fail;
	}
	if (r->type == SOCK_STREAM && listen(fd, 4096) < 0) {
		r->failed = "listen";
		goto fail;
	}
	r->fd = fd;
	return 0;
fail: {
	int err = errno;

	close(fd);
	return -err;
}
}

/*
 * transparentListen(netns|null, family 4|6, proto 'tcp'|'udp', address, port, reuseport?) -> fd.
 * reuseport: every such socket of the same user on the port is one group; the datapath's
 * bpf_sk_lookup finds the group and bpf_sk_assign picks a live member (Linux >= 6.5).
 */
static napi_value transparent_listen(napi_env env, napi_callback_info info)
{
	size_t argc = 6;
	napi_value argv[6];
	char ns[4096], proto[8];
	uint32_t family;
	struct listen_req r = { .fd = -1 };

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	bool have_ns = argc >= 1 && !arg_nullish(env, argv[0]);

	if (argc < 5 || (have_ns && !arg_str(env, argv[0], ns, sizeof(ns))) || !arg_u32(env, argv[1], &family) ||
	    (family != 4 && family != 6) || !arg_str(env, argv[2], proto, sizeof(proto)) ||
	    (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0) || !arg_str(env, argv[3], r.addr, sizeof(r.addr)) ||
	    !arg_u32(env, argv[4], &r.port) || r.port > 65535)
		return throw_type(env, "transparentListen(netns, family, proto, address, port): netns a path or null, "
				       "family 4|6, proto tcp|udp, address a string, port 0..65535, reuseport a boolean");
	if (argc >= 6 && !arg_nullish(env, argv[5]) && napi_get_value_bool(env, argv[5], &r.reuseport) != napi_ok)
		return throw_type(env, "transparentListen(netns, family, proto, address, port, reuseport): reuseport a boolean");
	r.family = family == 6 ? AF_INET6 : AF_INET;
	r.type = strcmp(proto, "tcp") == 0 ? SOCK_STREAM : SOCK_DGRAM;
	int ret = in_netns(have_ns ? ns : NULL, make_listener, &r);

	if (ret < 0)
		return throw_errno(env, r.failed ? r.failed : "setns", -ret, have_ns ? ns : r.addr);
	return make_i32(env, r.fd);
}

struct sock_req {
	int family;
	int fd;
};

static int make_socket(void *arg)
{
	struct sock_req *r = arg;

	r->fd = socket(r->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	return r->fd < 0 ? -errno : 0;
}

/* tcpSocketIn(netns|null, family 4|6) -> an unconnected TCP socket of that netns (for net.Socket({ fd }).connect) */
static napi_value tcp_socket_in(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	char ns[4096];
	uint32_t family;
	struct sock_req r = { .fd = -1 };

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	bool have_ns = argc >= 1 && !arg_nullish(env, argv[0]);

	if (argc < 2 || (have_ns && !arg_str(env, argv[0], ns, sizeof(ns))) || !arg_u32(env, argv[1], &family) ||
	    (family != 4 && family != 6))
		return throw_type(env, "tcpSocketIn(netns, family): netns a path or null, family 4|6");
	r.family = family == 6 ? AF_INET6 : AF_INET;
	int ret = in_netns(have_ns ? ns : NULL, make_socket, &r);

	if (ret < 0)
		return throw_errno(env, "socket", -ret, have_ns ? ns : NULL);
	return make_i32(env, r.fd);
}

static int make_raw(void *arg)
{
	struct sock_req *r = arg;

	/* IPPROTO_RAW implies IP_HDRINCL: the caller writes the whole IPv4 header */
	r->fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_RAW);
	return r->fd < 0 ? -errno : 0;
}

/*
 * rawSocketIn(netns|null) -> an IPv4 raw socket (IP_HDRINCL) of that netns. The DNS proxy answers
 * a pod from a server address:port it cannot bind (a server of the node itself holds the port
 * without SO_REUSEADDR) by writing the datagram whole; needs CAP_NET_RAW.
 */
static napi_value raw_socket_in(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	char ns[4096];
	struct sock_req r = { .fd = -1 };

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	bool have_ns = argc >= 1 && !arg_nullish(env, argv[0]);

	if (have_ns && !arg_str(env, argv[0], ns, sizeof(ns)))
		return throw_type(env, "rawSocketIn(netns): netns a path or null");
	int ret = in_netns(have_ns ? ns : NULL, make_raw, &r);

	if (ret < 0)
		return throw_errno(env, "socket", -ret, have_ns ? ns : NULL);
	return make_i32(env, r.fd);
}

/* rawSendTo(fd, address, packet) -> bytes sent; a full buffer (EAGAIN) sends nothing and returns 0, as UDP may */
static napi_value raw_send_to(napi_env env, napi_callback_info info)
{
	size_t argc = 3;
	napi_value argv[3];
	int32_t fd;
	char addr[64];
	void *data;
	size_t len;
	struct sockaddr_in to = { .sin_family = AF_INET };

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 3 || !arg_i32(env, argv[0], &fd) || !arg_str(env, argv[1], addr, sizeof(addr)) ||
	    inet_pton(AF_INET, addr, &to.sin_addr) != 1 || !arg_bytes(env, argv[2], &data, &len))
		return throw_type(env, "rawSendTo(fd, address, packet): fd a raw socket, address IPv4, packet bytes");
	ssize_t n = sendto(fd, data, len, 0, (struct sockaddr *)&to, sizeof(to));

	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
		return throw_errno(env, "sendto", errno, addr);
	return make_i32(env, n < 0 ? 0 : (int32_t)n);
}

void register_sock(napi_env env, napi_value exports)
{
	export_fn(env, exports, "rawSocketIn", raw_socket_in);
	export_fn(env, exports, "rawSendTo", raw_send_to);
	export_fn(env, exports, "tcpSocketIn", tcp_socket_in);
	export_fn(env, exports, "transparentListen", transparent_listen);
}
