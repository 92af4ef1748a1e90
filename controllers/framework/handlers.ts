// kopf-style handlers as sugar over the level-triggered core: the last handled state of each
// object is kept in an annotation (as kopf does), and each reconcile compares it with the
// current one to call on.create / on.update / on.field / on.resume; on.delete is a cleanup
// (finalizer); on.timer requeues; on.daemon runs a task per object until the object is deleted.
import { isDeepStrictEqual } from 'node:util';
import type { ResourceRef } from './client.js';
import { Action, type ControllerOptions, type ReconcileContext } from './controller.js';
import type { KubeObject } from './types.js';

export const LAST_HANDLED = 'kopf-ts.cilium.io/last-handled-configuration';

export interface DiffEntry {
  op: 'add' | 'change' | 'remove';
  path: string[];
  old: unknown;
  new: unknown;
}

export interface HandlerArgs<T extends KubeObject> {
  object: T;
  old: Essence | undefined;
  new: Essence;
  diff: DiffEntry[];
  ctx: ReconcileContext<T>;
}

/** The part of an object whose changes call handlers (status is the handlers' own output). */
export interface Essence {
  spec?: unknown;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

type Fn<T extends KubeObject> = (a: HandlerArgs<T>) => Promise<void> | void;

export type Handler<T extends KubeObject> =
  | { kind: 'create' | 'update' | 'resume'; fn: Fn<T> }
  | { kind: 'field'; path: string[]; fn: Fn<T> }
  | { kind: 'delete'; fn: (object: T, ctx: ReconcileContext<T>) => Promise<void> | void }
  | { kind: 'timer'; intervalMs: number; fn: (object: T, ctx: ReconcileContext<T>) => Promise<void> | void }
  | { kind: 'daemon'; fn: (object: T, signal: AbortSignal) => Promise<void> };

export const on = {
  create: <T extends KubeObject>(fn: Fn<T>): Handler<T> => ({ kind: 'create', fn }),
  update: <T extends KubeObject>(fn: Fn<T>): Handler<T> => ({ kind: 'update', fn }),
  resume: <T extends KubeObject>(fn: Fn<T>): Handler<T> => ({ kind: 'resume', fn }),
  /** Called when the value at `path` (dotted, e.g. `spec.endpointSelector`) changes. */
  field: <T extends KubeObject>(path: string, fn: Fn<T>): Handler<T> => ({ kind: 'field', path: path.split('.'), fn }),
  delete: <T extends KubeObject>(fn: (object: T, ctx: ReconcileContext<T>) => Promise<void> | void): Handler<T> => ({
    kind: 'delete',
    fn,
  }),
  timer: <T extends KubeObject>(
    intervalMs: number,
    fn: (object: T, ctx: ReconcileContext<T>) => Promise<void> | void,
  ): Handler<T> => ({ kind: 'timer', intervalMs, fn }),
  daemon: <T extends KubeObject>(fn: (object: T, signal: AbortSignal) => Promise<void>): Handler<T> => ({
    kind: 'daemon',
    fn,
  }),
};

export function essenceOf(obj: KubeObject): Essence {
  const { status: _s, metadata, apiVersion: _a, kind: _k, ...rest } = obj;
  const annotations = { ...(metadata?.annotations ?? {}) };
  delete annotations[LAST_HANDLED];
  delete annotations['kubectl.kubernetes.io/last-applied-configuration'];
  return { ...rest, labels: metadata?.labels ?? {}, annotations };
}

/** A structural diff of two values: the leaves that were added, changed or removed. */
export function diff(a: unknown, b: unknown, path: string[] = []): DiffEntry[] {
  if (isDeepStrictEqual(a, b)) return [];
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => diff(a[k], b[k], [...path, k]));
  }
  if (a === undefined) return [{ op: 'add', path, old: undefined, new: b }];
  if (b === undefined) return [{ op: 'remove', path, old: a, new: undefined }];
  return [{ op: 'change', path, old: a, new: b }];
}

const startsWith = (p: string[], prefix: string[]) => prefix.every((x, i) => p[i] === x);

/** Builds controller options that dispatch to kopf-style handlers. */
export function handlerController<T extends KubeObject>(
  name: string,
  resource: ResourceRef,
  handlers: Handler<T>[],
  extra: Partial<ControllerOptions<T>> = {},
): ControllerOptions<T> {
  const seen = new Set<string>();
  const daemons = new Map<string, AbortController>();
  const deletes = handlers.filter((h) => h.kind === 'delete');
  const timers = handlers.filter((h) => h.kind === 'timer');

  const stopDaemon = (key: string) => {
    daemons.get(key)?.abort();
    daemons.delete(key);
  };

  return {
    name,
    resource,
    ...extra,
    // Annotation writes must reach us only as no-ops; generation filtering would hide label edits.
    generationFilter: false,
    async reconcile(key, ctx) {
      const obj = ctx.object;
      if (!obj) {
        stopDaemon(key);
        seen.delete(key);
        return Action.awaitChange();
      }
      const now = essenceOf(obj);
      const raw = obj.metadata?.annotations?.[LAST_HANDLED];
      const last = raw ? (JSON.parse(raw) as Essence) : undefined;
      const firstSight = !seen.has(key);
      seen.add(key);
      const d = diff(last ?? {}, now);
      const args = { object: obj, old: last, new: now, diff: d, ctx };
      if (!last) {
        for (const h of handlers) if (h.kind === 'create') await h.fn(args);
      } else if (d.length) {
        for (const h of handlers) if (h.kind === 'update') await h.fn(args);
        for (const h of handlers) {
          if (h.kind === 'field') {
            const fd = d.filter((e) => startsWith(e.path, h.path));
            if (fd.length) await h.fn({ ...args, diff: fd });
          }
        }
      } else if (firstSight) {
        for (const h of handlers) if (h.kind === 'resume') await h.fn(args);
      }
      if (!last || d.length) {
        await ctx.client.patch(
          resource,
          obj.metadata!.name!,
          obj.metadata?.namespace,
          { metadata: { annotations: { [LAST_HANDLED]: JSON.stringify(now) } } },
          'merge',
          {
            fieldManager: name,
          },
        );
      }
      for (const h of handlers) {
        if (h.kind === 'daemon' && !daemons.has(key) && !obj.metadata?.deletionTimestamp) {
          const ac = new AbortController();
          daemons.set(key, ac);
          void h
            .fn(obj, AbortSignal.any([ac.signal, ctx.signal]))
            .catch((e: Error) => ctx.log.warn({ err: e.message }, 'daemon failed'));
        }
      }
      if (timers.length) {
        for (const t of timers) if (t.kind === 'timer') await t.fn(obj, ctx);
        return Action.requeue(Math.min(...timers.map((t) => (t.kind === 'timer' ? t.intervalMs : Infinity))));
      }
      return Action.awaitChange();
    },
    cleanup: deletes.length
      ? async (obj, ctx) => {
          stopDaemon(ctx.key);
          for (const h of deletes) if (h.kind === 'delete') await h.fn(obj, ctx);
        }
      : undefined,
  };
}
