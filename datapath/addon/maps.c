// SPDX-License-Identifier: Apache-2.0
/*
 * Map operations over raw bytes: the TS codecs (datapath/codecs.ts) own the layouts. Batch calls
 * exist so that a sync of thousands of entries crosses the JS/C boundary once: the kernel's batch
 * syscalls where the map type has them, otherwise a loop in C.
 */
#include "napi_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define ARGS(n)                                                                \
	size_t argc = (n);                                                     \
	napi_value argv[(n)];                                                  \
	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL))

/*
 * Buffer lengths come from JS and are never trusted: the kernel copies key_size bytes from the
 * key and value_size bytes (per-CPU maps: round_up(value_size, 8) per possible CPU) into or out
 * of the value, whatever the buffer's length. Each call checks its buffers against the map's
 * info first; a short one is DP_ERR_ARGUMENT instead of a kernel write past its end.
 */
struct map_sizes {
	uint32_t key;
	/* bytes a lookup writes / an update reads for one entry */
	size_t value;
};

static bool is_percpu(uint32_t type)
{
	return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
	       type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

static bool get_map_sizes(napi_env env, int fd, const char *fn, struct map_sizes *out)
{
	struct bpf_map_info mi = {};
	uint32_t len = sizeof(mi);

	if (bpf_obj_get_info_by_fd(fd, &mi, &len) < 0) {
		throw_errno(env, "BPF_OBJ_GET_INFO_BY_FD", errno, fn);
		return false;
	}
	out->key = mi.key_size;
	out->value = mi.value_size;
	if (is_percpu(mi.type)) {
		int cpus = libbpf_num_possible_cpus();
		if (cpus < 0) {
			throw_errno(env, "libbpf_num_possible_cpus", -cpus, fn);
			return false;
		}
		out->value = (((size_t)mi.value_size + 7) / 8) * 8 * (size_t)cpus;
	}
	return true;
}

/* false (and a DP_ERR_ARGUMENT TypeError) when `got` is not `want` (exact) or less than it */
static bool check_len(napi_env env, const char *fn, const char *what, size_t got, size_t want, bool exact)
{
	char msg[256];

	if (exact ? got == want : got >= want)
		return true;
	snprintf(msg, sizeof(msg), "%s: %s is %zu bytes, the map needs %s%zu", fn, what, got, exact ? "" : "at least ",
		 want);
	throw_type(env, msg);
	return false;
}

/* mapCreate(type, keySize, valueSize, maxEntries, flags, name, innerMapFd | null) -> fd */
static napi_value map_create(napi_env env, napi_callback_info info)
{
	ARGS(7);
	uint32_t type, ks, vs, max, flags;
	char name[BPF_OBJ_NAME_LEN + 1] = "";
	int32_t inner = -1;

	if (argc < 5 || !arg_u32(env, argv[0], &type) || !arg_u32(env, argv[1], &ks) ||
	    !arg_u32(env, argv[2], &vs) || !arg_u32(env, argv[3], &max) || !arg_u32(env, argv[4], &flags))
		return throw_type(env, "mapCreate(type, keySize, valueSize, maxEntries, flags, name?, innerMapFd?)");
	if (argc >= 6 && !arg_nullish(env, argv[5]) && !arg_str(env, argv[5], name, sizeof(name)))
		return throw_type(env, "mapCreate: name must be a string of at most 15 bytes");
	if (argc >= 7 && !arg_nullish(env, argv[6]) && !arg_i32(env, argv[6], &inner))
		return throw_type(env, "mapCreate: innerMapFd must be an fd or null");
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = flags);
	if (inner >= 0)
		opts.inner_map_fd = inner;
	int fd = bpf_map_create(type, name[0] ? name : NULL, ks, vs, max, &opts);
	if (fd < 0)
		return throw_errno(env, "BPF_MAP_CREATE", errno, name);
	return make_i32(env, fd);
}

