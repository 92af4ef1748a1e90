// What the devcluster puts where the install's images would be: the package root at /app (as the
// images COPY it) and /usr/local/bin as the images lay it out — every binary name a link to
// images/bin/cmd-wrapper.sh (which runs /app/build/cmd/<name>.js with `node`), install-cni.sh,
// and `node` itself (the pinned one, bound over a placeholder). A container's `command` then resolves exactly as in the
// images, with no separate launch path.
import {
  copyFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT, PINNED_NODE, type Binary } from '../../cdk8s/process-launch.js';
import type { BindMount } from './mounts.js';

/** Where the images have the package (images/*\/Dockerfile: WORKDIR /app). */
export const IMAGE_APP_DIR = '/app';
export const IMAGE_BIN_DIR = '/usr/local/bin';
/** The PATH of a container (the Node images' default). */
export const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The binaries of the three images (agent, operator, relay), each a cmd-wrapper link. */
const BINARIES: readonly Binary[] = [
  'cilium-agent',
  'cilium-l7proxy',
  'cilium-dbg',
  'hubble',
  'cilium-operator',
  'hubble-relay',
  'cilium',
  'cilium-cni',
];

/** Writes the image's /usr/local/bin into `dir` (idempotent). */
export function writeImageBin(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const put = (name: string, from: string, mode = 0o755) => {
    copyFileSync(from, join(dir, name));
    chmodSync(join(dir, name), mode);
  };
  put('cmd-wrapper', join(PACKAGE_ROOT, 'images', 'bin', 'cmd-wrapper.sh'));
  put('install-cni.sh', join(PACKAGE_ROOT, 'images', 'agent', 'install-cni.sh'));
  put('mount-fs.sh', join(PACKAGE_ROOT, 'images', 'agent', 'mount-fs.sh'));
  const link = (name: string, to: string) => {
    const p = join(dir, name);
    if (existsSync(p)) rmSync(p);
    symlinkSync(to, p);
  };
  for (const b of BINARIES) link(b, 'cmd-wrapper');
  // A placeholder: imageMounts binds the pinned node over it. Not a link to the host path, which a
  // container can't see when a volume covers it (an emptyDir at /tmp while the checkout is under
  // /tmp), and a dangling link would leave the host's own `node` first in PATH.
  const node = join(dir, 'node');
  if (existsSync(node)) rmSync(node);
  writeFileSync(node, '');
  chmodSync(node, 0o755);
}

/** The image part of every container's view: the package at /app, the image's /usr/local/bin. */
export function imageMounts(imageBin: string): BindMount[] {
  return [
    { source: PACKAGE_ROOT, target: IMAGE_APP_DIR },
    { source: imageBin, target: IMAGE_BIN_DIR, readOnly: true },
    // The real file (install-cni.sh copies `command -v node` next to the plugin), bound after its directory.
    { source: realpathSync(PINNED_NODE), target: `${IMAGE_BIN_DIR}/node`, readOnly: true },
  ];
}
