/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * An endpoint's half of a packet, shared by every program that hands a packet to a local endpoint:
 * lxc.bpf.c (from/to-container, pod-to-pod on this node) and overlay.bpf.c (packets decapsulated
 * from another node). The maps are shared by pin name, so all programs see one endpoint table, one
 * ipcache, one conntrack and one policy per endpoint. BPF-only; the layouts are in lxc.h.
 *
 * Order per packet: conntrack -> remote identity (ipcache, unless the caller knows it) -> policy;
 * local_delivery() then redirects an allowed packet straight into the destination pod.
 */
#ifndef CILIUM_TS_ENDPOINT_H
#define CILIUM_TS_ENDPOINT_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "lxc.h"
#include "parse.h"
#include "notify.h"
#include "proxy.h"

struct policy_inner {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, POLICY_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	/* sizes, not BTF types: clang emits the nested types as forward declarations */
	__uint(key_size, sizeof(struct policy_key));
	__uint(value_size, sizeof(struct policy_entry));
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, POLICY_OUTER_SIZE);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct policy_inner);
} cilium_policy_v2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, IPCACHE_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ipcache_key);
	__type(value, struct remote_endpoint_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_ipcache_v2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ENDPOINTS_MAP_SIZE);
	__type(key, struct endpoint_key);
	__type(value, struct endpoint_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_lxc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CT_MAP_SIZE_V4);
	__type(key, struct ipv4_ct_tuple);
	__type(value, struct ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_ct4_global SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CT_MAP_SIZE_V6);
	__type(key, struct ipv6_ct_tuple);
	__type(value, struct ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_ct6_global SEC(".maps");

/* proxy.h: where a UDP datagram handed to the proxy was going */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PROXY4_MAP_SIZE);
	__type(key, struct proxy4_tbl_key);
	__type(value, struct proxy4_tbl_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_proxy4 SEC(".maps");

static __always_inline void emit_drop(struct __sk_buff *skb, const struct pkt *p, int reason,
				      __u16 ep_id, __u32 src_label, __u32 dst_label, __u32 ifindex)
{
	if (!events_allowed())
		return;
	struct drop_notify *e = bpf_ringbuf_reserve(&cilium_events, sizeof(*e), 0);

	if (!e) {
		ring_full();
		return;
	}
	__builtin_memset(e, 0, offsetof(struct drop_notify, data));
	e->type = CILIUM_NOTIFY_DROP;
	e->subtype = (__u8)(-reason);
	e->source = ep_id;
	e->hash = bpf_get_hash_recalc(skb);
	e->len_orig = skb->len;
	e->version = 2;
	e->src_label = src_label;
	e->dst_label = dst_label;
	e->ifindex = ifindex;
	e->flags = p->family == ENDPOINT_KEY_IPV6 ? NOTIFY_F_IPV6 : 0;
	e->len_cap = capture(skb, e->data);
	bpf_ringbuf_submit(e, wakeup_flag());
}

static __always_inline void emit_trace(struct __sk_buff *skb, const struct pkt *p, __u8 obs,
				       __u8 ct_status, __u16 ep_id, __u32 src_label, __u32 dst_label,
				       __u32 ifindex)
{
	if (!events_allowed())
		return;
	struct trace_notify *e = bpf_ringbuf_reserve(&cilium_events, sizeof(*e), 0);

	if (!e) {
		ring_full();
		return;
	}
	__builtin_memset(e, 0, offsetof(struct trace_notify, data));
	e->type = CILIUM_NOTIFY_TRACE;
	e->obs_point = obs;
	e->source = ep_id;
	e->hash = bpf_get_hash_recalc(skb);
	e->len_orig = skb->len;
	e->version = 1;
	e->src_label = src_label;
	e->dst_label = dst_label;
	e->dst_id = obs == TRACE_TO_LXC ? ep_id : 0;
	e->reason = ct_status;
	e->flags = p->family == ENDPOINT_KEY_IPV6 ? NOTIFY_F_IPV6 : 0;
	e->ifindex = ifindex;
	e->len_cap = capture(skb, e->data);
	bpf_ringbuf_submit(e, wakeup_flag());
}

static __always_inline void emit_verdict(struct __sk_buff *skb, const struct pkt *p, int verdict,
					 __u8 dir, __u8 match, __u16 ep_id, __u32 remote,
					 __u32 cookie, __u8 auth)
{
	if (!events_allowed())
		return;
	struct policy_verdict_notify *e = bpf_ringbuf_reserve(&cilium_events, sizeof(*e), 0);

	if (!e) {
		ring_full();
		return;
	}
	__builtin_memset(e, 0, offsetof(struct policy_verdict_notify, data));
	e->type = CILIUM_NOTIFY_POLICY_VERDICT;
	e->source = ep_id;
	e->hash = bpf_get_hash_recalc(skb);
	e->len_orig = skb->len;
	e->version = 1;
	e->remote_label = remote;
	e->verdict = verdict;
	e->dst_port = bpf_ntohs(p->policy_port);
	e->proto = p->nexthdr;
	e->flags = (dir & PV_F_DIR_MASK) | (p->family == ENDPOINT_KEY_IPV6 ? PV_F_IPV6 : 0) |
		   (match << PV_F_MATCH_SHIFT);
	e->auth_type = auth;
	e->cookie = cookie;
	e->len_cap = capture(skb, e->data);
	bpf_ringbuf_submit(e, wakeup_flag());
}

#include "conntrack.h"
#include "policy.h"

/* ---------------------------------------------------------------- the program body */

static __always_inline int drop(struct __sk_buff *skb, const struct pkt *p, int reason, __u8 dir,
				__u16 ep_id, __u32 src_label, __u32 dst_label, __u32 ifindex)
{
	count((__u8)(-reason), dir, skb->len);
	emit_drop(skb, p, reason, ep_id, src_label, dst_label, ifindex);
	return TC_ACT_SHOT;
}

/*
 * One endpoint's half of a packet: its conntrack, the remote identity and its policy in one
 * direction. `peer` is the remote identity when the caller knows it (local delivery: the source
 * endpoint's), or 0 to look the remote address up in the ipcache; `ifindex` is the endpoint's
 * host-side veth, reported in its events. `*ct_out` gets the conntrack status (CT_NEW: the caller
 * traces its own observation point for the connection's first packet too).
 */
static __always_inline int endpoint_stage(struct __sk_buff *skb, const struct pkt *p, __u8 dir,
					  __u16 ep_id, __u32 self, __u32 peer, __u32 ifindex, __u8 *ct_out,
					  __u16 *proxy_out)
{
	/*
	 * Conntrack before anything else that costs: established flows and replies (nearly every
	 * packet) need neither the ipcache (an LPM walk) nor policy.
	 */
	struct ct_state st = {};
	int ct = ct_lookup(p, dir, skb->len, &st);

	*ct_out = (__u8)ct;
	*proxy_out = 0;

	/*
	 * A redirected connection: every packet goes to the proxy. The port is the policy's now
	 * (only these flows pay a second lookup); a policy that dropped the redirect sends the rest
	 * of the connection on directly, as upstream.
	 */
	if ((ct == CT_ESTABLISHED || ct == CT_CLOSING_NOW) && (st.flags & CT_F_PROXY_REDIRECT))
		*proxy_out = policy_lookup(ep_id, st.peer, dir, p).proxy_port;
	if (ct == CT_ESTABLISHED || ct == CT_REPLY) {
		count(0, dir, skb->len);
		return TC_ACT_OK;
	}

	if (!peer) {
		/* Remote identity; an address outside every prefix is the world. */
		struct ipcache_key ik = {
			.prefixlen = IPCACHE_STATIC_PREFIX + (p->family == ENDPOINT_KEY_IPV4 ? 32 : 128),
			.family = p->family,
		};
		__builtin_memcpy(ik.ip, dir == METRIC_EGRESS ? p->daddr : p->saddr, 16);
		struct remote_endpoint_info *ri = bpf_map_lookup_elem(&cilium_ipcache_v2, &ik);

		peer = ri ? ri->sec_identity : IDENTITY_WORLD;
	}
	__u32 src_label = dir == METRIC_EGRESS ? self : peer;
	__u32 dst_label = dir == METRIC_EGRESS ? peer : self;
	__u8 obs = dir == METRIC_EGRESS ? TRACE_FROM_LXC : TRACE_TO_LXC;

	if (ct == CT_CLOSING_NOW) {
		/* first FIN/RST of a connection: a state change worth a trace */
		count(0, dir, skb->len);
		emit_trace(skb, p, obs, CT_ESTABLISHED, ep_id, src_label, dst_label, ifindex);
		return TC_ACT_OK;
	}
	if (peer == IDENTITY_UNKNOWN)
		return drop(skb, p, DROP_INVALID_IDENTITY, dir, ep_id, src_label, dst_label, ifindex);

	struct policy_result pr = policy_lookup(ep_id, peer, dir, p);

	if (pr.verdict < 0) {
		emit_verdict(skb, p, pr.verdict, dir, pr.match, ep_id, peer, pr.cookie, 0);
		return drop(skb, p, pr.verdict, dir, ep_id, src_label, dst_label, ifindex);
	}
	if (ct == CT_NEW && ct_create(p, dir, peer, skb->len, pr.proxy_port ? CT_F_PROXY_REDIRECT : 0) < 0)
		return drop(skb, p, DROP_CT_CREATE_FAILED, dir, ep_id, src_label, dst_label, ifindex);
	*proxy_out = pr.proxy_port;
	emit_verdict(skb, p, 0, dir, pr.match, ep_id, peer, pr.cookie, pr.auth_type);
	if (ct == CT_NEW)
		emit_trace(skb, p, obs, CT_NEW, ep_id, src_label, dst_label, ifindex);
	count(0, dir, skb->len);
	return TC_ACT_OK;
}

/* ---------------------------------------------------------------- the proxy redirect */

/* internal return: the packet was handed to the proxy, the caller passes it up the stack (TC_ACT_OK) */
#define TO_PROXY_OK	100

/* upstream's identity encoding in skb->mark: upper 16 bits, then bits 16-23 in the lowest byte */
static __always_inline __u32 identity_mark(__u32 identity)
{
	return ((identity & 0xFFFF) << 16) | ((identity & 0xFF0000) >> 16);
}

/*
 * The proxy's socket for a packet: for TCP first the connection's own accepted socket (its local
 * address is the original destination: the proxy listens with IP_TRANSPARENT), else, for a new
 * connection, the listener on the proxy port; for UDP the proxy's socket on its port. A listener on
 * the original port (the node's own, or the proxy's for a connection still in its handshake: the
 * lookup turns a request socket into its listener) is never picked: an established packet without
 * an accepted socket gets none, and the stack finds the request socket by the tuple, as upstream's
 * assign_socket_tcp. The lookups run in the netns of the hook: the node's, where the proxy listens.
 */
static __always_inline struct bpf_sock *proxy_sock(struct __sk_buff *skb, const struct pkt *p, __u16 port,
						   int established)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	int v4 = p->family == ENDPOINT_KEY_IPV4;
	__u32 sz = v4 ? sizeof(t.ipv4) : sizeof(t.ipv6);

	if (v4) {
		__builtin_memcpy(&t.ipv4.saddr, p->saddr, 4);
		__builtin_memcpy(&t.ipv4.daddr, p->daddr, 4);
		t.ipv4.sport = p->sport;
		t.ipv4.dport = p->dport;
	} else {
		__builtin_memcpy(t.ipv6.saddr, p->saddr, 16);
		__builtin_memcpy(t.ipv6.daddr, p->daddr, 16);
		t.ipv6.sport = p->sport;
		t.ipv6.dport = p->dport;
	}
	if (p->nexthdr == IPPROTO_TCP) {
		sk = bpf_sk_lookup_tcp(skb, &t, sz, BPF_F_CURRENT_NETNS, 0);
		if (sk) {
			if (sk->state != BPF_TCP_LISTEN && sk->state != BPF_TCP_TIME_WAIT)
				return sk;
			bpf_sk_release(sk);
		}
		if (established)
			return 0;
	}
	if (v4)
		t.ipv4.dport = bpf_htons(port);
	else
		t.ipv6.dport = bpf_htons(port);
	if (p->nexthdr == IPPROTO_TCP)
		return bpf_sk_lookup_tcp(skb, &t, sz, BPF_F_CURRENT_NETNS, 0);
	return bpf_sk_lookup_udp(skb, &t, sz, BPF_F_CURRENT_NETNS, 0);
}