/* mapInfo(fd) -> {id, type, keySize, valueSize, maxEntries, flags, name} */
static napi_value map_info(napi_env env, napi_callback_info info)
{
	ARGS(1);
	int32_t fd;
	struct bpf_map_info mi = {};
	uint32_t len = sizeof(mi);

	if (argc < 1 || !arg_i32(env, argv[0], &fd))
		return throw_type(env, "mapInfo(fd)");
	if (bpf_obj_get_info_by_fd(fd, &mi, &len) < 0)
		return throw_errno(env, "BPF_OBJ_GET_INFO_BY_FD", errno, NULL);
	napi_value o;
	napi_create_object(env, &o);
	set_prop(env, o, "id", make_u32(env, mi.id));
	set_prop(env, o, "type", make_u32(env, mi.type));
	set_prop(env, o, "keySize", make_u32(env, mi.key_size));
	set_prop(env, o, "valueSize", make_u32(env, mi.value_size));
	set_prop(env, o, "maxEntries", make_u32(env, mi.max_entries));
	set_prop(env, o, "flags", make_u32(env, mi.map_flags));
	set_prop(env, o, "name", make_str(env, mi.name));
	return o;
}

static napi_value map_fd_by_id(napi_env env, napi_callback_info info)
{
	ARGS(1);
	uint32_t id;

	if (argc < 1 || !arg_u32(env, argv[0], &id))
		return throw_type(env, "mapFdById(id)");
	int fd = bpf_map_get_fd_by_id(id);
	if (fd < 0)
		return throw_errno(env, "BPF_MAP_GET_FD_BY_ID", errno, NULL);
	return make_i32(env, fd);
}

/* mapLookup(fd, key, out) -> boolean (false: no such key); out receives the value */
static napi_value map_lookup(napi_env env, napi_callback_info info)
{
	ARGS(3);
	int32_t fd;
	void *key, *out;
	size_t kl, ol;

	if (argc < 3 || !arg_i32(env, argv[0], &fd) || !arg_bytes(env, argv[1], &key, &kl) ||
	    !arg_bytes(env, argv[2], &out, &ol))
		return throw_type(env, "mapLookup(fd, key: Uint8Array, out: Uint8Array)");
	struct map_sizes sz;
	if (!get_map_sizes(env, fd, "mapLookup", &sz) || !check_len(env, "mapLookup", "key", kl, sz.key, false) ||
	    !check_len(env, "mapLookup", "out", ol, sz.value, false))
		return NULL;
	if (bpf_map_lookup_elem(fd, key, out) < 0) {
		if (errno == ENOENT)
			return make_bool(env, false);
		return throw_errno(env, "BPF_MAP_LOOKUP_ELEM", errno, NULL);
	}
	return make_bool(env, true);
}

/* mapUpdate(fd, key, value, flags) */
static napi_value map_update(napi_env env, napi_callback_info info)
{
	ARGS(4);
	int32_t fd;
	uint32_t flags = 0;
	void *key, *val;
	size_t kl, vl;

	if (argc < 3 || !arg_i32(env, argv[0], &fd) || !arg_bytes(env, argv[1], &key, &kl) ||
	    !arg_bytes(env, argv[2], &val, &vl))
		return throw_type(env, "mapUpdate(fd, key: Uint8Array, value: Uint8Array, flags?)");
	if (argc >= 4 && !arg_nullish(env, argv[3]) && !arg_u32(env, argv[3], &flags))
		return throw_type(env, "mapUpdate: flags must be a u32");
	struct map_sizes sz;
	if (!get_map_sizes(env, fd, "mapUpdate", &sz) || !check_len(env, "mapUpdate", "key", kl, sz.key, false) ||
	    !check_len(env, "mapUpdate", "value", vl, sz.value, false))
		return NULL;
	if (bpf_map_update_elem(fd, key, val, flags) < 0)
		return throw_errno(env, "BPF_MAP_UPDATE_ELEM", errno, NULL);
	return NULL;
}

