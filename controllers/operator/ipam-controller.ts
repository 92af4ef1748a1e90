// The cluster-pool IPAM controller: every CiliumNode gets `spec.ipam.podCIDRs` from the pool;
// conflicts and exhaustion are reported in `status.ipam.operator-status.error`.
//
// Two rules keep a CIDR from ever being handed to two nodes:
// - On every leadership gain (each term runs with a fresh signal) the pool is rebuilt from a live
//   list of every CiliumNode, not from this process's cache: another operator may have led in
//   between and allocated or released CIDRs this cache never saw.
// - podCIDRs are written with the node's resourceVersion as a precondition, so a write based on a
//   stale view fails with 409 Conflict; the node is then re-read and requeued.
import {
  Action,
  isConflict,
  type ControllerOptions,
  type KubeObject,
  type ReconcileContext,
} from '../framework/index.js';
import type { ClusterPool } from './cluster-pool.js';
import { PoolError } from './errors.js';
import { CILIUM_NODES } from './resources.js';

export interface CiliumNode extends KubeObject {
  spec?: { ipam?: { podCIDRs?: string[] } };
  status?: { ipam?: { 'operator-status'?: { error?: string } } };
}

/** How soon a node whose podCIDRs write lost a race is reconciled again. */
const CONFLICT_REQUEUE_MS = 200;

/** Rebuilds ownership from every CiliumNode as the API server has them now (first holder wins). */
async function relearn(pool: ClusterPool, ctx: ReconcileContext<CiliumNode>): Promise<void> {
  const nodes = await ctx.client.list<CiliumNode>(CILIUM_NODES);
  pool.clear();
  const byAge = [...nodes.items].sort((a, b) =>
    (a.metadata?.creationTimestamp ?? '').localeCompare(b.metadata?.creationTimestamp ?? ''),
  );
  for (const n of byAge) for (const c of n.spec?.ipam?.podCIDRs ?? []) pool.occupy(c, n.metadata!.name!);
  ctx.log.info({ nodes: nodes.items.length }, 'rebuilt the IPAM pool from every CiliumNode');
}

export function ipamController(pool: ClusterPool): ControllerOptions<CiliumNode> {
  /** The term (leadership) whose pool is built; a new signal means a new term. */
  let term: AbortSignal | undefined;
  return {
    name: 'cilium-operator-ipam',
    resource: CILIUM_NODES,
    async reconcile(key, ctx) {
      if (term !== ctx.signal) {
        await relearn(pool, ctx);
        term = ctx.signal;
      }
      const node = ctx.object;
      if (!node) {
        const freed = pool.release(key);
        if (freed.length) ctx.log.info({ node: key, freed }, 'released pod CIDRs of a deleted CiliumNode');
        return Action.awaitChange();
      }
      const name = node.metadata!.name!;
      const have = node.spec?.ipam?.podCIDRs ?? [];
      if (have.length) {
        const conflicts = have.filter((c) => !pool.occupy(c, name));
        const error = conflicts.length
          ? `podCIDRs ${conflicts.join(', ')} are already allocated to node ${pool.ownerOf(conflicts[0]!)}`
          : '';
        await ctx.patchStatus({
          ...(node.status ?? {}),
          ipam: { ...(node.status?.ipam ?? {}), 'operator-status': error ? { error } : {} },
        });
        return Action.awaitChange();
      }
      let cidr: string;
      try {
        cidr = pool.allocate(name);
      } catch (e) {
        if (!(e instanceof PoolError)) throw e;
        await ctx.patchStatus({
          ...(node.status ?? {}),
          ipam: { ...(node.status?.ipam ?? {}), 'operator-status': { error: e.message } },
        });
        await ctx.event('Warning', 'IPAMAllocationFailed', e.message);
        return Action.requeue(30_000);
      }
      try {
        await ctx.client.patch(
          CILIUM_NODES,
          name,
          undefined,
          { metadata: { resourceVersion: node.metadata!.resourceVersion }, spec: { ipam: { podCIDRs: [cidr] } } },
          'merge',
          { fieldManager: 'cilium-operator' },
        );
      } catch (e) {
        pool.release(name);
        if (!isConflict(e)) throw e;
        // The node changed since our cache saw it (maybe it got podCIDRs elsewhere): take what it
        // holds now and decide again from the fresh object.
        const fresh = await ctx.client.get<CiliumNode>(CILIUM_NODES, name).catch(() => undefined);
        for (const c of fresh?.spec?.ipam?.podCIDRs ?? []) pool.occupy(c, name);
        ctx.log.info({ node: name, cidr }, 'podCIDRs write lost a race with another change; requeued');
        return Action.requeue(CONFLICT_REQUEUE_MS);
      }
      ctx.log.info({ node: name, cidr }, 'allocated pod CIDR');
      if (node.status?.ipam?.['operator-status']?.error)
        await ctx.patchStatus({ ...node.status, ipam: { ...node.status.ipam, 'operator-status': {} } });
      return Action.awaitChange();
    },
  };
}
