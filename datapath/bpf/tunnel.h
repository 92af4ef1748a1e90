/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Encapsulation (as upstream's bpf/lib/encap.h): the tunnel maps and tunnel_encap(), which hands a
 * packet for a remote node's pod CIDR to the metadata-mode tunnel device with the tunnel key set —
 * VNI = the source security identity, remote = the node's IP, TTL 64, no UDP checksum — so that the
 * receiving node knows the source's identity without asking its ipcache. BPF-only; the layouts
 * are in overlay.h. Included after endpoint.h (emit_trace, count).
 */
#ifndef CILIUM_TS_TUNNEL_H
#define CILIUM_TS_TUNNEL_H

#include "overlay.h"
#include "geneve.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TUNNEL_MAP_SIZE);
	__type(key, struct tunnel_key);
	__type(value, struct tunnel_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_tunnel_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tunnel_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_tunnel_config SEC(".maps");

/*
 * Older kernels know a shorter struct bpf_tunnel_key; this size (upstream's
 * TUNNEL_KEY_WITHOUT_SRC_IP) is accepted by all of them, and the kernel picks the outer source.
 */
#define TUNNEL_KEY_SIZE offsetof(struct bpf_tunnel_key, local_ipv4)

static __always_inline struct tunnel_config *tunnel_config(void)
{
	__u32 zero = 0;
	struct tunnel_config *t = bpf_map_lookup_elem(&cilium_tunnel_config, &zero);

	return t && t->ifindex ? t : 0;
}

/* The node that owns the pod CIDR of `daddr` (IPv4), or NULL. */
static __always_inline struct tunnel_value *tunnel_lookup(const struct tunnel_config *t, const __u8 *daddr)
{
	struct tunnel_key k = { .family = ENDPOINT_KEY_IPV4 };
	__u32 len = t->prefixlen4;
	__u32 mask = len == 0 ? 0 : len >= 32 ? 0xffffffff : ~((1U << (32 - len)) - 1);
	__u32 a = bpf_ntohl(*(const __be32 *)daddr) & mask;

	*(__be32 *)k.ip = bpf_htonl(a);
	return bpf_map_lookup_elem(&cilium_tunnel_map, &k);
}

/*
 * VXLAN: sets the tunnel key for the node at `remote` with VNI `identity` and redirects to the
 * tunnel device. Geneve: frames the packet here and sends it out of the underlay device to the
 * next hop towards `remote` (bpf_redirect_neigh looks up the route and the neighbour).
 */
static __always_inline int tunnel_redirect(struct __sk_buff *skb, const struct tunnel_config *t, __be32 remote,
					   __u32 identity)
{
	if (t->protocol == TUNNEL_PROTO_GENEVE) {
		if (geneve_frame(skb, t, remote, identity) < 0)
			return -1;
		return bpf_redirect_neigh(t->ifindex, NULL, 0, 0);
	}
	struct bpf_tunnel_key key = {};

	key.tunnel_id = identity;
	key.remote_ipv4 = bpf_ntohl(remote);
	key.tunnel_ttl = TUNNEL_TTL;
	if (bpf_skb_set_tunnel_key(skb, &key, TUNNEL_KEY_SIZE, BPF_F_ZERO_CSUM_TX) < 0)
		return -1;
	return bpf_redirect(t->ifindex, 0);
}

/*
 * From an endpoint (already through its egress policy): a destination in a remote node's pod CIDR
 * leaves through the tunnel, and so does one whose ipcache entry names a tunnel endpoint (another
 * node's own addresses, as upstream's ipcache tunnel_endpoint); anything else (this node, the
 * world, a local pod routed by the stack) is TC_ACT_OK. IPv4 only: IPv6 pods are refused.
 */
static __always_inline int tunnel_encap(struct __sk_buff *skb, const struct pkt *p, __u32 identity,
					__u16 ep_id, __u8 ct)
{
	struct tunnel_config *t = tunnel_config();

	if (!t || p->family != ENDPOINT_KEY_IPV4)
		return TC_ACT_OK;
	struct tunnel_value *remote = tunnel_lookup(t, p->daddr);
	__be32 node = 0;

	if (remote && remote->family == ENDPOINT_KEY_IPV4) {
		node = *(const __be32 *)remote->ip;
	} else {
		struct ipcache_key ik = { .prefixlen = IPCACHE_STATIC_PREFIX + 32, .family = ENDPOINT_KEY_IPV4 };

		__builtin_memcpy(ik.ip, p->daddr, 4);
		struct remote_endpoint_info *ri = bpf_map_lookup_elem(&cilium_ipcache_v2, &ik);

		if (ri)
			node = ri->tunnel_endpoint;
	}
	if (!node)
		return TC_ACT_OK;
	if (ct == CT_NEW)
		emit_trace(skb, p, TRACE_TO_OVERLAY, CT_NEW, ep_id, identity, 0, t->ifindex);
	int ret = tunnel_redirect(skb, t, node, identity);

	if (ret < 0) {
		count((__u8)(-DROP_WRITE_ERROR), METRIC_EGRESS, skb->len);
		emit_drop(skb, p, DROP_WRITE_ERROR, ep_id, identity, 0, t->ifindex);
		return TC_ACT_SHOT;
	}
	return ret;
}

#endif /* CILIUM_TS_TUNNEL_H */