/*
 * proxy.h: the proxy's UDP socket reads the sender, not the original destination, so it is kept
 * here for the agent. An update that fails (never for an LRU map) only costs that datagram an
 * answer: the proxy refuses what it cannot place.
 */
static __always_inline void remember_udp_destination(const struct pkt *p, __u16 port, __u32 src_identity)
{
	struct proxy4_tbl_key k = { .dport = bpf_htons(port), .sport = p->sport, .nexthdr = IPPROTO_UDP };
	struct proxy4_tbl_value v = {
		.orig_dport = p->dport,
		.identity = src_identity,
		.lifetime = (__u32)(bpf_ktime_get_ns() / 1000000000ULL) + PROXY4_LIFETIME,
	};

	__builtin_memcpy(&k.saddr, p->saddr, 4);
	__builtin_memcpy(&v.orig_daddr, p->daddr, 4);
	bpf_map_update_elem(&cilium_proxy4, &k, &v, BPF_ANY);
}

/*
 * Hands a packet to the node's proxy (upstream ctx_redirect_to_proxy with bpf_sk_assign, tc
 * ingress only): the proxy's socket is assigned to the skb and the mark says "to proxy" with the
 * source identity. The node routes marked packets locally (ip rule fwmark 0x200/0xf00 → a table
 * with `local 0.0.0.0/0 dev lo`, upstream's table 2004), so the packet, still addressed to its
 * original destination, reaches the socket. Replies from the proxy match the flow's conntrack entry.
 */
