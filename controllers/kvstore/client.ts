// The etcd client of the agent and the operator: a typed wrapper over the npm `etcd3` client (the
// one the devcluster's API server uses) with upstream's two sessions — the main lease
// (`kvstore-lease-ttl`) that owns this process's keys and a short lock lease for mutexes — each
// replaced by a new one when lost, after which owners re-create their keys (`onSessionRenewed`).
import { randomBytes } from 'node:crypto';
import { Etcd3, isRecoverableError, type IKeyValue, type IOptions, type Lease } from 'etcd3';
import { KvstoreError, KvstoreErrorCode } from './errors.js';
import type { KvstoreOptions } from './options.js';

/** One key as read from etcd. */
export interface KvEntry {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  /** The lease id in hex ('0' = none). */
  lease: string;
}

/** A prefix as read at one revision. */
export interface KvList {
  revision: number;
  entries: KvEntry[];
}

/** What `cilium-dbg status` shows about the kvstore. */
export interface KvstoreStatus {
  endpoints: string[];
  /** The endpoint that answered and its etcd version, when one did. */
  connected?: { endpoint: string; version: string; leader: boolean };
  /** Session lease id (hex), when granted. */
  session?: string;
  error?: string;
}

type FaultHandling = NonNullable<IOptions['faultHandling']>;

/**
 * etcd3's defaults open a circuit breaker for 5 s after three failures and back watches off up to
 * 30 s, which keeps us away from an etcd that is back. Instead: no breaker, quick retries over a
 * restart, watch reconnects every 500 ms. (etcd3 calls only execute() on its policies and reads
 * duration/next() on the backoff.)
 */
function faultHandling(): FaultHandling {
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const run = async <T>(fn: (ctx: { signal: AbortSignal }) => T | Promise<T>): Promise<T> =>
    fn({ signal: new AbortController().signal });
  const global = {
    async execute<T>(fn: (ctx: { signal: AbortSignal }) => T | Promise<T>): Promise<T> {
      for (let attempt = 1; ; attempt++) {
        try {
          return await run(fn);
        } catch (e) {
          if (attempt >= 3 || !(e instanceof Error) || !isRecoverableError(e)) throw e;
          await sleep(200);
        }
      }
    },
  };
  const backoff = { duration: 500, next: () => backoff };
  return { host: () => ({ execute: run }), global, watchBackoff: backoff } as unknown as FaultHandling;
}

/** The end of the key range that holds every key starting with `prefix`. */
export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const end = Buffer.from(b.subarray(0, i + 1));
      end[i] = b[i]! + 1;
      return end;
    }
  }
  return Buffer.from([0]);
}