/* mapDelete(fd, key) -> boolean (false: no such key) */
static napi_value map_delete(napi_env env, napi_callback_info info)
{
	ARGS(2);
	int32_t fd;
	void *key;
	size_t kl;

	if (argc < 2 || !arg_i32(env, argv[0], &fd) || !arg_bytes(env, argv[1], &key, &kl))
		return throw_type(env, "mapDelete(fd, key: Uint8Array)");
	struct map_sizes sz;
	if (!get_map_sizes(env, fd, "mapDelete", &sz) || !check_len(env, "mapDelete", "key", kl, sz.key, false))
		return NULL;
	if (bpf_map_delete_elem(fd, key) < 0) {
		if (errno == ENOENT)
			return make_bool(env, false);
		return throw_errno(env, "BPF_MAP_DELETE_ELEM", errno, NULL);
	}
	return make_bool(env, true);
}

/* `unit`: what `done` and `total` count ("entries", "maps") */
static napi_value throw_batch(napi_env env, const char *op, int err, uint32_t done, uint32_t total, const char *unit)
{
	char detail[128];

	snprintf(detail, sizeof(detail), "after %u of %u %s", done, total, unit);
	throw_errno(env, op, err, detail);
	/* attach how far the batch got, so the caller can report or resume */
	napi_value exc;
	if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) {
		set_prop(env, exc, "done", make_u32(env, done));
		napi_throw(env, exc);
	}
	return NULL;
}

/* mapUpdateBatch(fd, keys, values, count, flags) -> count; keys/values are packed arrays */
static napi_value map_update_batch(napi_env env, napi_callback_info info)
{
	ARGS(5);
	int32_t fd;
	uint32_t count, flags = 0;
	void *keys, *vals;
	size_t kl, vl;

	if (argc < 4 || !arg_i32(env, argv[0], &fd) || !arg_bytes(env, argv[1], &keys, &kl) ||
	    !arg_bytes(env, argv[2], &vals, &vl) || !arg_u32(env, argv[3], &count))
		return throw_type(env, "mapUpdateBatch(fd, keys, values, count, flags?)");
	if (argc >= 5 && !arg_nullish(env, argv[4]) && !arg_u32(env, argv[4], &flags))
		return throw_type(env, "mapUpdateBatch: flags must be a u32");
	if (count == 0)
		return make_u32(env, 0);
	/* entries are packed at the map's own strides; the buffers must hold `count` of them exactly */
	struct map_sizes sz;
	if (!get_map_sizes(env, fd, "mapUpdateBatch", &sz) ||
	    !check_len(env, "mapUpdateBatch", "keys", kl, (size_t)count * sz.key, true) ||
	    !check_len(env, "mapUpdateBatch", "values", vl, (size_t)count * sz.value, true))
		return NULL;
	size_t ks = sz.key, vs = sz.value;

	uint32_t n = count;
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = flags);
	if (bpf_map_update_batch(fd, keys, vals, &n, &opts) == 0)
		return make_u32(env, count);
	int err = errno;
	/* LPM tries and maps of maps have no batch ops: fall back to a loop in C */
	if (err != EINVAL && err != ENOTSUP && err != EOPNOTSUPP && err != 524 /* ENOTSUPP */)
		return throw_batch(env, "BPF_MAP_UPDATE_BATCH", err, n, count, "entries");
	for (uint32_t i = n; i < count; i++) {
		if (bpf_map_update_elem(fd, (char *)keys + i * ks, (char *)vals + i * vs, flags) < 0)
			return throw_batch(env, "BPF_MAP_UPDATE_ELEM", errno, i, count, "entries");
	}
	return make_u32(env, count);
}