static __always_inline int to_proxy(struct __sk_buff *skb, const struct pkt *p, __u16 port, int established,
				    __u32 src_identity, __u8 dir, __u16 ep_id, __u32 dst_label, __u32 ifindex)
{
	if (p->nexthdr != IPPROTO_TCP && p->nexthdr != IPPROTO_UDP)
		return drop(skb, p, DROP_PROXY_UNKNOWN_PROTO, dir, ep_id, src_identity, dst_label, ifindex);
	/*
	 * A bare SYN opens a connection whatever conntrack says: when the first SYN found no proxy
	 * (the agent restarting) its entry is already there, and a retransmitted SYN taken as
	 * established would look for an accepted socket only and never reach the new listener.
	 */
	if (p->nexthdr == IPPROTO_TCP && (p->tcp_flags & (TCP_F_SYN | TCP_F_ACK)) == TCP_F_SYN)
		established = 0;
	struct bpf_sock *sk = proxy_sock(skb, p, port, established);

	if (sk) {
		long err = bpf_sk_assign(skb, sk, 0);

		bpf_sk_release(sk);
		if (err < 0)
			return drop(skb, p, DROP_PROXY_SET_FAILED, dir, ep_id, src_identity, dst_label, ifindex);
	} else if (!established || p->nexthdr != IPPROTO_TCP) {
		return drop(skb, p, DROP_PROXY_LOOKUP_FAILED, dir, ep_id, src_identity, dst_label, ifindex);
	}
	if (p->nexthdr == IPPROTO_UDP && p->family == ENDPOINT_KEY_IPV4)
		remember_udp_destination(p, port, src_identity);
	skb->mark = MARK_MAGIC_TO_PROXY | identity_mark(src_identity);
	if (!established)
		emit_trace(skb, p, TRACE_TO_PROXY, CT_NEW, ep_id, src_identity, dst_label, ifindex);
	return TO_PROXY_OK;
}

