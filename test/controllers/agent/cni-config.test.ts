// The conflist the agent writes when ready (write-cni-conf-when-ready) and what cni-uninstall
// puts back: the file cilium-cni parses, with the node's MTU; removal restores *.cilium_bak.
import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseInvocation } from '../../../cni/config.js';
import { cniConflist, removeCniConf, writeCniConf } from '../../../controllers/agent/cni-config.js';

const dir = mkdtempSync(join(tmpdir(), 'kts-cni-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the agent’s CNI configuration', () => {
  it('is a conflist cilium-cni accepts, with the MTU it is given', () => {
    const text = cniConflist({ mtu: 9001 });
    const list = JSON.parse(text) as { cniVersion: string; name: string; plugins: Record<string, unknown>[] };
    expect([list.cniVersion, list.name, list.plugins.length]).toEqual(['1.0.0', 'cilium', 1]);
    // what a runtime hands the plugin: its entry with the list's cniVersion and name
    const inv = parseInvocation(
      'DEL',
      { CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' },
      JSON.stringify({ ...list.plugins[0], cniVersion: '1.0.0', name: 'cilium' }),
    );
    expect([inv.conf.type, inv.conf.mtu]).toEqual(['cilium-cni', 9001]);
  });

  it('is written atomically (no temporary file left) and replaced in place', () => {
    const path = join(dir, '05-cilium.conflist');
    writeCniConf(path, { mtu: 1400 });
    writeCniConf(path, { mtu: 1450 });
    expect(readdirSync(dir)).toEqual(['05-cilium.conflist']);
    expect((JSON.parse(readFileSync(path, 'utf8')) as { plugins: { mtu: number }[] }).plugins[0]!.mtu).toBe(1450);
  });

  it('removal restores the configurations moved aside, never over a file of the same name', () => {
    const path = join(dir, '05-cilium.conflist');
    writeCniConf(path);
    writeFileSync(join(dir, '10-flannel.conflist.cilium_bak'), '{"flannel":1}');
    writeFileSync(join(dir, '99-loopback.conf.cilium_bak'), '{"old":1}');
    writeFileSync(join(dir, '99-loopback.conf'), '{"new":1}');
    expect(removeCniConf(path)).toEqual(['10-flannel.conflist']);
    expect(existsSync(path)).toBe(false);
    expect(readFileSync(join(dir, '10-flannel.conflist'), 'utf8')).toBe('{"flannel":1}');
    expect(readFileSync(join(dir, '99-loopback.conf'), 'utf8')).toBe('{"new":1}');
    expect(removeCniConf(join(dir, 'missing', '05-cilium.conflist'))).toEqual([]);
  });
});
