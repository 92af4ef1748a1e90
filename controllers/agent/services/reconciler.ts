// The agent's Service load balancing: Services and EndpointSlices from the informer caches,
// translated per Service (only the ones that changed), and only those Services' frontends written
// to the LB maps, batched per event-loop turn: one change costs the same at 10 or 10,000 Services. Nothing is written before both caches
// have synced, so a restarting agent never clears pinned maps that are still right: its first
// sync finds them equal and writes nothing.
import type { Logger } from 'pino';
import { Counter, Histogram, type Registry } from 'prom-client';
import { backendAddr, frontendId, type LbProto, type LbService, type LbSyncResult } from '../../../datapath/lb.js';
import type { LoadBalancer } from '../../../datapath/lb-kernel.js';
import type { Store } from '../../framework/index.js';
import {
  sliceServiceKey,
  translateService,
  type EndpointSliceObject,
  type ServiceObject,
  type TranslateContext,
  type TranslateEvent,
} from './translate.js';

export interface ServiceLbDeps {
  lb: LoadBalancer;
  services: Store<ServiceObject>;
  slices: Store<EndpointSliceObject>;
  /** read at each translation: node addresses arrive after start */
  context: () => TranslateContext;
  log: Logger;
  registry: Registry;
}

/** The index of the slice cache that finds a Service's slices. */
export const SLICES_BY_SERVICE = 'service';
export const sliceIndexers = {
  [SLICES_BY_SERVICE]: (s: EndpointSliceObject) => {
    const k = sliceServiceKey(s);
    return k ? [k] : [];
  },
};

export class ServiceLoadBalancer {
  private readonly translated = new Map<string, LbService[]>();
  /** frontendId() -> the Services whose translation has that frontend */
  private readonly claims = new Map<string, Set<string>>();
  /** frontendId() -> the frontend as last handed to the load balancer */
  private readonly owned = new Map<string, LbService>();
  /** backendAddr() -> the frontends whose slots name it (Hubble's service of a backend) */
  private readonly byBackend = new Map<string, Set<string>>();
  /** the next write compares every frontend (the first one, and after a failure) */
  private fullWrite = true;
  private readonly dirty = new Set<string>();
  private readonly unsubscribe: () => void;
  private timer?: NodeJS.Immediate;
  private open = false;
  private firstSeen = new Map<string, number>();
  private readonly events: Counter<'action'>;
  private readonly terminating: Counter;
  private readonly delay: Histogram<'action'>;
  lastResult?: LbSyncResult;

