/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tunnel's kernel ABI: the tunnel endpoint map and the tunnel configuration that lxc.bpf.c
 * (encapsulation) and overlay.bpf.c (decapsulation, host traffic) share by pin name.
 *
 * Plain C over <linux/types.h> (the layout probe of test/datapath/overlay-codecs.test.ts compiles
 * it with the host compiler); datapath/overlay-codecs.ts mirrors it byte for byte.
 *
 * The tunnel map is upstream's cilium_tunnel_map (bpf/lib/maps.h TUNNEL_MAP with struct
 * tunnel_key / tunnel_value of bpf/lib/common.h, Cilium <= v1.17): one entry per remote node, keyed
 * by the prefix address of the node's pod CIDR, valued with the node's IP. The datapath masks the
 * destination with the pod CIDR length (upstream compiles it in as IPV4_MASK; cilium-ts has one
 * object, so the agent writes it into cilium_tunnel_config).
 */
#ifndef CILIUM_TS_OVERLAY_H
#define CILIUM_TS_OVERLAY_H

#include <linux/types.h>

#define TUNNEL_MAP_SIZE		65536	/* upstream TUNNEL_ENDPOINT_MAP_SIZE */

/* Observation points of trace events (upstream bpf/lib/trace.h, flow.proto TraceObservationPoint) */
#define TRACE_TO_OVERLAY	4
#define TRACE_FROM_OVERLAY	9

/* Reserved identity of other nodes (docs.cilium.io internals/security-identities) */
#define IDENTITY_REMOTE_NODE	6

/* Encapsulation as upstream sets it (bpf/lib/encap.h): outer TTL, protocols of cilium_tunnel_config */
#define TUNNEL_TTL		64
#define TUNNEL_PROTO_VXLAN	1
#define TUNNEL_PROTO_GENEVE	2

struct tunnel_key {
	__u8 ip[16];		/* pod CIDR prefix address; IPv4 in the first 4 bytes */
	__u8 family;		/* ENDPOINT_KEY_IPV4 | ENDPOINT_KEY_IPV6 */
	__u8 cluster_id;
	__u16 pad;
};

struct tunnel_value {
	__u8 ip[16];		/* the remote node's IP (outer destination); IPv4 in the first 4 bytes */
	__u8 family;
	__u8 key;		/* IPsec key index: 0, cilium-ts has no IPsec */
	__u16 node_id;
};

/*
 * cilium-ts: one-element array written by the agent; ifindex 0 = tunnel mode off (native routing).
 * VXLAN: the kernel's metadata-mode cilium_vxlan device frames the packets. Geneve: the datapath
 * frames them itself (geneve.h; no kernel Geneve device is needed) and sends them out of the
 * underlay device, from local_ip4 to the remote node on UDP port.
 */
struct tunnel_config {
	__u32 ifindex;		/* VXLAN: cilium_vxlan; Geneve: the underlay device (holding local_ip4) */
	__u8 prefixlen4;	/* length of every node's IPv4 pod CIDR (the tunnel map's key mask) */
	__u8 protocol;		/* TUNNEL_PROTO_* */
	__be16 port;		/* Geneve: the outer UDP destination port (tunnel-port), network order */
	__be32 local_ip4;	/* Geneve: this node's InternalIP, the outer source address */
};

#endif /* CILIUM_TS_OVERLAY_H */