/*
 * to-container (tc egress) cannot assign a socket: the packet goes back in through the same host
 * veth's ingress, where from-container (seeing the mark) calls to_proxy. The destination MAC becomes
 * the source's (the host veth's own: the node sent the packet), or the stack would drop it as
 * PACKET_OTHERHOST.
 */
static __always_inline int to_proxy_hop(struct __sk_buff *skb, __u16 port, int established)
{
	__u8 mac[6];

	if (bpf_skb_load_bytes(skb, 6, mac, 6) < 0 || bpf_skb_store_bytes(skb, 0, mac, 6, 0) < 0)
		return TC_ACT_SHOT;
	skb->mark = MARK_MAGIC_TO_PROXY | ((__u32)port << 16) | (established ? 1 : 0);
	return bpf_redirect(skb->ifindex, BPF_F_INGRESS);
}

static __always_inline int mac_set(const __u8 *mac)
{
	return (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) != 0;
}

/*
 * Local delivery (upstream's ipv4_local_delivery with BPF host routing): a packet from one local
 * endpoint to another, already allowed by the source's egress policy, goes through the
 * destination's ingress conntrack and policy here and is then put straight into the destination
 * pod (bpf_redirect_peer), skipping the node's IP stack and the destination veth's to-container
 * hook — which is most of what a new connection costs. The router's work is done here too: MACs
 * as the node would write them (the destination's own, the host veth's as source) and the TTL.
 * Without the destination's MACs (the CNI plugin reports them), with DP_F_LOCAL_REDIRECT off, or a
 * TTL about to expire (the kernel answers with ICMP time exceeded), the packet takes the routed
 * path and to-container decides, with the same verdicts.
 */
