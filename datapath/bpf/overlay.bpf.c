// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tc programs for the metadata-mode tunnel device cilium_vxlan / cilium_geneve (as upstream's
 * bpf/bpf_overlay.c):
 *   cil_from_overlay  tc ingress: a packet another node encapsulated, already decapsulated by the
 *                     device, with the tunnel key as metadata. The VNI is the source's security
 *                     identity: the destination endpoint's ingress policy runs with it (no ipcache
 *                     lookup), then the packet is redirected into the pod (endpoint.h).
 *   cil_to_overlay    tc egress: packets the node's own stack routes into the device (the node
 *                     talking to a remote pod) get their tunnel key here; packets lxc.bpf.c
 *                     redirected carry theirs already.
 *
 * Upstream maps the host identity of an encapsulating node to remote-node, so a packet that
 * claims to come from "host" through the tunnel is refused as upstream refuses it.
 */
#include <linux/if_packet.h>
#include "endpoint.h"
#include "tunnel.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The stack takes it (this node's own addresses, a pod that takes the routed path). */
static __always_inline int to_stack(struct __sk_buff *skb)
{
	/*
	 * The inner destination MAC is the sending node's gateway, not this device's: without this the
	 * stack would see PACKET_OTHERHOST and drop it.
	 */
	bpf_skb_change_type(skb, PACKET_HOST);
	return TC_ACT_OK;
}

SEC("tc")
int cil_from_overlay(struct __sk_buff *skb)
{
	struct bpf_tunnel_key key = {};
	struct pkt p = {};

	if (bpf_skb_get_tunnel_key(skb, &key, TUNNEL_KEY_SIZE, 0) < 0)
		return drop(skb, &p, DROP_NO_TUNNEL_KEY, METRIC_INGRESS, 0, 0, 0, skb->ifindex);
	int ret = parse_packet(skb, &p);

	if (ret == PARSE_PASS)
		return to_stack(skb);
	__u32 identity = key.tunnel_id;

	if (ret < 0)
		return drop(skb, &p, ret, METRIC_INGRESS, 0, identity, 0, skb->ifindex);
	if (identity == IDENTITY_HOST)
		return drop(skb, &p, DROP_INVALID_IDENTITY, METRIC_INGRESS, 0, identity, 0, skb->ifindex);

	__u8 ct = CT_ESTABLISHED;

	ret = local_delivery(skb, &p, identity, &ct);
	if (ret == TC_ACT_SHOT)
		return ret;
	if (ct == CT_NEW)
		emit_trace(skb, &p, TRACE_FROM_OVERLAY, CT_NEW, 0, identity, 0, skb->ifindex);
	return ret == TC_ACT_OK || ret == TO_PROXY_OK ? to_stack(skb) : ret;
}

SEC("tc")
int cil_to_overlay(struct __sk_buff *skb)
{
	struct bpf_tunnel_key key = {};

	/* redirected by cil_from_container with the key set: nothing to add */
	if (bpf_skb_get_tunnel_key(skb, &key, TUNNEL_KEY_SIZE, 0) == 0)
		return TC_ACT_OK;
	struct pkt p = {};
	int ret = parse_packet(skb, &p);

	if (ret == PARSE_PASS)
		return TC_ACT_OK;
	if (ret < 0)
		return drop(skb, &p, ret, METRIC_EGRESS, 0, IDENTITY_HOST, 0, skb->ifindex);
	struct tunnel_config *t = tunnel_config();
	struct tunnel_value *remote = t && p.family == ENDPOINT_KEY_IPV4 ? tunnel_lookup(t, p.daddr) : 0;

	if (!t || !remote)
		return drop(skb, &p, DROP_UNROUTABLE, METRIC_EGRESS, 0, IDENTITY_HOST, 0, skb->ifindex);
	key.tunnel_id = IDENTITY_REMOTE_NODE;
	key.remote_ipv4 = bpf_ntohl(*(const __be32 *)remote->ip); /* the node's own traffic: pod CIDRs only */
	key.tunnel_ttl = TUNNEL_TTL;
	if (bpf_skb_set_tunnel_key(skb, &key, TUNNEL_KEY_SIZE, BPF_F_ZERO_CSUM_TX) < 0)
		return drop(skb, &p, DROP_WRITE_ERROR, METRIC_EGRESS, 0, IDENTITY_HOST, 0, skb->ifindex);
	count(0, METRIC_EGRESS, skb->len);
	return TC_ACT_OK;
}
