// SPDX-License-Identifier: Apache-2.0
/*
 * BPF objects and programs: open + load with a pin root (maps already pinned there are reused,
 * which is how forwarding state survives an agent restart), the object's programs and maps,
 * BPF_PROG_TEST_RUN, feature probes, and plain fd helpers.
 */
#include "napi_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

/* Object handles are externals tagged with this: another external is refused, never reinterpreted. */
static const napi_type_tag OBJ_TAG = { 0x63696c69756d7473ULL, 0x6f626a6563740001ULL };

struct obj_handle {
	struct bpf_object *obj;
};

/* The handle behind v if it is one of ours (open or closed); NULL and a DP_ERR_ARGUMENT otherwise. */
static struct obj_handle *tagged_handle(napi_env env, napi_value v, const char *usage)
{
	void *p = NULL;
	bool tagged = false;

	if (napi_check_object_type_tag(env, v, &OBJ_TAG, &tagged) != napi_ok || !tagged ||
	    napi_get_value_external(env, v, &p) != napi_ok || !p) {
		throw_type(env, usage);
		return NULL;
	}
	return p;
}

static void obj_finalize(napi_env env, void *data, void *hint)
{
	struct obj_handle *h = data;

	if (h->obj)
		bpf_object__close(h->obj);
	free(h);
}

static struct obj_handle *get_handle(napi_env env, napi_value v)
{
	struct obj_handle *p = tagged_handle(env, v, "expected an object handle from objectOpen()");

	if (!p)
		return NULL;
	if (!p->obj) {
		throw_type(env, "the object handle is closed");
		return NULL;
	}
	return p;
}

/* objectOpen(path, pinRoot | null, maxEntries: [name, n][] | null) -> handle */
static napi_value object_open(napi_env env, napi_callback_info info)
{
	size_t argc = 3;
	napi_value argv[3];
	char path[4096], pin_root[4096];

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 1 || !arg_str(env, argv[0], path, sizeof(path)))
		return throw_type(env, "objectOpen(path, pinRoot, maxEntries): path must be a string");
	bool has_pin = argc >= 2 && !arg_nullish(env, argv[1]);
	if (has_pin && !arg_str(env, argv[1], pin_root, sizeof(pin_root)))
		return throw_type(env, "objectOpen: pinRoot must be a string or null");

	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = has_pin ? pin_root : NULL);
	libbpf_log_reset();
	struct bpf_object *obj = bpf_object__open_file(path, &opts);
	if (!obj)
		return throw_errno(env, "bpf_object__open_file", errno, libbpf_log_tail());

	if (argc >= 3 && !arg_nullish(env, argv[2])) {
		uint32_t n = 0;
		napi_get_array_length(env, argv[2], &n);
		for (uint32_t i = 0; i < n; i++) {
			napi_value pair, nv, sv;
			char name[256];
			uint32_t size;

			napi_get_element(env, argv[2], i, &pair);
			napi_get_element(env, pair, 0, &nv);
			napi_get_element(env, pair, 1, &sv);
			if (!arg_str(env, nv, name, sizeof(name)) || !arg_u32(env, sv, &size)) {
				bpf_object__close(obj);
				return throw_type(env, "objectOpen: maxEntries must be [name, number][]");
			}
			struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
			if (!m || bpf_map__set_max_entries(m, size) < 0) {
				bpf_object__close(obj);
				return throw_errno(env, "bpf_map__set_max_entries", m ? errno : ENOENT, name);
			}
		}
	}

	struct bpf_program *prog;
	bpf_object__for_each_program(prog, obj)
		if (bpf_program__type(prog) == BPF_PROG_TYPE_UNSPEC) /* cgroup/ sections keep their type */
			bpf_program__set_type(prog, BPF_PROG_TYPE_SCHED_CLS);

	if (bpf_object__load(obj) < 0) {
		int err = errno;
		bpf_object__close(obj);
		return throw_errno(env, "bpf_object__load", err, libbpf_log_tail());
	}
	struct obj_handle *h = calloc(1, sizeof(*h));
	if (!h) {
		bpf_object__close(obj);
		return throw_errno(env, "calloc", ENOMEM, "objectOpen");
	}
	h->obj = obj;
	napi_value ext;
	if (napi_create_external(env, h, obj_finalize, NULL, &ext) != napi_ok) {
		obj_finalize(env, h, NULL);
		return throw_type(env, "objectOpen: cannot create the handle");
	}
	NAPI_CALL(env, napi_type_tag_object(env, ext, &OBJ_TAG));
	return ext;
}

static napi_value object_close(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	struct obj_handle *h = argc ? tagged_handle(env, argv[0], "objectClose(handle)") : NULL;
	if (!h)
		return argc ? NULL : throw_type(env, "objectClose(handle)");
	if (!h->obj)
		return throw_type(env, "objectClose: the object handle is already closed");
	bpf_object__close(h->obj);
	h->obj = NULL;
	return NULL;
}

/* objectPrograms(handle) -> {name, fd}[]; objectMaps(handle) -> {name, fd, pinned}[] */
static napi_value object_programs(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], arr;
	uint32_t i = 0;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	struct obj_handle *h = argc ? get_handle(env, argv[0]) : NULL;
	if (!h)
		return NULL;
	napi_create_array(env, &arr);
	struct bpf_program *prog;
	bpf_object__for_each_program(prog, h->obj) {
		napi_value o;
		napi_create_object(env, &o);
		set_prop(env, o, "name", make_str(env, bpf_program__name(prog)));
		set_prop(env, o, "fd", make_i32(env, bpf_program__fd(prog)));
		napi_set_element(env, arr, i++, o);
	}
	return arr;
}