/** `p`'s result, or `fallback` after `ms` (the timer never outlives the race). */
async function within<T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<F>((r) => (timer = setTimeout(() => r(fallback), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function entry(kv: IKeyValue): KvEntry {
  return {
    key: kv.key.toString('utf8'),
    value: kv.value.toString('utf8'),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
    lease: BigInt(kv.lease || '0').toString(16),
  };
}

/** A lease that is replaced by a new one when lost; `id()` waits for the current grant. */
class Session {
  private lease: Lease;
  private readonly renewed = new Set<(id: string) => void>();
  private closed = false;
  private regrant: NodeJS.Timeout | undefined;

  constructor(
    private readonly etcd: Etcd3,
    private readonly ttl: number,
  ) {
    this.lease = this.grant();
  }

  private grant(): Lease {
    const lease = this.etcd.lease(this.ttl);
    lease.on('lost', () => {
      if (this.closed || lease !== this.lease || this.regrant) return;
      // (etcd3 has stopped the lost lease's keepalive.) A new lease after a pause, so an etcd that
      // is away is not asked in a tight loop; owners put their keys again once it is granted.
      this.regrant = setTimeout(() => {
        this.regrant = undefined;
        if (this.closed) return;
        this.lease = this.grant();
        void this.id().then(
          (id) => this.renewed.forEach((f) => f(id)),
          () => undefined,
        );
      }, 1000);
    });
    return lease;
  }

  /** The current lease id in decimal (what etcd's API takes); waits while it is being replaced. */
  async idDecimal(): Promise<string> {
    for (;;) {
      try {
        return await this.lease.grant();
      } catch (e) {
        if (this.closed) throw e;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /** The current lease id in hex (as upstream's key names and `etcdctl lease list` show it). */
  async id(): Promise<string> {
    return BigInt(await this.idDecimal()).toString(16);
  }

  onRenewed(f: (id: string) => void): () => void {
    this.renewed.add(f);
    return () => this.renewed.delete(f);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.regrant);
    await this.lease.revoke().catch(() => undefined);
  }
}

export class Kvstore {
  readonly etcd: Etcd3;
  private readonly session: Session;
  private readonly lockSession: Session;
  private closed = false;

  constructor(readonly options: KvstoreOptions) {
    const tls = options.tls;
    this.etcd = new Etcd3({
      hosts: options.endpoints,
      ...(tls
        ? {
            credentials: {
              rootCertificate: tls.ca,
              ...(tls.cert ? { certChain: tls.cert } : {}),
              ...(tls.key ? { privateKey: tls.key } : {}),
            },
          }
        : {}),
      faultHandling: faultHandling(),
      grpcOptions: { 'grpc.max_receive_message_length': 64 * 1024 * 1024 },
    });
    this.session = new Session(this.etcd, options.leaseTtlSeconds);
    this.lockSession = new Session(this.etcd, options.lockLeaseTtlSeconds);
  }

  /** Runs one etcd request with the request timeout; failures become KvstoreErrors. */
  private async call<T>(what: string, f: () => Promise<T>): Promise<T> {
    if (this.closed) throw new KvstoreError(KvstoreErrorCode.Closed, `kvstore client closed (${what})`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new KvstoreError(
              KvstoreErrorCode.Unavailable,
              `etcd ${this.options.endpoints.join(',')} did not answer ${what} within ${this.options.requestTimeoutMs} ms`,
            ),
          ),
        this.options.requestTimeoutMs,
      );
    });
    try {
      return await Promise.race([f(), timeout]);
    } catch (e) {
      if (e instanceof KvstoreError) throw e;
      throw new KvstoreError(KvstoreErrorCode.Unavailable, `etcd ${what}: ${(e as Error).message}`, { cause: e });
    } finally {
      clearTimeout(timer);
    }
  }

  /** The session lease id (hex); waits for the grant. */
  sessionId(): Promise<string> {
    return this.call('lease grant', () => this.session.id());
  }

  /** Called with the new lease id after the session lease was lost and replaced. */
  onSessionRenewed(f: (leaseId: string) => void): () => void {
    return this.session.onRenewed(f);
  }

  async get(key: string): Promise<KvEntry | undefined> {
    const res = await this.call(`get ${key}`, () => this.etcd.kv.range({ key: Buffer.from(key) }));
    const kv = res.kvs[0];
    return kv ? entry(kv) : undefined;
  }

  /** Every key under `prefix`, with the revision they were read at. */
  async list(prefix: string, limit = 0): Promise<KvList> {
    const res = await this.call(`list ${prefix}`, () =>
      this.etcd.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix), limit }),
    );
    return { revision: Number(res.header.revision), entries: res.kvs.map(entry) };
  }

  /** Writes `key`; `leased` attaches it to the session lease (it vanishes when this process dies). */
  async put(key: string, value: string, leased = false): Promise<void> {
    const lease = leased ? await this.session.idDecimal() : undefined;
    await this.call(`put ${key}`, () =>
      this.etcd.kv.put({ key: Buffer.from(key), value: Buffer.from(value), ...(lease ? { lease } : {}) }),
    );
  }

  /** Creates `key` only if it does not exist (a CAS on create revision 0); true if this call created it. */
  async createOnly(key: string, value: string, leased = false): Promise<boolean> {
    const lease = leased ? await this.session.idDecimal() : undefined;
    const res = await this.call(`create ${key}`, () =>
      this.etcd.kv.txn({
        compare: [{ key: Buffer.from(key), target: 'Create', result: 'Equal', create_revision: '0' }],
        success: [{ request_put: { key: Buffer.from(key), value: Buffer.from(value), ...(lease ? { lease } : {}) } }],
        failure: [],
      }),
    );
    return res.succeeded;
  }

  async delete(key: string): Promise<void> {
    await this.call(`delete ${key}`, () => this.etcd.kv.deleteRange({ key: Buffer.from(key) }));
  }

  /** Deletes `key` only if it was not changed since `modRevision`; true if deleted. */
  async deleteIfUnchanged(key: string, modRevision: number): Promise<boolean> {
    const res = await this.call(`delete ${key}`, () =>
      this.etcd.kv.txn({
        compare: [{ key: Buffer.from(key), target: 'Mod', result: 'Equal', mod_revision: String(modRevision) }],
        success: [{ request_delete_range: { key: Buffer.from(key) } }],
        failure: [],
      }),
    );
    return res.succeeded;
  }

  /**
   * An etcd mutex on `path` (the etcd v3 concurrency recipe upstream uses): our key
   * `<path>/<lockLeaseHex>` under the lock lease; the holder is the key with the lowest create
   * revision, so waiters queue in order and a crashed holder's key expires with its lease.
   * Resolves with the unlock function.
   */
  async lock(path: string, timeoutMs = this.options.requestTimeoutMs): Promise<() => Promise<void>> {
    const leaseDec = await this.call('lock lease', () => this.lockSession.idDecimal());
    const own = `${path}/${BigInt(leaseDec).toString(16)}.${randomBytes(4).toString('hex')}`;
    await this.call(`lock ${path}`, () =>
      this.etcd.kv.put({ key: Buffer.from(own), value: Buffer.alloc(0), lease: leaseDec }),
    );
    const unlock = async (): Promise<void> => {
      await this.delete(own).catch(() => undefined);
    };
    const prefix = `${path}/`;
    const deadline = Date.now() + timeoutMs;
    let wait = 2;
    for (;;) {
      const res = await this.call(`lock ${path}`, () =>
        this.etcd.kv.range({
          key: Buffer.from(prefix),
          range_end: prefixEnd(prefix),
          sort_order: 'Ascend',
          sort_target: 'Create',
          limit: 1,
        }),
      ).catch(async (e: unknown) => {
        await unlock();
        throw e;
      });
      const first = res.kvs[0]?.key.toString('utf8');
      if (first === own) return unlock;
      if (first === undefined) {
        // our key is gone (the lock lease expired while etcd was away): queue again
        await unlock();
        return this.lock(path, Math.max(0, deadline - Date.now()));
      }
      if (Date.now() > deadline) {
        await unlock();
        throw new KvstoreError(KvstoreErrorCode.LockTimeout, `lock ${path} not acquired within ${timeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, 50);
    }
  }

  /** The endpoints, the member that answered, its version and whether it leads; never throws. */
  async status(): Promise<KvstoreStatus> {
    const base: KvstoreStatus = { endpoints: this.options.endpoints };
    try {
      const s = await this.call('status', () => this.etcd.maintenance.status());
      const session = await within(this.session.id(), 200, undefined);
      return {
        ...base,
        connected: {
          endpoint: this.options.endpoints[0]!,
          version: s.version,
          leader: s.leader === s.header.member_id,
        },
        ...(session ? { session } : {}),
      };
    } catch (e) {
      return { ...base, error: (e as Error).message };
    }
  }

  /** Revokes both leases (this process's leased keys vanish at once) and closes the connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    await within(Promise.all([this.session.close(), this.lockSession.close()]), 2000, undefined);
    this.closed = true;
    this.etcd.close();
  }
}
