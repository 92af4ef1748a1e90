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
 *   cil_from_underlay tc ingress of the underlay device (Geneve mode, framed in BPF by geneve.h):
 *                     Geneve to this node is stripped and delivered as cil_from_overlay delivers.
 *   cil_to_underlay   tc egress of the underlay device (Geneve mode): the node's own packets for
 *                     remote pods are framed, as cil_to_overlay keys them for the VXLAN device.
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

/*
 * A packet another node encapsulated, with the source's identity from the VNI, already stripped
 * of its outer headers: the destination endpoint's ingress policy with that identity and the
 * redirect into the pod, or the stack for anything else. Both tunnel protocols end here.
 */
static __always_inline int overlay_deliver(struct __sk_buff *skb, __u32 identity)
{
	struct pkt p = {};
	int ret = parse_packet(skb, &p);

	if (ret == PARSE_PASS)
		return to_stack(skb);
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
int cil_from_overlay(struct __sk_buff *skb)
{
	struct bpf_tunnel_key key = {};

	if (bpf_skb_get_tunnel_key(skb, &key, TUNNEL_KEY_SIZE, 0) < 0) {
		struct pkt p = {};

		return drop(skb, &p, DROP_NO_TUNNEL_KEY, METRIC_INGRESS, 0, 0, 0, skb->ifindex);
	}
	return overlay_deliver(skb, key.tunnel_id);
}

/* Geneve mode (geneve.h): the underlay device's filters pass what is not theirs to the next one. */
static __always_inline struct tunnel_config *geneve_config(void)
{
	struct tunnel_config *t = tunnel_config();

	return t && t->protocol == TUNNEL_PROTO_GENEVE ? t : 0;
}

SEC("tc")
int cil_from_underlay(struct __sk_buff *skb)
{
	struct tunnel_config *t = geneve_config();
	__u32 identity = 0;

	if (!t)
		return TC_ACT_UNSPEC;
	int ret = geneve_unframe(skb, t, &identity);

	if (ret == GENEVE_NOT_OURS)
		return TC_ACT_UNSPEC;
	if (ret < 0) {
		struct pkt p = {};

		return drop(skb, &p, ret, METRIC_INGRESS, 0, 0, 0, skb->ifindex);
	}
	return overlay_deliver(skb, identity);
}

/*
 * The node's own packets for a remote node's pod CIDR: the agent routes them out of the underlay
 * towards that node (so the stack has addressed the frame to the right next hop), they are framed
 * here with the remote-node identity. Everything else goes on to the next filter untouched.
 */
SEC("tc")
int cil_to_underlay(struct __sk_buff *skb)
{
	struct tunnel_config *t = geneve_config();
	struct pkt p = {};

	if (!t || parse_packet(skb, &p) != PARSE_OK || p.family != ENDPOINT_KEY_IPV4)
		return TC_ACT_UNSPEC;
	struct tunnel_value *remote = tunnel_lookup(t, p.daddr);

	if (!remote || remote->family != ENDPOINT_KEY_IPV4)
		return TC_ACT_UNSPEC;
	if (geneve_frame(skb, t, *(const __be32 *)remote->ip, IDENTITY_REMOTE_NODE) < 0)
		return drop(skb, &p, DROP_WRITE_ERROR, METRIC_EGRESS, 0, IDENTITY_HOST, 0, skb->ifindex);
	count(0, METRIC_EGRESS, skb->len);
	return TC_ACT_OK;
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
