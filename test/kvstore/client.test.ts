// The kvstore client against a real etcd: leased keys and their expiry, create-only CAS, the
// mutex, a session lease that is replaced when lost, TLS from upstream's etcd config file.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kvstore } from '../../controllers/kvstore/client.js';
import { KvstoreErrorCode } from '../../controllers/kvstore/errors.js';
import { kvstoreOptionsFrom, parseEtcdConfig, parseKvstoreOpt } from '../../controllers/kvstore/options.js';
import { startEtcdFixture, testOptions, until, type EtcdFixture } from './etcd-fixture.js';

let fx: EtcdFixture;
const clients: Kvstore[] = [];
const client = (over = {}): Kvstore => {
  const c = new Kvstore(testOptions(fx.etcd.endpoint, over));
  clients.push(c);
  return c;
};

beforeAll(async () => {
  fx = await startEtcdFixture();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await fx?.stop();
});

describe('kvstore client', () => {
  it('puts, gets and lists a prefix with its revision', async () => {
    const kv = client();
    await kv.put('t1/a', '1');
    await kv.put('t1/b', '2');
    await kv.put('t10/c', '3');
    const list = await kv.list('t1/');
    expect(list.entries.map((e) => [e.key, e.value])).toEqual([
      ['t1/a', '1'],
      ['t1/b', '2'],
    ]);
    expect(list.revision).toBeGreaterThanOrEqual(3);
    expect((await kv.get('t1/b'))?.value).toBe('2');
    expect(await kv.get('t1/none')).toBeUndefined();
  });

  it('createOnly succeeds once; deleteIfUnchanged refuses a changed key', async () => {
    const kv = client();
    expect(await kv.createOnly('t2/x', 'first')).toBe(true);
    expect(await kv.createOnly('t2/x', 'second')).toBe(false);
    expect((await kv.get('t2/x'))?.value).toBe('first');
    const e = (await kv.get('t2/x'))!;
    await kv.put('t2/x', 'changed');
    expect(await kv.deleteIfUnchanged('t2/x', e.modRevision)).toBe(false);
    const now = (await kv.get('t2/x'))!;
    expect(await kv.deleteIfUnchanged('t2/x', now.modRevision)).toBe(true);
    expect(await kv.get('t2/x')).toBeUndefined();
  });

  it('leased keys carry the session lease and vanish when the session ends', async () => {
    const kv = new Kvstore(testOptions(fx.etcd.endpoint));
    await kv.put('t3/leased', 'v', true);
    await kv.put('t3/plain', 'v');
    const id = await kv.sessionId();
    expect((await kv.get('t3/leased'))?.lease).toBe(id);
    expect((await kv.get('t3/plain'))?.lease).toBe('0');
    await kv.close();
    const other = client();
    expect(await other.get('t3/leased')).toBeUndefined();
    expect(await other.get('t3/plain')).toBeDefined();
  });

  it('a lost session lease is replaced and the owner is told to put its keys again', async () => {
    const kv = client({ leaseTtlSeconds: 2 });
    await kv.put('t4/k', 'v', true);
    const first = await kv.sessionId();
    const renewed: string[] = [];
    kv.onSessionRenewed((id) => {
      renewed.push(id);
      void kv.put('t4/k', 'v', true);
    });
    // Someone (an etcd admin, an expiry during an outage) revokes the lease.
    await fx.direct.leaseClient.leaseRevoke({ ID: BigInt(`0x${first}`).toString() });
    await until(() => renewed.length > 0, 10_000, 'session renewal');
    expect(renewed[0]).not.toBe(first);
    await until(async () => (await kv.get('t4/k'))?.lease === renewed[0], 5000, 'key under the new lease');
  });

  it('the mutex admits one holder at a time', async () => {
    const a = client();
    const b = client();
    let inside = 0;
    let max = 0;
    const critical = async (kv: Kvstore): Promise<void> => {
      const unlock = await kv.lock('t5/lock');
      inside++;
      max = Math.max(max, inside);
      await new Promise((r) => setTimeout(r, 5));
      inside--;
      await unlock();
    };
    await Promise.all(Array.from({ length: 10 }, (_, i) => critical(i % 2 ? a : b)));
    expect(max).toBe(1);
    expect((await a.list('t5/lock/')).entries).toEqual([]);
  });

  it('a lock held elsewhere times out with KVSTORE_ERR_LOCK_TIMEOUT', async () => {
    const a = client();
    const b = client();
    const unlock = await a.lock('t6/lock');
    await expect(b.lock('t6/lock', 200)).rejects.toMatchObject({ code: KvstoreErrorCode.LockTimeout });
    await unlock();
    await (
      await b.lock('t6/lock', 1000)
    )();
  });

  it('a request to an etcd that is not there fails with KVSTORE_ERR_UNAVAILABLE', async () => {
    const kv = client({ endpoints: ['http://127.0.0.1:1'], requestTimeoutMs: 500 });
    await expect(kv.get('x')).rejects.toMatchObject({ code: KvstoreErrorCode.Unavailable });
    const status = await kv.status();
    expect(status.error).toBeDefined();
    expect(status.connected).toBeUndefined();
  });

  it('status names the endpoint, its version, leadership and the session', async () => {
    const kv = client();
    await kv.sessionId();
    const s = await kv.status();
    expect(s.connected).toMatchObject({ endpoint: fx.etcd.endpoint, leader: true });
    expect(s.connected?.version).toMatch(/^3\./);
    expect(s.session).toMatch(/^[0-9a-f]+$/);
  });
});

