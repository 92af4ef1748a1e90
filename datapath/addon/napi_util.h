/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small helpers shared by the addon's files: argument decoding and errors that carry an errno
 * name. The C side reports what failed (operation + errno); datapath/errors.ts turns that into a
 * DP_ERR_* code and a sentence naming the map or program, because only JS knows those names.
 */
#ifndef EBPF_LOADER_NAPI_UTIL_H
#define EBPF_LOADER_NAPI_UTIL_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <node_api.h>

#define NAPI_CALL(env, call)                                                       \
	do {                                                                       \
		if ((call) != napi_ok) {                                           \
			napi_throw_error((env), "DP_ERR_NAPI", "N-API call failed: " #call); \
			return NULL;                                               \
		}                                                                  \
	} while (0)

#define MAX_ARGS 8

/* Error{message, code: errno name, errno, syscall: op}, not thrown (a promise's rejection). */
napi_value errno_error(napi_env env, const char *op, int err, const char *detail);
/* Throws errno_error(...); returns NULL for `return`. */
napi_value throw_errno(napi_env env, const char *op, int err, const char *detail);
napi_value throw_type(napi_env env, const char *msg);

bool arg_u32(napi_env env, napi_value v, uint32_t *out);
bool arg_i32(napi_env env, napi_value v, int32_t *out);
/* Copies a JS string into buf (NUL-terminated); false if not a string or too long. */
bool arg_str(napi_env env, napi_value v, char *buf, size_t len);
/* true if v is null or undefined */
bool arg_nullish(napi_env env, napi_value v);
/* Borrows the bytes of a Buffer / Uint8Array. */
bool arg_bytes(napi_env env, napi_value v, void **data, size_t *len);

napi_value make_u32(napi_env env, uint32_t v);
napi_value make_i32(napi_env env, int32_t v);
napi_value make_bool(napi_env env, bool v);
napi_value make_str(napi_env env, const char *s);
napi_value make_null(napi_env env);
void set_prop(napi_env env, napi_value obj, const char *name, napi_value v);

/* Runs fn(arg) with the calling thread inside the network namespace at path (NULL = current). */
int in_netns(const char *path, int (*fn)(void *), void *arg);

/* Tail of libbpf's log since the last libbpf_log_reset(); used in error messages. */
void libbpf_log_reset(void);
const char *libbpf_log_tail(void);
void libbpf_log_install(void);

/* Registration of each file's functions on the exports object. */
void register_object(napi_env env, napi_value exports);
void register_maps(napi_env env, napi_value exports);
void register_tc(napi_env env, napi_value exports);
void register_ringbuf(napi_env env, napi_value exports);
void register_cgroup(napi_env env, napi_value exports);
void register_sock(napi_env env, napi_value exports);
void export_fn(napi_env env, napi_value exports, const char *name, napi_callback cb);

#endif
