// Masquerading by iptables (`enable-bpf-masquerade: false`, upstream's legacy path): one rule in
// a chain of ours in the node's nat table, jumped to from POSTROUTING, so that removing it is
// removing our chain and our jump and nothing else. The rule is upstream's "masquerade
// non-cluster" rule narrowed to the node's device: sources in this node's pod CIDR, destinations
// outside the native-routing CIDR. Debian's `iptables` is iptables-nft (hack/setup.sh installs it).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Upstream's chain name for its POSTROUTING nat rules. */
export const MASQ_CHAIN = 'CILIUM_POST_nat';
export const MASQ_COMMENT = 'cilium masquerade non-cluster';

export interface IptablesMasqRule {
  podCidr: string;
  excludeCidr: string;
  device: string;
}

async function iptables(...args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const { stdout } = await run('iptables', ['-w', '5', ...args]);
    return { ok: true, out: stdout };
  } catch (e) {
    return { ok: false, out: (e as { stderr?: string }).stderr ?? (e as Error).message };
  }
}

export function ruleArgs(r: IptablesMasqRule): string[] {
  return [
    '-s',
    r.podCidr,
    '!',
    '-d',
    r.excludeCidr,
    '-o',
    r.device,
    '-m',
    'comment',
    '--comment',
    MASQ_COMMENT,
    '-j',
    'MASQUERADE',
  ];
}

/** Installs (or replaces) our chain with exactly the rule; idempotent across restarts. */
export async function installIptablesMasquerade(r: IptablesMasqRule): Promise<void> {
  if (!(await iptables('-t', 'nat', '-N', MASQ_CHAIN)).ok) await iptables('-t', 'nat', '-F', MASQ_CHAIN);
  const add = await iptables('-t', 'nat', '-A', MASQ_CHAIN, ...ruleArgs(r));
  if (!add.ok) throw new Error(`iptables: cannot add the masquerade rule: ${add.out.trim()}`);
  if (!(await iptables('-t', 'nat', '-C', 'POSTROUTING', '-j', MASQ_CHAIN)).ok) {
    const jump = await iptables('-t', 'nat', '-A', 'POSTROUTING', '-j', MASQ_CHAIN);
    if (!jump.ok) throw new Error(`iptables: cannot jump to ${MASQ_CHAIN}: ${jump.out.trim()}`);
  }
}

/** Removes our jump and chain; true if there was anything. */
export async function removeIptablesMasquerade(): Promise<boolean> {
  let removed = false;
  while ((await iptables('-t', 'nat', '-D', 'POSTROUTING', '-j', MASQ_CHAIN)).ok) removed = true;
  if ((await iptables('-t', 'nat', '-F', MASQ_CHAIN)).ok) removed = true;
  await iptables('-t', 'nat', '-X', MASQ_CHAIN);
  return removed;
}

/** Our rules as `iptables -S` prints them (status, tests). */
export async function listIptablesMasquerade(): Promise<string[]> {
  const r = await iptables('-t', 'nat', '-S', MASQ_CHAIN);
  return r.ok ? r.out.split('\n').filter((l) => l.startsWith('-A ')) : [];
}