/* mapDeleteBatch(fd, keys, count) -> number deleted (missing keys are not an error) */
static napi_value map_delete_batch(napi_env env, napi_callback_info info)
{
	ARGS(3);
	int32_t fd;
	uint32_t count, deleted = 0;
	void *keys;
	size_t kl;

	if (argc < 3 || !arg_i32(env, argv[0], &fd) || !arg_bytes(env, argv[1], &keys, &kl) ||
	    !arg_u32(env, argv[2], &count))
		return throw_type(env, "mapDeleteBatch(fd, keys, count)");
	if (count == 0)
		return make_u32(env, 0);
	struct map_sizes sz;
	if (!get_map_sizes(env, fd, "mapDeleteBatch", &sz) ||
	    !check_len(env, "mapDeleteBatch", "keys", kl, (size_t)count * sz.key, true))
		return NULL;
	size_t ks = sz.key;
	for (uint32_t i = 0; i < count; i++) {
		if (bpf_map_delete_elem(fd, (char *)keys + i * ks) == 0)
			deleted++;
		else if (errno != ENOENT)
			return throw_batch(env, "BPF_MAP_DELETE_ELEM", errno, i, count, "entries");
	}
	return make_u32(env, deleted);
}

/*
 * mapsWrite(fds: Int32Array, keys, values, upsertCount, deleteKeys, deleteCount, removed: Uint32Array)
 *   -> maps written
 * The same entries into many maps of one layout, in one call: per map, every upsert (one by one:
 * LPM tries have no batch update, and trying the batch first costs a failed syscall per map), then
 * every delete (a missing key is not an error; removed[i] counts the ones found in map i). A
 * policy delta shared by 1,000 endpoints was four or five syscalls and two addon calls per map;
 * here it is the writes themselves and the size check. On failure, `done` on the error is the index
 * of the map that failed (the maps before it are written whole, that one maybe in part).
 */
static napi_value maps_write(napi_env env, napi_callback_info info)
{
	ARGS(7);
	napi_typedarray_type t;
	size_t nfds, kl, vl, dl, rl;
	void *fdsp, *keys, *vals, *dkeys, *removedp;
	napi_value ab;
	size_t off;
	uint32_t nup, ndel;

	if (argc < 7 || napi_get_typedarray_info(env, argv[0], &t, &nfds, &fdsp, &ab, &off) != napi_ok ||
	    t != napi_int32_array || !arg_bytes(env, argv[1], &keys, &kl) || !arg_bytes(env, argv[2], &vals, &vl) ||
	    !arg_u32(env, argv[3], &nup) || !arg_bytes(env, argv[4], &dkeys, &dl) || !arg_u32(env, argv[5], &ndel) ||
	    napi_get_typedarray_info(env, argv[6], &t, &rl, &removedp, &ab, &off) != napi_ok ||
	    t != napi_uint32_array)
		return throw_type(env,
				  "mapsWrite(fds: Int32Array, keys, values, upsertCount, deleteKeys, deleteCount, removed: Uint32Array)");
	if (rl < nfds)
		return throw_type(env, "mapsWrite: removed must have one slot per map");
	const int32_t *fds = fdsp;
	uint32_t *removed = removedp;
	for (size_t m = 0; m < nfds; m++) {
		struct map_sizes sz;
		/* every map's own sizes: the buffers' strides must be its key and value sizes */
		if (!get_map_sizes(env, fds[m], "mapsWrite", &sz) ||
		    !check_len(env, "mapsWrite", "keys", kl, (size_t)nup * sz.key, true) ||
		    !check_len(env, "mapsWrite", "values", vl, (size_t)nup * sz.value, true) ||
		    !check_len(env, "mapsWrite", "deleteKeys", dl, (size_t)ndel * sz.key, true))
			return NULL;
		for (uint32_t i = 0; i < nup; i++)
			if (bpf_map_update_elem(fds[m], (char *)keys + i * sz.key, (char *)vals + i * sz.value, 0) < 0)
				return throw_batch(env, "BPF_MAP_UPDATE_ELEM", errno, (uint32_t)m, (uint32_t)nfds, "maps");
		removed[m] = 0;
		for (uint32_t i = 0; i < ndel; i++) {
			if (bpf_map_delete_elem(fds[m], (char *)dkeys + i * sz.key) == 0)
				removed[m]++;
			else if (errno != ENOENT)
				return throw_batch(env, "BPF_MAP_DELETE_ELEM", errno, (uint32_t)m, (uint32_t)nfds, "maps");
		}
	}
	return make_u32(env, (uint32_t)nfds);
}

