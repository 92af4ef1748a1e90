/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What every tc program of cilium-ts reports through: the drop/forward counters (cilium_metrics),
 * the event ring (cilium_events) with its per-CPU budget, and the runtime configuration. Shared by
 * pin name between lxc.bpf.c and nodeport.bpf.c, so the agent reads one ring and one counter map.
 * BPF-only (map definitions); the layouts are in lxc.h.
 */
#ifndef CILIUM_TS_NOTIFY_H
#define CILIUM_TS_NOTIFY_H

#include "lxc.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, METRICS_MAP_SIZE);
	__type(key, struct metrics_key);
	__type(value, struct metrics_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_metrics SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, EVENTS_RING_SIZE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dp_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct events_budget);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_events_budget SEC(".maps");

/* ---------------------------------------------------------------- config, metrics, events */

static __always_inline struct dp_config *config(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&cilium_config, &zero);
}

static __always_inline __u32 cfg_or(__u32 v, __u32 dflt)
{
	return v ? v : dflt;
}

static __always_inline void count(__u8 reason, __u8 dir, __u32 bytes)
{
	struct metrics_key k = { .reason = reason, .dir = dir };
	struct metrics_value *v = bpf_map_lookup_elem(&cilium_metrics, &k);

	if (v) {
		/* per-CPU value: no atomics needed */
		v->count++;
		v->bytes += bytes;
		return;
	}
	struct metrics_value init = { .count = 1, .bytes = bytes };
	bpf_map_update_elem(&cilium_metrics, &k, &init, BPF_NOEXIST);
}

/*
 * Token bucket per CPU so that a flood of drops cannot starve the ring (or the agent reading it):
 * at most events_rate/s with bursts of events_burst, the rest only counted as lost.
 */
static __always_inline int events_allowed(void)
{
	struct dp_config *c = config();
	__u32 zero = 0;
	struct events_budget *b = bpf_map_lookup_elem(&cilium_events_budget, &zero);

	if (!c || !b || c->events_rate == 0)
		return 1;
	__u64 now = bpf_ktime_get_ns();
	__u64 per_event = 1000000000ULL / c->events_rate;
	__u64 cap = per_event * cfg_or(c->events_burst, 1);
	__u64 credit = b->tokens_ns + (now - b->last_ns);

	b->last_ns = now;
	if (credit > cap)
		credit = cap;
	if (credit < per_event) {
		b->tokens_ns = credit;
		b->lost_ratelimit++;
		return 0;
	}
	b->tokens_ns = credit - per_event;
	return 1;
}

static __always_inline void ring_full(void)
{
	__u32 zero = 0;
	struct events_budget *b = bpf_map_lookup_elem(&cilium_events_budget, &zero);

	if (b)
		b->lost_ring_full++;
}

/*
 * Wake the reader only once a batch has accumulated: a wakeup per event would cost the agent a
 * context switch per event under load. The reader also drains on a short timer (kernel.ts), so a
 * lone event still arrives promptly.
 */
#define EVENTS_WAKEUP_BYTES (64 * 1024)

static __always_inline __u64 wakeup_flag(void)
{
	return bpf_ringbuf_query(&cilium_events, BPF_RB_AVAIL_DATA) >= EVENTS_WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP
											 : BPF_RB_NO_WAKEUP;
}

static __always_inline __u16 capture(struct __sk_buff *skb, __u8 *data)
{
	__u32 cap = skb->len;

	if (cap > TRACE_PAYLOAD_LEN)
		cap = TRACE_PAYLOAD_LEN;
	if (cap == 0 || bpf_skb_load_bytes(skb, 0, data, cap) < 0)
		return 0;
	return cap;
}

#endif /* CILIUM_TS_NOTIFY_H */
