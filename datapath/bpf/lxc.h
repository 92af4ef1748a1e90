/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kernel ABI of cilium-ts: every map key, map value and event layout, defined once.
 *
 * Included by lxc.bpf.c (the tc programs) and by the layout probe that test/datapath compiles
 * with the host compiler, so it must stay plain C over <linux/types.h>: no BPF helpers here.
 * datapath/codecs.ts mirrors these structs byte for byte; the golden test compares offsetof()
 * and sizeof() printed by the host compiler with the codecs, so a change here that is not made
 * there fails CI.
 *
 * Layouts follow upstream Cilium (bpf/lib/common.h, v1.15/v1.16) where they exist, so that
 * events and drop reasons speak Hubble's language; deviations are marked "cilium-ts:".
 */
#ifndef CILIUM_TS_LXC_H
#define CILIUM_TS_LXC_H

#include <linux/types.h>

#define CT_PACKED __attribute__((packed))

/* ---- map names and sizes (defaults of docs.cilium.io network/ebpf/maps) ---- */
#define POLICY_MAP_SIZE		16384	/* per endpoint, like upstream's cilium_policy_v2 */
#define POLICY_OUTER_SIZE	65535	/* endpoint ids are u16 */
#define IPCACHE_MAP_SIZE	512000
#define ENDPOINTS_MAP_SIZE	65535
#define CT_MAP_SIZE_V4		262144
#define CT_MAP_SIZE_V6		131072
#define METRICS_MAP_SIZE	1024
#define EVENTS_RING_SIZE	(1 << 22) /* 4 MiB */

/* ---- reserved identities (docs.cilium.io internals/security-identities) ---- */
#define IDENTITY_UNKNOWN	0	/* in a policy key: any identity */
#define IDENTITY_HOST		1
#define IDENTITY_WORLD		2

/* ---- policy: per endpoint LPM trie, reached through an outer hash of maps ---- */
/* Static part of the key (sec_label + egress byte) is always matched in full. */
#define POLICY_STATIC_PREFIX	40
#define POLICY_FULL_PREFIX	64

struct policy_key {
	__u32 prefixlen;	/* bpf_lpm_trie_key: bits after this field that must match */
	__u32 sec_label;	/* remote identity; 0 = any (second lookup) */
	__u8 egress;		/* 0 = ingress, 1 = egress (upstream: egress:1, pad:7) */
	__u8 protocol;		/* IPPROTO_*; wildcarded only with the port */
	__be16 dport;		/* network order; ICMP: the type; prefix-wildcarded for ranges */
};

/* v1.16 value: 12 bytes, counters live in the metrics map. */
#define POLICY_F_DENY		0x01
#define POLICY_PREFIX_SHIFT	3	/* lpm_prefix_length:5 = proto + port bits matched (0..24) */
struct policy_entry {
	__be16 proxy_port;	/* non-zero: an allow that hands the packet to the node's proxy (endpoint.h to_proxy) */
	__u8 flags;		/* deny:1, reserved:2, lpm_prefix_length:5 */
	__u8 auth_type;
	__u32 precedence;	/* reserved, 0 */
	__u32 cookie;		/* rule cookie reported in policy-verdict events */
};

/* ---- ipcache: LPM trie of IP/prefix -> identity (one map per node) ---- */
#define IPCACHE_STATIC_PREFIX	32	/* pad1 + pad2 + family; + CIDR bits */
#define ENDPOINT_KEY_IPV4	1
#define ENDPOINT_KEY_IPV6	2

struct ipcache_key {
	__u32 prefixlen;
	__u16 pad1;
	__u8 pad2;
	__u8 family;		/* ENDPOINT_KEY_IPV4 | ENDPOINT_KEY_IPV6 */
	__u8 ip[16];		/* IPv4 in the first 4 bytes */
} CT_PACKED;

struct remote_endpoint_info {
	__u32 sec_identity;
	__be32 tunnel_endpoint;
	__u16 node_id;
	__u8 key;		/* encryption key index */
	__u8 flags;
};

/* ---- endpoints (cilium_lxc): local endpoint IP -> endpoint ---- */
#define ENDPOINT_F_HOST		1

struct endpoint_key {
	__u8 ip[16];		/* IPv4 in the first 4 bytes */
	__u8 family;
	__u8 key;
	__u8 cluster_id;
	__u8 pad;
};

struct endpoint_info {
	__u32 ifindex;		/* host-side veth; packets must arrive on it (anti-spoofing) */
	__u16 unused;
	__u16 lxc_id;		/* endpoint id: key of the outer policy map */
	__u32 flags;
	__u8 mac[6];
	__u8 node_mac[6];
	__u32 sec_identity;	/* cilium-ts: upstream compiles SECLABEL in; we have one object */
	__u32 pad[3];
};

