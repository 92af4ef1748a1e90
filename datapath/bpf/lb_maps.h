/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The load-balancer maps both LB programs share by pin name (sock_lb.bpf.c at the cgroup hooks,
 * nodeport.bpf.c at the node's device), defined once so the two objects always agree on type,
 * sizes and flags (libbpf reuses a pinned map only when they match). BPF-only: the layout probe
 * includes lb.h, not this file.
 */
#ifndef CILIUM_TS_LB_MAPS_H
#define CILIUM_TS_LB_MAPS_H

#include "lb.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_SERVICE_MAP_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lb4_key);
	__type(value, struct lb4_service);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_lb4_services_v2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_BACKENDS_MAP_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct lb4_backend);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_lb4_backends_v3 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_REV_NAT_MAP_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u16);
	__type(value, struct lb4_reverse_nat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_lb4_reverse_nat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LB_AFFINITY_MAP_MAX_ENTRIES);
	__type(key, struct lb4_affinity_key);
	__type(value, struct lb_affinity_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_lb4_affinity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_BACKENDS_MAP_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lb_affinity_match);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_lb_affinity_match SEC(".maps");

/* ---- session affinity, shared by both programs ---- */

static __always_inline __u64 now_sec(void)
{
	return bpf_ktime_get_ns() / 1000000000ULL;
}

/*
 * The backend id this client is pinned to for the frontend, or 0. The client is a network
 * namespace cookie (socket-LB, is_netns 1) or an IPv4 address (per packet, is_netns 0).
 */
static __always_inline __u32 affinity_backend(const struct lb4_service *svc, __u64 client, __u8 is_netns)
{
	struct lb4_affinity_key key = { .client_id = client, .rev_nat_id = svc->rev_nat_index, .netns_cookie = is_netns };
	struct lb_affinity_val *val = bpf_map_lookup_elem(&cilium_lb4_affinity, &key);

	if (!val)
		return 0;
	if (now_sec() - val->last_used > svc->affinity_timeout)
		return 0;
	struct lb_affinity_match match = { .backend_id = val->backend_id, .rev_nat_id = svc->rev_nat_index };
	if (!bpf_map_lookup_elem(&cilium_lb_affinity_match, &match))
		return 0; /* the backend left the Service */
	val->last_used = now_sec();
	return val->backend_id;
}

static __always_inline void affinity_remember(const struct lb4_service *svc, __u64 client, __u8 is_netns,
					      __u32 backend_id)
{
	struct lb4_affinity_key key = { .client_id = client, .rev_nat_id = svc->rev_nat_index, .netns_cookie = is_netns };
	struct lb_affinity_val val = { .last_used = now_sec(), .backend_id = backend_id };

	bpf_map_update_elem(&cilium_lb4_affinity, &key, &val, BPF_ANY);
}

#endif /* CILIUM_TS_LB_MAPS_H */