describe('kvstore configuration', () => {
  it('parses kvstore-opt as JSON or k=v pairs, and refuses anything else', () => {
    expect(parseKvstoreOpt('{"etcd.config": "/var/lib/etcd-config/etcd.config"}')).toEqual({
      'etcd.config': '/var/lib/etcd-config/etcd.config',
    });
    expect(parseKvstoreOpt('etcd.address=127.0.0.1:2379')).toEqual({ 'etcd.address': '127.0.0.1:2379' });
    expect(() => parseKvstoreOpt('{"a": 1}')).toThrow(expect.objectContaining({ code: KvstoreErrorCode.Config }));
    expect(() => parseKvstoreOpt('nonsense')).toThrow(expect.objectContaining({ code: KvstoreErrorCode.Config }));
  });

  it('parses the etcd config file; relative file names are next to it', () => {
    expect(parseEtcdConfig('endpoints:\n- https://10.0.0.1:2379\ntrusted-ca-file: ca.crt\n', '/etc/x')).toEqual({
      endpoints: ['https://10.0.0.1:2379'],
      trustedCaFile: '/etc/x/ca.crt',
      keyFile: undefined,
      certFile: undefined,
    });
    expect(() => parseEtcdConfig('endpoints: []')).toThrow(expect.objectContaining({ code: KvstoreErrorCode.Config }));
    expect(() => parseEtcdConfig('endpoints: [ftp://x]')).toThrow(
      expect.objectContaining({ code: KvstoreErrorCode.Config }),
    );
    expect(() => kvstoreOptionsFrom('{}')).toThrow(expect.objectContaining({ code: KvstoreErrorCode.Config }));
  });
});

describe('kvstore over TLS', () => {
  let tlsFx: EtcdFixture;
  beforeAll(async () => {
    tlsFx = await startEtcdFixture({ tls: true });
  });
  afterAll(async () => {
    await tlsFx?.stop();
  });

  it('connects with the CA and client certificate named in the etcd config file', async () => {
    const pki = tlsFx.tls!.dir;
    const cfg = join(tlsFx.dir, 'etcd.config');
    writeFileSync(
      cfg,
      `endpoints:\n- ${tlsFx.etcd.endpoint}\ntrusted-ca-file: ${pki}/ca.crt\ncert-file: ${pki}/apiserver-etcd-client.crt\nkey-file: ${pki}/apiserver-etcd-client.key\n`,
    );
    const o = kvstoreOptionsFrom(JSON.stringify({ 'etcd.config': cfg }), { leaseTtlSeconds: 5 });
    expect(o.endpoints).toEqual([tlsFx.etcd.endpoint]);
    const kv = new Kvstore(o);
    clients.push(kv);
    await kv.put('tls/k', 'v', true);
    expect((await kv.get('tls/k'))?.value).toBe('v');
  });

  it('without a client certificate etcd refuses the client', async () => {
    const kv = new Kvstore(
      testOptions(tlsFx.etcd.endpoint, { tls: { ca: Buffer.from(tlsFx.tls!.caCert) }, requestTimeoutMs: 2000 }),
    );
    clients.push(kv);
    await expect(kv.get('tls/k')).rejects.toMatchObject({ code: KvstoreErrorCode.Unavailable });
  });
});