/* One map's entries, read by dump_entries: keys and values packed, n of each. */
struct dump {
	char *keys, *vals;
	size_t n;
};

static int dump_iterated(int fd, uint32_t ks, uint32_t vs, struct dump *out);

/* The kernel's ENOTSUPP (524), which batch calls on map types without them return. */
#define ENOTSUPP_ERRNO 524

/* The kernel has no batch lookup for this map type (or this kernel has none at all). */
static bool batch_unsupported(int err)
{
	return err == EINVAL || err == EOPNOTSUPP || err == ENOTSUPP_ERRNO || err == ENOSYS;
}

/*
 * Every entry by BPF_MAP_LOOKUP_BATCH, BATCH entries a syscall: 50,000 ipcache entries (an LPM
 * trie) in 13 syscalls instead of 100,000. Returns 0, an errno, or -1 when the map type has no
 * batch lookup (nothing read: the caller iterates instead).
 */
#define DUMP_BATCH 4096u
static int dump_batched(int fd, uint32_t ks, uint32_t vs, struct dump *out)
{
	/* the batch token: a bucket number or the last key read, never longer than the key or 8 */
	size_t tl = ks > 8 ? ks : 8;
	size_t cap = DUMP_BATCH, n = 0;
	uint32_t chunk = DUMP_BATCH;
	char *keys = malloc(cap * ks), *vals = malloc(cap * vs), *in = malloc(tl), *tok = malloc(tl);
	void *from = NULL;
	int err = 0;

	if (!keys || !vals || !in || !tok) {
		err = ENOMEM;
		goto fail;
	}
	for (;;) {
		if (cap - n < chunk) {
			size_t want = cap * 2 >= n + chunk ? cap * 2 : n + chunk;
			char *nk = realloc(keys, want * ks);
			if (nk)
				keys = nk;
			char *nv = nk ? realloc(vals, want * vs) : NULL;
			if (nv)
				vals = nv;
			if (!nk || !nv) {
				err = ENOMEM;
				goto fail;
			}
			cap = want;
		}
		uint32_t count = chunk;
		int ret = bpf_map_lookup_batch(fd, from, tok, keys + n * ks, vals + n * vs, &count, NULL);
		int e = ret < 0 ? errno : 0;
		if (ret < 0 && e == ENOSPC && count == 0 && chunk < (1u << 20)) {
			/* a hash bucket holds more than a batch: ask again for more at once */
			chunk *= 2;
			continue;
		}
		if (ret < 0 && e != ENOENT) {
			err = n == 0 && from == NULL && batch_unsupported(e) ? -1 : e;
			goto fail;
		}
		n += count;
		if (ret < 0) /* ENOENT: that was the last batch */
			break;
		memcpy(in, tok, tl);
		from = in;
	}
	free(in);
	free(tok);
	out->keys = keys;
	out->vals = vals;
	out->n = n;
	return 0;
fail:
	free(keys);
	free(vals);
	free(in);
	free(tok);
	return err;
}

/*
 * Every entry: by batch where the kernel has it, else by get_next_key then lookup (two syscalls
 * per entry). Works for every map type; entries added or removed concurrently may or may not
 * appear, as with any iteration of a live map. No N-API call: it also runs on a worker thread.
 * Returns 0 or an errno; on error nothing is left allocated.
 */
static int dump_entries(int fd, uint32_t ks, uint32_t vs, struct dump *out)
{
	if (ks && vs) {
		int err = dump_batched(fd, ks, vs, out);
		if (err != -1)
			return err;
	}
	return dump_iterated(fd, ks, vs, out);
}

