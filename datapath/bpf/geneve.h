/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Geneve (RFC 8926) framed by the datapath itself, for kernels without a Geneve device
 * (CONFIG_GENEVE) and without one on any kernel: the packet gets
 *   outer Ethernet | outer IPv4 | UDP (port 6081) | Geneve | inner Ethernet | inner IPv4 ...
 * as the kernel's metadata-mode geneve device would build it for upstream's bpf_overlay: protocol
 * Transparent Ethernet Bridging, no options, VNI = the source security identity, TTL 64, UDP
 * checksum 0 (allowed over IPv4, RFC 8926 §3.3 / RFC 768), UDP source port from the inner flow
 * hash so that ECMP spreads flows (as udp_flow_src_port() does for the kernel's tunnels).
 *
 * bpf_skb_adjust_room() with the ENCAP flags marks the skb as encapsulated (inner headers,
 * inner protocol ETH_P_TEB, SKB_GSO_UDP_TUNNEL): a GSO packet (a large TCP send) is segmented
 * later with every segment framed, and FIXED_GSO keeps the segment size the pod's MTU (the
 * agent gives pods the underlay MTU minus GENEVE_ENCAP_LEN) already leaves room for.
 * BPF-only; needs overlay.h (struct tunnel_config).
 */
#ifndef CILIUM_TS_GENEVE_H
#define CILIUM_TS_GENEVE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "overlay.h"

#define GENEVE_PROTO_TEB	0x6558	/* Transparent Ethernet Bridging: the inner frame is Ethernet */
#define GENEVE_VER_MASK		0xc0	/* ver:2 | opt_len:6 (in 4-byte words) */
#define GENEVE_OPTLEN_MASK	0x3f
#define GENEVE_F_OAM		0x80	/* O: a control packet, never delivered */
#define GENEVE_F_CRITICAL	0x40	/* C: critical options present; we know none, so drop */

struct genevehdr {
	__u8 ver_optlen;
	__u8 flags;
	__be16 proto;
	__u8 vni[3];
	__u8 rsvd;
};

/* Everything inserted after the outer MAC header: outer IPv4, UDP, Geneve, inner Ethernet. */
struct geneve_encap {
	struct iphdr ip;
	struct udphdr udp;
	struct genevehdr gnv;
	struct ethhdr inner;
} __attribute__((packed));

#define GENEVE_ENCAP_LEN	((__u32)sizeof(struct geneve_encap))	/* 50, as VXLAN */

/* The kernel's default ip_local_port_range, the range udp_flow_src_port() picks from. */
#define GENEVE_SPORT_MIN	32768
#define GENEVE_SPORT_MAX	60999

static __always_inline __u16 ipv4_csum(const struct iphdr *ip)
{
	const __u16 *w = (const __u16 *)ip;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*ip) / 2); i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/*
 * Frames the Ethernet frame in `skb` (IPv4 inside) for the node at `remote` with VNI `identity`.
 * The outer MAC header is the frame's own: the caller sends it on with bpf_redirect_neigh (which
 * writes the next hop's addresses) or is the underlay's egress, where the stack has addressed it.
 * 0, or < 0 when the packet could not be grown.
 */
