/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing for lxc.bpf.c. Every read goes through bpf_skb_load_bytes, which checks the
 * offset against skb->len, so a truncated or non-linear packet yields a defined drop reason,
 * never an out-of-bounds read. Reasons: DROP_INVALID (L2/L3 headers), DROP_CT_INVALID_HDR
 * (L4 header short or malformed), DROP_FRAG_NOSUPPORT, DROP_INVALID_EXTHDR, DROP_UNKNOWN_L3.
 */
#ifndef CILIUM_TS_PARSE_H
#define CILIUM_TS_PARSE_H

#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>

#define PARSE_OK	0
#define PARSE_PASS	1	/* ARP, IPv6 neighbour discovery: not subject to policy */

#define IPV6_MAX_EXTHDRS 4

struct pkt {
	__u8 family;		/* ENDPOINT_KEY_IPV4 | ENDPOINT_KEY_IPV6 */
	__u8 nexthdr;		/* L4 protocol */
	__u8 tcp_flags;		/* byte 13 of the TCP header */
	__u8 ct_able;		/* 0: never tracked, policy on every packet (non-echo ICMP) */
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport;		/* conntrack ports; ICMP echo: the identifier on the request side */
	__be16 dport;
	__be16 policy_port;	/* port looked up in policy; ICMP: the type */
	__u16 pad;
};

static __always_inline int parse_l4(struct __sk_buff *skb, struct pkt *p, __u32 off)
{
	p->ct_able = 1;
	switch (p->nexthdr) {
	case IPPROTO_TCP: {
		struct tcphdr th;

		if (bpf_skb_load_bytes(skb, off, &th, sizeof(th)) < 0 || th.doff < 5)
			return DROP_CT_INVALID_HDR;
		p->sport = th.source;
		p->dport = th.dest;
		p->policy_port = th.dest;
		p->tcp_flags = ((__u8 *)&th)[13];
		return PARSE_OK;
	}
	case IPPROTO_UDP: {
		struct udphdr uh;

		if (bpf_skb_load_bytes(skb, off, &uh, sizeof(uh)) < 0)
			return DROP_CT_INVALID_HDR;
		p->sport = uh.source;
		p->dport = uh.dest;
		p->policy_port = uh.dest;
		return PARSE_OK;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		/* type, code, checksum, then identifier/sequence for echo */
		__u8 h[8];

		if (bpf_skb_load_bytes(skb, off, h, sizeof(h)) < 0)
			return DROP_CT_INVALID_HDR;
		__u8 type = h[0];
		__be16 id = *(__be16 *)&h[4];
		int v6 = p->nexthdr == IPPROTO_ICMPV6;

		p->policy_port = bpf_htons(type);
		if (v6 && type >= 133 && type <= 137)
			return PARSE_PASS;
		if ((!v6 && type == 8) || (v6 && type == 128)) {
			p->sport = id;		/* echo request */
		} else if ((!v6 && type == 0) || (v6 && type == 129)) {
			p->dport = id;		/* echo reply: the request's tuple reversed */
		} else {
			p->ct_able = 0;
		}
		return PARSE_OK;
	}
	default:
		/* any other L4 protocol: tracked and looked up with port 0 */
		return PARSE_OK;
	}
}

static __always_inline int parse_ipv4(struct __sk_buff *skb, struct pkt *p)
{
	struct iphdr ip;

	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) < 0)
		return DROP_INVALID;
	__u32 hlen = ip.ihl * 4;
	__u32 tot = bpf_ntohs(ip.tot_len);

	if (ip.version != 4 || ip.ihl < 5 || tot < hlen || tot > skb->len - ETH_HLEN)
		return DROP_INVALID;
	if (bpf_ntohs(ip.frag_off) & 0x1fff)
		return DROP_FRAG_NOSUPPORT;	/* a non-first fragment has no L4 header */
	p->family = ENDPOINT_KEY_IPV4;
	p->nexthdr = ip.protocol;
	__builtin_memcpy(p->saddr, &ip.saddr, 4);
	__builtin_memcpy(p->daddr, &ip.daddr, 4);
	return parse_l4(skb, p, ETH_HLEN + hlen);
}

static __always_inline int parse_ipv6(struct __sk_buff *skb, struct pkt *p)
{
	struct ipv6hdr ip6;

	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip6, sizeof(ip6)) < 0 || ip6.version != 6)
		return DROP_INVALID;
	p->family = ENDPOINT_KEY_IPV6;
	__builtin_memcpy(p->saddr, &ip6.saddr, 16);
	__builtin_memcpy(p->daddr, &ip6.daddr, 16);

	__u8 nh = ip6.nexthdr;
	__u32 off = ETH_HLEN + sizeof(ip6);

#pragma unroll
	for (int i = 0; i < IPV6_MAX_EXTHDRS; i++) {
		__u8 h[8];

		switch (nh) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if (bpf_skb_load_bytes(skb, off, h, 2) < 0)
				return DROP_INVALID_EXTHDR;
			nh = h[0];
			off += (h[1] + 1) * 8;
			continue;
		case IPPROTO_AH:
			if (bpf_skb_load_bytes(skb, off, h, 2) < 0)
				return DROP_INVALID_EXTHDR;
			nh = h[0];
			off += (h[1] + 2) * 4;
			continue;
		case IPPROTO_FRAGMENT:
			if (bpf_skb_load_bytes(skb, off, h, 8) < 0)
				return DROP_INVALID_EXTHDR;
			if (bpf_ntohs(*(__be16 *)&h[2]) & 0xfff8)
				return DROP_FRAG_NOSUPPORT;
			nh = h[0];
			off += 8;
			continue;
		default:
			p->nexthdr = nh;
			return parse_l4(skb, p, off);
		}
	}
	/* still an extension header after IPV6_MAX_EXTHDRS of them */
	switch (nh) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_DSTOPTS:
	case IPPROTO_AH:
	case IPPROTO_FRAGMENT:
		return DROP_INVALID_EXTHDR;
	}
	p->nexthdr = nh;
	return parse_l4(skb, p, off);
}

static __always_inline int parse_packet(struct __sk_buff *skb, struct pkt *p)
{
	__be16 proto;

	if (bpf_skb_load_bytes(skb, 12, &proto, sizeof(proto)) < 0)
		return DROP_INVALID;
	switch (bpf_ntohs(proto)) {
	case ETH_P_IP:
		return parse_ipv4(skb, p);
	case ETH_P_IPV6:
		return parse_ipv6(skb, p);
	case ETH_P_ARP:
		return PARSE_PASS;
	default:
		return DROP_UNKNOWN_L3;
	}
}

#endif /* CILIUM_TS_PARSE_H */
