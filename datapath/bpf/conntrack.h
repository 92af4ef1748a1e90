/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Connection tracking for lxc.bpf.c. An entry is created when policy admits the first packet of
 * a flow, keyed by the packet's own tuple plus the hook that created it (TUPLE_F_OUT at an
 * endpoint's egress, TUPLE_F_IN at its ingress), so the two hooks a same-node flow crosses keep
 * separate entries. A later packet is ESTABLISHED if it matches an entry of its own hook and
 * direction, a REPLY if its reversed tuple matches an entry of the opposite hook; both skip
 * policy. Expired entries and a SYN on a closed connection count as new (policy again).
 */
#ifndef CILIUM_TS_CONNTRACK_H
#define CILIUM_TS_CONNTRACK_H

#define CT_CLOSING_NOW	10	/* internal: established, and this packet began the close */
#define CT_UNTRACKED	11	/* internal: not tracked (non-echo ICMP), policy every time */

#define TCP_F_FIN	0x01
#define TCP_F_SYN	0x02
#define TCP_F_RST	0x04
#define TCP_F_ACK	0x10

struct ct_keys {
	struct ipv4_ct_tuple t4;
	struct ipv6_ct_tuple t6;
};

static __always_inline __u32 ct_now(void)
{
	return (__u32)(bpf_ktime_get_ns() / 1000000000ULL);
}

static __always_inline void ct_tuple(const struct pkt *p, int reverse, __u8 flags, struct ct_keys *k)
{
	const __u8 *s = reverse ? p->daddr : p->saddr;
	const __u8 *d = reverse ? p->saddr : p->daddr;
	__be16 sp = reverse ? p->dport : p->sport;
	__be16 dp = reverse ? p->sport : p->dport;

	if (p->family == ENDPOINT_KEY_IPV4) {
		__builtin_memcpy(&k->t4.saddr, s, 4);
		__builtin_memcpy(&k->t4.daddr, d, 4);
		k->t4.sport = sp;
		k->t4.dport = dp;
		k->t4.nexthdr = p->nexthdr;
		k->t4.flags = flags;
	} else {
		__builtin_memcpy(k->t6.saddr, s, 16);
		__builtin_memcpy(k->t6.daddr, d, 16);
		k->t6.sport = sp;
		k->t6.dport = dp;
		k->t6.nexthdr = p->nexthdr;
		k->t6.flags = flags;
	}
}

static __always_inline struct ct_entry *ct_get(const struct pkt *p, struct ct_keys *k)
{
	if (p->family == ENDPOINT_KEY_IPV4)
		return bpf_map_lookup_elem(&cilium_ct4_global, &k->t4);
	return bpf_map_lookup_elem(&cilium_ct6_global, &k->t6);
}

static __always_inline __u32 ct_lifetime(const struct pkt *p, __u16 entry_flags)
{
	struct dp_config *c = config();
	__u32 tcp = c ? c->ct_lifetime_tcp : 0, nontcp = c ? c->ct_lifetime_nontcp : 0;
	__u32 syn = c ? c->ct_syn_timeout : 0, close = c ? c->ct_close_timeout : 0;

	if (p->nexthdr != IPPROTO_TCP)
		return cfg_or(nontcp, CT_LIFETIME_NONTCP);
	if ((entry_flags & (CT_F_RX_CLOSING | CT_F_TX_CLOSING)) == (CT_F_RX_CLOSING | CT_F_TX_CLOSING))
		return cfg_or(close, CT_CLOSE_TIMEOUT);
	if (!(entry_flags & CT_F_SEEN_NON_SYN))
		return cfg_or(syn, CT_SYN_TIMEOUT);
	return cfg_or(tcp, CT_LIFETIME_TCP);
}

static __always_inline int ct_live(const struct ct_entry *e, __u32 now)
{
	return e && e->lifetime >= now;
}

/*
 * Account one packet on a live entry; returns CT_CLOSING_NOW when it began the close. Writes to
 * the entry only when something changes (flags, TCP flags seen, a lifetime more than a second
 * newer or any shorter), so an established flow writes it about once a second, not per packet.
 */
