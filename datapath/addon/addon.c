// SPDX-License-Identifier: Apache-2.0
/* ebpf-loader-napi: module entry. Each file registers its own functions. */
#include "napi_util.h"

static napi_value init(napi_env env, napi_value exports)
{
	libbpf_log_install();
	register_object(env, exports);
	register_maps(env, exports);
	register_tc(env, exports);
	register_ringbuf(env, exports);
	register_cgroup(env, exports);
	register_sock(env, exports);
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
