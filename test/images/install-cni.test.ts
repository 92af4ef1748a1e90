// images/agent/install-cni.sh's host check: the node binary it would copy to the host must match
// the host's architecture (ELF e_machine vs `uname -m`) and its ELF interpreter (the libc loader)
// must exist under the host root, following the host's symbolic links; otherwise it exits 1 with
// one line naming what is wrong and installs nothing. Foreign binaries are crafted from the real
// node binary's header (e_machine patched), missing loaders by an empty or partial host root.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { REPO } from '../install/tools.js';

const SCRIPT = join(REPO, 'images', 'agent', 'install-cni.sh');
/** The ELF header and program headers of the real node binary (enough for the check, small to copy). */
const NODE_HEAD = readFileSync(process.execPath).subarray(0, 64 * 1024);
/** PT_INTERP of the real node binary (ELF64, in its own byte order), as the kernel would read it. */
function interpreter(elf: Buffer): string {
  const le = elf[5] === 1;
  const u16 = (o: number) => (le ? elf.readUInt16LE(o) : elf.readUInt16BE(o));
  const u32 = (o: number) => (le ? elf.readUInt32LE(o) : elf.readUInt32BE(o));
  const u64 = (o: number) => Number(le ? elf.readBigUInt64LE(o) : elf.readBigUInt64BE(o));
  for (let i = 0; i < u16(56); i++) {
    const ph = u64(32) + i * u16(54);
    if (u32(ph) === 3) return elf.toString('latin1', u64(ph + 8), u64(ph + 8) + u64(ph + 32) - 1);
  }
  throw new Error('node has no PT_INTERP');
}
const LOADER = interpreter(NODE_HEAD);
/** This host as the script names it (`uname -m`), and machines that are not this host (e_machine numbers from the ELF spec). */
const HOST = spawnSync('uname', ['-m'], { encoding: 'utf8' }).stdout.trim();
const FOREIGN = HOST === 'aarch64' ? { name: 'x86_64', machine: 62 } : { name: 'aarch64', machine: 183 };
const FOREIGN_BIG_ENDIAN = HOST === 's390x' ? { name: 'ppc64', machine: 21 } : { name: 's390x', machine: 22 };

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cilium-ts-install-cni-host-'));
  // a stand-in bundle: the check runs before anything is copied, and a passing check installs it
  writeFileSync(join(dir, 'bundle.mjs'), 'process.stdout.write("ok")\n');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of node's header with e_machine (and for big-endian, EI_DATA) changed. */
function craft(name: string, patch: (b: Buffer) => void): string {
  const b = Buffer.from(NODE_HEAD);
  patch(b);
  const p = join(dir, name);
  writeFileSync(p, b);
  return p;
}

function install(nodeBin: string, hostRoot: string) {
  const r = spawnSync('sh', [SCRIPT], {
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      CNI_BIN_DIR: join(dir, 'host', 'opt', 'cni', 'bin'),
      CNI_CONF_DIR: join(dir, 'host', 'etc', 'cni', 'net.d'),
      CNI_BUNDLE: join(dir, 'bundle.mjs'),
      NODE_BIN: nodeBin,
      HOST_ROOT: hostRoot,
    },
  });
  const installed = (() => {
    try {
      return readdirSync(join(dir, 'host', 'opt', 'cni', 'bin'));
    } catch {
      return [];
    }
  })();
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, installed };
}