/* ---- connection tracking: LRU hash per family ---- */
#define TUPLE_F_OUT		0	/* created by an endpoint's egress (from-container) */
#define TUPLE_F_IN		1	/* created by an endpoint's ingress (to-container) */
/*
 * cilium-ts: addresses and ports are stored as the originating packet carries them
 * (upstream stores them reversed); the field order is upstream's.
 */
struct ipv4_ct_tuple {
	__be32 daddr;
	__be32 saddr;
	__be16 dport;
	__be16 sport;
	__u8 nexthdr;
	__u8 flags;
} CT_PACKED;

struct ipv6_ct_tuple {
	__u8 daddr[16];
	__u8 saddr[16];
	__be16 dport;
	__be16 sport;
	__u8 nexthdr;
	__u8 flags;
} CT_PACKED;

#define CT_F_RX_CLOSING		0x0001
#define CT_F_TX_CLOSING		0x0002
#define CT_F_SEEN_NON_SYN	0x0010
#define CT_F_PROXY_REDIRECT	0x0020	/* upstream ct_entry proxy_redirect: every packet goes to the proxy */

struct ct_entry {
	__u64 rx_packets;	/* reply direction */
	__u64 rx_bytes;
	__u64 tx_packets;	/* original direction */
	__u64 tx_bytes;
	__u32 lifetime;		/* monotonic seconds after which the entry is dead */
	__u16 flags;		/* CT_F_* */
	__u16 rev_nat_index;
	__u16 ifindex;
	__u8 tx_flags_seen;	/* TCP flags */
	__u8 rx_flags_seen;
	__u32 src_sec_id;	/* remote identity when the entry was created */
	__u32 last_tx_report;
	__u32 last_rx_report;
};

enum ct_status { CT_NEW = 0, CT_ESTABLISHED = 1, CT_REPLY = 2, CT_RELATED = 3, CT_REOPENED = 4 };

/* Timeouts in seconds (upstream node_config.h test values / agent defaults). */
#define CT_LIFETIME_TCP		21600
#define CT_LIFETIME_NONTCP	60
#define CT_SYN_TIMEOUT		60
#define CT_CLOSE_TIMEOUT	10

/* ---- metrics: per-CPU hash, reason x direction -> packets, bytes ---- */
#define METRIC_INGRESS		1
#define METRIC_EGRESS		2

struct metrics_key {
	__u8 reason;		/* 0 = forwarded, else -DROP_* */
	__u8 dir;		/* dir:2 (1 ingress, 2 egress), pad:6 */
	__u16 reserved[3];
};

struct metrics_value {
	__u64 count;
	__u64 bytes;
};

/* ---- runtime configuration: one-element array, written by the loader ---- */
struct dp_config {
	__u32 events_rate;	/* events per second per CPU; 0 = unlimited */
	__u32 events_burst;	/* bucket size */
	__u32 ct_lifetime_tcp;	/* 0 = the default above */
	__u32 ct_lifetime_nontcp;
	__u32 ct_syn_timeout;
	__u32 ct_close_timeout;
	__u32 flags;		/* DP_F_* */
	__u32 pad;
};

/* Per-packet conntrack counters: off by default, they make every packet of a flow write the
 * shared entry (a cache line bouncing between the CPUs of the two directions). */
#define DP_F_CT_ACCOUNTING	0x1
/* Deliver endpoint-to-endpoint packets of this node by redirect into the destination pod (the
 * destination's ingress policy applied in the source's program), not through the node's stack. */
#define DP_F_LOCAL_REDIRECT	0x2

/* Per-CPU event budget; the lost_* counters are how userspace learns of suppressed events. */
struct events_budget {
	__u64 tokens_ns;	/* token bucket kept in "ns of credit" to avoid a division */
	__u64 last_ns;
	__u64 lost_ratelimit;
	__u64 lost_ring_full;
};

/* ---- events: BPF ring buffer, first byte = message type (CILIUM_NOTIFY_* in bpf/lib/common.h) ---- */
#define CILIUM_NOTIFY_DROP		1
#define CILIUM_NOTIFY_TRACE		4
#define CILIUM_NOTIFY_POLICY_VERDICT	5

#define TRACE_PAYLOAD_LEN	128

#define TRACE_TO_LXC		0
#define TRACE_TO_PROXY		1
#define TRACE_FROM_LXC		5

#define NOTIFY_F_IPV6		0x01

