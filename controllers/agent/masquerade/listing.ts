// `cilium-dbg bpf nat list` as upstream prints it (pkg/maps/nat, the String of a NAT entry): one
// line per direction, the tuple as packets carry it, what the local side becomes, and the age.
//   TCP OUT 10.200.1.5:45000 -> 192.0.2.10:80 XLATE_SRC 172.30.0.1:45000 Created=12sec ago NeedsCT=0
//   TCP IN 192.0.2.10:80 -> 172.30.0.1:45000 XLATE_DST 10.200.1.5:45000 Created=12sec ago NeedsCT=0
import type { NatListEntry } from '../../../datapath/snat-kernel.js';

const PROTO: Readonly<Record<number, string>> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP' };

/** `now`: seconds on the clock the datapath stamps with (CLOCK_MONOTONIC, bpf_ktime_get_ns). */
export function natListLines(entries: readonly NatListEntry[], now: number): string[] {
  const sorted = [...entries].sort(
    (a, b) =>
      a.proto - b.proto ||
      (a.direction === b.direction ? 0 : a.direction === 'egress' ? -1 : 1) ||
      a.saddr.localeCompare(b.saddr) ||
      a.sport - b.sport ||
      a.dport - b.dport,
  );
  return sorted.map((e) => {
    const out = e.direction === 'egress';
    const age = Math.max(0, now - e.created);
    return [
      PROTO[e.proto] ?? String(e.proto),
      out ? 'OUT' : 'IN',
      `${e.saddr}:${e.sport}`,
      '->',
      `${e.daddr}:${e.dport}`,
      out ? 'XLATE_SRC' : 'XLATE_DST',
      `${e.toAddr}:${e.toPort}`,
      `Created=${age}sec ago`,
      'NeedsCT=0',
    ].join(' ');
  });
}