static __always_inline int local_delivery(struct __sk_buff *skb, const struct pkt *p, __u32 src_identity,
					  __u8 *ct_out)
{
	struct dp_config *c = config();

	if (!c || !(c->flags & DP_F_LOCAL_REDIRECT))
		return TC_ACT_OK;
	struct endpoint_key dk = { .family = p->family };

	__builtin_memcpy(dk.ip, p->daddr, 16);
	struct endpoint_info *d = bpf_map_lookup_elem(&cilium_lxc, &dk);

	if (!d || (d->flags & ENDPOINT_F_HOST) || !mac_set(d->mac) || !mac_set(d->node_mac))
		return TC_ACT_OK;
	__u32 ttl_off = ETH_HLEN + (p->family == ENDPOINT_KEY_IPV4 ? offsetof(struct iphdr, ttl)
								  : offsetof(struct ipv6hdr, hop_limit));
	__u8 ttl;

	if (bpf_skb_load_bytes(skb, ttl_off, &ttl, 1) < 0 || ttl <= 1)
		return TC_ACT_OK;

	__u16 ep_id = d->lxc_id;
	__u32 ifindex = d->ifindex;
	__u8 macs[12];

	__builtin_memcpy(macs, d->mac, 6);
	__builtin_memcpy(macs + 6, d->node_mac, 6);
	__u16 proxy = 0;
	int ret = endpoint_stage(skb, p, METRIC_INGRESS, ep_id, d->sec_identity, src_identity, ifindex, ct_out,
				 &proxy);

	if (ret != TC_ACT_OK)
		return ret;
	/* the destination's ingress policy redirects: to the proxy here (tc ingress), not into the pod */
	if (proxy)
		return to_proxy(skb, p, proxy, *ct_out != CT_NEW, src_identity, METRIC_INGRESS, ep_id, d->sec_identity,
				ifindex);
	__u8 nttl = ttl - 1;

	if (p->family == ENDPOINT_KEY_IPV4) {
		/* TTL shares a checksummed 16-bit word with the protocol */
		__be16 from = bpf_htons(((__u16)ttl << 8) | p->nexthdr);
		__be16 to = bpf_htons(((__u16)nttl << 8) | p->nexthdr);

		if (bpf_l3_csum_replace(skb, ETH_HLEN + offsetof(struct iphdr, check), from, to, sizeof(to)) < 0)
			return TC_ACT_OK;
	}
	if (bpf_skb_store_bytes(skb, ttl_off, &nttl, 1, 0) < 0 || bpf_skb_store_bytes(skb, 0, macs, 12, 0) < 0)
		return TC_ACT_OK;
	return bpf_redirect_peer(ifindex, 0);
}

#endif /* CILIUM_TS_ENDPOINT_H */
