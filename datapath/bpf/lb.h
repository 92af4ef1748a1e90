/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The load-balancer maps of cilium-ts: service frontends, backends, reverse NAT, session
 * affinity and the socket-level reverse translation, defined once.
 *
 * Included by sock_lb.bpf.c (the cgroup programs) and by the layout probe that
 * test/datapath/lb-codecs.test.ts compiles with the host compiler, so it stays plain C over
 * <linux/types.h>. datapath/lb-codecs.ts mirrors these structs byte for byte.
 *
 * Layouts follow upstream Cilium's bpf/lib/common.h (lb4_key, lb4_service, lb4_backend,
 * lb4_reverse_nat, lb4_affinity_key, lb_affinity_val, ipv4_revnat_tuple/entry) and map names
 * follow docs.cilium.io network/ebpf/maps; deviations are marked "cilium-ts:".
 */
#ifndef CILIUM_TS_LB_H
#define CILIUM_TS_LB_H

#include <linux/types.h>

/* ---- sizes (upstream CILIUM_LB_*_MAP_MAX_ENTRIES; the agent resizes them from bpf-lb-map-max) ---- */
#define LB_SERVICE_MAP_MAX_ENTRIES	65536
#define LB_BACKENDS_MAP_MAX_ENTRIES	65536
#define LB_REV_NAT_MAP_MAX_ENTRIES	65536
#define LB_AFFINITY_MAP_MAX_ENTRIES	65536
#define LB_REVERSE_SK_MAP_SIZE		262144	/* upstream bpf-sock-rev-map-max */

/* lb4_key.scope */
#define LB_LOOKUP_SCOPE_EXT	0
#define LB_LOOKUP_SCOPE_INT	1

/*
 * cilium_lb4_services_v2 key. Slot 0 is the frontend; slots 1..count name the backends.
 * cilium-ts: `proto` is the frontend's IPPROTO_* (upstream's bpf-lb-proto-diff), so a TCP and a
 * UDP port of one Service with the same number are two frontends.
 */
struct lb4_key {
	__be32 address;		/* frontend IP */
	__be16 dport;		/* frontend port */
	__u16 backend_slot;	/* 0 = the frontend entry */
	__u8 proto;
	__u8 scope;		/* LB_LOOKUP_SCOPE_* */
	__u8 pad[2];
};

/* lb4_service.flags */
#define SVC_FLAG_EXTERNAL_IP	0x01
#define SVC_FLAG_NODEPORT	0x02
#define SVC_FLAG_EXT_LOCAL_SCOPE 0x04
#define SVC_FLAG_HOSTPORT	0x08
#define SVC_FLAG_AFFINITY	0x10
#define SVC_FLAG_LOADBALANCER	0x20
#define SVC_FLAG_ROUTABLE	0x40
#define SVC_FLAG_SOURCE_RANGE	0x80
/* lb4_service.flags2 */
#define SVC_FLAG_LOCALREDIRECT	0x01
#define SVC_FLAG_NAT_46X64	0x02
#define SVC_FLAG_L7LOADBALANCER	0x04
#define SVC_FLAG_LOOPBACK	0x08
#define SVC_FLAG_INT_LOCAL_SCOPE 0x10
#define SVC_FLAG_TWO_SCOPES	0x20

struct lb4_service {
	union {
		__u32 backend_id;	/* backend slots */
		__u32 affinity_timeout;	/* frontend (slot 0): seconds, with SVC_FLAG_AFFINITY */
	};
	__u16 count;		/* frontend: number of backend slots */
	__u16 rev_nat_index;	/* frontend: key of cilium_lb4_reverse_nat */
	__u8 flags;		/* SVC_FLAG_* */
	__u8 flags2;
	__u8 pad[2];
};

/* lb4_backend.flags: the backend's state */
#define BE_STATE_ACTIVE		0
#define BE_STATE_TERMINATING	1
#define BE_STATE_QUARANTINED	2
#define BE_STATE_MAINTENANCE	3

/* cilium_lb4_backends_v3: backend id (u32) -> backend */
struct lb4_backend {
	__be32 address;
	__be16 port;
	__u8 proto;
	__u8 flags;		/* BE_STATE_* */
	__u8 cluster_id;
	__u8 pad[3];
};

/* cilium_lb4_reverse_nat: rev_nat_index (u16) -> the frontend replies must come from */
struct lb4_reverse_nat {
	__be32 address;
	__be16 port;
};

/* cilium_lb4_affinity: (client, frontend) -> the backend it was given, and when */
struct lb4_affinity_key {
	__u64 client_id;	/* client IPv4 (per packet) or netns cookie (socket-LB) */
	__u16 rev_nat_id;
	__u8 netns_cookie;	/* 1: client_id is a netns cookie (upstream: a 1-bit field) */
	__u8 pad1;
	__u32 pad2;
};

struct lb_affinity_val {
	__u64 last_used;	/* bpf_ktime_get_ns() seconds */
	__u32 backend_id;
	__u32 pad;
};

/* cilium_lb_affinity_match: (backend, frontend) pairs that are valid now (a key set; value 0) */
struct lb_affinity_match {
	__u32 backend_id;
	__u16 rev_nat_id;
	__u16 pad;
};

/* cilium_lb4_reverse_sk: the socket-LB's memory of what a socket was really connected to */
struct ipv4_revnat_tuple {
	__u64 cookie;		/* bpf_get_socket_cookie() */
	__be32 address;		/* backend */
	__be16 port;
	__u16 pad;
};

struct ipv4_revnat_entry {
	__be32 address;		/* frontend */
	__be16 port;
	__u16 rev_nat_index;
};

#endif /* CILIUM_TS_LB_H */
