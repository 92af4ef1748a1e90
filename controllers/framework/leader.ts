// Leader election on a coordination.k8s.io/v1 Lease (client-go's algorithm): acquire when the
// lease is free or expired, renew every retry period, give up leadership when renewals fail for
// the renew deadline, release on shutdown so the next candidate need not wait a full lease.
import type { KubeClient, ResourceRef } from './client.js';
import { realClock, type Clock } from './clock.js';
import { isConflict, isNotFound } from './errors.js';
import type { KubeObject } from './types.js';

export const LEASES: ResourceRef = {
  group: 'coordination.k8s.io',
  version: 'v1',
  plural: 'leases',
  kind: 'Lease',
  namespaced: true,
};

export interface LeaderElectionOptions {
  /** Lease name and namespace, e.g. `cilium-operator-resource-lock` in `kube-system`. */
  name: string;
  namespace: string;
  /** This candidate's identity (hostname + random suffix is customary). */
  identity: string;
  /** How long a lease is valid after its last renewal; non-leaders wait this long before taking over. */
  leaseDurationMs?: number;
  /** The leader steps down when it could not renew for this long (must be < leaseDuration). */
  renewDeadlineMs?: number;
  /** How often candidates try to acquire and the leader renews. */
  retryPeriodMs?: number;
  clock?: Clock;
}

export const LEADER_DEFAULTS = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

interface Lease extends KubeObject {
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

const microTime = (ms: number) => new Date(ms).toISOString().replace('Z', '000Z');

export class LeaderElector {
  private readonly o: Required<Omit<LeaderElectionOptions, 'clock'>>;
  private readonly clock: Clock;
  private leading = false;
  /** Observed holder and when we saw its renewTime change (we trust our clock, not theirs). */
  private observed: { holder?: string; renewTime?: string; at: number } = { at: 0 };

  constructor(
    private readonly client: KubeClient,
    options: LeaderElectionOptions,
  ) {
    this.o = { ...LEADER_DEFAULTS, ...options };
    this.clock = options.clock ?? realClock;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * Campaigns until leading, then keeps renewing; calls `onStarted` on winning and `onStopped` on
   * losing the lease. Returns when `signal` aborts (after releasing the lease if held).
   */
  async run(signal: AbortSignal, onStarted: () => void, onStopped: () => void): Promise<void> {
    let lastRenew = 0;
    while (!signal.aborted) {
      const ok = await this.tryAcquireOrRenew().catch(() => false);
      const now = this.clock.now();
      if (ok) {
        lastRenew = now;
        if (!this.leading) {
          this.leading = true;
          onStarted();
        }
      } else if (this.leading && now - lastRenew > this.o.renewDeadlineMs) {
        this.leading = false;
        onStopped();
      }
      await this.clock.sleep(this.o.retryPeriodMs, signal);
    }
    if (this.leading) {
      this.leading = false;
      await this.release().catch(() => undefined);
      onStopped();
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.clock.now();
    const spec = {
      holderIdentity: this.o.identity,
      leaseDurationSeconds: Math.ceil(this.o.leaseDurationMs / 1000),
      renewTime: microTime(now),
    };
    let lease: Lease;
    try {
      lease = await this.client.get<Lease>(LEASES, this.o.name, this.o.namespace);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      try {
        await this.client.create<Lease>(LEASES, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.o.name, namespace: this.o.namespace },
          spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 },
        });
        this.observed = { holder: this.o.identity, renewTime: spec.renewTime, at: now };
        return true;
      } catch {
        return false;
      }
    }
    const holder = lease.spec?.holderIdentity;
    if (holder !== this.observed.holder || lease.spec?.renewTime !== this.observed.renewTime) {
      this.observed = { holder, renewTime: lease.spec?.renewTime, at: now };
    }
    const durationMs = (lease.spec?.leaseDurationSeconds ?? 15) * 1000;
    const heldByOther = holder && holder !== this.o.identity;
    if (heldByOther && this.observed.at + durationMs > now) return false;
    const takingOver = holder !== this.o.identity;
    try {
      await this.client.replace<Lease>(LEASES, {
        ...lease,
        spec: {
          ...lease.spec,
          ...spec,
          acquireTime: takingOver ? microTime(now) : lease.spec?.acquireTime,
          leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + (takingOver && holder ? 1 : 0),
        },
      });
      this.observed = { holder: this.o.identity, renewTime: spec.renewTime, at: now };
      return true;
    } catch (e) {
      if (isConflict(e)) return false;
      throw e;
    }
  }

  /** Gives the lease up at once: an empty holder with a 1 s duration. */
  private async release(): Promise<void> {
    const lease = await this.client.get<Lease>(LEASES, this.o.name, this.o.namespace);
    if (lease.spec?.holderIdentity !== this.o.identity) return;
    await this.client.replace<Lease>(LEASES, {
      ...lease,
      spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(this.clock.now()) },
    });
  }
}
