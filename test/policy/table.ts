// Shared shapes and helpers of the verdict tables (table-*.ts), run by verdicts.test.ts.
import type { EngineOptions, NameDelta, PolicyObject } from '../../policy/index.js';
import type { Expect } from './fixture.js';

export type Check = [from: string, to: string, proto: number, port: number, expect: Expect];

/** One table row group: the upstream behaviour it pins, its policies and the packets checked. */
export interface Scenario {
  pins: string;
  policies: PolicyObject[];
  options?: Partial<EngineOptions>;
  /** What the DNS proxy learned (toFQDNs rows, table-fqdn.ts): name deltas before and after the policies. */
  learned?: Learned;
  checks: Check[];
}

export interface Learned {
  before?: NameDelta[];
  after?: NameDelta[];
}

export const app = (a: string) => ({ matchLabels: { app: a } });
export const tcp = (port: string | number, endPort?: number) => ({
  port: String(port),
  protocol: 'TCP',
  ...(endPort ? { endPort } : {}),
});
export const ports = (...p: object[]) => [{ ports: p }];
export const NS = 'k8s:io.kubernetes.pod.namespace';
export const noLocalhost = { allowLocalhost: false };
