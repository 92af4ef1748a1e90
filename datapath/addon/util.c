// SPDX-License-Identifier: Apache-2.0
/* Argument decoding, errors with errno names, the libbpf log tail, network-namespace switching. */
#include "napi_util.h"

#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <unistd.h>
#include <bpf/libbpf.h>

napi_value errno_error(napi_env env, const char *op, int err, const char *detail)
{
	char msg[2048];
	const char *name = strerrorname_np(err);
	napi_value error, m, code;

	if (!name)
		name = "EUNKNOWN";
	snprintf(msg, sizeof(msg), "%s: %s (%s)%s%s", op, strerror(err), name, detail && *detail ? "\n" : "",
		 detail ? detail : "");
	napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
	napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
	napi_create_error(env, code, m, &error);
	set_prop(env, error, "errno", make_i32(env, err));
	set_prop(env, error, "syscall", make_str(env, op));
	return error;
}

napi_value throw_errno(napi_env env, const char *op, int err, const char *detail)
{
	napi_throw(env, errno_error(env, op, err, detail));
	return NULL;
}

napi_value throw_type(napi_env env, const char *msg)
{
	napi_throw_type_error(env, "DP_ERR_ARGUMENT", msg);
	return NULL;
}

bool arg_u32(napi_env env, napi_value v, uint32_t *out)
{
	return napi_get_value_uint32(env, v, out) == napi_ok;
}

bool arg_i32(napi_env env, napi_value v, int32_t *out)
{
	return napi_get_value_int32(env, v, out) == napi_ok;
}

bool arg_str(napi_env env, napi_value v, char *buf, size_t len)
{
	size_t n = 0;

	if (napi_get_value_string_utf8(env, v, buf, len, &n) != napi_ok)
		return false;
	return n < len - 1;
}

bool arg_nullish(napi_env env, napi_value v)
{
	napi_valuetype t;

	if (napi_typeof(env, v, &t) != napi_ok)
		return true;
	return t == napi_null || t == napi_undefined;
}

bool arg_bytes(napi_env env, napi_value v, void **data, size_t *len)
{
	bool is;

	if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
		napi_typedarray_type t;
		size_t off;
		napi_value ab;

		return napi_get_typedarray_info(env, v, &t, len, data, &ab, &off) == napi_ok &&
		       t == napi_uint8_array;
	}
	if (napi_is_buffer(env, v, &is) == napi_ok && is)
		return napi_get_buffer_info(env, v, data, len) == napi_ok;
	return false;
}

napi_value make_u32(napi_env env, uint32_t v)
{
	napi_value r;
	napi_create_uint32(env, v, &r);
	return r;
}

napi_value make_i32(napi_env env, int32_t v)
{
	napi_value r;
	napi_create_int32(env, v, &r);
	return r;
}

napi_value make_bool(napi_env env, bool v)
{
	napi_value r;
	napi_get_boolean(env, v, &r);
	return r;
}

napi_value make_str(napi_env env, const char *s)
{
	napi_value r;
	napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &r);
	return r;
}

napi_value make_null(napi_env env)
{
	napi_value r;
	napi_get_null(env, &r);
	return r;
}

void set_prop(napi_env env, napi_value obj, const char *name, napi_value v)
{
	napi_set_named_property(env, obj, name, v);
}

void export_fn(napi_env env, napi_value exports, const char *name, napi_callback cb)
{
	napi_value fn;

	napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn);
	napi_set_named_property(env, exports, name, fn);
}

int in_netns(const char *path, int (*fn)(void *), void *arg)
{
	if (!path)
		return fn(arg);
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int target = open(path, O_RDONLY | O_CLOEXEC);
	int ret;

	if (self < 0 || target < 0) {
		ret = -errno;
		goto out;
	}
	if (setns(target, CLONE_NEWNET) < 0) {
		ret = -errno;
		goto out;
	}
	ret = fn(arg);
	/* Returning must not fail silently: the event loop thread would stay in the pod's netns. */
	if (setns(self, CLONE_NEWNET) < 0)
		abort();
out:
	if (self >= 0)
		close(self);
	if (target >= 0)
		close(target);
	return ret;
}

/* libbpf prints warnings and the verifier log through this hook; keep the last 8 KiB. */
static char log_buf[8192];
static size_t log_len;

static int log_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[1024];
	int n = vsnprintf(line, sizeof(line), fmt, ap);

	if (level == LIBBPF_DEBUG || n <= 0)
		return 0;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (log_len + n >= sizeof(log_buf)) {
		size_t keep = sizeof(log_buf) / 2;

		memmove(log_buf, log_buf + log_len - keep, keep);
		log_len = keep;
	}
	memcpy(log_buf + log_len, line, n);
	log_len += n;
	log_buf[log_len] = 0;
	return 0;
}

void libbpf_log_reset(void)
{
	log_len = 0;
	log_buf[0] = 0;
}

const char *libbpf_log_tail(void)
{
	return log_buf;
}

void libbpf_log_install(void)
{
	libbpf_set_print(log_print);
}
