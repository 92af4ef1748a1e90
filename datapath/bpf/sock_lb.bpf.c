// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Socket-level load balancing (upstream's bpf/bpf_sock.c, "socket-LB"): cgroup v2 programs at
 * the agent's cgroup root that translate a Service frontend into a backend before any packet
 * exists, so no per-packet NAT happens for clients on this node:
 *   cil_sock4_connect      connect(2) (TCP, connected UDP): frontend -> backend
 *   cil_sock4_sendmsg      sendmsg(2) on unconnected UDP: the same, per datagram
 *   cil_sock4_recvmsg      recvmsg(2) on UDP: a datagram from the backend reads as from the frontend
 *   cil_sock4_getpeername  getpeername(2): the peer reads as the frontend
 * Every translation is remembered per socket cookie in cilium_lb4_reverse_sk (what recvmsg and
 * getpeername reverse), and checked against cilium_lb4_reverse_nat so a stale memory of a
 * removed Service is not applied.
 *
 * Backend selection: a frontend's slots 1..count hold the backends that take new connections
 * (the agent puts terminating ones there only when no active one is left); a random slot is
 * chosen, or, with SVC_FLAG_AFFINITY, the slot this client's network namespace was given last
 * if it is still valid and younger than the affinity timeout. A frontend with count 0 refuses
 * the connect at once (ECONNREFUSED) instead of letting it time out.
 *
 * datapath/lb-sim.ts implements exactly this selection in userspace; test/datapath/sock-lb
 * compares the two, so a change here needs the same change there.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "lb_maps.h"

#ifndef SOCK_STREAM
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SYS_REJECT 0
#define SYS_PROCEED 1


struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LB_REVERSE_SK_MAP_SIZE);
	__type(key, struct ipv4_revnat_tuple);
	__type(value, struct ipv4_revnat_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_lb4_reverse_sk SEC(".maps");

static __always_inline __u8 sock_proto(const struct bpf_sock_addr *ctx)
{
	if (ctx->type == SOCK_STREAM)
		return IPPROTO_TCP;
	if (ctx->type == SOCK_DGRAM)
		return IPPROTO_UDP;
	return 0;
}

/*
 * Frontend -> backend for connect and sendmsg. Returns SYS_PROCEED (translated or not a Service)
 * or SYS_REJECT with the errno set for the syscall.
 */
static __always_inline int sock4_xlate_fwd(struct bpf_sock_addr *ctx)
{
	__u8 proto = sock_proto(ctx);
	if (!proto)
		return SYS_PROCEED;

	struct lb4_key key = {
		.address = ctx->user_ip4,
		.dport = (__be16)ctx->user_port,
		.proto = proto,
		.scope = LB_LOOKUP_SCOPE_EXT,
	};
	struct lb4_service *svc = bpf_map_lookup_elem(&cilium_lb4_services_v2, &key);
	if (!svc)
		return SYS_PROCEED;
	/* copy what we need: the frontend entry may be rewritten under us */
	struct lb4_service frontend = *svc;
	if (frontend.count == 0) {
		bpf_set_retval(-ECONNREFUSED);
		return SYS_REJECT;
	}

	__u32 backend_id = 0;
	__u64 netns = 0;
	if (frontend.flags & SVC_FLAG_AFFINITY) {
		netns = bpf_get_netns_cookie(ctx);
		backend_id = affinity_backend(&frontend, netns, 1);
	}
	if (!backend_id) {
		key.backend_slot = (bpf_get_prandom_u32() % frontend.count) + 1;
		struct lb4_service *slot = bpf_map_lookup_elem(&cilium_lb4_services_v2, &key);
		if (!slot) {
			bpf_set_retval(-ECONNREFUSED);
			return SYS_REJECT;
		}
		backend_id = slot->backend_id;
	}
	struct lb4_backend *be = bpf_map_lookup_elem(&cilium_lb4_backends_v3, &backend_id);
	if (!be) {
		bpf_set_retval(-ECONNREFUSED);
		return SYS_REJECT;
	}
	if (frontend.flags & SVC_FLAG_AFFINITY)
		affinity_remember(&frontend, netns, 1, backend_id);

	struct ipv4_revnat_tuple rkey = {
		.cookie = bpf_get_socket_cookie(ctx),
		.address = be->address,
		.port = be->port,
	};
	struct ipv4_revnat_entry rval = {
		.address = key.address,
		.port = key.dport,
		.rev_nat_index = frontend.rev_nat_index,
	};
	bpf_map_update_elem(&cilium_lb4_reverse_sk, &rkey, &rval, BPF_ANY);

	ctx->user_ip4 = be->address;
	ctx->user_port = be->port;
	return SYS_PROCEED;
}

/* Backend -> frontend for recvmsg and getpeername, if this socket was translated to it. */
static __always_inline int sock4_xlate_rev(struct bpf_sock_addr *ctx)
{
	struct ipv4_revnat_tuple rkey = {
		.cookie = bpf_get_socket_cookie(ctx),
		.address = ctx->user_ip4,
		.port = (__be16)ctx->user_port,
	};
	struct ipv4_revnat_entry *rval = bpf_map_lookup_elem(&cilium_lb4_reverse_sk, &rkey);
	if (!rval)
		return SYS_PROCEED;
	__u16 index = rval->rev_nat_index;
	struct lb4_reverse_nat *nat = bpf_map_lookup_elem(&cilium_lb4_reverse_nat, &index);
	if (!nat || nat->address != rval->address || nat->port != rval->port) {
		/* the Service went away or changed: forget, and show the real peer */
		bpf_map_delete_elem(&cilium_lb4_reverse_sk, &rkey);
		return SYS_PROCEED;
	}
	ctx->user_ip4 = rval->address;
	ctx->user_port = rval->port;
	return SYS_PROCEED;
}

SEC("cgroup/connect4")
int cil_sock4_connect(struct bpf_sock_addr *ctx)
{
	return sock4_xlate_fwd(ctx);
}

SEC("cgroup/sendmsg4")
int cil_sock4_sendmsg(struct bpf_sock_addr *ctx)
{
	return sock4_xlate_fwd(ctx);
}

SEC("cgroup/recvmsg4")
int cil_sock4_recvmsg(struct bpf_sock_addr *ctx)
{
	return sock4_xlate_rev(ctx);
}

SEC("cgroup/getpeername4")
int cil_sock4_getpeername(struct bpf_sock_addr *ctx)
{
	return sock4_xlate_rev(ctx);
}