/* dump_entries by get_next_key then lookup. */
static int dump_iterated(int fd, uint32_t ks, uint32_t vs, struct dump *out)
{
	size_t cap = 256, n = 0;
	char *keys = malloc(cap * (ks ? ks : 1)), *vals = malloc(cap * (vs ? vs : 1));
	char *prev = NULL;
	char *cur = malloc(ks ? ks : 1), *prevbuf = malloc(ks ? ks : 1);
	int err = 0, ret = 0;

	if (!keys || !vals || !cur || !prevbuf) {
		free(keys);
		free(vals);
		free(cur);
		free(prevbuf);
		return ENOMEM;
	}
	while ((ret = bpf_map_get_next_key(fd, prev, cur)) == 0) {
		if (n == cap) {
			char *nk = realloc(keys, cap * 2 * (ks ? ks : 1));
			if (nk)
				keys = nk;
			char *nv = nk ? realloc(vals, cap * 2 * (vs ? vs : 1)) : NULL;
			if (nv)
				vals = nv;
			if (!nk || !nv) {
				err = ENOMEM;
				break;
			}
			cap *= 2;
		}
		memcpy(keys + n * ks, cur, ks);
		if (vs && bpf_map_lookup_elem(fd, cur, vals + n * vs) < 0) {
			/* deleted since get_next_key: skip it */
			if (errno != ENOENT) {
				err = errno;
				break;
			}
		} else {
			n++;
		}
		memcpy(prevbuf, cur, ks);
		prev = prevbuf;
	}
	if (!err && ret < 0 && -ret != ENOENT)
		err = -ret;
	free(prevbuf);
	free(cur);
	if (err) {
		free(keys);
		free(vals);
		return err;
	}
	out->keys = keys;
	out->vals = vals;
	out->n = n;
	return 0;
}

/* {keys, values, count} from a dump, whose buffers it frees. */
static napi_value dump_result(napi_env env, struct dump *d, uint32_t ks, uint32_t vs)
{
	napi_value o, kb, vb;
	void *tmp;
	napi_create_object(env, &o);
	napi_create_buffer_copy(env, d->n * ks, d->keys, &tmp, &kb);
	napi_create_buffer_copy(env, d->n * vs, d->vals, &tmp, &vb);
	free(d->keys);
	free(d->vals);
	d->keys = d->vals = NULL;
	set_prop(env, o, "keys", kb);
	set_prop(env, o, "values", vb);
	set_prop(env, o, "count", make_u32(env, (uint32_t)d->n));
	return o;
}

/* The arguments of mapDump and mapDumpAsync, checked against the map's own sizes. */
static bool dump_args(napi_env env, napi_callback_info info, const char *fn, int32_t *fd, uint32_t *ks, uint32_t *vs)
{
	size_t argc = 3;
	napi_value argv[3];
	struct map_sizes sz;
	char usage[64];

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 || !arg_i32(env, argv[0], fd) ||
	    !arg_u32(env, argv[1], ks) || !arg_u32(env, argv[2], vs)) {
		snprintf(usage, sizeof(usage), "%s(fd, keySize, valueSize)", fn);
		throw_type(env, usage);
		return false;
	}
	return get_map_sizes(env, *fd, fn, &sz) && check_len(env, fn, "keySize", *ks, sz.key, true) &&
	       check_len(env, fn, "valueSize", *vs, sz.value, true);
}

/* mapDump(fd, keySize, valueSize) -> {keys, values, count}: every entry (dump_entries). */
static napi_value map_dump(napi_env env, napi_callback_info info)
{
	int32_t fd;
	uint32_t ks, vs;
	struct dump d;

	if (!dump_args(env, info, "mapDump", &fd, &ks, &vs))
		return NULL;
	int err = dump_entries(fd, ks, vs, &d);
	if (err)
		return throw_errno(env, err == ENOMEM ? "realloc" : "BPF_MAP_GET_NEXT_KEY", err, "mapDump");
	return dump_result(env, &d, ks, vs);
}

