// The cluster-pool IPAM controller: every CiliumNode gets `spec.ipam.podCIDRs` from the pool;
// conflicts and exhaustion are reported in `status.ipam.operator-status.error`. It waits for
// its cache to hold every CiliumNode before allocating, so a restarted or newly elected
// operator first learns what is taken.
import { Action, type ControllerOptions, type KubeObject } from '../framework/index.js';
import type { ClusterPool } from './cluster-pool.js';
import { PoolError } from './errors.js';
import { CILIUM_NODES } from './resources.js';

interface CiliumNode extends KubeObject {
  spec?: { ipam?: { podCIDRs?: string[] } };
  status?: { ipam?: { 'operator-status'?: { error?: string } } };
}

export function ipamController(pool: ClusterPool): ControllerOptions<CiliumNode> {
  let learned = false;
  return {
    name: 'cilium-operator-ipam',
    resource: CILIUM_NODES,
    async reconcile(key, ctx) {
      if (!learned) {
        // Rebuild ownership from every node first: never hand out a CIDR another node holds.
        for (const n of ctx.store.list())
          for (const c of n.spec?.ipam?.podCIDRs ?? []) pool.occupy(c, n.metadata!.name!);
        learned = true;
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
      try {
        const cidr = pool.allocate(name);
        await ctx.client.patch(CILIUM_NODES, name, undefined, { spec: { ipam: { podCIDRs: [cidr] } } }, 'merge', {
          fieldManager: 'cilium-operator',
        });
        ctx.log.info({ node: name, cidr }, 'allocated pod CIDR');
        if (node.status?.ipam?.['operator-status']?.error)
          await ctx.patchStatus({ ...node.status, ipam: { ...node.status.ipam, 'operator-status': {} } });
      } catch (e) {
        if (!(e instanceof PoolError)) {
          pool.release(name);
          throw e;
        }
        await ctx.patchStatus({
          ...(node.status ?? {}),
          ipam: { ...(node.status?.ipam ?? {}), 'operator-status': { error: e.message } },
        });
        await ctx.event('Warning', 'IPAMAllocationFailed', e.message);
        return Action.requeue(30_000);
      }
      return Action.awaitChange();
    },
  };
}
