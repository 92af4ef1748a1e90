// Kubernetes' mountPropagation as the devcluster's containers get it (devcluster/nodes/mounts.ts):
// a Bidirectional mount's source is a shared mount on the host, and what the container mounts
// there appears on the host (as the agent pod's mount-bpf-fs init container needs); a default
// (HostToContainer) mount keeps the container's mounts inside; nothing else leaks out.
import { afterAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMountPoint, mountsUnder, shareHostPath, unmountUnder, withMounts } from '../../devcluster/nodes/mounts.js';

const dir = mkdtempSync(join(tmpdir(), 'kts-propagation-'));
afterAll(() => {
  unmountUnder(dir);
  rmSync(dir, { recursive: true, force: true });
});

const fsType = (path: string) => execFileSync('stat', ['-f', '-c', '%T', path], { encoding: 'utf8' }).trim();

/** Runs `script` as a container whose only mount is `source` at `target`. */
function container(source: string, target: string, bidirectional: boolean, script: string): void {
  const argv = withMounts([{ source, target, ...(bidirectional ? { bidirectional } : {}) }], ['sh', '-ec', script]);
  execFileSync(argv[0]!, argv.slice(1), { stdio: 'pipe' });
}

describe('mount propagation of the devcluster’s containers', () => {
  it('Bidirectional: a mount made in the container appears at the source on the host', () => {
    const source = join(dir, 'bidi');
    mkdirSync(source);
    shareHostPath(source);
    shareHostPath(source); // idempotent: one bind
    expect(mountsUnder(source)).toEqual([source]);
    const target = join(dir, 'in-container-bidi');
    container(source, target, true, `mount -t tmpfs kts-test ${target}`);
    expect(fsType(source)).toBe('tmpfs');
    // the target was the container's only: nothing mounted there on the host
    expect(isMountPoint(target)).toBe(false);
  });

  it('HostToContainer (the default): the container’s mounts stay inside', () => {
    const source = join(dir, 'h2c');
    mkdirSync(source);
    const target = join(dir, 'in-container-h2c');
    container(source, target, false, `mount -t tmpfs kts-test ${target}`);
    expect(isMountPoint(source)).toBe(false);
    expect(isMountPoint(target)).toBe(false);
  });

  it('unmountUnder removes what was mounted below a directory, stacked mounts included', () => {
    expect(mountsUnder(dir).length).toBeGreaterThanOrEqual(2);
    unmountUnder(dir);
    expect(mountsUnder(dir)).toEqual([]);
  });
});
