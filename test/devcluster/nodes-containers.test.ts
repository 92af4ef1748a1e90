// The kubelet-side parts of a devcluster container, one module at a time: where a hostPath lives
// on a node, the mount namespace a container runs in (real `unshare`, root), the volumes and the
// ServiceAccount token, the environment (downward API, configMapKeyRef, $(VAR)), the restart
// backoff, and the image's /usr/local/bin.
import { describe, expect, it, afterAll } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PACKAGE_ROOT, PINNED_NODE } from '../../cdk8s/process-launch.js';
import { containerEnv, fieldValue, type PodFields } from '../../devcluster/nodes/container-env.js';
import { IMAGE_PATH, imageMounts, writeImageBin } from '../../devcluster/nodes/image.js';
import { canonicalHostPath, hostPathSource, withMounts } from '../../devcluster/nodes/mounts.js';
import { restartDelay } from '../../devcluster/nodes/sandbox.js';
import { SERVICE_ACCOUNT_DIR, containerMounts, prepareVolumes } from '../../devcluster/nodes/volumes.js';

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

  it('without mounts, the command runs as it is', () => {
    expect(withMounts([], ['true'])).toEqual(['true']);
  });
});

describe('volumes and the ServiceAccount token', () => {
  const sources = {
    configMap: async (_ns: string, name: string) =>
      name === 'cilium-config' ? { debug: 'true', 'cluster-id': '0' } : undefined,
    serviceAccountToken: async (ns: string, sa: string) => `token-of-${ns}-${sa}`,
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
