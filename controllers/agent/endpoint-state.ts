// One endpoint as the agent keeps it, and its state file: with the pinned maps, the state files
// are what lets a restarted agent take its endpoints back without touching their traffic.
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EndpointState } from './api/types.js';

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

  /** Writes atomically (rename), so a crash leaves the old or the new file, never half of one. */
  save(ep: Endpoint): void {
    const tmp = `${this.path(ep.id)}.tmp`;
    writeFileSync(tmp, JSON.stringify(ep, null, 2));
    renameSync(tmp, this.path(ep.id));
  }

  remove(id: number): void {
    rmSync(this.path(id), { force: true });
  }

  /** Every saved endpoint; unreadable files are reported and skipped, never fatal. */
  load(onError: (file: string, e: Error) => void = () => undefined): Endpoint[] {
    const out: Endpoint[] = [];
    for (const f of readdirSync(this.dir)) {
      if (!f.endsWith('.json')) continue;
      try {
        out.push(JSON.parse(readFileSync(join(this.dir, f), 'utf8')) as Endpoint);
      } catch (e) {
        onError(f, e as Error);
      }
    }
    return out;
  }
}
