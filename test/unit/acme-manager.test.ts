import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { Issued } from '../../src/acme/client.js';
import { AcmeManager, type AcmeTarget } from '../../src/app/acme.js';
import type { AcmeState } from '../../src/core/acme.js';
import { TestCa } from '../helpers/certs.mjs';

// The scheduler alone: the CA is a function here (the real one, pebble, is in
// test/e2e/acme.test.ts); certificates are real ones from a test CA.
describe('AcmeManager', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'goku-acme-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const ca = new TestCa(tmp);
  const lines: string[] = [];
  const log = pino(
    { level: 'info' },
    new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    }),
  );

  const targets = (n: number) => {
    const saved: { key: string; ok: boolean; state: AcmeState }[] = [];
    const list: AcmeTarget[] = Array.from({ length: n }, (_, i) => {
      const t: AcmeTarget = {
        id: `app/d${i}`,
        names: [`d${i}.example.test`],
        state: undefined,
        key: () => null,
        save: async (issued, state) => {
          saved.push({ key: t.id, ok: !!issued, state });
          t.state = { ...state, ...(issued ? { cert: issued.meta } : {}) };
        },
      };
      return t;
    });
    return { list, saved };
  };
  const issuer =
    (fail: Set<string>) =>
    async (names: string[]): Promise<Issued> => {
      if (names.some((n) => fail.has(n))) throw new Error(`refused ${names.join(',')}`);
      const leaf = ca.leaf(names);
      return { fullchain: leaf.cert + ca.cert, key: leaf.key, names, refused: [] };
    };
  const settle = async (m: AcmeManager) => {
    await new Promise((r) => setTimeout(r, 700));
    await m.idle();
  };

  it('issues what is due, records failures with backoff, and keeps to the hourly bound', async () => {
    const { list, saved } = targets(4);
    const m = new AcmeManager({
      issue: issuer(new Set(['d1.example.test'])),
      targets: () => list,
      clock: () => new Date(),
      log,
      maxPerHour: 3,
    });
    m.start();
    await settle(m);
    m.stop();
    expect(saved.map((s) => [s.key, s.ok])).toEqual([
      ['app/d0', true],
      ['app/d1', false],
      ['app/d2', true],
    ]);
    expect(saved[1]?.state).toMatchObject({ failures: 1, error: 'refused d1.example.test' });
    expect(list[0]?.state?.cert?.names).toEqual(['d0.example.test']);
    expect(lines.join('')).toContain('the hourly bound of attempts is reached');
  });

  it('asks again at once when a failed target gets new names, not before its backoff otherwise', async () => {
    const { list, saved } = targets(1);
    const fail = new Set(['d0.example.test']);
    const m = new AcmeManager({ issue: issuer(fail), targets: () => list, clock: () => new Date(), log });
    m.start();
    await settle(m);
    m.kick();
    await settle(m);
    expect(saved.map((s) => s.ok)).toEqual([false]);
    fail.clear();
    (list[0] as AcmeTarget).names = ['d0.example.test', 'www.d0.example.test'];
    m.kick();
    await settle(m);
    m.stop();
    expect(saved.map((s) => s.ok)).toEqual([false, true]);
    expect(list[0]?.state).toMatchObject({ failures: 0, names: ['d0.example.test', 'www.d0.example.test'] });
  });
});
