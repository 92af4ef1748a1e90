// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tc programs for an endpoint's host-side veth (as upstream's bpf/bpf_lxc.c):
 *   cil_from_container  tc ingress: packets leaving the pod  -> the pod's egress policy
 *   cil_to_container    tc egress:  packets entering the pod -> the pod's ingress policy
 *
 * One object is loaded once and attached to every endpoint; the endpoint is found by the pod-side
 * IP in cilium_lxc, and its policy through cilium_policy_v2 (endpoint id -> LPM trie), so the agent
 * replaces a whole policy by swapping one outer entry.
 *
 * Order per packet: parse -> endpoint -> conntrack -> remote identity (ipcache) -> policy; an allow
 * with a proxy port goes to the node's proxy (endpoint.h to_proxy); then, for
 * a packet to another local endpoint, that endpoint's ingress half and a redirect into its pod
 * (endpoint.h); in tunnel mode, for a packet to a remote node's pod CIDR, encapsulation with the
 * source identity as VNI (tunnel.h) — overlay.bpf.c on the other node delivers it.
 * Established flows and replies never reach the ipcache or the policy lookup. Every verdict is counted in
 * cilium_metrics and reported on cilium_events under a per-CPU budget.
 *
 * datapath/sim.ts implements exactly this logic in userspace; the differential test holds them
 * together, so a change here needs the same change there.
 */
#include "endpoint.h"
#include "tunnel.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline int handle(struct __sk_buff *skb, __u8 dir)
{
	struct pkt p = {};
	int ret = parse_packet(skb, &p);

	if (ret == PARSE_PASS)
		return TC_ACT_OK;
	if (ret < 0)
		return drop(skb, &p, ret, dir, 0, 0, 0, skb->ifindex);

	/* The endpoint this veth belongs to: the pod-side address of the packet. */
	struct endpoint_key ek = { .family = p.family };

	__builtin_memcpy(ek.ip, dir == METRIC_EGRESS ? p.saddr : p.daddr, 16);
	struct endpoint_info *ep = bpf_map_lookup_elem(&cilium_lxc, &ek);

	if (!ep || ep->ifindex != skb->ifindex)
		return drop(skb, &p, dir == METRIC_EGRESS ? DROP_INVALID_SIP : DROP_UNROUTABLE, dir,
			    ep ? ep->lxc_id : 0, 0, 0, skb->ifindex);
	__u32 self = ep->sec_identity;

	__u8 ct = CT_ESTABLISHED;
	__u16 proxy = 0;

	ret = endpoint_stage(skb, &p, dir, ep->lxc_id, self, 0, skb->ifindex, &ct, &proxy);
	if (ret != TC_ACT_OK)
		return ret;
	if (proxy && dir == METRIC_EGRESS)
		return to_proxy(skb, &p, proxy, ct != CT_NEW, self, dir, ep->lxc_id, 0, skb->ifindex) == TO_PROXY_OK
			       ? TC_ACT_OK
			       : TC_ACT_SHOT;
	if (proxy)
		return to_proxy_hop(skb, proxy, ct != CT_NEW);
	if (dir != METRIC_EGRESS)
		return ret;
	__u8 peer_ct = CT_ESTABLISHED;

	ret = local_delivery(skb, &p, self, &peer_ct);
	if (ret == TO_PROXY_OK)
		return TC_ACT_OK;
	if (ret != TC_ACT_OK)
		return ret;
	/* not for a pod of this node: a remote node's pod CIDR goes through the tunnel (tunnel mode) */
	return tunnel_encap(skb, &p, self, ep->lxc_id, ct);
}

/* A packet to-container sent back in for the proxy (to_proxy_hop): policy has been done. */
static __always_inline int proxy_hop(struct __sk_buff *skb)
{
	struct pkt p = {};
	__u16 port = skb->mark >> 16;

	if (parse_packet(skb, &p) != PARSE_OK)
		return TC_ACT_SHOT;
	return to_proxy(skb, &p, port, skb->mark & 1, 0, METRIC_INGRESS, 0, 0, skb->ifindex) == TO_PROXY_OK ? TC_ACT_OK
													  : TC_ACT_SHOT;
}

SEC("tc")
int cil_from_container(struct __sk_buff *skb)
{
	/* a pod's packets arrive with mark 0 (scrubbed crossing the veth): this mark is ours */
	if ((skb->mark & MARK_MAGIC_HOST_MASK) == MARK_MAGIC_TO_PROXY)
		return proxy_hop(skb);
	return handle(skb, METRIC_EGRESS);
}

SEC("tc")
int cil_to_container(struct __sk_buff *skb)
{
	return handle(skb, METRIC_INGRESS);
}