static __always_inline int geneve_frame(struct __sk_buff *skb, const struct tunnel_config *t, __be32 remote,
					__u32 identity)
{
	__u32 hash = bpf_get_hash_recalc(skb);
	__u32 inner_len = skb->len;	/* inner Ethernet + IP, before growing */
	struct geneve_encap h = {};
	struct iphdr ip = {};

	if (bpf_skb_load_bytes(skb, 0, &h.inner, sizeof(h.inner)) < 0)
		return -1;
	if (bpf_skb_adjust_room(skb, GENEVE_ENCAP_LEN, BPF_ADJ_ROOM_MAC,
				BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 |
					BPF_F_ADJ_ROOM_ENCAP_L4_UDP | BPF_F_ADJ_ROOM_ENCAP_L2_ETH |
					BPF_F_ADJ_ROOM_ENCAP_L2(ETH_HLEN)) < 0)
		return -1;
	ip.version = 4;
	ip.ihl = 5;
	ip.tot_len = bpf_htons(inner_len + sizeof(h.ip) + sizeof(h.udp) + sizeof(h.gnv));
	ip.ttl = TUNNEL_TTL;
	ip.protocol = IPPROTO_UDP;
	ip.saddr = t->local_ip4;
	ip.daddr = remote;
	ip.check = ipv4_csum(&ip);
	h.ip = ip;
	h.udp.source = bpf_htons(GENEVE_SPORT_MIN +
				 (__u16)(((__u64)hash * (GENEVE_SPORT_MAX - GENEVE_SPORT_MIN + 1)) >> 32));
	h.udp.dest = t->port;
	h.udp.len = bpf_htons(inner_len + sizeof(h.udp) + sizeof(h.gnv));
	h.gnv.proto = bpf_htons(GENEVE_PROTO_TEB);
	h.gnv.vni[0] = identity >> 16;
	h.gnv.vni[1] = identity >> 8;
	h.gnv.vni[2] = identity;
	return bpf_skb_store_bytes(skb, ETH_HLEN, &h, sizeof(h), 0) < 0 ? -1 : 0;
}

/* What geneve_unframe found: the carried identity, or why the packet is not ours / is refused. */
#define GENEVE_NOT_OURS		1	/* not Geneve to this node: someone else's packet */

/*
 * If `skb` (at the underlay's ingress) is Geneve addressed to this node on the tunnel port,
 * validates it (bounds-checked loads only), strips the outer headers and sets *identity to the
 * VNI: 0. GENEVE_NOT_OURS leaves the packet untouched; < 0 is a DROP_* reason.
 */
static __always_inline int geneve_unframe(struct __sk_buff *skb, const struct tunnel_config *t, __u32 *identity)
{
	struct ethhdr eth;
	struct iphdr ip;
	struct udphdr udp;
	struct genevehdr gnv;

	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0 || eth.h_proto != bpf_htons(ETH_P_IP))
		return GENEVE_NOT_OURS;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) < 0)
		return GENEVE_NOT_OURS;
	/* fragments are the stack's to reassemble: we never send any (the pod MTU leaves room) */
	if (ip.version != 4 || ip.protocol != IPPROTO_UDP || ip.daddr != t->local_ip4 ||
	    (ip.frag_off & bpf_htons(0x3fff)))
		return GENEVE_NOT_OURS;
	__u32 l4 = ETH_HLEN + ip.ihl * 4;

	if (ip.ihl < 5 || bpf_skb_load_bytes(skb, l4, &udp, sizeof(udp)) < 0 || udp.dest != t->port)
		return GENEVE_NOT_OURS;
	if (bpf_skb_load_bytes(skb, l4 + sizeof(udp), &gnv, sizeof(gnv)) < 0)
		return DROP_INVALID;
	if ((gnv.ver_optlen & GENEVE_VER_MASK) || gnv.proto != bpf_htons(GENEVE_PROTO_TEB) ||
	    (gnv.flags & (GENEVE_F_OAM | GENEVE_F_CRITICAL)))
		return DROP_INVALID;
	/* options (non-critical) are skipped; the inner frame follows them */
	__u32 inner = l4 + sizeof(udp) + sizeof(gnv) + (gnv.ver_optlen & GENEVE_OPTLEN_MASK) * 4;
	__be16 inner_proto;

	if (bpf_skb_load_bytes(skb, inner + 12, &inner_proto, sizeof(inner_proto)) < 0)
		return DROP_INVALID;
	if (inner_proto != bpf_htons(ETH_P_IP))
		return DROP_UNKNOWN_L3;	/* IPv4 pods only, as the encapsulating side */
	*identity = ((__u32)gnv.vni[0] << 16) | ((__u32)gnv.vni[1] << 8) | gnv.vni[2];
	/* removes outer IP .. inner Ethernet (`inner` bytes after the MAC header): the outer MAC header stays */
	if (bpf_skb_adjust_room(skb, -(__s32)inner, BPF_ADJ_ROOM_MAC,
				BPF_F_ADJ_ROOM_FIXED_GSO) < 0)
		return DROP_INVALID;
	return 0;
}

#endif /* CILIUM_TS_GENEVE_H */
