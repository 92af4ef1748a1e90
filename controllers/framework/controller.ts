// A controller: a primary watch feeding a store and a work queue, secondary watches mapped to
// primary keys, and workers calling `reconcile(key, ctx) → Action`. Level-triggered: a reconcile
// reads the whole state from the cache; finalizers, status writes and error handling are here so
// that reconcilers only compute and apply the desired state.
import type { Logger } from 'pino';
import type { KubeClient, ResourceRef } from './client.js';
import { realClock, type Clock } from './clock.js';
import { setCondition, statusUnchanged, type Condition } from './conditions.js';
import { FrameworkError, PermanentError, TemporaryError, isNotFound } from './errors.js';
import type { EventRecorder } from './events.js';
import type { ControllerCell, FrameworkMetrics } from './metrics.js';
import { WorkQueue, type QueueOptions } from './queue.js';
import { Store, type StoreChange, type StoreOptions } from './store.js';
import { objectKey, splitKey, type KubeObject } from './types.js';
import { watcher, type WatcherOptions } from './watcher.js';

/** What a reconcile asks for next. */
export type Action = { type: 'requeue'; afterMs: number } | { type: 'await-change' };
/** One frozen value: most reconciles return it, and an object each was garbage per reconcile. */
const AWAIT_CHANGE: Action = Object.freeze({ type: 'await-change' });
export const Action = {
  requeue: (afterMs: number): Action => ({ type: 'requeue', afterMs }),
  awaitChange: (): Action => AWAIT_CHANGE,
};

