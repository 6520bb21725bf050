import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EmbeddedStore } from '../../src/store/embedded.js';
import { ROOT } from '../helpers/goku.js';

// The embedded store under SIGKILL: a process writing as fast as it can is killed at random
// moments; every time, the file is whole and holds the old or the new state, never a mix.
describe('embedded store crash safety', () => {
  const home = mkdtempSync(join(tmpdir(), 'goku-store-'));
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  const writer = `
    import { EmbeddedStore } from ${JSON.stringify(join(ROOT, 'dist/store/embedded.js'))};
    const store = new EmbeddedStore(process.argv[1]);
    let n = store.read().keys.length;
    for (;;) {
      n++;
      // Each state is self-consistent: n keys, each naming n, and a payload big enough that a
      // write takes many syscalls.
      await store.update((s) => {
        s.keys = Array.from({ length: n }, (_, i) => ({ name: 'k' + i, type: String(n), blob: 'x'.repeat(2000), fingerprint: '', admin: false, addedAt: '' }));
      });
    }
  `;

  it('always reads a whole, consistent state after a kill in the middle of writes', async () => {
    let last = 0;
    for (let round = 0; round < 12; round++) {
      const child = spawn(process.execPath, ['--input-type=module', '-e', writer, home], { stdio: 'ignore' });
      // Node's start takes longer than the kill delay on a loaded machine: the first round
      // kills only once the writer has written.
      for (let i = 0; i < 200 && !existsSync(join(home, 'store.json')); i++)
        await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 150 + Math.random() * 250));
      const exited = new Promise((r) => child.on('exit', r));
      child.kill('SIGKILL');
      await exited;
      // The file parses, and its state is one that a single update produced.
      JSON.parse(readFileSync(join(home, 'store.json'), 'utf8'));
      const keys = new EmbeddedStore(home).read().keys;
      expect(keys.length).toBeGreaterThanOrEqual(last);
      expect(new Set(keys.map((k) => k.type))).toEqual(new Set([String(keys.length)]));
      last = keys.length;
    }
    expect(last).toBeGreaterThan(12);
  });
});
