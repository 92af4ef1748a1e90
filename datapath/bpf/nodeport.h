/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-packet NodePort state of nodeport.bpf.c: one entry per translated flow in each
 * direction, so an established flow keeps its backend and its replies are translated back.
 *
 * Upstream keeps this in its general conntrack (cilium_ct4_global, with the rev_nat_index in the
 * entry) and a SNAT table (cilium_snat_v4_external). cilium-ts: the NodePort path has two maps of
 * its own, so it does not share entries with the endpoint programs' conntrack:
 *   cilium_lb4_nodeport_ct   the client's tuple as it arrived  -> the backend (and SNAT) it got
 *   cilium_lb4_nodeport_rev  a reply's tuple as it arrives     -> the client and the frontend
 * Plain C over <linux/types.h>: test/datapath/nodeport-codecs.test.ts compiles it with the host
 * compiler against datapath/nodeport-codecs.ts.
 */
#ifndef CILIUM_TS_NODEPORT_H
#define CILIUM_TS_NODEPORT_H

#include <linux/types.h>

#define NODEPORT_CT_MAP_SIZE	262144
#define NODEPORT_REV_MAP_SIZE	262144

/* Lifetimes in seconds (upstream's CT defaults: bpf-ct-timeout-regular-tcp 21600, -syn 60,
 * -fin 10, -any 60). */
#define NODEPORT_LIFETIME_TCP		21600
#define NODEPORT_LIFETIME_SYN		60
#define NODEPORT_LIFETIME_CLOSE		10
#define NODEPORT_LIFETIME_NONTCP	60

/* Attempts at a free SNAT source port: the client's own port first, then random ones. */
#define NODEPORT_SNAT_TRIES	16
#define NODEPORT_SNAT_PORT_MIN	1024

/* nodeport_ct_entry.flags / nodeport_rev_entry.flags */
#define NODEPORT_F_SNAT		0x01	/* remote backend: the source became the node's address */
#define NODEPORT_F_LOCAL	0x02	/* backend on this node: delivered through the stack */

/* A flow's tuple, both maps' key: as the client sent it (ct) or as the reply arrives (rev). */
struct nodeport_tuple {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct nodeport_ct_entry {
	__be32 backend_addr;
	__be32 nat_addr;	/* the source the backend sees (the client unless NODEPORT_F_SNAT) */
	__be16 backend_port;
	__be16 nat_port;
	__u32 backend_id;
	__u32 lifetime;		/* expiry, seconds of bpf_ktime_get_ns() */
	__u16 rev_nat_index;
	__u8 flags;		/* NODEPORT_F_* */
	__u8 pad;
};

struct nodeport_rev_entry {
	__be32 client_addr;
	__be32 frontend_addr;
	__be16 client_port;
	__be16 frontend_port;
	__u32 lifetime;
	__u8 flags;		/* NODEPORT_F_* */
	__u8 pad[3];
};

#endif /* CILIUM_TS_NODEPORT_H */