export interface ReconcileContext<T extends KubeObject> {
  key: string;
  /** The object from the cache; undefined when it is gone. */
  object: T | undefined;
  client: KubeClient;
  store: Store<T>;
  log: Logger;
  signal: AbortSignal;
  /** Writes `status` on the status subresource unless it equals the cached one. Returns whether it wrote. */
  patchStatus(status: Record<string, unknown>): Promise<boolean>;
  /** Sets one condition (with observedGeneration) through patchStatus. */
  setCondition(condition: Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>): Promise<boolean>;
  event(type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

/** A watch of another kind whose changes enqueue primary keys. */
export interface SecondaryWatch<S extends KubeObject = KubeObject> {
  resource: ResourceRef;
  /** `owner`: enqueue the controlling owner of the primary kind; or a custom mapper. */
  mapper: 'owner' | ((obj: S) => string[]);
  watcherOptions?: WatcherOptions;
}

export interface ControllerOptions<T extends KubeObject> {
  /** Names the controller in metrics, logs, events and the status field manager. */
  name: string;
  resource: ResourceRef;
  /**
   * Absent: an informer only — the store is filled, synced and watched (others subscribe to it),
   * but no key is queued and no worker runs: a no-op reconcile per object cost a queue entry, a
   * context and a promise each (50,000 of them right after a restarted agent's CEP list).
   */
  reconcile?(key: string, ctx: ReconcileContext<T>): Promise<Action>;
  /**
   * Registering cleanup adds `finalizer` to every object; on deletion cleanup runs, then the
   * finalizer is removed. A cleanup that throws is retried with backoff.
   */
  cleanup?(object: T, ctx: ReconcileContext<T>): Promise<void>;
  /** Defaults to `<name>.cilium.io/cleanup`. */
  finalizer?: string;
  secondary?: SecondaryWatch[];
  /**
   * Skip updates that change neither metadata.generation nor labels, annotations, finalizers or
   * deletion: our own status writes then cause no reconcile. The periodic resync still heals.
   */
  generationFilter?: boolean;
  /** Every key is reconciled again after this long even without changes (10 h). */
  resyncMs?: number;
  /** Concurrent reconciles (different keys only). */
  concurrency?: number;
  watcher?: WatcherOptions;
  store?: StoreOptions<T>;
  queue?: QueueOptions;
  /** Condition type set to False with the message when a reconcile fails permanently. */
  permanentErrorCondition?: string;
  clock?: Clock;
}

export interface ControllerDeps {
  client: KubeClient;
  log: Logger;
  metrics: FrameworkMetrics;
  recorder: EventRecorder;
}

function metaChanged(a: KubeObject, b: KubeObject): boolean {
  const x = a.metadata ?? {};
  const y = b.metadata ?? {};
  return (
    x.generation !== y.generation ||
    x.deletionTimestamp !== y.deletionTimestamp ||
    !statusUnchanged(x.labels, y.labels) ||
    !statusUnchanged(x.annotations, y.annotations) ||
    !statusUnchanged(x.finalizers, y.finalizers)
  );
}

export class Controller<T extends KubeObject> {
  readonly store: Store<T>;
  readonly queue: WorkQueue;
  readonly finalizer: string;
  private readonly clock: Clock;
  /** Active workers and results as numbers, handed to prom-client when scraped (metrics.ts). */
  private readonly cell: ControllerCell;

  constructor(
    readonly o: ControllerOptions<T>,
    private readonly deps: ControllerDeps,
  ) {
    this.clock = o.clock ?? realClock;
    this.store = new Store<T>(o.store);
    this.queue = new WorkQueue({ clock: this.clock, ...o.queue }, deps.metrics.queueHooks(o.name));
    this.finalizer = o.finalizer ?? `${o.name}.cilium.io/cleanup`;
    this.cell = deps.metrics.controllerCell(o.name);
    if (o.reconcile) this.store.subscribe((c) => this.onChange(c));
    deps.metrics.maxConcurrent.set({ controller: o.name }, o.concurrency ?? 1);
  }

  private onChange(c: StoreChange<T>): void {
    if (c.type === 'synced') return;
    if (c.type === 'updated' && (this.o.generationFilter ?? true) && !metaChanged(c.old, c.object)) {
      const hasGeneration = c.object.metadata?.generation !== undefined;
      if (hasGeneration) return;
    }
    this.queue.add(c.key, this.store.ready ? 'live' : 'initial');
  }

  /** Runs watches and workers until `signal` aborts, then waits for in-flight reconciles. */
  async run(signal: AbortSignal): Promise<void> {
    // a run after an aborted one (leadership lost, then won back) starts with an open queue
    this.queue.reopen();
    const feeds = [this.feed(this.o.resource, this.o.watcher ?? {}, signal, (ev) => this.store.apply(ev))];
    for (const s of this.o.secondary ?? []) {
      feeds.push(
        this.feed(s.resource, s.watcherOptions ?? {}, signal, (ev) => {
          if (ev.type === 'Apply' || ev.type === 'Delete' || ev.type === 'InitApply') {
            for (const key of this.mapSecondary(s, ev.object))
              this.queue.add(key, ev.type === 'InitApply' ? 'initial' : 'live');
          } else if (ev.type === 'InitPage') {
            for (const object of ev.objects)
              for (const key of this.mapSecondary(s, object)) this.queue.add(key, 'initial');
          }
        }),
      );
    }
    if (!this.o.reconcile) {
      await Promise.all(feeds);
      return;
    }
    const resync = setInterval(
      () => {
        for (const key of this.store.keys()) this.queue.add(key, 'initial');
      },
      this.o.resyncMs ?? 10 * 3600_000,
    );
    resync.unref();
    const workers = Array.from({ length: this.o.concurrency ?? 1 }, () => this.worker(signal));
    signal.addEventListener('abort', () => this.queue.shutdown(), { once: true });
    await Promise.all([...feeds, ...workers]);
    clearInterval(resync);
  }

  private mapSecondary(s: SecondaryWatch, obj: KubeObject): string[] {
    if (typeof s.mapper === 'function') return s.mapper(obj);
    const owner = obj.metadata?.ownerReferences?.find((r) => r.controller && r.kind === this.o.resource.kind);
    if (!owner) return [];
    return [
      this.o.resource.namespaced && obj.metadata?.namespace ? `${obj.metadata.namespace}/${owner.name}` : owner.name,
    ];
  }

  private async feed(
    res: ResourceRef,
    wo: WatcherOptions,
    signal: AbortSignal,
    sink: (ev: Parameters<Store<T>['apply']>[0]) => void,
  ) {
    for await (const ev of watcher<T>(this.deps.client, res, { clock: this.clock, ...wo }, signal)) {
      if (ev.type === 'Error')
        this.deps.log.warn(
          { controller: this.o.name, resource: res.plural, err: ev.error.message, retryInMs: ev.retryInMs },
          'watch error; retrying',
        );
      sink(ev);
    }
  }

  private async worker(signal: AbortSignal): Promise<void> {
    // A worker returns only between reconciles, so awaiting the workers awaits every reconcile in flight.
    // A key already waiting is taken without a promise (one fewer allocation and tick per reconcile),
    // and a reconcile that succeeds costs one await, of its own promise: the path is inlined here,
    // not an async step of its own (each await allocates its continuation; 10,000 keys at the first
    // sync made the garbage that a scavenge of the whole fresh cache then had to copy).
    const name = this.o.name;
    for (;;) {
      const key = this.queue.poll() ?? (await this.queue.get());
      if (key === undefined || signal.aborted) return;
      this.cell.active++;
      const object = this.store.get(key);
      const ctx = new Context(this, this.deps, key, object, signal);
      let result = 'success';
      try {
        try {
          const action = await this.reconcileWithFinalizer(key, object, ctx);
          this.queue.forget(key);
          if (action.type === 'requeue') {
            result = 'requeue_after';
            this.queue.addAfter(key, action.afterMs);
          }
        } catch (e) {
          this.deps.metrics.reconcileErrors.inc({ controller: name });
          result = e instanceof TemporaryError && e.delayMs !== undefined ? 'requeue' : 'error';
          await this.failed(key, ctx, e);
        }
      } finally {
        this.cell.results.set(result, (this.cell.results.get(result) ?? 0) + 1);
        // the reconcile's time is the queue's work span (taken → done): one clock reading, not three
        const workMs = this.queue.done(key);
        this.cell.active--;
        this.cell.reconcileTime.observe(workMs / 1000);
      }
    }
  }

  /** A failed reconcile: a permanent error is reported and not retried; others come back after a delay. */
  private async failed(key: string, ctx: ReconcileContext<T>, e: unknown): Promise<void> {
    const name = this.o.name;
    const log = this.deps.log;
    if (e instanceof PermanentError) {
      this.queue.forget(key);
      log.error({ controller: name, key, err: e.message }, 'reconcile failed permanently; not retrying');
      await ctx.event('Warning', 'ReconcileFailed', e.message);
      if (this.o.permanentErrorCondition) {
        await ctx
          .setCondition({
            type: this.o.permanentErrorCondition,
            status: 'False',
            reason: 'ReconcileFailed',
            message: e.message,
          })
          .catch(() => undefined);
      }
    } else if (e instanceof TemporaryError && e.delayMs !== undefined) {
      this.queue.addAfter(key, e.delayMs);
    } else {
      const delay = this.queue.addRateLimited(key);
      log.warn({ controller: name, key, err: (e as Error).message, retryInMs: delay }, 'reconcile failed; retrying');
    }
  }

  /** Writes `status` unless it equals the cached one (ReconcileContext.patchStatus). */
  async patchStatusOf(key: string, object: T | undefined, status: Record<string, unknown>): Promise<boolean> {
    const current = this.store.get(key) ?? object;
    if (!current || statusUnchanged((current as { status?: unknown }).status, status)) return false;
    const { namespace, name } = splitKey(key);
    await this.deps.client.patch(this.o.resource, name, namespace, { status }, 'merge', {
      subresource: 'status',
      fieldManager: this.o.name,
    });
    return true;
  }

  /** Keys whose reconcile has been running longer than `ms` (a stuck controller). */
  runningLongerThan(ms: number): string[] {
    return this.queue.processingLongerThan(ms);
  }

  /** Not async on the common path: the reconcile's own promise is returned, not wrapped in another. */
  private reconcileWithFinalizer(key: string, object: T | undefined, ctx: ReconcileContext<T>): Promise<Action> {
    if (!this.o.cleanup || !object) return this.o.reconcile!(key, ctx);
    return this.finalize(key, object, ctx);
  }

  private async finalize(key: string, object: T, ctx: ReconcileContext<T>): Promise<Action> {
    const cleanup = this.o.cleanup!;
    const { namespace, name } = splitKey(key);
    const finalizers = object.metadata?.finalizers ?? [];
    const has = finalizers.includes(this.finalizer);
    if (object.metadata?.deletionTimestamp) {
      if (!has) return Action.awaitChange();
      await cleanup(object, ctx);
      await this.patchFinalizers(
        name,
        namespace,
        object,
        finalizers.filter((f) => f !== this.finalizer),
      );
      return Action.awaitChange();
    }
    if (!has) await this.patchFinalizers(name, namespace, object, [...finalizers, this.finalizer]);
    return this.o.reconcile!(key, ctx);
  }

  /** JSON patch guarded by the resourceVersion, so a concurrent finalizer change is not lost. */
  private async patchFinalizers(
    name: string,
    namespace: string | undefined,
    obj: T,
    finalizers: string[],
  ): Promise<void> {
    const ops = [
      { op: 'test', path: '/metadata/resourceVersion', value: obj.metadata?.resourceVersion },
      { op: obj.metadata?.finalizers ? 'replace' : 'add', path: '/metadata/finalizers', value: finalizers },
    ];
    try {
      await this.deps.client.patch(this.o.resource, name, namespace, ops, 'json', { fieldManager: this.o.name });
    } catch (e) {
      if (isNotFound(e)) return;
      throw FrameworkError.is(e) ? new TemporaryError(`finalizer update of ${objectKey(obj)}: ${e.message}`) : e;
    }
  }
}

/**
 * One reconcile's context. A class, not an object of closures: one allocation per reconcile, where
 * closures were four (a tenth of a reconcile's cost at 10,000 keys); the child logger is made on
 * first use (most reconciles log nothing, and a pino child costs as much as a reconcile).
 */
class Context<T extends KubeObject> implements ReconcileContext<T> {
  private childLog: Logger | undefined;
  constructor(
    private readonly controller: Controller<T>,
    private readonly deps: ControllerDeps,
    readonly key: string,
    readonly object: T | undefined,
    readonly signal: AbortSignal,
  ) {}
  get client(): KubeClient {
    return this.deps.client;
  }
  get store(): Store<T> {
    return this.controller.store;
  }
  get log(): Logger {
    return (this.childLog ??= this.deps.log.child({ controller: this.controller.o.name, key: this.key }));
  }
  patchStatus(status: Record<string, unknown>): Promise<boolean> {
    return this.controller.patchStatusOf(this.key, this.object, status);
  }
  setCondition(c: Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>): Promise<boolean> {
    const current = (this.controller.store.get(this.key) ?? this.object) as
      (T & { status?: { conditions?: Condition[] } }) | undefined;
    if (!current) return Promise.resolve(false);
    const conditions = setCondition(current.status?.conditions, {
      ...c,
      observedGeneration: current.metadata?.generation,
    });
    return this.patchStatus({ ...(current.status ?? {}), conditions });
  }
  event(type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    return this.object ? this.deps.recorder.record(this.object, type, reason, message) : Promise.resolve();
  }
}
