// Storage on etcd, laid out as kube-apiserver does: one key per object under /registry/, the
// object as JSON, resourceVersion = the key's mod_revision (never stored in the value, set on
// read), optimistic concurrency through etcd transactions comparing mod_revision.
import { Etcd3, isRecoverableError, type IOptions } from 'etcd3';

/** A Kubernetes object as JSON. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [k: string]: unknown;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: {
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }[];
  managedFields?: unknown[];
  [k: string]: unknown;
}

export interface StoredKv {
  key: string;
  obj: KubeObject;
  modRev: number;
}

/** Where the devcluster records the last compaction (kube-apiserver keeps "compact_rev_key"). */
export const COMPACT_KEY = '/devcluster/compact_rev_key';

export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  const end = Buffer.from(b);
  end[end.length - 1] = (end[end.length - 1] ?? 0) + 1;
  return end;
}

export function decode(value: Buffer | string, modRev: number): KubeObject {
  const obj = JSON.parse(typeof value === 'string' ? value : value.toString('utf8')) as KubeObject;
  obj.metadata = obj.metadata ?? {};
  obj.metadata.resourceVersion = String(modRev);
  return obj;
}

function encode(obj: KubeObject): Buffer {
  const { resourceVersion: _rv, ...meta } = obj.metadata;
  return Buffer.from(JSON.stringify({ ...obj, metadata: meta }));
}

/** The bytes as they would be stored, to detect no-op writes (which keep the RV and emit nothing). */
export function storedBytes(obj: KubeObject): string {
  return encode(obj).toString('utf8');
}

type FaultHandling = NonNullable<IOptions['faultHandling']>;

/**
 * etcd3's default fault handling opens a circuit breaker for 5 s after three failures and backs
 * watches off exponentially up to 30 s: after an etcd restart the API server would stay
 * unavailable long after etcd is back. Instead: no breaker, a few quick retries that ride over
 * the restart itself, and watch reconnects every 200 ms. (etcd3 only calls execute() on its
 * policies and reads duration/next() on the backoff, so plain objects do.)
 */
function faultHandling(): FaultHandling {
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  // async: etcd3 calls execute(() => { throw err }).catch(...) and expects a rejection, not a throw.
  const run = async <T>(fn: (ctx: { signal: AbortSignal }) => T | Promise<T>): Promise<T> =>
    fn({ signal: new AbortController().signal });
  const host = { execute: run };
  const global = {
    async execute<T>(fn: (ctx: { signal: AbortSignal }) => T | Promise<T>): Promise<T> {
      for (let attempt = 1; ; attempt++) {
        try {
          return await run(fn);
        } catch (e) {
          if (attempt >= 5 || !(e instanceof Error) || !isRecoverableError(e)) throw e;
          await sleep(200);
        }
      }
    },
  };
  const backoff = { duration: 200, next: () => backoff };
  return { host: () => host, global, watchBackoff: backoff } as unknown as FaultHandling;
}

/**
 * The bytes this server last wrote per key, with their revision (a bounded LRU): a patch starts from
 * them instead of reading etcd back, as kube-apiserver's GuaranteedUpdate starts from its cache's
 * copy. Every write compares mod_revision, so a copy gone stale (another writer, a delete elsewhere)
 * only costs a conflict and a retry that reads etcd (Objects.patch).
 */
class RecentWrites {
  private readonly byKey = new Map<string, { value: Buffer; modRev: number }>();
  private bytes = 0;

  constructor(
    private readonly capacity: number,
    private readonly maxBytes: number,
  ) {}

  set(key: string, value: Buffer, modRev: number): void {
    this.delete(key);
    // a large object (a helm release Secret) is read back from etcd instead of crowding the rest out
    if (value.length > this.maxBytes / 64) return;
    this.byKey.set(key, { value, modRev });
    this.bytes += value.length;
    while (this.byKey.size > this.capacity || this.bytes > this.maxBytes)
      this.delete(this.byKey.keys().next().value as string);
  }

  get(key: string): StoredKv | undefined {
    const w = this.byKey.get(key);
    return w && { key, obj: decode(w.value, w.modRev), modRev: w.modRev };
  }

  delete(key: string): void {
    const w = this.byKey.get(key);
    if (!w) return;
    this.bytes -= w.value.length;
    this.byKey.delete(key);
  }
}

/** Keys whose last write a patch may start from (RecentWrites), and their bytes at most (a CEP is ~1 KiB). */
const RECENT_WRITES = 4096;
const RECENT_WRITES_BYTES = 16 << 20;

export class Store {
  readonly client: Etcd3;
  private readonly recent = new RecentWrites(RECENT_WRITES, RECENT_WRITES_BYTES);

