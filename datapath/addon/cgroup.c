// SPDX-License-Identifier: Apache-2.0
/*
 * cgroup v2 attachment of the socket-LB programs through BPF links. A link pinned in bpffs keeps
 * its program attached after the agent exits (new connections keep being balanced while it
 * restarts); a restarted agent opens the pin and swaps in its freshly loaded program with one
 * bpf_link_update, so there is never a moment without a program nor two of them.
 */
#include "napi_util.h"

#include <fcntl.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

struct attach_name {
	const char *name;
	enum bpf_attach_type type;
};

/* The hooks the socket-LB uses, by the names its JS side passes (libbpf's section suffixes). */
static const struct attach_name attach_names[] = {
	{ "connect4", BPF_CGROUP_INET4_CONNECT },
	{ "sendmsg4", BPF_CGROUP_UDP4_SENDMSG },
	{ "recvmsg4", BPF_CGROUP_UDP4_RECVMSG },
	{ "getpeername4", BPF_CGROUP_INET4_GETPEERNAME },
};

static bool arg_attach_type(napi_env env, napi_value v, enum bpf_attach_type *out)
{
	char name[32];

	if (!arg_str(env, v, name, sizeof(name)))
		return false;
	for (size_t i = 0; i < sizeof(attach_names) / sizeof(attach_names[0]); i++) {
		if (strcmp(name, attach_names[i].name) == 0) {
			*out = attach_names[i].type;
			return true;
		}
	}
	return false;
}

/* cgroupOpen(path) -> fd of the cgroup v2 directory (caller closes) */
static napi_value cgroup_open(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	char path[4096];

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 1 || !arg_str(env, argv[0], path, sizeof(path)))
		return throw_type(env, "cgroupOpen(path): path must be a string");
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return throw_errno(env, "open", errno, path);
	return make_i32(env, fd);
}

/* cgroupLinkCreate(progFd, cgroupFd, hook) -> link fd */
static napi_value cgroup_link_create(napi_env env, napi_callback_info info)
{
	size_t argc = 3;
	napi_value argv[3];
	int32_t prog_fd, cg_fd;
	enum bpf_attach_type type;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 3 || !arg_i32(env, argv[0], &prog_fd) || !arg_i32(env, argv[1], &cg_fd) ||
	    !arg_attach_type(env, argv[2], &type))
		return throw_type(env,
				  "cgroupLinkCreate(progFd, cgroupFd, hook): fds are numbers, hook one of "
				  "connect4|sendmsg4|recvmsg4|getpeername4");
	libbpf_log_reset();
	int fd = bpf_link_create(prog_fd, cg_fd, type, NULL);
	if (fd < 0)
		return throw_errno(env, "bpf_link_create", errno, libbpf_log_tail());
	return make_i32(env, fd);
}

/* linkUpdate(linkFd, progFd): the link now runs progFd, atomically */
static napi_value link_update(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	int32_t link_fd, prog_fd;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 2 || !arg_i32(env, argv[0], &link_fd) || !arg_i32(env, argv[1], &prog_fd))
		return throw_type(env, "linkUpdate(linkFd, progFd)");
	if (bpf_link_update(link_fd, prog_fd, NULL) < 0)
		return throw_errno(env, "bpf_link_update", errno, NULL);
	return NULL;
}

/* linkDetach(linkFd): the program leaves the cgroup even if the link is still pinned */
static napi_value link_detach(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	int32_t link_fd;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 1 || !arg_i32(env, argv[0], &link_fd))
		return throw_type(env, "linkDetach(linkFd)");
	if (bpf_link_detach(link_fd) < 0)
		return throw_errno(env, "bpf_link_detach", errno, NULL);
	return NULL;
}

/* cgroupProgCount(cgroupFd, hook) -> programs attached at exactly this cgroup for the hook */
static napi_value cgroup_prog_count(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	int32_t cg_fd;
	enum bpf_attach_type type;
	__u32 ids[64], count = 64;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 2 || !arg_i32(env, argv[0], &cg_fd) || !arg_attach_type(env, argv[1], &type))
		return throw_type(env, "cgroupProgCount(cgroupFd, hook)");
	if (bpf_prog_query(cg_fd, type, 0, NULL, ids, &count) < 0)
		return throw_errno(env, "bpf_prog_query", errno, NULL);
	return make_u32(env, count);
}

void register_cgroup(napi_env env, napi_value exports)
{
	export_fn(env, exports, "cgroupOpen", cgroup_open);
	export_fn(env, exports, "cgroupLinkCreate", cgroup_link_create);
	export_fn(env, exports, "linkUpdate", link_update);
	export_fn(env, exports, "linkDetach", link_detach);
	export_fn(env, exports, "cgroupProgCount", cgroup_prog_count);
}