static __always_inline int ct_account(const struct pkt *p, struct ct_entry *e, int reply, __u32 len,
				      __u32 now)
{
	struct dp_config *c = config();
	__u16 was = e->flags;
	__u16 flags = was;

	if (c && (c->flags & DP_F_CT_ACCOUNTING)) {
		if (reply) {
			__sync_fetch_and_add(&e->rx_packets, 1);
			__sync_fetch_and_add(&e->rx_bytes, len);
		} else {
			__sync_fetch_and_add(&e->tx_packets, 1);
			__sync_fetch_and_add(&e->tx_bytes, len);
		}
	}
	if (reply) {
		if ((e->rx_flags_seen | p->tcp_flags) != e->rx_flags_seen)
			e->rx_flags_seen |= p->tcp_flags;
	} else {
		if ((e->tx_flags_seen | p->tcp_flags) != e->tx_flags_seen)
			e->tx_flags_seen |= p->tcp_flags;
	}
	if (p->nexthdr == IPPROTO_TCP) {
		if (p->tcp_flags & TCP_F_RST)
			flags |= CT_F_RX_CLOSING | CT_F_TX_CLOSING;
		else if (p->tcp_flags & TCP_F_FIN)
			flags |= reply ? CT_F_RX_CLOSING : CT_F_TX_CLOSING;
		if (!(p->tcp_flags & TCP_F_SYN) || (p->tcp_flags & TCP_F_ACK))
			flags |= CT_F_SEEN_NON_SYN;
	}
	if (flags != was)
		e->flags = flags;
	__u32 lifetime = now + ct_lifetime(p, flags);

	if (lifetime < e->lifetime || lifetime > e->lifetime + 1)
		e->lifetime = lifetime;
	if (!(was & (CT_F_RX_CLOSING | CT_F_TX_CLOSING)) && (flags & (CT_F_RX_CLOSING | CT_F_TX_CLOSING)))
		return CT_CLOSING_NOW;
	return CT_ESTABLISHED;
}

/* What an established packet's entry says besides its status: the redirect, the peer at creation. */
struct ct_state {
	__u16 flags;
	__u32 peer;
};

static __always_inline int ct_lookup(const struct pkt *p, __u8 dir, __u32 len, struct ct_state *st)
{
	struct ct_keys k = {};
	__u8 own = dir == METRIC_EGRESS ? TUPLE_F_OUT : TUPLE_F_IN;
	__u8 other = dir == METRIC_EGRESS ? TUPLE_F_IN : TUPLE_F_OUT;
	__u32 now = ct_now();
	int pure_syn = p->nexthdr == IPPROTO_TCP && (p->tcp_flags & (TCP_F_SYN | TCP_F_ACK)) == TCP_F_SYN;

	if (!p->ct_able)
		return CT_UNTRACKED;
	ct_tuple(p, 0, own, &k);
	struct ct_entry *e = ct_get(p, &k);

	if (ct_live(e, now)) {
		/* a new SYN on a closing connection is a new connection: policy decides again */
		if (pure_syn && (e->flags & (CT_F_RX_CLOSING | CT_F_TX_CLOSING)))
			return CT_NEW;
		st->flags = e->flags;
		st->peer = e->src_sec_id;
		return ct_account(p, e, 0, len, now);
	}
	ct_tuple(p, 1, other, &k);
	e = ct_get(p, &k);
	if (ct_live(e, now)) {
		int r = ct_account(p, e, 1, len, now);

		return r == CT_CLOSING_NOW ? r : CT_REPLY;
	}
	return CT_NEW;
}

static __always_inline int ct_create(const struct pkt *p, __u8 dir, __u32 peer, __u32 len, __u16 flags)
{
	struct ct_keys k = {};
	struct ct_entry e = {};

	ct_tuple(p, 0, dir == METRIC_EGRESS ? TUPLE_F_OUT : TUPLE_F_IN, &k);
	e.tx_packets = 1;
	e.tx_bytes = len;
	e.tx_flags_seen = p->tcp_flags;
	e.src_sec_id = peer;
	e.flags = flags;
	if (p->nexthdr == IPPROTO_TCP && (!(p->tcp_flags & TCP_F_SYN) || (p->tcp_flags & TCP_F_ACK)))
		e.flags |= CT_F_SEEN_NON_SYN;
	if (p->nexthdr == IPPROTO_TCP && (p->tcp_flags & TCP_F_RST))
		e.flags |= CT_F_RX_CLOSING | CT_F_TX_CLOSING;
	e.lifetime = ct_now() + ct_lifetime(p, e.flags);
	if (p->family == ENDPOINT_KEY_IPV4)
		return bpf_map_update_elem(&cilium_ct4_global, &k.t4, &e, BPF_ANY);
	return bpf_map_update_elem(&cilium_ct6_global, &k.t6, &e, BPF_ANY);
}

#endif /* CILIUM_TS_CONNTRACK_H */
