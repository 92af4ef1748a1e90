/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The masquerading (BPF SNAT) state of snat.h: the NAT table and the per-node settings.
 *
 * cilium_snat_v4_external follows upstream's layout (bpf/lib/nat.h, v1.15/v1.16): the key is the
 * conntrack tuple (struct ipv4_ct_tuple of lxc.h, 14 bytes, addresses and ports as the packet
 * carries them) with flags = NAT_DIR_*, the value struct ipv4_nat_entry (40 bytes: the 32-byte
 * struct nat_entry, then the address and port to rewrite to). Each masqueraded flow has two entries:
 *   egress  {daddr: remote, saddr: pod,  dport: remote port, sport: pod port, flags: EGRESS}
 *           -> {to_addr: node address, to_port: allocated port}
 *   ingress {daddr: node,   saddr: remote, dport: allocated port, sport: remote port, flags: INGRESS}
 *           -> {to_addr: pod address, to_port: pod port}
 * ICMP echo: the echo identifier stands for the local port (sport of a request, dport of a reply).
 *
 * cilium-ts: upstream removes NAT entries with the conntrack entries they belong to; here an entry
 * carries its own expiry in what upstream calls pad1, so a stale mapping is reused, never trusted.
 * Upstream compiles the exclusion CIDR and the node address into the program (IPV4_SNAT_EXCLUSION_
 * DST_CIDR, IPV4_MASQUERADE); cilium-ts has one object per node, so they are a one-entry array the
 * agent writes (cilium_snat_v4_config).
 *
 * Plain C over <linux/types.h>: test/datapath/snat-codecs.test.ts compiles it with the host
 * compiler against datapath/snat-codecs.ts.
 */
#ifndef CILIUM_TS_NAT_H
#define CILIUM_TS_NAT_H

#include <linux/types.h>

/* upstream's bpf-nat-global-max default */
#define SNAT_MAP_SIZE_V4	524288

#define NAT_DIR_EGRESS		0	/* TUPLE_F_OUT */
#define NAT_DIR_INGRESS		1	/* TUPLE_F_IN */

/* upstream: NODEPORT_PORT_MIN_NAT .. NODEPORT_PORT_MAX_NAT, the default masquerading range */
#define SNAT_PORT_MIN		32768
#define SNAT_PORT_MAX		65535
/* Tries for a free port after the flow's own: random, then the following ports (upstream: SNAT_COLLISION_RETRIES) */
#define SNAT_COLLISION_RETRIES	32

/* Lifetimes in seconds (upstream's CT defaults, which bound its NAT entries). */
#define SNAT_LIFETIME_TCP	21600
#define SNAT_LIFETIME_SYN	60
#define SNAT_LIFETIME_CLOSE	10
#define SNAT_LIFETIME_NONTCP	60

struct ipv4_nat_entry {
	__u64 created;		/* seconds of bpf_ktime_get_ns() */
	__u64 needs_ct;		/* upstream: 0 here */
	__u32 lifetime;		/* cilium-ts (upstream pad1): expiry, seconds of bpf_ktime_get_ns() */
	__u32 pad1;
	__u64 pad2;
	__be32 to_addr;		/* upstream to_saddr (egress) / to_daddr (ingress) */
	__be16 to_port;		/* upstream to_sport / to_dport */
	__u16 pad3;
};

/* cilium_snat_v4_config[0]: what this node masquerades. */
#define SNAT_F_ENABLED		0x01

struct snat_config {
	__be32 node_addr;	/* the address the node's device masquerades to */
	__be32 exclude_addr;	/* ipv4-native-routing-cidr (network order, masked) */
	__be32 exclude_mask;	/* its mask; 0 masquerades every destination */
	__u16 port_min;		/* 0 = SNAT_PORT_MIN */
	__u16 port_max;		/* 0 = SNAT_PORT_MAX */
	__u8 flags;		/* SNAT_F_* */
	__u8 pad[3];
};

#endif /* CILIUM_TS_NAT_H */
