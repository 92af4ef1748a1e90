// SPDX-License-Identifier: Apache-2.0
/*
 * tc clsact attachment through libbpf's netlink helpers. Every call takes an optional network
 * namespace path: endpoints' host-side veths may live in a namespace other than the agent's
 * (the devcluster's nodes), and netlink only reaches the caller's namespace.
 */
#include "napi_util.h"

#include <net/if.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

struct tc_req {
	int ifindex;
	int dir;		/* BPF_TC_INGRESS | BPF_TC_EGRESS */
	int prog_fd;
	uint32_t priority;
	uint32_t handle;
	uint32_t prog_id;	/* out, query */
	const char *ifname;	/* ifindex lookup */
};

static int do_attach(void *arg)
{
	struct tc_req *r = arg;
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = r->ifindex, .attach_point = r->dir);
	LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = r->prog_fd, .priority = r->priority,
		    .handle = r->handle, .flags = BPF_TC_F_REPLACE);
	int err = bpf_tc_hook_create(&hook);

	if (err && err != -EEXIST)
		return err;
	return bpf_tc_attach(&hook, &opts);
}

static int do_detach(void *arg)
{
	struct tc_req *r = arg;
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = r->ifindex, .attach_point = r->dir);
	LIBBPF_OPTS(bpf_tc_opts, opts, .priority = r->priority, .handle = r->handle);

	return bpf_tc_detach(&hook, &opts);
}

static int do_query(void *arg)
{
	struct tc_req *r = arg;
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = r->ifindex, .attach_point = r->dir);
	LIBBPF_OPTS(bpf_tc_opts, opts, .priority = r->priority, .handle = r->handle);
	int err = bpf_tc_query(&hook, &opts);

	if (err == -ENOENT || err == -EINVAL) {
		r->prog_id = 0;
		return 0;
	}
	r->prog_id = opts.prog_id;
	return err;
}

static int do_ifindex(void *arg)
{
	struct tc_req *r = arg;
	unsigned int idx = if_nametoindex(r->ifname);

	if (!idx)
		return -errno;
	r->ifindex = (int)idx;
	return 0;
}

/* Decodes (ifindex, netns | null, 'ingress' | 'egress', ...) shared by the calls below. */
static bool tc_args(napi_env env, napi_value *argv, size_t argc, struct tc_req *r, char *ns, size_t nslen,
		    bool *has_ns)
{
	char dir[16];
	int32_t ifindex;

	if (argc < 3 || !arg_i32(env, argv[0], &ifindex) || !arg_str(env, argv[2], dir, sizeof(dir)))
		return false;
	*has_ns = !arg_nullish(env, argv[1]);
	if (*has_ns && !arg_str(env, argv[1], ns, nslen))
		return false;
	r->ifindex = ifindex;
	if (!strcmp(dir, "ingress"))
		r->dir = BPF_TC_INGRESS;
	else if (!strcmp(dir, "egress"))
		r->dir = BPF_TC_EGRESS;
	else
		return false;
	return true;
}

/* tcAttach(ifindex, netns | null, 'ingress' | 'egress', progFd, priority, handle) */
static napi_value tc_attach(napi_env env, napi_callback_info info)
{
	size_t argc = 6;
	napi_value argv[6];
	char ns[4096];
	bool has_ns;
	struct tc_req r = {};

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 6 || !tc_args(env, argv, argc, &r, ns, sizeof(ns), &has_ns) ||
	    !arg_i32(env, argv[3], &r.prog_fd) || !arg_u32(env, argv[4], &r.priority) ||
	    !arg_u32(env, argv[5], &r.handle))
		return throw_type(env, "tcAttach(ifindex, netns, 'ingress'|'egress', progFd, priority, handle)");
	int err = in_netns(has_ns ? ns : NULL, do_attach, &r);
	if (err)
		return throw_errno(env, "tc attach", -err, has_ns ? ns : NULL);
	return NULL;
}

/* tcDetach(ifindex, netns | null, dir, priority, handle) -> boolean (false: nothing attached) */
static napi_value tc_detach(napi_env env, napi_callback_info info)
{
	size_t argc = 5;
	napi_value argv[5];
	char ns[4096];
	bool has_ns;
	struct tc_req r = {};

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 5 || !tc_args(env, argv, argc, &r, ns, sizeof(ns), &has_ns) ||
	    !arg_u32(env, argv[3], &r.priority) || !arg_u32(env, argv[4], &r.handle))
		return throw_type(env, "tcDetach(ifindex, netns, 'ingress'|'egress', priority, handle)");
	int err = in_netns(has_ns ? ns : NULL, do_detach, &r);
	if (err == -ENOENT || err == -EINVAL || err == -ENODEV)
		return make_bool(env, false);
	if (err)
		return throw_errno(env, "tc detach", -err, has_ns ? ns : NULL);
	return make_bool(env, true);
}

/* tcQuery(ifindex, netns | null, dir, priority, handle) -> attached program id, 0 if none */
static napi_value tc_query(napi_env env, napi_callback_info info)
{
	size_t argc = 5;
	napi_value argv[5];
	char ns[4096];
	bool has_ns;
	struct tc_req r = {};

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 5 || !tc_args(env, argv, argc, &r, ns, sizeof(ns), &has_ns) ||
	    !arg_u32(env, argv[3], &r.priority) || !arg_u32(env, argv[4], &r.handle))
		return throw_type(env, "tcQuery(ifindex, netns, 'ingress'|'egress', priority, handle)");
	int err = in_netns(has_ns ? ns : NULL, do_query, &r);
	if (err)
		return throw_errno(env, "tc query", -err, has_ns ? ns : NULL);
	return make_u32(env, r.prog_id);
}

/* ifIndex(name, netns | null) -> ifindex */
static napi_value if_index(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	char name[IF_NAMESIZE + 1], ns[4096];
	struct tc_req r = { .ifname = name };

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 1 || !arg_str(env, argv[0], name, sizeof(name)))
		return throw_type(env, "ifIndex(name, netns?)");
	bool has_ns = argc >= 2 && !arg_nullish(env, argv[1]);
	if (has_ns && !arg_str(env, argv[1], ns, sizeof(ns)))
		return throw_type(env, "ifIndex: netns must be a path");
	int err = in_netns(has_ns ? ns : NULL, do_ifindex, &r);
	if (err)
		return throw_errno(env, "if_nametoindex", -err, name);
	return make_i32(env, r.ifindex);
}

void register_tc(napi_env env, napi_value exports)
{
	export_fn(env, exports, "tcAttach", tc_attach);
	export_fn(env, exports, "tcDetach", tc_detach);
	export_fn(env, exports, "tcQuery", tc_query);
	export_fn(env, exports, "ifIndex", if_index);
}
