/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The original destination of UDP datagrams handed to the node's proxy (endpoint.h to_proxy).
 *
 * A redirected datagram keeps its addresses (bpf_sk_assign rewrites nothing), but the proxy's UDP
 * socket cannot see where it was going: Node's dgram has no IP_RECVORIGDSTADDR. So to_proxy writes
 * the original destination here, keyed by what the proxy does see — the sender's address and port,
 * its own port and the protocol — and the agent reads it per datagram (controllers/agent/l7
 * dns-redirect.ts). TCP needs no entry: an accepted transparent socket's local address is the
 * original destination.
 *
 * Upstream's cilium_proxy4 (bpf/lib/common.h struct proxy4_tbl_key / proxy4_tbl_value and
 * pkg/maps/proxymap, Cilium <= 1.5, before TPROXY replaced it): the same key and value, an LRU
 * hash, `dport` the proxy port, `lifetime` the expiry in seconds of the monotonic clock. IPv4 only,
 * as there (cilium_proxy6 is not built here).
 *
 * Plain C over <linux/types.h>: test/datapath/proxy-codecs.test.ts compiles it with the host
 * compiler against datapath/proxy-codecs.ts.
 */
#ifndef CILIUM_TS_PROXY_H
#define CILIUM_TS_PROXY_H

#include <linux/types.h>

/*
 * cilium-ts: only UDP DNS uses it (upstream sized it for every proxied TCP connection too), and an
 * entry is read within the moment its datagram takes to reach the proxy.
 */
#define PROXY4_MAP_SIZE		16384
/* seconds an entry stays valid after its datagram (upstream: PROXY_DEFAULT_LIFETIME) */
#define PROXY4_LIFETIME		60

struct proxy4_tbl_key {
	__be32 saddr;	/* the sender (the pod) */
	__be16 dport;	/* the proxy port the datagram was assigned to */
	__be16 sport;	/* the sender's port */
	__u8 nexthdr;	/* IPPROTO_UDP */
	__u8 pad;
} __attribute__((packed));

struct proxy4_tbl_value {
	__be32 orig_daddr;
	__be16 orig_dport;
	__u16 pad1;
	__u32 identity;	/* the sender's security identity */
	__u32 lifetime;	/* bpf_ktime_get_ns() / 1e9 + PROXY4_LIFETIME */
} __attribute__((packed));

#endif /* CILIUM_TS_PROXY_H */