/* DropNotify v2: 40-byte header. */
struct drop_notify {
	__u8 type;
	__u8 subtype;		/* -DROP_* */
	__u16 source;		/* endpoint id */
	__u32 hash;
	__u32 len_orig;
	__u16 len_cap;
	__u16 version;		/* 2 */
	__u32 src_label;
	__u32 dst_label;
	__u32 dst_id;
	__u16 line;
	__u8 file;
	__s8 ext_error;
	__u32 ifindex;
	__u8 flags;		/* NOTIFY_F_IPV6 */
	__u8 pad[3];
	__u8 data[TRACE_PAYLOAD_LEN];
};

/* TraceNotify v1: 48-byte header. */
struct trace_notify {
	__u8 type;
	__u8 obs_point;
	__u16 source;
	__u32 hash;
	__u32 len_orig;
	__u16 len_cap;
	__u8 version;		/* 1 */
	__u8 ext_version;
	__u32 src_label;
	__u32 dst_label;
	__u16 dst_id;
	__u8 reason;		/* enum ct_status */
	__u8 flags;		/* NOTIFY_F_IPV6 */
	__u32 ifindex;
	__u8 orig_ip[16];
	__u8 data[TRACE_PAYLOAD_LEN];
};

/* PolicyVerdictNotify: 40-byte header. */
#define PV_F_DIR_MASK		0x03	/* 1 ingress, 2 egress */
#define PV_F_IPV6		0x04
#define PV_F_MATCH_SHIFT	3	/* match type in bits 3..5 */

enum policy_match {
	POLICY_MATCH_NONE = 0, POLICY_MATCH_L3_ONLY = 1, POLICY_MATCH_L3_L4 = 2,
	POLICY_MATCH_L4_ONLY = 3, POLICY_MATCH_ALL = 4, POLICY_MATCH_L3_PROTO = 5,
	POLICY_MATCH_PROTO_ONLY = 6,
};

struct policy_verdict_notify {
	__u8 type;
	__u8 subtype;
	__u16 source;
	__u32 hash;
	__u32 len_orig;
	__u16 len_cap;
	__u8 version;		/* 1 */
	__u8 ext_version;
	__u32 remote_label;
	__s32 verdict;		/* 0 allow, <0 DROP_* */
	__u16 dst_port;		/* host order */
	__u8 proto;
	__u8 flags;		/* PV_F_* */
	__u8 auth_type;
	__u8 pad1[3];
	__u32 cookie;
	__u32 pad2;
	__u8 data[TRACE_PAYLOAD_LEN];
};

/*
 * ---- skb->mark between hooks (upstream bpf/lib/common.h): the magic in bits 8-11. TO_PROXY: the
 * packet is for the node's proxy; the source identity sits as MARK_MAGIC_IDENTITY puts it (upper 16
 * bits + lower 8 bits), except on the hop from to-container back to from-container (to_proxy_hop),
 * where the upper 16 bits carry the proxy port as upstream's hairpin does (a packet from a pod has
 * mark 0: veth scrubs it when it crosses namespaces, so from-container can tell the hop apart).
 */
#define MARK_MAGIC_HOST_MASK	0x0F00
#define MARK_MAGIC_TO_PROXY	0x0200

/* ---- drop reasons (upstream common.h; metrics and Hubble use the absolute value) ---- */
#define DROP_INVALID_SIP	-132
#define DROP_POLICY		-133
#define DROP_INVALID		-134
#define DROP_CT_INVALID_HDR	-135
#define DROP_UNKNOWN_L3		-139
#define DROP_WRITE_ERROR	-141	/* tunnel.h: the tunnel key could not be set */
#define DROP_UNKNOWN_L4		-142
#define DROP_NO_TUNNEL_KEY	-147	/* overlay.bpf.c: a packet without tunnel metadata */
#define DROP_UNROUTABLE		-151
#define DROP_CT_CREATE_FAILED	-155
#define DROP_INVALID_EXTHDR	-156
#define DROP_FRAG_NOSUPPORT	-157
#define DROP_NO_SERVICE		-158	/* nodeport.bpf.c: a NodePort frontend without backend */
#define DROP_NO_CONFIG		-165
#define DROP_NAT_NO_MAPPING	-167	/* snat.h: no free port to masquerade to */
#define DROP_INVALID_IDENTITY	-171
#define DROP_PROXY_LOOKUP_FAILED	-178	/* no proxy socket for a redirected packet */
#define DROP_PROXY_SET_FAILED	-179	/* bpf_sk_assign refused the proxy socket */
#define DROP_PROXY_UNKNOWN_PROTO	-180	/* a redirect for neither TCP nor UDP */
#define DROP_POLICY_DENY	-181

#endif /* CILIUM_TS_LXC_H */
