// The operator's duties in kvstore mode (upstream's operator with `kvstore: etcd`): the heartbeat
// `cilium/.heartbeat` every minute under its own session lease — without it the agents report the
// kvstore unhealthy — and the identity GC over the master keys every `identity-gc-interval`
// (mark in one round, delete in the next). Both are safe with two replicas running them (the
// heartbeat is idempotent, the GC deletes only unchanged keys), so they do not wait for the lease.
import type { Logger } from 'pino';
import { Kvstore } from '../kvstore/client.js';
import { HeartbeatWriter } from '../kvstore/heartbeat.js';
import { KvIdentityGc } from '../kvstore/identity-gc.js';
import type { KvstoreOptions } from '../kvstore/options.js';

export interface OperatorKvstoreOptions {
  kvstore: KvstoreOptions;
  /** `identity-gc-interval` (upstream uses the lease TTL in kvstore mode when it is unset). */
  identityGcIntervalMs: number;
  clusterId?: number;
  log: Logger;
}

export class OperatorKvstore {
  readonly kv: Kvstore;
  readonly heartbeat: HeartbeatWriter;
  private readonly gc: KvIdentityGc;
  private gcTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: OperatorKvstoreOptions) {
    this.kv = new Kvstore(o.kvstore);
    this.heartbeat = new HeartbeatWriter(this.kv);
    this.gc = new KvIdentityGc(this.kv, o.clusterId ?? 0);
  }

  start(): void {
    this.heartbeat.start();
    this.gcTimer = setInterval(() => void this.gcRound(), this.o.identityGcIntervalMs);
    this.o.log.info(
      { endpoints: this.o.kvstore.endpoints, heartbeatIntervalMs: this.o.kvstore.heartbeatIntervalMs },
      'kvstore heartbeat and identity GC started',
    );
  }

  private async gcRound(): Promise<void> {
    try {
      const r = await this.gc.round();
      if (r.marked || r.deleted) this.o.log.info(r, 'kvstore identity GC');
    } catch (e) {
      this.o.log.warn({ err: (e as Error).message }, 'kvstore identity GC round failed (etcd away?)');
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.gcTimer);
    this.heartbeat.stop();
    await this.kv.close();
  }
}
