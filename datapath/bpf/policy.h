/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Policy lookup for lxc.bpf.c. Two longest-prefix lookups in the endpoint's LPM trie: one with
 * the remote identity, one with identity 0 ("any"), because the identity is never
 * prefix-wildcarded. Deny in either result wins; otherwise an allow in either admits, reporting
 * the more specific match; no match is the default-deny DROP_POLICY. Within one identity, deny
 * beating a more specific allow is the map writer's job (datapath/policy-entries.ts removes allow
 * entries a shorter deny covers), as in upstream's map state.
 */
#ifndef CILIUM_TS_POLICY_H
#define CILIUM_TS_POLICY_H

struct policy_result {
	int verdict;		/* 0 allow, DROP_* */
	__u8 match;		/* enum policy_match */
	__u8 auth_type;
	__u16 proxy_port;	/* host order; non-zero: an allow that goes to the node's proxy */
	__u32 cookie;
};

static __always_inline __u8 match_type(const struct policy_entry *e, int any_identity)
{
	__u8 plen = e->flags >> POLICY_PREFIX_SHIFT;

	if (plen == 0)
		return any_identity ? POLICY_MATCH_ALL : POLICY_MATCH_L3_ONLY;
	if (plen <= 8)
		return any_identity ? POLICY_MATCH_PROTO_ONLY : POLICY_MATCH_L3_PROTO;
	return any_identity ? POLICY_MATCH_L4_ONLY : POLICY_MATCH_L3_L4;
}

static __always_inline struct policy_result policy_lookup(__u16 ep_id, __u32 peer, __u8 dir,
							  const struct pkt *p)
{
	struct policy_result r = { .verdict = DROP_POLICY };
	__u32 id = ep_id;
	void *inner = bpf_map_lookup_elem(&cilium_policy_v2, &id);

	if (!inner) {
		r.verdict = DROP_NO_CONFIG;
		return r;
	}
	struct policy_key k = {
		.prefixlen = POLICY_FULL_PREFIX,
		.sec_label = peer,
		.egress = dir == METRIC_EGRESS,
		.protocol = p->nexthdr,
		.dport = p->policy_port,
	};
	struct policy_entry *l3 = bpf_map_lookup_elem(inner, &k);

	k.sec_label = IDENTITY_UNKNOWN;
	struct policy_entry *any = bpf_map_lookup_elem(inner, &k);
	struct policy_entry *pick = 0;
	int pick_any = 0;

	if (l3 && (l3->flags & POLICY_F_DENY)) {
		pick = l3;
	} else if (any && (any->flags & POLICY_F_DENY)) {
		pick = any;
		pick_any = 1;
	} else if (l3 && any) {
		/* both allow: report the more specific one (identity wins a tie) */
		pick_any = (any->flags >> POLICY_PREFIX_SHIFT) > (l3->flags >> POLICY_PREFIX_SHIFT);
		pick = pick_any ? any : l3;
	} else if (l3) {
		pick = l3;
	} else if (any) {
		pick = any;
		pick_any = 1;
	}
	if (!pick)
		return r;
	r.verdict = (pick->flags & POLICY_F_DENY) ? DROP_POLICY_DENY : 0;
	r.match = match_type(pick, pick_any);
	r.cookie = pick->cookie;
	r.auth_type = pick->auth_type;
	if (r.verdict == 0)
		r.proxy_port = bpf_ntohs(pick->proxy_port);
	return r;
}

#endif /* CILIUM_TS_POLICY_H */
