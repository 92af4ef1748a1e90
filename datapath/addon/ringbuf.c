// SPDX-License-Identifier: Apache-2.0
/*
 * Ring-buffer consumption without blocking the event loop: the ring's epoll fd is watched by a
 * libuv poll handle on Node's own loop; when it becomes readable we drain what is there
 * (bounded by the ring size) and hand JS one array of Buffers per wake-up, so a busy ring costs
 * one JS call per batch rather than per event. No threads, no locks.
 */
#include "napi_util.h"

#include <stdlib.h>
#include <uv.h>
#include <bpf/libbpf.h>

/*
 * The handle JS holds is an external tagged as a ring buffer (another external, e.g. an object
 * handle, is refused rather than reinterpreted). Its memory lives until both the poll handle has
 * closed and JS has dropped the external, so a second ringbufClose or a use after close reads a
 * valid struct that says "closed" instead of freed memory.
 */
static const napi_type_tag RB_TAG = { 0x63696c69756d7473ULL, 0x7262756600000001ULL };

struct rb_handle {
	uv_poll_t poll;	/* first: uv callbacks cast the poll handle back to the struct */
	struct ring_buffer *rb;
	napi_env env;
	napi_ref callback;
	napi_async_context async;
	napi_value batch;	/* valid only during a drain */
	uint32_t batch_len;
	bool closed;
	bool poll_closed;	/* uv_close has finished */
	bool finalized;		/* JS dropped the external */
};

static int on_sample(void *ctx, void *data, size_t size)
{
	struct rb_handle *h = ctx;
	napi_value buf;
	void *tmp;

	if (napi_create_buffer_copy(h->env, size, data, &tmp, &buf) != napi_ok)
		return -ENOMEM;
	napi_set_element(h->env, h->batch, h->batch_len++, buf);
	return 0;
}

/* Drains the ring into a fresh array; returns the array (in the current handle scope). */
static int drain(struct rb_handle *h, napi_value *out)
{
	napi_create_array(h->env, &h->batch);
	h->batch_len = 0;
	int n = ring_buffer__consume(h->rb);
	*out = h->batch;
	return n;
}

static void on_readable(uv_poll_t *poll, int status, int events)
{
	struct rb_handle *h = (struct rb_handle *)poll;
	napi_handle_scope scope;
	napi_value batch, cb, recv, result;

	if (h->closed)
		return;
	napi_open_handle_scope(h->env, &scope);
	drain(h, &batch);
	if (h->batch_len) {
		napi_get_reference_value(h->env, h->callback, &cb);
		/* MakeCallback converts the receiver to an object: undefined would throw */
		napi_get_global(h->env, &recv);
		/* make_callback: runs microtasks and reports exceptions like any I/O callback */
		napi_make_callback(h->env, h->async, recv, cb, 1, &batch, &result);
	}
	napi_close_handle_scope(h->env, scope);
}

static void on_closed(uv_handle_t *handle)
{
	struct rb_handle *h = (struct rb_handle *)handle;

	h->poll_closed = true;
	if (h->finalized)
		free(h);
}

static void rb_release(struct rb_handle *h)
{
	if (h->closed)
		return;
	h->closed = true;
	uv_poll_stop(&h->poll);
	ring_buffer__free(h->rb);
	napi_delete_reference(h->env, h->callback);
	napi_async_destroy(h->env, h->async);
	uv_close((uv_handle_t *)&h->poll, on_closed);
}

static void rb_finalize(napi_env env, void *data, void *hint)
{
	struct rb_handle *h = data;

	h->finalized = true;
	rb_release(h);
	if (h->poll_closed)
		free(h);
}

/* ringbufOpen(mapFd, callback(events: Buffer[])) -> handle */
static napi_value rb_open(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2], name;
	int32_t fd;
	napi_valuetype t;
	uv_loop_t *loop;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 2 || !arg_i32(env, argv[0], &fd) || napi_typeof(env, argv[1], &t) != napi_ok ||
	    t != napi_function)
		return throw_type(env, "ringbufOpen(mapFd, callback)");
	struct rb_handle *h = calloc(1, sizeof(*h));
	if (!h)
		return throw_errno(env, "calloc", ENOMEM, "ringbufOpen");
	h->env = env;
	h->rb = ring_buffer__new(fd, on_sample, h, NULL);
	if (!h->rb) {
		int err = errno;
		free(h);
		return throw_errno(env, "ring_buffer__new", err, NULL);
	}
	napi_create_reference(env, argv[1], 1, &h->callback);
	napi_create_string_utf8(env, "cilium-ts:ringbuf", NAPI_AUTO_LENGTH, &name);
	napi_async_init(env, NULL, name, &h->async);
	napi_get_uv_event_loop(env, &loop);
	uv_poll_init(loop, &h->poll, ring_buffer__epoll_fd(h->rb));
	uv_poll_start(&h->poll, UV_READABLE, on_readable);
	/* the reader alone must not keep a process alive */
	uv_unref((uv_handle_t *)&h->poll);
	napi_value ext;
	if (napi_create_external(env, h, rb_finalize, NULL, &ext) != napi_ok) {
		rb_release(h); /* on_closed frees nothing: no external will ever finalize, so mark it */
		h->finalized = true;
		return throw_type(env, "ringbufOpen: cannot create the handle");
	}
	NAPI_CALL(env, napi_type_tag_object(env, ext, &RB_TAG));
	return ext;
}

static struct rb_handle *rb_arg(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	void *p = NULL;
	bool tagged = false;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
	    napi_check_object_type_tag(env, argv[0], &RB_TAG, &tagged) != napi_ok || !tagged ||
	    napi_get_value_external(env, argv[0], &p) != napi_ok || !p) {
		throw_type(env, "expected a ring buffer handle from ringbufOpen()");
		return NULL;
	}
	if (((struct rb_handle *)p)->closed) {
		throw_type(env, "the ring buffer handle is closed");
		return NULL;
	}
	return p;
}

/* ringbufConsume(handle) -> Buffer[]: drain now, synchronously (tests, shutdown) */
static napi_value rb_consume(napi_env env, napi_callback_info info)
{
	struct rb_handle *h = rb_arg(env, info);
	napi_value batch;

	if (!h)
		return NULL;
	int n = drain(h, &batch);
	if (n < 0)
		return throw_errno(env, "ring_buffer__consume", -n, NULL);
	return batch;
}

/* ringbufClose(handle) */
static napi_value rb_close(napi_env env, napi_callback_info info)
{
	struct rb_handle *h = rb_arg(env, info);

	if (h)
		rb_release(h);
	return NULL;
}

void register_ringbuf(napi_env env, napi_value exports)
{
	export_fn(env, exports, "ringbufOpen", rb_open);
	export_fn(env, exports, "ringbufConsume", rb_consume);
	export_fn(env, exports, "ringbufClose", rb_close);
}