/* One mapDumpAsync in flight: the map's fd is duplicated, so closing it meanwhile is harmless. */
struct dump_work {
	napi_async_work work;
	napi_deferred deferred;
	int fd;
	uint32_t ks, vs;
	int err;
	struct dump d;
};

static void dump_execute(napi_env env, void *data)
{
	(void)env;
	struct dump_work *w = data;
	w->err = dump_entries(w->fd, w->ks, w->vs, &w->d);
}

static void dump_complete(napi_env env, napi_status status, void *data)
{
	struct dump_work *w = data;
	close(w->fd);
	if (status != napi_ok && !w->err)
		w->err = ECANCELED;
	if (w->err)
		napi_reject_deferred(env, w->deferred,
				     errno_error(env, w->err == ENOMEM ? "realloc" : "BPF_MAP_GET_NEXT_KEY", w->err,
						 "mapDumpAsync"));
	else
		napi_resolve_deferred(env, w->deferred, dump_result(env, &w->d, w->ks, w->vs));
	napi_delete_async_work(env, w->work);
	free(w);
}

/*
 * mapDumpAsync(fd, keySize, valueSize) -> Promise<{keys, values, count}>: mapDump on a libuv
 * worker thread: the agent reads its ipcache (50,000 entries: 13 batches, or 100,000 syscalls on a
 * kernel without batch lookups for LPM tries) while its caches sync instead of after.
 */
static napi_value map_dump_async(napi_env env, napi_callback_info info)
{
	int32_t fd;
	uint32_t ks, vs;
	napi_value promise, name;

	if (!dump_args(env, info, "mapDumpAsync", &fd, &ks, &vs))
		return NULL;
	struct dump_work *w = calloc(1, sizeof(*w));
	if (!w)
		return throw_errno(env, "calloc", ENOMEM, "mapDumpAsync");
	w->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (w->fd < 0) {
		int err = errno;
		free(w);
		return throw_errno(env, "F_DUPFD_CLOEXEC", err, "mapDumpAsync");
	}
	w->ks = ks;
	w->vs = vs;
	if (napi_create_string_utf8(env, "mapDumpAsync", NAPI_AUTO_LENGTH, &name) != napi_ok ||
	    napi_create_async_work(env, NULL, name, dump_execute, dump_complete, w, &w->work) != napi_ok) {
		close(w->fd);
		free(w);
		napi_throw_error(env, "DP_ERR_NAPI", "N-API call failed: mapDumpAsync's work");
		return NULL;
	}
	/* the promise last: once it exists, only dump_complete may free w */
	if (napi_create_promise(env, &w->deferred, &promise) != napi_ok || napi_queue_async_work(env, w->work) != napi_ok) {
		napi_delete_async_work(env, w->work);
		close(w->fd);
		free(w);
		napi_throw_error(env, "DP_ERR_NAPI", "N-API call failed: mapDumpAsync's promise");
		return NULL;
	}
	return promise;
}

void register_maps(napi_env env, napi_value exports)
{
	export_fn(env, exports, "mapCreate", map_create);
	export_fn(env, exports, "mapInfo", map_info);
	export_fn(env, exports, "mapFdById", map_fd_by_id);
	export_fn(env, exports, "mapLookup", map_lookup);
	export_fn(env, exports, "mapUpdate", map_update);
	export_fn(env, exports, "mapDelete", map_delete);
	export_fn(env, exports, "mapUpdateBatch", map_update_batch);
	export_fn(env, exports, "mapDeleteBatch", map_delete_batch);
	export_fn(env, exports, "mapsWrite", maps_write);
	export_fn(env, exports, "mapDump", map_dump);
	export_fn(env, exports, "mapDumpAsync", map_dump_async);
}
