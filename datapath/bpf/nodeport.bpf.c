// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Per-packet NodePort load balancing at the node's external device (upstream: nodeport.h in
 * bpf_host's cil_from_netdev / cil_to_netdev). Socket-LB translates what this node's own sockets
 * connect to; a packet that arrives from another host never passes a socket here, so it is
 * translated on the wire:
 *   cil_from_netdev  tc ingress: a new flow to a NodePort frontend gets a backend (random, or the
 *                    client's by session affinity) and a cilium_lb4_nodeport_ct entry, later packets
 *                    of the flow reuse it. Backend on this node (found in cilium_lxc): DNAT only,
 *                    delivered by the stack, so the pod's ingress program and policy see it with
 *                    the client's address. Backend on another node: DNAT and SNAT to the address
 *                    the client used, sent out of this device again (bpf_redirect_neigh; the stack
 *                    would drop a packet with a local source as martian). Replies to SNATed flows
 *                    arrive here too and are translated back and sent to the client.
 *                    A frontend with no backend (externalTrafficPolicy: Local with none on this
 *                    node) drops with DROP_NO_SERVICE, counted and reported as the endpoint
 *                    programs' drops are (notify.h).
 *   cil_to_netdev    tc egress: replies of a local backend leave with the frontend as source.
 * Only frontends with SVC_FLAG_NODEPORT are translated (ClusterIPs stay unreachable from outside,
 * as upstream's default bpf-lb-external-clusterip=false). IPv4 TCP and UDP only; fragments and
 * everything else pass untouched.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "lxc.h"
#include "notify.h"
#include "lb_maps.h"
#include "nodeport.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NODEPORT_CT_MAP_SIZE);
	__type(key, struct nodeport_tuple);
	__type(value, struct nodeport_ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_lb4_nodeport_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NODEPORT_REV_MAP_SIZE);
	__type(key, struct nodeport_tuple);
	__type(value, struct nodeport_rev_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_lb4_nodeport_rev SEC(".maps");

/* The endpoint programs' map (lxc.bpf.c), shared by pin: is a backend on this node? */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ENDPOINTS_MAP_SIZE);
	__type(key, struct endpoint_key);
	__type(value, struct endpoint_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_lxc SEC(".maps");

#include "snat.h"	/* masquerading, called first in both programs */

#define TCP_F_FIN	0x01
#define TCP_F_SYN	0x02
#define TCP_F_RST	0x04
#define TCP_F_ACK	0x10

#define NP_NEW_FLOW	0
#define NP_NOT_FRONTEND	1

#define IP_OFF		ETH_HLEN
#define IP_CSUM_OFF	(IP_OFF + offsetof(struct iphdr, check))
#define IP_SRC_OFF	(IP_OFF + offsetof(struct iphdr, saddr))
#define IP_DST_OFF	(IP_OFF + offsetof(struct iphdr, daddr))

/*
 * A NodePort drop, counted in cilium_metrics and reported on cilium_events like the endpoint
 * programs' drops (no endpoint: source 0; identities unresolved here: 0), under the same budget.
 */
static __always_inline int np_drop_dir(struct __sk_buff *skb, int reason, __u8 dir)
{
	count((__u8)(-reason), dir, skb->len);
	if (!events_allowed())
		return TC_ACT_SHOT;
	struct drop_notify *e = bpf_ringbuf_reserve(&cilium_events, sizeof(*e), 0);

	if (!e) {
		ring_full();
		return TC_ACT_SHOT;
	}
	__builtin_memset(e, 0, offsetof(struct drop_notify, data));
	e->type = CILIUM_NOTIFY_DROP;
	e->subtype = (__u8)(-reason);
	e->hash = bpf_get_hash_recalc(skb);
	e->len_orig = skb->len;
	e->version = 2;
	e->ifindex = skb->ifindex;
	e->len_cap = capture(skb, e->data);
	bpf_ringbuf_submit(e, wakeup_flag());
	return TC_ACT_SHOT;
}

static __always_inline int np_drop(struct __sk_buff *skb, int reason)
{
	return np_drop_dir(skb, reason, METRIC_INGRESS);
}

/* What the programs need of a packet: its tuple and where its L4 header and checksum are. */
struct np_pkt {
	struct nodeport_tuple t;
	__u32 l4_off;
	__u32 csum_off;
	__u8 tcp_flags;
	__u8 csum_flags;	/* BPF_F_MARK_MANGLED_0 for UDP: a zero checksum stays zero */
};

/* 0: IPv4 TCP/UDP, first fragment or none, headers inside the packet; -1: not ours, pass. */
static __always_inline int np_parse(struct __sk_buff *skb, struct np_pkt *p)
{
	__be16 proto;
	struct iphdr ip;

	if (bpf_skb_load_bytes(skb, 12, &proto, sizeof(proto)) < 0 || proto != bpf_htons(ETH_P_IP))
		return -1;
	if (bpf_skb_load_bytes(skb, IP_OFF, &ip, sizeof(ip)) < 0)
		return -1;
	if (ip.version != 4 || ip.ihl < 5 || (bpf_ntohs(ip.frag_off) & 0x3fff))
		return -1;	/* fragments: the later ones carry no ports, so none is translated */
	p->t.saddr = ip.saddr;
	p->t.daddr = ip.daddr;
	p->t.proto = ip.protocol;
	p->l4_off = IP_OFF + ip.ihl * 4;
	if (ip.protocol == IPPROTO_TCP) {
		struct tcphdr th;

		if (bpf_skb_load_bytes(skb, p->l4_off, &th, sizeof(th)) < 0 || th.doff < 5)
			return -1;
		p->t.sport = th.source;
		p->t.dport = th.dest;
		p->tcp_flags = ((__u8 *)&th)[13];
		p->csum_off = p->l4_off + offsetof(struct tcphdr, check);
		p->csum_flags = 0;
		return 0;
	}
	if (ip.protocol == IPPROTO_UDP) {
		struct udphdr uh;

		if (bpf_skb_load_bytes(skb, p->l4_off, &uh, sizeof(uh)) < 0)
			return -1;
		p->t.sport = uh.source;
		p->t.dport = uh.dest;
		p->csum_off = p->l4_off + offsetof(struct udphdr, check);
		p->csum_flags = BPF_F_MARK_MANGLED_0;
		return 0;
	}
	return -1;
}

/* Rewrites the source (src = 1) or destination address and port, checksums included. */
static __always_inline int np_rewrite(struct __sk_buff *skb, const struct np_pkt *p, int src, __be32 addr,
				      __be16 port)
{
	__be32 old_addr = src ? p->t.saddr : p->t.daddr;
	__be16 old_port = src ? p->t.sport : p->t.dport;
	__u32 port_off = p->l4_off + (src ? 0 : 2);

	if (old_addr != addr) {
		if (bpf_l4_csum_replace(skb, p->csum_off, old_addr, addr, BPF_F_PSEUDO_HDR | p->csum_flags | 4) < 0 ||
		    bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_addr, addr, 4) < 0 ||
		    bpf_skb_store_bytes(skb, src ? IP_SRC_OFF : IP_DST_OFF, &addr, 4, 0) < 0)
			return -1;
	}
	if (old_port != port) {
		if (bpf_l4_csum_replace(skb, p->csum_off, old_port, port, p->csum_flags | 2) < 0 ||
		    bpf_skb_store_bytes(skb, port_off, &port, 2, 0) < 0)
			return -1;
	}
	return 0;
}

static __always_inline __u32 np_lifetime(const struct np_pkt *p, int new_flow)
{
	if (p->t.proto != IPPROTO_TCP)
		return NODEPORT_LIFETIME_NONTCP;
	if (p->tcp_flags & (TCP_F_FIN | TCP_F_RST))
		return NODEPORT_LIFETIME_CLOSE;
	if (new_flow || (p->tcp_flags & (TCP_F_SYN | TCP_F_ACK)) == TCP_F_SYN)
		return NODEPORT_LIFETIME_SYN;
	return NODEPORT_LIFETIME_TCP;
}

/* Moves an entry's expiry about once a second, not on every packet (a shared cache line). */
static __always_inline void np_touch(__u32 *lifetime, __u32 want)
{
	if (want < *lifetime || want > *lifetime + 1)
		*lifetime = want;
}

static __always_inline int np_backend_local(__be32 addr, __be32 node_addr)
{
	struct endpoint_key k = { .family = ENDPOINT_KEY_IPV4 };

	if (addr == node_addr)
		return 1;	/* a hostNetwork backend on this node */
	__builtin_memcpy(k.ip, &addr, 4);
	return bpf_map_lookup_elem(&cilium_lxc, &k) != NULL;
}

/* Chooses the backend of a new flow, as socket-LB does; 0 if there is none. */
static __always_inline __u32 np_select(const struct lb4_service *fe, struct lb4_key *key, __be32 client)
{
	__u32 backend_id = 0;

	if (fe->flags & SVC_FLAG_AFFINITY)
		backend_id = affinity_backend(fe, client, 0);
	if (!backend_id) {
		key->backend_slot = (bpf_get_prandom_u32() % fe->count) + 1;
		struct lb4_service *slot = bpf_map_lookup_elem(&cilium_lb4_services_v2, key);

		if (!slot)
			return 0;
		backend_id = slot->backend_id;
	}
	if (fe->flags & SVC_FLAG_AFFINITY)
		affinity_remember(fe, client, 0, backend_id);
	return backend_id;
}

/*
 * Claims the reply tuple of a SNATed flow: the client's own source port if free, else a random
 * one. Returns the port, or 0 when every try was taken by a live flow.
 */
static __always_inline __be16 np_snat_claim(const struct np_pkt *p, const struct lb4_backend *be,
					    const struct nodeport_rev_entry *val, __u32 now)
{
	struct nodeport_tuple rk = { .saddr = be->address, .daddr = p->t.daddr, .sport = be->port, .proto = p->t.proto };

	for (int i = 0; i < NODEPORT_SNAT_TRIES; i++) {
		__u16 port = i == 0 ? bpf_ntohs(p->t.sport)
				    : NODEPORT_SNAT_PORT_MIN + bpf_get_prandom_u32() % (65536 - NODEPORT_SNAT_PORT_MIN);

		rk.dport = bpf_htons(port);
		struct nodeport_rev_entry *old = bpf_map_lookup_elem(&cilium_lb4_nodeport_rev, &rk);

		if (old && old->lifetime >= now &&
		    (old->client_addr != val->client_addr || old->client_port != val->client_port))
			continue;
		if (bpf_map_update_elem(&cilium_lb4_nodeport_rev, &rk, val, BPF_ANY) == 0)
			return rk.dport;
	}
	return 0;
}

/* The backend an established flow keeps, if its entry is live and the backend still exists. */
static __always_inline struct nodeport_ct_entry *np_ct_live(const struct np_pkt *p, __u32 now)
{
	struct nodeport_ct_entry *ct = bpf_map_lookup_elem(&cilium_lb4_nodeport_ct, &p->t);

	if (!ct || ct->lifetime < now)
		return NULL;
	__u32 id = ct->backend_id;
	struct lb4_backend *be = bpf_map_lookup_elem(&cilium_lb4_backends_v3, &id);

	if (!be || be->address != ct->backend_addr || be->port != ct->backend_port)
		return NULL;	/* the backend left: choose again */
	return ct;
}

/* A new flow: NP_NEW_FLOW with *out filled, NP_NOT_FRONTEND, or the DROP_* reason to drop it for. */
static __always_inline int np_new_flow(const struct np_pkt *p, __u32 now, struct nodeport_ct_entry *out)
{
	struct lb4_key key = { .address = p->t.daddr, .dport = p->t.dport, .proto = p->t.proto,
			       .scope = LB_LOOKUP_SCOPE_EXT };
	struct lb4_service *svc = bpf_map_lookup_elem(&cilium_lb4_services_v2, &key);

	if (!svc || !(svc->flags & SVC_FLAG_NODEPORT))
		return NP_NOT_FRONTEND;
	struct lb4_service fe = *svc;	/* the agent may rewrite the entry under us */

	if (fe.count == 0)
		return DROP_NO_SERVICE;	/* eTP=Local without a local backend, or none at all */
	__u32 backend_id = np_select(&fe, &key, p->t.saddr);
	struct lb4_backend *bep = backend_id ? bpf_map_lookup_elem(&cilium_lb4_backends_v3, &backend_id) : NULL;

	if (!bep)
		return DROP_NO_SERVICE;
	struct lb4_backend be = *bep;
	struct nodeport_ct_entry ct = {
		.backend_addr = be.address,
		.backend_port = be.port,
		.nat_addr = p->t.saddr,
		.nat_port = p->t.sport,
		.backend_id = backend_id,
		.lifetime = now + np_lifetime(p, 1),
		.rev_nat_index = fe.rev_nat_index,
	};
	struct nodeport_rev_entry rev = {
		.client_addr = p->t.saddr,
		.client_port = p->t.sport,
		.frontend_addr = p->t.daddr,
		.frontend_port = p->t.dport,
		.lifetime = ct.lifetime,
	};

	if (np_backend_local(be.address, p->t.daddr)) {
		ct.flags = rev.flags = NODEPORT_F_LOCAL;
		struct nodeport_tuple rk = { .saddr = be.address, .daddr = p->t.saddr, .sport = be.port,
					     .dport = p->t.sport, .proto = p->t.proto };

		if (bpf_map_update_elem(&cilium_lb4_nodeport_rev, &rk, &rev, BPF_ANY) < 0)
			return DROP_CT_CREATE_FAILED;
	} else {
		ct.flags = rev.flags = NODEPORT_F_SNAT;
		ct.nat_addr = p->t.daddr;
		ct.nat_port = np_snat_claim(p, &be, &rev, now);
		if (!ct.nat_port)
			return DROP_CT_CREATE_FAILED;	/* no free SNAT port (upstream: DROP_NAT_NO_MAPPING) */
	}
	if (bpf_map_update_elem(&cilium_lb4_nodeport_ct, &p->t, &ct, BPF_ANY) < 0)
		return DROP_CT_CREATE_FAILED;
	*out = ct;
	return NP_NEW_FLOW;
}

/* Translates the packet for its flow's entry: DNAT, SNAT for a remote backend; the tc verdict. */
static __always_inline int np_forward(struct __sk_buff *skb, const struct np_pkt *p, const struct nodeport_ct_entry *ct)
{
	if (ct->flags & NODEPORT_F_SNAT) {
		if (np_rewrite(skb, p, 1, ct->nat_addr, ct->nat_port) < 0)
			return np_drop(skb, DROP_INVALID);
	}
	if (np_rewrite(skb, p, 0, ct->backend_addr, ct->backend_port) < 0)
		return np_drop(skb, DROP_INVALID);
	if (ct->flags & NODEPORT_F_SNAT)
		return bpf_redirect_neigh(skb->ifindex, NULL, 0, 0);
	return TC_ACT_OK;
}

/* A reply of a translated flow: the source becomes the frontend, the destination the client. */
static __always_inline int np_reverse(struct __sk_buff *skb, const struct np_pkt *p, struct nodeport_rev_entry *rev,
				      __u32 now)
{
	__be32 client = rev->client_addr, frontend = rev->frontend_addr;
	__be16 client_port = rev->client_port, frontend_port = rev->frontend_port;

	np_touch(&rev->lifetime, now + np_lifetime(p, 0));
	if (np_rewrite(skb, p, 1, frontend, frontend_port) < 0)
		return -1;
	if (rev->flags & NODEPORT_F_SNAT) {
		/* np_rewrite works from the parsed tuple; the destination is still the original one */
		if (np_rewrite(skb, p, 0, client, client_port) < 0)
			return -1;
	}
	return 0;
}

SEC("tc")
int cil_from_netdev(struct __sk_buff *skb)
{
	struct np_pkt p = {};
	__u32 now = (__u32)now_sec();
	int masq = snat_v4_ingress(skb);	/* a reply to a masqueraded pod flow */

	if (masq)
		return masq < 0 ? np_drop(skb, masq) : TC_ACT_OK;
	if (np_parse(skb, &p) < 0)
		return TC_ACT_OK;

	/* a reply from a remote backend to a flow this node SNATed */
	struct nodeport_rev_entry *rev = bpf_map_lookup_elem(&cilium_lb4_nodeport_rev, &p.t);

	if (rev && (rev->flags & NODEPORT_F_SNAT) && rev->lifetime >= now) {
		if (np_reverse(skb, &p, rev, now) < 0)
			return np_drop(skb, DROP_INVALID);
		return bpf_redirect_neigh(skb->ifindex, NULL, 0, 0);
	}

	struct nodeport_ct_entry *ct = np_ct_live(&p, now);

	if (ct) {
		__u32 want = now + np_lifetime(&p, 0);
		struct nodeport_ct_entry copy = *ct;

		np_touch(&ct->lifetime, want);
		return np_forward(skb, &p, &copy);
	}

	struct nodeport_ct_entry fresh = {};
	int r = np_new_flow(&p, now, &fresh);

	if (r == NP_NOT_FRONTEND)
		return TC_ACT_OK;	/* untouched */
	if (r < 0)
		return np_drop(skb, r);
	return np_forward(skb, &p, &fresh);
}

/* tc egress: a pod's packet to the world leaves with the node's address (snat.h). */
static __always_inline int np_masquerade(struct __sk_buff *skb)
{
	int r = snat_v4_egress(skb);

	return r < 0 ? np_drop_dir(skb, r, METRIC_EGRESS) : TC_ACT_OK;
}

SEC("tc")
int cil_to_netdev(struct __sk_buff *skb)
{
	struct np_pkt p = {};
	__u32 now = (__u32)now_sec();

	if (np_parse(skb, &p) < 0)
		return np_masquerade(skb);
	struct nodeport_rev_entry *rev = bpf_map_lookup_elem(&cilium_lb4_nodeport_rev, &p.t);

	if (!rev || !(rev->flags & NODEPORT_F_LOCAL) || rev->lifetime < now)
		return np_masquerade(skb);	/* a local backend's reply leaves as the frontend, never masqueraded */
	if (np_reverse(skb, &p, rev, now) < 0)
		return np_drop(skb, DROP_INVALID);
	return TC_ACT_OK;
}
