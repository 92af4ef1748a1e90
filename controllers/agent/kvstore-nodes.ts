// kvstore mode's view of the cluster's nodes, as upstream's node discovery has it: the other nodes
// come from their agents' entries under `cilium/state/nodes/v1/<cluster>/` (written under each
// agent's session lease, so a dead node's entry goes with it), this node from its own CiliumNode
// (which still carries the operator's pod CIDR). The view is a Store of CiliumNode-shaped objects,
// so the routes, the tunnel map and the ipcache's node entries read it exactly as they read the
// CiliumNodes in CRD mode.
import type { Logger } from 'pino';
import { Store, type StoreChange } from '../framework/index.js';
import { NODES_PREFIX, decodeNode, type KvNode } from '../kvstore/keys.js';
import type { KvWatchEvent } from '../kvstore/watch.js';
import type { CiliumNodeObject } from './resources.js';

/** The prefix length of a Go net.IPNet mask (base64 of the mask bytes), or undefined if it is not one. */
export function maskBits(mask: string): number | undefined {
  const bytes = Buffer.from(mask, 'base64');
  if (bytes.length !== 4) return undefined;
  const n = bytes.readUInt32BE(0);
  const bits = n === 0 ? 0 : 32 - Math.log2((~n >>> 0) + 1);
  return Number.isInteger(bits) ? bits : undefined;
}

/** A node entry as the CiliumNode fields the agent reads (addresses and IPv4 pod CIDR). */
export function ciliumNodeOfKvNode(n: KvNode): CiliumNodeObject {
  const cidr = n.IPv4AllocCIDR;
  const bits = cidr ? maskBits(cidr.Mask) : undefined;
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNode',
    metadata: { name: n.Name },
    spec: {
      addresses: n.IPAddresses.filter((a) => typeof a.IP === 'string').map((a) => ({ type: a.Type, ip: a.IP })),
      ...(cidr && bits !== undefined ? { ipam: { podCIDRs: [`${cidr.IP}/${bits}`] } } : {}),
    },
  };
}

export class KvstoreNodeView {
  /** This node's CiliumNode and the other nodes' entries from etcd. */
  readonly store = new Store<CiliumNodeObject>({ transform: (o) => o });
  private readonly unsubscribe: () => void;

  constructor(
    private readonly o: {
      nodeName: string;
      clusterName: string;
      /** The CiliumNodes (only this node's is taken). */
      ciliumNodes: Store<CiliumNodeObject>;
      /** Called after the view changed (routes and tunnel follow it). */
      onChange: () => void;
      log: Logger;
    },
  ) {
    this.store.apply({ type: 'Init' });
    const own = o.ciliumNodes.get(o.nodeName);
    if (own) this.store.apply({ type: 'InitApply', object: own });
    this.store.apply({ type: 'InitDone', resourceVersion: '' });
    this.unsubscribe = o.ciliumNodes.subscribe((c) => this.onCiliumNode(c));
  }

  /** The prefix this view watches: this cluster's nodes. */
  get prefix(): string {
    return `${NODES_PREFIX}${this.o.clusterName}/`;
  }

  private onCiliumNode(c: StoreChange<CiliumNodeObject>): void {
    if (c.type === 'synced' || c.key !== this.o.nodeName) return;
    this.store.apply(c.type === 'deleted' ? { type: 'Delete', object: c.object } : { type: 'Apply', object: c.object });
  }

  /** One event of the nodes' prefix watch (kvstore-mode.ts). */
  onKvEvent(e: KvWatchEvent): void {
    if (e.type === 'synced') return;
    const name = e.key.slice(this.prefix.length);
    if (!name || name.includes('/') || name === this.o.nodeName) return;
    if (e.type === 'delete') {
      const old = this.store.get(name);
      if (old) this.store.apply({ type: 'Delete', object: old });
    } else {
      try {
        this.store.apply({ type: 'Apply', object: ciliumNodeOfKvNode(decodeNode(e.key, e.value)) });
      } catch (err) {
        this.o.log.warn({ key: e.key, err: (err as Error).message }, 'ignoring a node entry in the kvstore');
        return;
      }
    }
    this.o.onChange();
  }

  stop(): void {
    this.unsubscribe();
  }
}