static napi_value object_maps(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], arr;
	uint32_t i = 0;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	struct obj_handle *h = argc ? get_handle(env, argv[0]) : NULL;
	if (!h)
		return NULL;
	napi_create_array(env, &arr);
	struct bpf_map *m;
	bpf_object__for_each_map(m, h->obj) {
		napi_value o;
		napi_create_object(env, &o);
		set_prop(env, o, "name", make_str(env, bpf_map__name(m)));
		set_prop(env, o, "fd", make_i32(env, bpf_map__fd(m)));
		set_prop(env, o, "pinned", make_bool(env, bpf_map__is_pinned(m)));
		napi_set_element(env, arr, i++, o);
	}
	return arr;
}

/* progTestRun(fd, data, repeat, dataOutSize) -> {retval, duration, dataOut} */
static napi_value prog_test_run(napi_env env, napi_callback_info info)
{
	size_t argc = 4, len = 0;
	napi_value argv[4];
	int32_t fd;
	uint32_t repeat = 1, out_size = 0;
	void *data;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 2 || !arg_i32(env, argv[0], &fd) || !arg_bytes(env, argv[1], &data, &len))
		return throw_type(env, "progTestRun(fd, data: Uint8Array, repeat?, dataOutSize?)");
	if (argc >= 3 && !arg_nullish(env, argv[2]))
		arg_u32(env, argv[2], &repeat);
	if (argc >= 4 && !arg_nullish(env, argv[3]))
		arg_u32(env, argv[3], &out_size);

	void *out = NULL;
	napi_value out_buf = NULL;
	if (out_size) {
		NAPI_CALL(env, napi_create_buffer(env, out_size, &out, &out_buf));
	}
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data, .data_size_in = (uint32_t)len,
		    .data_out = out, .data_size_out = out_size, .repeat = repeat);
	if (bpf_prog_test_run_opts(fd, &opts) < 0)
		return throw_errno(env, "BPF_PROG_TEST_RUN", errno, NULL);
	napi_value r;
	napi_create_object(env, &r);
	set_prop(env, r, "retval", make_u32(env, opts.retval));
	set_prop(env, r, "duration", make_u32(env, opts.duration));
	if (out_buf) {
		napi_value slice;
		/* trim to what the kernel wrote */
		void *sd;
		NAPI_CALL(env, napi_create_buffer_copy(env, opts.data_size_out, out, &sd, &slice));
		set_prop(env, r, "dataOut", slice);
	}
	return r;
}

/* probeProgType(type), probeMapType(type), probeHelper(progType, helperId) -> boolean */
static napi_value probe_prog_type(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	uint32_t t;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 1 || !arg_u32(env, argv[0], &t))
		return throw_type(env, "probeProgType(type: number)");
	return make_bool(env, libbpf_probe_bpf_prog_type(t, NULL) == 1);
}

static napi_value probe_map_type(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	uint32_t t;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 1 || !arg_u32(env, argv[0], &t))
		return throw_type(env, "probeMapType(type: number)");
	return make_bool(env, libbpf_probe_bpf_map_type(t, NULL) == 1);
}

static napi_value probe_helper(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	uint32_t t, helper;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 2 || !arg_u32(env, argv[0], &t) || !arg_u32(env, argv[1], &helper))
		return throw_type(env, "probeHelper(progType: number, helperId: number)");
	return make_bool(env, libbpf_probe_bpf_helper(t, helper, NULL) == 1);
}

static napi_value num_possible_cpus(napi_env env, napi_callback_info info)
{
	int n = libbpf_num_possible_cpus();

	if (n < 0)
		return throw_errno(env, "libbpf_num_possible_cpus", -n, NULL);
	return make_u32(env, n);
}

static napi_value fd_close(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	int32_t fd;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 1 || !arg_i32(env, argv[0], &fd) || fd < 0)
		return throw_type(env, "close(fd)");
	close(fd);
	return NULL;
}

/* objGet(path) -> fd of a pinned map or program; objPin(fd, path) */
static napi_value obj_get(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	char path[4096];

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 1 || !arg_str(env, argv[0], path, sizeof(path)))
		return throw_type(env, "objGet(path)");
	int fd = bpf_obj_get(path);
	if (fd < 0)
		return throw_errno(env, "BPF_OBJ_GET", errno, path);
	return make_i32(env, fd);
}

static napi_value obj_pin(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	char path[4096];
	int32_t fd;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 2 || !arg_i32(env, argv[0], &fd) || !arg_str(env, argv[1], path, sizeof(path)))
		return throw_type(env, "objPin(fd, path)");
	if (bpf_obj_pin(fd, path) < 0)
		return throw_errno(env, "BPF_OBJ_PIN", errno, path);
	return NULL;
}

void register_object(napi_env env, napi_value exports)
{
	export_fn(env, exports, "objectOpen", object_open);
	export_fn(env, exports, "objectClose", object_close);
	export_fn(env, exports, "objectPrograms", object_programs);
	export_fn(env, exports, "objectMaps", object_maps);
	export_fn(env, exports, "progTestRun", prog_test_run);
	export_fn(env, exports, "probeProgType", probe_prog_type);
	export_fn(env, exports, "probeMapType", probe_map_type);
	export_fn(env, exports, "probeHelper", probe_helper);
	export_fn(env, exports, "numPossibleCpus", num_possible_cpus);
	export_fn(env, exports, "close", fd_close);
	export_fn(env, exports, "objGet", obj_get);
	export_fn(env, exports, "objPin", obj_pin);
}