/** A host root holding only the loader (as a file, or behind the links a usrmerged host has). */
function hostRootWithLoader(links: boolean): string {
  const root = join(dir, 'root');
  if (!links) {
    mkdirSync(join(root, dirname(LOADER)), { recursive: true });
    writeFileSync(join(root, LOADER), '');
    return root;
  }
  // /lib64 → usr/lib64 (relative), /usr/lib64/<loader> → /usr/lib/real-loader (absolute: the host's, not ours)
  mkdirSync(join(root, 'usr', dirname(LOADER)), { recursive: true });
  mkdirSync(join(root, 'usr', 'lib'), { recursive: true });
  writeFileSync(join(root, 'usr', 'lib', 'real-loader'), '');
  const top = LOADER.split('/')[1]!;
  if (top !== 'usr') symlinkSync(`usr/${top}`, join(root, top));
  symlinkSync('/usr/lib/real-loader', join(root, 'usr', LOADER.replace(/^\/usr\//, '/')));
  return root;
}

describe('install-cni.sh host check', () => {
  it('installs when the binary matches the host and its loader is there (this machine as the host)', () => {
    const r = install(process.execPath, '/');
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(r.installed.sort()).toEqual(['cilium-cni', 'cilium-cni.d']);
  });

  it('finds the loader behind relative and absolute links, resolved inside the host root', () => {
    const r = install(process.execPath, hostRootWithLoader(true));
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    const plain = install(process.execPath, hostRootWithLoader(false));
    expect(plain.status).toBe(0);
  });

  it(`refuses a binary of another machine (${FOREIGN.name}) on this ${HOST} host and installs nothing`, () => {
    const foreign = craft(`node-${FOREIGN.name}`, (b) => {
      b[5] = 1; // ELFDATA2LSB
      b.writeUInt16LE(FOREIGN.machine, 18);
    });
    const r = install(foreign, '/');
    expect(r).toEqual({
      status: 1,
      stdout: '',
      stderr: `install-cni: ${foreign} is built for ${FOREIGN.name} but this host is ${HOST}: use the image built for ${HOST}; nothing installed\n`,
      installed: [],
    });
  });

  it(`reads e_machine in the binary’s byte order (a big-endian ${FOREIGN_BIG_ENDIAN.name} header)`, () => {
    const foreign = craft(`node-${FOREIGN_BIG_ENDIAN.name}`, (b) => {
      b[5] = 2; // ELFDATA2MSB
      b.writeUInt16BE(FOREIGN_BIG_ENDIAN.machine, 18);
    });
    const r = install(foreign, '/');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`is built for ${FOREIGN_BIG_ENDIAN.name} but this host is ${HOST}`);
    expect(r.installed).toEqual([]);
  });

  it('refuses when the loader is not on the host (an empty host root), naming it', () => {
    mkdirSync(join(dir, 'empty'));
    const r = install(process.execPath, join(dir, 'empty'));
    expect(r).toEqual({
      status: 1,
      stdout: '',
      stderr: `install-cni: ${process.execPath} needs the loader ${LOADER} (its libc), which the host does not have (looked in ${join(dir, 'empty')}${LOADER}): a glibc host of the image's architecture is required; nothing installed\n`,
      installed: [],
    });
  });

  it('refuses when the loader path is a dangling link on the host', () => {
    const root = hostRootWithLoader(true);
    rmSync(join(root, 'usr', 'lib', 'real-loader'));
    const r = install(process.execPath, root);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`needs the loader ${LOADER}`);
  });

  it('refuses a file that is not ELF, a truncated header, and a missing binary', () => {
    writeFileSync(join(dir, 'script'), '#!/bin/sh\necho hi\n');
    expect(install(join(dir, 'script'), '/')).toMatchObject({
      status: 1,
      stderr: `install-cni: ${join(dir, 'script')} is not an ELF executable; nothing installed\n`,
      installed: [],
    });
    writeFileSync(join(dir, 'short'), NODE_HEAD.subarray(0, 16));
    expect(install(join(dir, 'short'), '/')).toMatchObject({ status: 1, installed: [] });
    expect(install(join(dir, 'short'), '/').stderr).toMatch(/is truncated/);
    expect(install(join(dir, 'missing'), '/')).toMatchObject({
      status: 1,
      stderr: `install-cni: ${join(dir, 'missing')} does not exist; nothing installed\n`,
    });
  });

  it('requires HOST_ROOT', () => {
    const r = spawnSync('sh', [SCRIPT], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', CNI_BIN_DIR: join(dir, 'b'), CNI_CONF_DIR: join(dir, 'c') },
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('HOST_ROOT is required');
    expect(readdirSync(dir)).toEqual(['bundle.mjs']);
  });
});
