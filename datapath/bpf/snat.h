/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Masquerading on the node's device (upstream: bpf/lib/nat.h snat_v4_nat / snat_v4_rev_nat, run
 * from bpf_host's cil_to_netdev / cil_from_netdev). Included by nodeport.bpf.c, whose two programs
 * already own tc egress and ingress of that device: a second program would need a filter slot of
 * its own ahead of the NodePort one (a direct-action filter that accepts ends the chain), so the
 * NodePort programs call these two functions instead:
 *   snat_v4_egress   a packet from a local pod to a destination outside the exclusion CIDR
 *                    (ipv4-native-routing-cidr) that is not a node: the source becomes the node's
 *                    address and a port of the masquerading range (the pod's own when free), both
 *                    directions remembered in cilium_snat_v4_external.
 *   snat_v4_ingress  a reply to such a mapping: the destination becomes the pod again; the stack
 *                    then routes it to the pod as any packet for it.
 * TCP, UDP and ICMP echo; fragments and other protocols pass untouched. Before including, the
 * includer declares cilium_lxc (a local pod is an entry there) and includes notify.h.
 */
#ifndef CILIUM_TS_SNAT_H
#define CILIUM_TS_SNAT_H

#include "nat.h"

/* The ICMP echo header (RFC 792); <linux/icmp.h> drags in libc headers a BPF build cannot use. */
#define SNAT_ICMP_ECHOREPLY	0
#define SNAT_ICMP_ECHO		8

struct snat_icmp_echo {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 id;
	__be16 sequence;
};

/* identities of node addresses in the ipcache: never masqueraded to (upstream: "and not another node") */
#define SNAT_ID_HOST		1
#define SNAT_ID_REMOTE_NODE	6
#define SNAT_ID_KUBE_APISERVER	7

#define SNAT_IP_OFF		ETH_HLEN
#define SNAT_IP_CSUM_OFF	(SNAT_IP_OFF + offsetof(struct iphdr, check))
#define SNAT_IP_SRC_OFF		(SNAT_IP_OFF + offsetof(struct iphdr, saddr))
#define SNAT_IP_DST_OFF		(SNAT_IP_OFF + offsetof(struct iphdr, daddr))

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SNAT_MAP_SIZE_V4);
	__type(key, struct ipv4_ct_tuple);
	__type(value, struct ipv4_nat_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_snat_v4_external SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct snat_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_snat_v4_config SEC(".maps");

/* The endpoint programs' ipcache (lxc.bpf.c), shared by pin: is a destination a node? */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, IPCACHE_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ipcache_key);
	__type(value, struct remote_endpoint_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_ipcache_v2 SEC(".maps");

/* A packet as masquerading sees it: the tuple (ICMP: the echo id as the local port) and offsets. */
struct snat_pkt {
	struct ipv4_ct_tuple t;
	__u32 l4_off;
	__u32 csum_off;
	__u32 port_off;		/* the local port's offset: source port (egress) / destination port or echo id */
	__u8 tcp_flags;
	__u8 csum_flags;	/* BPF_F_MARK_MANGLED_0 for UDP: a zero checksum stays zero */
	__u8 pseudo;		/* the L4 checksum covers the addresses (not ICMP) */
};

/*
 * 0: IPv4 TCP/UDP/ICMP echo (a request at egress, a reply at ingress), no fragment, headers inside
 * the packet; -1: not translated. `egress` picks the local side: the source or the destination.
 */
static __always_inline int snat_parse(struct __sk_buff *skb, struct snat_pkt *p, int egress)
{
	__be16 proto;
	struct iphdr ip;

	if (bpf_skb_load_bytes(skb, 12, &proto, sizeof(proto)) < 0 || proto != bpf_htons(ETH_P_IP))
		return -1;
	if (bpf_skb_load_bytes(skb, SNAT_IP_OFF, &ip, sizeof(ip)) < 0)
		return -1;
	if (ip.version != 4 || ip.ihl < 5 || (bpf_ntohs(ip.frag_off) & 0x3fff))
		return -1;
	p->t.saddr = ip.saddr;
	p->t.daddr = ip.daddr;
	p->t.nexthdr = ip.protocol;
	p->t.flags = egress ? NAT_DIR_EGRESS : NAT_DIR_INGRESS;
	p->l4_off = SNAT_IP_OFF + ip.ihl * 4;
	p->pseudo = 1;
	p->csum_flags = 0;
	if (ip.protocol == IPPROTO_TCP) {
		struct tcphdr th;

		if (bpf_skb_load_bytes(skb, p->l4_off, &th, sizeof(th)) < 0 || th.doff < 5)
			return -1;
		p->t.sport = th.source;
		p->t.dport = th.dest;
		p->tcp_flags = ((__u8 *)&th)[13];
		p->csum_off = p->l4_off + offsetof(struct tcphdr, check);
	} else if (ip.protocol == IPPROTO_UDP) {
		struct udphdr uh;

		if (bpf_skb_load_bytes(skb, p->l4_off, &uh, sizeof(uh)) < 0)
			return -1;
		p->t.sport = uh.source;
		p->t.dport = uh.dest;
		p->csum_off = p->l4_off + offsetof(struct udphdr, check);
		p->csum_flags = BPF_F_MARK_MANGLED_0;
	} else if (ip.protocol == IPPROTO_ICMP) {
		struct snat_icmp_echo ih;

		if (bpf_skb_load_bytes(skb, p->l4_off, &ih, sizeof(ih)) < 0)
			return -1;
		if (ih.type != (egress ? SNAT_ICMP_ECHO : SNAT_ICMP_ECHOREPLY) || ih.code != 0)
			return -1;
		p->t.sport = egress ? ih.id : 0;
		p->t.dport = egress ? 0 : ih.id;
		p->csum_off = p->l4_off + offsetof(struct snat_icmp_echo, checksum);
		p->port_off = p->l4_off + offsetof(struct snat_icmp_echo, id);
		p->pseudo = 0;
		return 0;
	} else {
		return -1;
	}
	p->port_off = p->l4_off + (egress ? 0 : 2);
	return 0;
}

/* Rewrites the local side: the source (egress) or the destination (ingress), checksums included. */
static __always_inline int snat_rewrite(struct __sk_buff *skb, const struct snat_pkt *p, __be32 addr, __be16 port)
{
	int egress = p->t.flags == NAT_DIR_EGRESS;
	__be32 old_addr = egress ? p->t.saddr : p->t.daddr;
	__be16 old_port = egress ? p->t.sport : p->t.dport;

	if (old_addr != addr) {
		if (p->pseudo &&
		    bpf_l4_csum_replace(skb, p->csum_off, old_addr, addr, BPF_F_PSEUDO_HDR | p->csum_flags | 4) < 0)
			return -1;
		if (bpf_l3_csum_replace(skb, SNAT_IP_CSUM_OFF, old_addr, addr, 4) < 0 ||
		    bpf_skb_store_bytes(skb, egress ? SNAT_IP_SRC_OFF : SNAT_IP_DST_OFF, &addr, 4, 0) < 0)
			return -1;
	}
	if (old_port != port) {
		if (bpf_l4_csum_replace(skb, p->csum_off, old_port, port, p->csum_flags | 2) < 0 ||
		    bpf_skb_store_bytes(skb, p->port_off, &port, 2, 0) < 0)
			return -1;
	}
	return 0;
}

static __always_inline __u32 snat_lifetime(const struct snat_pkt *p)
{
	if (p->t.nexthdr != IPPROTO_TCP)
		return SNAT_LIFETIME_NONTCP;
	if (p->tcp_flags & 0x05)	/* FIN, RST */
		return SNAT_LIFETIME_CLOSE;
	if ((p->tcp_flags & 0x12) == 0x02)	/* SYN without ACK */
		return SNAT_LIFETIME_SYN;
	return SNAT_LIFETIME_TCP;
}

/* Moves an entry's expiry about once a second, not on every packet (a shared cache line). */
static __always_inline void snat_touch(struct ipv4_nat_entry *e, __u32 want)
{
	if (want < e->lifetime || want > e->lifetime + 1)
		e->lifetime = want;
}

/* Should this egress packet be masqueraded? (upstream: snat_v4_needs_masquerade) */
static __always_inline int snat_wanted(const struct snat_config *c, const struct snat_pkt *p)
{
	struct endpoint_key ek = { .family = ENDPOINT_KEY_IPV4 };

	if (p->t.daddr == c->node_addr || (p->t.daddr & c->exclude_mask) == c->exclude_addr)
		return 0;	/* pod -> pod (the native-routing CIDR) and pod -> this node */
	__builtin_memcpy(ek.ip, &p->t.saddr, 4);
	struct endpoint_info *ep = bpf_map_lookup_elem(&cilium_lxc, &ek);

	if (!ep || (ep->flags & ENDPOINT_F_HOST))
		return 0;	/* only local pods are masqueraded */
	struct ipcache_key ik = { .prefixlen = IPCACHE_STATIC_PREFIX + 32, .family = ENDPOINT_KEY_IPV4 };

	__builtin_memcpy(ik.ip, &p->t.daddr, 4);
	struct remote_endpoint_info *ri = bpf_map_lookup_elem(&cilium_ipcache_v2, &ik);

	if (ri && (ri->sec_identity == SNAT_ID_HOST || ri->sec_identity == SNAT_ID_REMOTE_NODE ||
		   ri->sec_identity == SNAT_ID_KUBE_APISERVER))
		return 0;	/* another node */
	return 1;
}

/*
 * Claims a port for a new mapping: the flow's own if it is in the range and free, then a random
 * one, then the ones after it. A port is free when no live ingress entry of another flow holds
 * (remote address, remote port, protocol, port). Returns it (network order), 0 when none is free.
 */
static __always_inline __be16 snat_claim(const struct snat_config *c, const struct snat_pkt *p,
					 const struct ipv4_nat_entry *rev, __u32 now)
{
	__u32 min = c->port_min ? c->port_min : SNAT_PORT_MIN;
	__u32 max = c->port_max ? c->port_max : SNAT_PORT_MAX;
	__u32 span = max >= min ? max - min + 1 : 1;
	__u32 port = bpf_ntohs(p->t.sport);
	struct ipv4_ct_tuple rk = { .daddr = c->node_addr, .saddr = p->t.daddr, .sport = p->t.dport,
				    .nexthdr = p->t.nexthdr, .flags = NAT_DIR_INGRESS };

	if (port < min || port > max)
		port = min + bpf_get_prandom_u32() % span;
	for (int i = 0; i <= SNAT_COLLISION_RETRIES; i++) {
		if (i == 1)
			port = min + bpf_get_prandom_u32() % span;
		else if (i > 1)
			port = port >= max ? min : port + 1;
		rk.dport = bpf_htons((__u16)port);
		struct ipv4_nat_entry *old = bpf_map_lookup_elem(&cilium_snat_v4_external, &rk);

		if (old && old->lifetime >= now && (old->to_addr != rev->to_addr || old->to_port != rev->to_port))
			continue;
		if (bpf_map_update_elem(&cilium_snat_v4_external, &rk, rev, BPF_ANY) == 0)
			return rk.dport;
	}
	return 0;
}

/* tc egress: 0 passed (translated or not ours), or the DROP_* reason to drop the packet for. */
static __always_inline int snat_v4_egress(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct snat_config *cp = bpf_map_lookup_elem(&cilium_snat_v4_config, &zero);
	struct snat_pkt p = {};

	if (!cp || !(cp->flags & SNAT_F_ENABLED) || snat_parse(skb, &p, 1) < 0)
		return 0;
	struct snat_config c = *cp;	/* the agent may rewrite it under us */

	if (!snat_wanted(&c, &p))
		return 0;
	__u32 now = (__u32)now_sec();
	__be32 to_addr;
	__be16 to_port;
	struct ipv4_nat_entry *e = bpf_map_lookup_elem(&cilium_snat_v4_external, &p.t);

	if (e && e->lifetime >= now && e->to_addr == c.node_addr) {
		snat_touch(e, now + snat_lifetime(&p));
		to_addr = e->to_addr;
		to_port = e->to_port;
	} else {
		struct ipv4_nat_entry rev = { .created = now, .lifetime = now + snat_lifetime(&p),
					      .to_addr = p.t.saddr, .to_port = p.t.sport };
		to_port = snat_claim(&c, &p, &rev, now);
		if (!to_port)
			return DROP_NAT_NO_MAPPING;
		struct ipv4_nat_entry fwd = { .created = now, .lifetime = rev.lifetime, .to_addr = c.node_addr,
					      .to_port = to_port };
		if (bpf_map_update_elem(&cilium_snat_v4_external, &p.t, &fwd, BPF_ANY) < 0)
			return DROP_NAT_NO_MAPPING;
		to_addr = c.node_addr;
	}
	if (snat_rewrite(skb, &p, to_addr, to_port) < 0)
		return DROP_INVALID;
	return 0;
}

/* tc ingress: 1 reverse-translated (deliver through the stack), 0 not ours, <0 a DROP_* reason. */
static __always_inline int snat_v4_ingress(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct snat_config *cp = bpf_map_lookup_elem(&cilium_snat_v4_config, &zero);
	struct snat_pkt p = {};

	if (!cp || !(cp->flags & SNAT_F_ENABLED) || snat_parse(skb, &p, 0) < 0 || p.t.daddr != cp->node_addr)
		return 0;
	__u32 now = (__u32)now_sec();
	struct ipv4_nat_entry *e = bpf_map_lookup_elem(&cilium_snat_v4_external, &p.t);

	if (!e || e->lifetime < now)
		return 0;
	__be32 to_addr = e->to_addr;
	__be16 to_port = e->to_port;

	snat_touch(e, now + snat_lifetime(&p));
	if (snat_rewrite(skb, &p, to_addr, to_port) < 0)
		return DROP_INVALID;
	return 1;
}

#endif /* CILIUM_TS_SNAT_H */