  /** `tls`: etcd's CA and this client's certificate (an https endpoint requires them). */
  constructor(endpoint: string, tls?: { ca: string; cert: string; key: string }) {
    this.client = new Etcd3({
      hosts: endpoint,
      ...(tls
        ? {
            credentials: {
              rootCertificate: Buffer.from(tls.ca),
              certChain: Buffer.from(tls.cert),
              privateKey: Buffer.from(tls.key),
            },
          }
        : {}),
      faultHandling: faultHandling(),
      // Large objects and watch batches (a txn, a replay after restart) exceed gRPC's 4 MiB default.
      grpcOptions: { 'grpc.max_receive_message_length': 64 * 1024 * 1024 },
    });
  }

  async revision(): Promise<number> {
    const res = await this.client.kv.range({ key: Buffer.from(COMPACT_KEY) });
    return Number(res.header.revision);
  }

  /**
   * The object as this server last wrote it, if it still remembers (no etcd read): possibly stale,
   * so only for a write whose mod_revision compare catches that.
   */
  lastWritten(key: string): StoredKv | undefined {
    return this.recent.get(key);
  }

  async get(key: string): Promise<StoredKv | undefined> {
    const res = await this.client.kv.range({ key: Buffer.from(key) });
    const kv = res.kvs[0];
    if (!kv) return undefined;
    return { key, obj: decode(kv.value, Number(kv.mod_revision)), modRev: Number(kv.mod_revision) };
  }

  /**
   * One page of a prefix range, read at `revision` (0 = latest) from `startKey` on.
   * Returns the revision read at, so continue tokens page through one consistent snapshot.
   */
  async range(
    prefix: string,
    opts: { startKey?: string; limit?: number; revision?: number; keysOnly?: boolean },
  ): Promise<{ kvs: StoredKv[]; revision: number; more: boolean }> {
    const res = await this.client.kv.range({
      key: Buffer.from(opts.startKey ?? prefix),
      range_end: prefixEnd(prefix),
      limit: opts.limit ?? 0,
      revision: opts.revision ?? 0,
      keys_only: opts.keysOnly ?? false,
    });
    return {
      kvs: res.kvs.map((kv) => ({
        key: kv.key.toString('utf8'),
        obj: opts.keysOnly ? { metadata: {} } : decode(kv.value, Number(kv.mod_revision)),
        modRev: Number(kv.mod_revision),
      })),
      revision: Number(res.header.revision),
      more: res.more,
    };
  }

  /** Creates the key if absent; returns its revision, or undefined when it already exists. */
  async create(key: string, obj: KubeObject): Promise<number | undefined> {
    const k = Buffer.from(key);
    const value = encode(obj);
    const res = await this.client.kv.txn({
      compare: [{ key: k, target: 'Create', result: 'Equal', create_revision: 0 }],
      success: [{ request_put: { key: k, value } }],
      failure: [],
    });
    return res.succeeded ? this.wrote(key, value, Number(res.header.revision)) : undefined;
  }

  /** Writes if the key's mod_revision is still `expected`; returns the new revision or undefined. */
  async update(key: string, obj: KubeObject, expected: number): Promise<number | undefined> {
    const k = Buffer.from(key);
    const value = encode(obj);
    const res = await this.client.kv.txn({
      compare: [{ key: k, target: 'Mod', result: 'Equal', mod_revision: expected }],
      success: [{ request_put: { key: k, value } }],
      failure: [],
    });
    return res.succeeded ? this.wrote(key, value, Number(res.header.revision)) : undefined;
  }

  /** Deletes if the key's mod_revision is still `expected`; returns the deletion's revision. */
  async delete(key: string, expected: number): Promise<number | undefined> {
    const k = Buffer.from(key);
    const res = await this.client.kv.txn({
      compare: [{ key: k, target: 'Mod', result: 'Equal', mod_revision: expected }],
      success: [{ request_delete_range: { key: k } }],
      failure: [],
    });
    this.recent.delete(key);
    return res.succeeded ? Number(res.header.revision) : undefined;
  }

  /** The revision the last compaction kept (0 if never compacted). */
  async compactedRevision(): Promise<number> {
    const res = await this.client.kv.range({ key: Buffer.from(COMPACT_KEY) });
    const kv = res.kvs[0];
    return kv ? Number(kv.value.toString('utf8')) : 0;
  }

  /** Compacts etcd history up to `rev` and records it, as kube-apiserver's compactor does. */
  async compact(rev: number): Promise<void> {
    await this.client.kv.put({ key: Buffer.from(COMPACT_KEY), value: Buffer.from(String(rev)) });
    await this.client.kv.compact({ revision: rev, physical: false });
  }

  private wrote(key: string, value: Buffer, rev: number): number {
    this.recent.set(key, value, rev);
    return rev;
  }

  close(): void {
    this.client.close();
  }
}