  constructor(private readonly d: ServiceLbDeps) {
    // the cache still has a deleted slice's labels (or a relabelled slice's old ones): refresh that Service
    this.unsubscribe = d.slices.subscribe((c) => {
      if (c.type !== 'deleted' && c.type !== 'updated') return;
      const owner = sliceServiceKey(c.type === 'deleted' ? c.object : c.old);
      if (owner) this.markDirty(owner);
    });
    const registers = [d.registry];
    this.events = new Counter({
      name: 'cilium_services_events_total',
      help: 'Number of services events labeled by action type',
      labelNames: ['action'],
      registers,
    });
    this.terminating = new Counter({
      name: 'cilium_k8s_terminating_endpoints_events_total',
      help: 'Number of terminating endpoint events received from Kubernetes',
      registers,
    });
    this.delay = new Histogram({
      name: 'cilium_service_implementation_delay',
      help: 'Duration in seconds to propagate the data plane programming of a service, its network and endpoints from the time the service or the service pod was changed excluding the event queue latency',
      labelNames: ['action'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
  }

  /** A Service changed (or went away). */
  onService(key: string): void {
    this.markDirty(key);
  }

  /** An EndpointSlice changed: its Service is translated again (deletions: see the constructor). */
  onSlice(key: string): void {
    const slice = this.d.slices.get(key);
    const owner = slice ? sliceServiceKey(slice) : undefined;
    if (owner) this.markDirty(owner);
    if (slice?.endpoints?.some((e) => e.conditions?.terminating === true)) this.terminating.inc();
  }

  private markDirty(serviceKey: string): void {
    this.dirty.add(serviceKey);
    if (!this.firstSeen.has(serviceKey)) this.firstSeen.set(serviceKey, performance.now());
    this.schedule();
  }

  /** Starts writing: called once both caches have synced. Returns the first sync's result. */
  start(): LbSyncResult | undefined {
    this.open = true;
    for (const k of this.d.services.keys()) this.dirty.add(k);
    return this.sync();
  }

  private schedule(): void {
    if (this.timer || !this.open) return;
    this.timer = setImmediate(() => {
      this.timer = undefined;
      this.sync();
    });
  }

  /**
   * Translates the Services that changed and writes only their frontends (the first write, and
   * the one after a failed write, diff everything); failures are logged and retried on the next change.
   */
  sync(): LbSyncResult | undefined {
    const ctx = this.d.context();
    const changed = [...this.dirty];
    this.dirty.clear();
    const events: TranslateEvent[] = [];
    const touched = new Set<string>();
    for (const key of changed) {
      const svc = this.d.services.get(key);
      const had = this.translated.has(key);
      for (const s of this.translated.get(key) ?? []) this.unclaim(frontendId(s.frontend), key, touched);
      if (!svc) {
        if (had) this.events.inc({ action: 'delete' });
        this.translated.delete(key);
        continue;
      }
      const r = translateService(svc, this.d.slices.byIndex(SLICES_BY_SERVICE, key), ctx);
      events.push(...r.events);
      this.translated.set(key, r.services);
      for (const s of r.services) this.claim(frontendId(s.frontend), key, touched);
      this.events.inc({ action: had ? 'update' : 'add' });
    }
    for (const e of events) this.d.log.debug({ event: e }, 'service translation');
    const changes = new Map<string, LbService | undefined>();
    for (const fid of touched) {
      const s = this.ownerOf(fid);
      const was = this.owned.get(fid);
      if (s === was) continue;
      changes.set(fid, s);
      if (s) this.owned.set(fid, s);
      else this.owned.delete(fid);
      this.index(fid, was, s);
    }
    try {
      this.lastResult = this.fullWrite ? this.d.lb.syncServices(this.desired()) : this.d.lb.updateServices(changes);
      this.fullWrite = false;
    } catch (e) {
      this.d.log.error(
        { err: (e as Error).message },
        'writing the load-balancer maps failed; retrying on the next change',
      );
      // a write may have stopped half way: the next one compares everything again
      this.fullWrite = true;
      for (const k of changed) this.dirty.add(k);
      return undefined;
    }
    const now = performance.now();
    for (const k of changed) {
      const t0 = this.firstSeen.get(k);
      this.firstSeen.delete(k);
      if (t0 !== undefined)
        this.delay.observe({ action: this.translated.has(k) ? 'add' : 'delete' }, (now - t0) / 1000);
    }
    return this.lastResult;
  }

  private claim(fid: string, key: string, touched: Set<string>): void {
    let c = this.claims.get(fid);
    if (!c) this.claims.set(fid, (c = new Set()));
    c.add(key);
    touched.add(fid);
  }

  private unclaim(fid: string, key: string, touched: Set<string>): void {
    const c = this.claims.get(fid);
    c?.delete(key);
    if (c?.size === 0) this.claims.delete(fid);
    touched.add(fid);
  }

  private index(fid: string, was: LbService | undefined, now: LbService | undefined): void {
    for (const b of was?.backends ?? []) {
      const k = backendAddr(b);
      const set = this.byBackend.get(k);
      set?.delete(fid);
      if (set?.size === 0) this.byBackend.delete(k);
    }
    for (const b of now?.backends ?? []) {
      const k = backendAddr(b);
      let set = this.byBackend.get(k);
      if (!set) this.byBackend.set(k, (set = new Set()));
      set.add(fid);
    }
  }

  /**
   * The Service ("namespace/name") an address:port belongs to, as a frontend or as a backend taking
   * its new connections (what Hubble names as a flow's source or destination service).
   */
  serviceAt(address: string, port: number, proto: LbProto): string | undefined {
    const fid = frontendId({ address, port, proto });
    const direct = this.owned.get(fid)?.name;
    if (direct) return direct;
    for (const f of this.byBackend.get(backendAddr({ address, port, proto })) ?? []) {
      const name = this.owned.get(f)?.name;
      if (name) return name;
    }
    return undefined;
  }

  /** A frontend two Services claim goes to the first by key, as the maps hold one. */
  private ownerOf(fid: string): LbService | undefined {
    const c = this.claims.get(fid);
    if (!c) return undefined;
    let owner: string | undefined;
    for (const k of c) if (owner === undefined || k < owner) owner = k;
    return this.translated.get(owner!)?.find((s) => frontendId(s.frontend) === fid);
  }

  /** Every frontend with the Service that owns it. */
  desired(): LbService[] {
    return [...this.owned.values()];
  }

  /** frontendId() -> "namespace/name", for listings. */
  names(): Map<string, string> {
    const out = new Map<string, string>();
    for (const s of this.desired()) if (s.name) out.set(frontendId(s.frontend), s.name);
    return out;
  }

  stop(): void {
    this.unsubscribe();
    if (this.timer) clearImmediate(this.timer);
    this.timer = undefined;
    this.open = false;
  }
}
