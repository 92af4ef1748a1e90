// The kubelet-side parts of a devcluster container, one module at a time: where a hostPath lives
// on a node, the mount namespace a container runs in (real `unshare`, root), the volumes and the
// ServiceAccount token, the environment (downward API, configMapKeyRef, $(VAR)), the restart
// backoff, and the image's /usr/local/bin.
import { describe, expect, it, afterAll } from '@jest/globals';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PACKAGE_ROOT, PINNED_NODE } from '../../cdk8s/process-launch.js';
import { containerEnv, fieldValue, type PodFields } from '../../devcluster/nodes/container-env.js';
import { IMAGE_PATH, imageMounts, writeImageBin } from '../../devcluster/nodes/image.js';
import { canonicalHostPath, hostPathSource, withMounts } from '../../devcluster/nodes/mounts.js';
import { restartDelay } from '../../devcluster/nodes/sandbox.js';
import {
  SERVICE_ACCOUNT_DIR,
  VOLUMES_DEFAULTS,
  containerMounts,
  prepareVolumes,
  type PodSources,
  type TokenProjectionRequest,
} from '../../devcluster/nodes/volumes.js';
import { sweepRetired, writePayload } from '../../devcluster/nodes/atomic-writer.js';

const dir = mkdtempSync(join(tmpdir(), 'kts-containers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const view = { root: '/d/nodes/node-1/root', bpfRoot: '/sys/fs/bpf/ktsabc/node-1' };

describe('hostPath on a node', () => {
  it.each([
    ['/var/run/cilium', '/d/nodes/node-1/root/run/cilium'],
    ['/run/cilium/', '/d/nodes/node-1/root/run/cilium'],
    ['/etc/cni/net.d', '/d/nodes/node-1/root/etc/cni/net.d'],
    ['/opt/cni/bin', '/d/nodes/node-1/root/opt/cni/bin'],
    ['/sys/fs/bpf', '/sys/fs/bpf/ktsabc/node-1'],
    ['/sys/fs/bpf/tc/globals', '/sys/fs/bpf/ktsabc/node-1/tc/globals'],
    ['/var/run/netns', '/run/netns'],
    ['/proc', '/proc'],
  ])('%s → %s', (path, want) => expect(hostPathSource(view, path)).toBe(want));

  it('/var/run is /run, other paths keep their spelling', () => {
    expect(canonicalHostPath('/var/run')).toBe('/run');
    expect(canonicalHostPath('/var/runner')).toBe('/var/runner');
  });
});

describe('a container mount namespace', () => {
  const run = (mounts: Parameters<typeof withMounts>[0], script: string) => {
    const argv = withMounts(mounts, ['sh', '-c', script]);
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  it('binds every volume, parents first, even when a parent mount hides a later source', () => {
    const tmp = join(dir, 'tmp-volume');
    const cfg = join(dir, 'config');
    mkdirSync(tmp, { recursive: true });
    mkdirSync(cfg, { recursive: true });
    writeFileSync(join(cfg, 'debug'), 'false');
    // the emptyDir over /tmp comes first in the list only after sorting; `cfg` lives under /tmp
    const r = run(
      [
        { source: cfg, target: '/tmp/cilium/config-map', readOnly: true },
        { source: tmp, target: '/tmp' },
      ],
      'cat /tmp/cilium/config-map/debug; (echo x > /tmp/cilium/config-map/new) 2>/dev/null || echo " ro"; findmnt -n /mnt || echo " no-stage"',
    );
    expect(r).toMatchObject({ code: 0 });
    expect(r.out).toBe('false ro\n no-stage\n');
    // the emptyDir got the mountpoint, the host's /tmp did not change
    expect(existsSync(join(tmp, 'cilium', 'config-map'))).toBe(true);
  });

  it('another mount namespace, the same network namespace; nothing leaks to the host', () => {
    const src = join(dir, 'leak-src');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'marker'), 'inside');
    const target = join(dir, 'leak-target');
    const r = run(
      [{ source: src, target }],
      'readlink /proc/self/ns/mnt; readlink /proc/self/ns/net; cat ' + target + '/marker',
    );
    const [mnt, net, marker] = r.out.trim().split('\n');
    expect(mnt).not.toBe(readlinkSync('/proc/self/ns/mnt'));
    expect(net).toBe(readlinkSync('/proc/self/ns/net'));
    expect(marker).toBe('inside');
    expect(existsSync(join(target, 'marker'))).toBe(false);
  });

  it('a mountpoint inside an earlier target is made after that mount, /var/run being /run', () => {
    const outer = join(dir, 'run-outer');
    const inner = join(dir, 'run-inner');
    mkdirSync(outer, { recursive: true });
    mkdirSync(inner, { recursive: true });
    writeFileSync(join(inner, 'marker'), 'inner');
    const name = `kts-test-${process.pid}-${Date.now()}`;
    try {
      // the agent's /var/run/cilium volume, then its /run/cilium/cgroupv2 under it
      const r = run(
        [
          { source: outer, target: join('/var/run', name) },
          { source: inner, target: join('/run', name, 'cgroupv2') },
        ],
        `cat /run/${name}/cgroupv2/marker`,
      );
      expect(r).toMatchObject({ code: 0, out: 'inner' });
      // the mountpoint was made in the outer volume, not on the host
      expect(existsSync(join(outer, 'cgroupv2'))).toBe(true);
      expect(existsSync(join('/run', name, 'cgroupv2'))).toBe(false);
    } finally {
      rmSync(join('/run', name), { recursive: true, force: true });
    }
  });

  it('a UTS namespace with the hostname the prelude writes, the host keeps its own', () => {
    const argv = withMounts([], ['hostname'], {
      uts: true,
      prelude: ["printf %s 'kts-pod' > /proc/sys/kernel/hostname"],
    });
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    expect(r.stdout.trim()).toBe('kts-pod');
    expect(hostname()).not.toBe('kts-pod');
  });

  it('without mounts, the command runs as it is', () => {
    expect(withMounts([], ['true'])).toEqual(['true']);
  });
});

describe('volumes and the ServiceAccount token', () => {
  /** The token manager's stand-in: the first token at once, later ones when the test rotates. */
  const projected: { request: TokenProjectionRequest; write: (t: string) => void; stopped: boolean }[] = [];
  const sources: PodSources = {
    configMap: async (_ns: string, name: string) =>
      name === 'cilium-config' ? { debug: 'true', 'cluster-id': '0' } : undefined,
    secret: async (_ns: string, name: string) =>
      name === 'hubble-server-certs' ? { 'tls.crt': Buffer.from('CERT'), 'tls.key': Buffer.from('KEY') } : undefined,
    projectToken: async (request, write) => {
      const p = { request, write, stopped: false };
      projected.push(p);
      write(`token-of-${request.namespace}-${request.serviceAccount}`);
      return { stop: () => void (p.stopped = true) };
    },
    caCert: 'CA PEM',
  };
  const root = join(dir, 'node-root');
  const v = { root, bpfRoot: join(dir, 'bpf') };

  it('hostPath → the node directory (created), configMap → files, emptyDir → a pod dir, token at the well-known path', async () => {
    const podDir = join(dir, 'pod-a');
    const prepared = await prepareVolumes(
      {
        namespace: 'kube-system',
        serviceAccountName: 'cilium',
        volumes: [
          { name: 'run', hostPath: { path: '/var/run/cilium', type: 'DirectoryOrCreate' } },
          { name: 'cfg', configMap: { name: 'cilium-config' } },
          { name: 'tmp', emptyDir: {} },
        ],
      },
      podDir,
      v,
      sources,
    );
    expect(existsSync(join(root, 'run', 'cilium'))).toBe(true);
    const cfg = prepared.sources.get('cfg')!;
    expect(readFileSync(join(cfg, 'debug'), 'utf8')).toBe('true');
    expect(readFileSync(join(cfg, 'cluster-id'), 'utf8')).toBe('0');
    expect(readFileSync(join(prepared.serviceAccount!, 'token'), 'utf8')).toBe('token-of-kube-system-cilium');
    expect(readFileSync(join(prepared.serviceAccount!, 'ca.crt'), 'utf8')).toBe('CA PEM');
    expect(readFileSync(join(prepared.serviceAccount!, 'namespace'), 'utf8')).toBe('kube-system');
    const mounts = containerMounts(
      [
        { name: 'run', mountPath: '/var/run/cilium' },
        { name: 'cfg', mountPath: '/tmp/cilium/config-map', readOnly: true },
      ],
      prepared,
      'cilium-agent',
    );
    expect(mounts).toEqual([
      { source: join(root, 'run', 'cilium'), target: '/var/run/cilium' },
      { source: cfg, target: '/tmp/cilium/config-map', readOnly: true },
      { source: prepared.serviceAccount, target: SERVICE_ACCOUNT_DIR, readOnly: true },
    ]);
  });

  it('automountServiceAccountToken: false mounts no token; a missing configMap or volume is an error', async () => {
    const none = await prepareVolumes(
      { namespace: 'x', volumes: [], automountServiceAccountToken: false },
      join(dir, 'pod-b'),
      v,
      sources,
    );
    expect(none.serviceAccount).toBeUndefined();
    await expect(
      prepareVolumes(
        { namespace: 'x', volumes: [{ name: 'c', configMap: { name: 'nope' } }] },
        join(dir, 'pod-c'),
        v,
        sources,
      ),
    ).rejects.toThrow(/configmap "nope" not found/);
    expect(() => containerMounts([{ name: 'ghost', mountPath: '/x' }], none, 'c')).toThrow(/names no volume/);
  });

  it('the token volume is a projected token of 3607 s, rotated in place by a ..data swap until the pod stops', async () => {
    projected.length = 0;
    const prepared = await prepareVolumes(
      { namespace: 'kube-system', serviceAccountName: 'cilium', volumes: [] },
      join(dir, 'pod-rot'),
      v,
      sources,
    );
    const sa = prepared.serviceAccount!;
    expect(projected.map((p) => p.request)).toEqual([
      {
        namespace: 'kube-system',
        serviceAccount: 'cilium',
        expirationSeconds: Number(process.env.KTS_DEVCLUSTER_TOKEN_SECONDS) || VOLUMES_DEFAULTS.automountTokenSeconds,
      },
    ]);
    // the visible names are links through ..data, as the kubelet's AtomicWriter lays them out
    expect(readlinkSync(join(sa, 'token'))).toBe('..data/token');
    expect(readlinkSync(join(sa, 'ca.crt'))).toBe('..data/ca.crt');
    const first = readlinkSync(join(sa, '..data'));
    projected[0]!.write('rotated-token');
    expect(readFileSync(join(sa, 'token'), 'utf8')).toBe('rotated-token');
    expect(readFileSync(join(sa, 'ca.crt'), 'utf8')).toBe('CA PEM');
    expect(readFileSync(join(sa, 'namespace'), 'utf8')).toBe('kube-system');
    expect(readlinkSync(join(sa, '..data'))).not.toBe(first);
    expect(existsSync(join(sa, first))).toBe(true); // still readable for a reader that resolved ..data just before
    await new Promise((r) => setTimeout(r, 1100)); // the grace period (1 s) and its sweep timer
    expect(existsSync(join(sa, first))).toBe(false); // then the previous version is gone
    expect(projected[0]!.stopped).toBe(false);
    prepared.stop();
    expect(projected[0]!.stopped).toBe(true);
  });

  it('secret and projected volumes: keys, items, downwardAPI fields and a token with its own audience', async () => {
    projected.length = 0;
    const prepared = await prepareVolumes(
      {
        namespace: 'kube-system',
        serviceAccountName: 'hubble-relay',
        automountServiceAccountToken: false,
        fieldValue: (f) => ({ 'metadata.name': 'relay-abc' })[f],
        volumes: [
          { name: 'tls', secret: { secretName: 'hubble-server-certs' } },
          {
            name: 'mix',
            projected: {
              sources: [
                { secret: { name: 'hubble-server-certs', items: [{ key: 'tls.crt', path: 'certs/server.crt' }] } },
                { configMap: { name: 'cilium-config', items: [{ key: 'debug', path: 'debug' }] } },
                { downwardAPI: { items: [{ path: 'podname', fieldRef: { fieldPath: 'metadata.name' } }] } },
                { serviceAccountToken: { path: 'vault-token', audience: 'vault', expirationSeconds: 7200 } },
              ],
            },
          },
        ],
      },
      join(dir, 'pod-proj'),
      v,
      sources,
    );
    const tls = prepared.sources.get('tls')!;
    expect(readFileSync(join(tls, 'tls.crt'), 'utf8')).toBe('CERT');
    expect(readFileSync(join(tls, 'tls.key'), 'utf8')).toBe('KEY');
    const mix = prepared.sources.get('mix')!;
    expect(readFileSync(join(mix, 'certs', 'server.crt'), 'utf8')).toBe('CERT');
    expect(readFileSync(join(mix, 'debug'), 'utf8')).toBe('true');
    expect(readFileSync(join(mix, 'podname'), 'utf8')).toBe('relay-abc');
    expect(readFileSync(join(mix, 'vault-token'), 'utf8')).toBe('token-of-kube-system-hubble-relay');
    expect(projected.map((p) => p.request)).toEqual([
      { namespace: 'kube-system', serviceAccount: 'hubble-relay', expirationSeconds: 7200, audience: 'vault' },
    ]);
    expect(prepared.serviceAccount).toBeUndefined();
    await expect(
      prepareVolumes(
        {
          namespace: 'x',
          volumes: [{ name: 's', secret: { secretName: 'nope' } }],
          automountServiceAccountToken: false,
        },
        join(dir, 'pod-nosecret'),
        v,
        sources,
      ),
    ).rejects.toThrow(/secret "nope" not found \(volume s\)/);
    prepared.stop();
  });

  it('a reader in another process sees one version of a rotated file whole, never a mix or a missing file', async () => {
    const vol = join(dir, 'atomic');
    const version = (n: number) => String(n).padStart(8, '0').repeat(8192); // 64 KiB: several write calls
    writePayload(vol, { token: { content: version(0) } });
    // the reader: reads for 1.5 s, counts reads and torn ones (chunks of two versions, or ENOENT)
    const reader = spawn(
      process.execPath,
      [
        '-e',
        `const fs=require('fs');let reads=0,torn=0;const end=Date.now()+1500;
         while(Date.now()<end){try{const t=fs.readFileSync(process.argv[1],'utf8');reads++;
         if(t.length!==65536||t!==t.slice(0,8).repeat(8192))torn++;}catch{torn++;}}
         console.log(JSON.stringify({reads,torn}));`,
        join(vol, 'token'),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    reader.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise((r) => reader.on('exit', r));
    let writes = 0;
    while (reader.exitCode === null && writes < 20_000) {
      writePayload(vol, { token: { content: version(++writes) } }, { retireAfterMs: 200 });
      await new Promise((r) => setTimeout(r, 2));
    }
    await exited;
    const { reads, torn } = JSON.parse(out) as { reads: number; torn: number };
    expect(writes).toBeGreaterThan(10);
    expect(reads).toBeGreaterThan(10);
    expect(torn).toBe(0);
    // once the grace period is over, one version directory remains beside ..data
    await new Promise((r) => setTimeout(r, 250));
    sweepRetired(vol, 200);
    expect(readdirSync(vol).filter((f) => f.startsWith('..') && f !== '..data')).toHaveLength(1);
  });
});

describe('container environment', () => {
  const fields: PodFields = {
    name: 'cilium-abcde',
    namespace: 'kube-system',
    uid: 'u-1',
    nodeName: 'node-1',
    serviceAccountName: 'cilium',
    hostIP: '172.30.0.1',
    podIP: '172.30.0.1',
    labels: { 'k8s-app': 'cilium' },
    annotations: {},
  };

  it.each([
    ['spec.nodeName', 'node-1'],
    ['metadata.namespace', 'kube-system'],
    ['metadata.name', 'cilium-abcde'],
    ['status.hostIP', '172.30.0.1'],
    ["metadata.labels['k8s-app']", 'cilium'],
    ["metadata.annotations['none']", ''],
    ['spec.unknown', undefined],
  ])('fieldRef %s → %s', (path, want) => expect(fieldValue(fields, path)).toBe(want));

  it('values, fieldRef, configMapKeyRef and $(VAR), with the in-cluster API server address', async () => {
    const env = await containerEnv({
      fields,
      apiServer: { host: '127.0.0.1', port: 6443 },
      configMap: async (name) => (name === 'cilium-config' ? { 'cni-exclusive': 'true' } : undefined),
      env: [
        { name: 'K8S_NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
        { name: 'CNI_EXCLUSIVE', valueFrom: { configMapKeyRef: { name: 'cilium-config', key: 'cni-exclusive' } } },
        { name: 'OPT', valueFrom: { configMapKeyRef: { name: 'missing', key: 'k', optional: true } } },
        { name: 'WHERE', value: '$(K8S_NODE_NAME)/$(UNSET)/$$(K8S_NODE_NAME)' },
      ],
    });
    expect(env).toMatchObject({
      KUBERNETES_SERVICE_HOST: '127.0.0.1',
      KUBERNETES_SERVICE_PORT: '6443',
      HOSTNAME: 'cilium-abcde',
      K8S_NODE_NAME: 'node-1',
      CNI_EXCLUSIVE: 'true',
      WHERE: 'node-1/$(UNSET)/$(K8S_NODE_NAME)',
    });
    expect(env.OPT).toBeUndefined();
    await expect(
      containerEnv({
        fields,
        configMap: async () => undefined,
        env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cm', key: 'k' } } }],
      }),
    ).rejects.toThrow(/configmap cm has no key k/);
  });
});

describe('restart backoff', () => {
  it('the first restart at once (1 s), then 10 s doubling up to 5 min, as CrashLoopBackOff', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 10].map(restartDelay)).toEqual([
      1000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000,
    ]);
  });
});

describe("the image's /usr/local/bin", () => {
  it('every binary is a link to cmd-wrapper, which runs /app/build/cmd/<name>.js; install-cni.sh and node are there', () => {
    const bin = join(dir, 'image-bin');
    writeImageBin(bin);
    writeImageBin(bin); // idempotent
    for (const b of ['cilium-agent', 'cilium-operator', 'hubble-relay', 'cilium-dbg', 'hubble'])
      expect(readlinkSync(join(bin, b))).toBe('cmd-wrapper');
    expect(readFileSync(join(bin, 'cmd-wrapper'), 'utf8')).toBe(
      readFileSync(join(PACKAGE_ROOT, 'images', 'bin', 'cmd-wrapper.sh'), 'utf8'),
    );
    expect(readFileSync(join(bin, 'install-cni.sh'), 'utf8')).toBe(
      readFileSync(join(PACKAGE_ROOT, 'images', 'agent', 'install-cni.sh'), 'utf8'),
    );
    // In a container, `node` is the pinned one even when a volume covers the host path it lives at
    // (an emptyDir at /tmp while the checkout is under /tmp): the host's own node is older. Here the
    // "volume" covers the pinned node's own directory, wherever the checkout is.
    const emptyDir = mkdtempSync(join(tmpdir(), 'kts-empty-'));
    try {
      const [cmd, ...args] = withMounts(
        [...imageMounts(bin), { source: emptyDir, target: dirname(realpathSync(PINNED_NODE)) }],
        ['sh', '-c', 'node -e "console.log(process.version)"'],
      );
      expect(execFileSync(cmd!, args, { encoding: 'utf8', env: { PATH: IMAGE_PATH } })).toMatch(/^v24\./);
    } finally {
      rmSync(emptyDir, { recursive: true, force: true });
    }
  });
});
