// One endpoint as the agent keeps it, and its state file: with the pinned maps, the state files
// are what lets a restarted agent take its endpoints back without touching their traffic.
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { EndpointState } from './api/types.js';
import { isIpv4 } from './api/validate.js';
import { removeFileDurably, writeFileDurably } from './durable-file.js';

export interface Endpoint {
  /** Node-local endpoint id (1..65535), the key of the per-endpoint policy map. */
  id: number;
  attachmentId: string;
  containerId: string;
  containerIfName: string;
  hostIfName: string;
  ifindex: number;
  mac: string;
  hostMac: string;
  ipv4: string;
  podName: string;
  namespace: string;
  podUid?: string;
  identity?: number;
  identityLabels?: string[];
  state: EndpointState;
  namedPorts?: { name: string; port: number; protocol: string }[];
}

export class EndpointStateDir {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  private path(id: number): string {
    return join(this.dir, `${id}.json`);
  }

  /** Writes durably (fsync, rename, fsync of the directory): a crash leaves the old or the new file. */
  save(ep: Endpoint): void {
    writeFileDurably(this.path(ep.id), JSON.stringify(ep, null, 2));
  }

  remove(id: number): void {
    removeFileDurably(this.path(id));
  }

  /**
   * Every saved endpoint. A file that is not JSON (truncated), not an endpoint (`null`, `{}`), or
   * another endpoint's (its id is not its name) is reported with the reason and skipped, never
   * fatal; `skipped` gets the endpoint id its name says, so the caller can recover its address.
   */
  load(onError: (file: string, e: Error, id?: number) => void = () => undefined): Endpoint[] {
    const out: Endpoint[] = [];
    for (const f of readdirSync(this.dir)) {
      if (!f.endsWith('.json')) continue;
      const named = /^(\d+)\.json$/.exec(f);
      const id = named ? Number(named[1]) : undefined;
      try {
        const ep = JSON.parse(readFileSync(join(this.dir, f), 'utf8')) as unknown;
        const why = invalidEndpoint(ep, id);
        if (why) throw new Error(why);
        out.push(ep as Endpoint);
      } catch (e) {
        onError(f, e as Error, id);
      }
    }
    return out;
  }
}

/** Why a parsed state file is not an endpoint this agent wrote for `id`; undefined when it is. */
export function invalidEndpoint(v: unknown, id: number | undefined): string | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return 'not an endpoint object';
  const e = v as Partial<Record<keyof Endpoint, unknown>>;
  if (typeof e.id !== 'number' || !Number.isInteger(e.id) || e.id < 1 || e.id > 65535)
    return 'no endpoint id in 1..65535';
  if (id !== undefined && e.id !== id) return `the file is named for endpoint ${id} but holds endpoint ${e.id}`;
  if (typeof e.ipv4 !== 'string' || !isIpv4(e.ipv4)) return 'no IPv4 address';
  for (const k of ['attachmentId', 'containerId', 'hostIfName', 'podName', 'namespace'] as const)
    if (typeof e[k] !== 'string' || !e[k]) return `no ${k}`;
  if (typeof e.ifindex !== 'number' || !Number.isInteger(e.ifindex)) return 'no ifindex';
  return undefined;
}
