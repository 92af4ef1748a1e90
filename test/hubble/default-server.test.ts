import { describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SERVER, DEVCLUSTER_RELAY, defaultServer } from '../../hubble/cli.js';

describe('hubble --server default', () => {
  it("is $HUBBLE_SERVER, else the devcluster's relay socket when present, else localhost:4245", () => {
    const dir = mkdtempSync(join(tmpdir(), 'kts-hubble-default-'));
    try {
      expect(defaultServer({}, dir)).toBe(DEFAULT_SERVER);
      mkdirSync(join(dir, '.devcluster', 'nodes'), { recursive: true });
      writeFileSync(join(dir, DEVCLUSTER_RELAY), '');
      expect(defaultServer({}, dir)).toBe(`unix://${join(dir, DEVCLUSTER_RELAY)}`);
      expect(defaultServer({ HUBBLE_SERVER: 'relay:4245' }, dir)).toBe('relay:4245');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
