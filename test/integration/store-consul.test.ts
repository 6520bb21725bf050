import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConsulStore } from '../../src/store/consul.js';
import type { AppRecord } from '../../src/store/types.js';
import { FakeConsul } from '../helpers/consul-fake.js';
import { eventually } from '../helpers/goku.js';
import { sampleApp, storeContract, TRICKY } from './store-contract.js';

// No Consul can be installed here: these run against FakeConsul, an in-test HTTP server that
// speaks the KV, transaction and agent-service API subset goku uses (test/helpers/consul-fake.ts).
const log = pino({ level: 'silent' });

storeContract('consul', async () => {
  const consul = new FakeConsul('s3cret');
  await consul.start();
  return {
    open: () => ConsulStore.open({ url: consul.url, token: 's3cret', log }),
    cleanup: () => consul.stop(),
  };
});

describe('consul store: layout, hand edits, other writers, failures', () => {
  let consul: FakeConsul;
  const stores: ConsulStore[] = [];
  const open = async (token = 's3cret') => {
    const s = await ConsulStore.open({ url: consul.url, token, log });
    stores.push(s);
    return s;
  };
  beforeEach(async () => {
    consul = new FakeConsul('s3cret');
    await consul.start();
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) s.close();
    await consul.stop();
  });

  it('writes the layout an operator can use with consul kv', async () => {
    const s = await open();
    await s.update((d) => {
      d.apps.alpha = sampleApp('alpha');
    });
    expect(consul.get('goku/apps/alpha/env/TRICKY')).toBe(TRICKY);
    expect(consul.get('goku/apps/alpha/env/EMPTY')).toBe('');
    expect(consul.get('goku/apps/alpha/CONTAINERS')).toBe('2');
    expect(JSON.parse(consul.get('goku/apps/alpha/domains') ?? '')).toEqual([
      'www.example.com',
      'example.org',
    ]);
    expect(consul.keys('goku/apps/alpha/deployments/')).toEqual([
      'goku/apps/alpha/deployments/alpha',
      'goku/apps/alpha/deployments/alpha-dev',
    ]);
    expect(consul.keys('goku/apps/alpha/releases/')).toHaveLength(3);
    // Every write is one check-and-set transaction.
    expect(consul.requests.filter((r) => r.startsWith('PUT /v1/kv/'))).toEqual([]);
    expect(consul.requests.filter((r) => r.startsWith('PUT /v1/txn'))).toHaveLength(1);
  });

  it('sees hand edits (consul kv put) within moments, and ignores garbage without deleting it', async () => {
    const s = await open();
    await s.update((d) => {
      d.apps.alpha = { ...sampleApp('alpha'), scale: undefined };
    });
    consul.put('goku/apps/alpha/env/BY_HAND', 'yes = really');
    consul.put('goku/apps/alpha/CONTAINERS', '3');
    consul.put('goku/apps/alpha/domains', '["Hand.Example.com"]');
    consul.put('goku/apps/gamma/env/NEW_APP', '1');
    const seen = await eventually(
      async () => s.read(),
      (d) => d.apps.alpha?.scale === 3 && d.apps.gamma !== undefined,
    );
    expect(seen.apps.alpha?.env.BY_HAND).toBe('yes = really');
    expect(seen.apps.alpha?.domains).toEqual(['hand.example.com']);
    expect(seen.apps.gamma?.env).toEqual({ NEW_APP: '1' });

    consul.put('goku/apps/alpha/CONTAINERS', 'abc');
    consul.put('goku/apps/alpha/env/1BAD', 'x');
    consul.put('goku/apps/Bad_App/env/X', 'x');
    await eventually(
      async () => s.read(),
      (d) => d.apps.alpha?.scale === undefined,
    );
    await s.update((d) => {
      (d.apps.alpha as AppRecord).env.LATER = '1';
    });
    expect(consul.get('goku/apps/alpha/CONTAINERS')).toBe('abc');
    expect(consul.get('goku/apps/alpha/env/1BAD')).toBe('x');
    expect(consul.get('goku/apps/Bad_App/env/X')).toBe('x');
    expect(consul.get('goku/apps/alpha/env/LATER')).toBe('1');
  });

  it('two gokus writing at once lose nothing (check-and-set, then retry on fresh data)', async () => {
    const a = await open();
    const b = await open();
    await a.update((d) => {
      d.apps.alpha = { ...sampleApp('alpha'), env: {} };
    });
    await eventually(
      async () => b.read(),
      (d) => d.apps.alpha !== undefined,
    );
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? a : b).update((d) => {
          const app = d.apps.alpha as AppRecord;
          app.env.COUNT = String(Number(app.env.COUNT ?? 0) + 1);
        }),
      ),
    );
    expect(consul.get('goku/apps/alpha/env/COUNT')).toBe('10');
    expect(consul.requests.some((r) => r.startsWith('PUT /v1/txn'))).toBe(true);
  });

  it("a watch answer read before this goku's own write does not undo the write when it arrives", async () => {
    const s = await open();
    await s.update((d) => {
      d.apps.alpha = { ...sampleApp('alpha'), env: { A: '1' } };
    });
    // Another writer wakes this goku's watch; its answer is read at once and arrives 300 ms later.
    consul.answerDelayMs = 300;
    consul.put('goku/apps/alpha/env/BY_HAND', 'yes');
    await new Promise((r) => setTimeout(r, 50));
    await s.update((d) => {
      (d.apps.alpha as AppRecord).env.MINE = '1';
    });
    await new Promise((r) => setTimeout(r, 500));
    consul.answerDelayMs = 0;
    expect(s.read().apps.alpha?.env.MINE).toBe('1');
    const seen = await eventually(
      async () => s.read(),
      (d) => d.apps.alpha?.env.BY_HAND === 'yes',
    );
    expect(seen.apps.alpha?.env.MINE).toBe('1');
  });

  it('a hand edit between read and write is not overwritten', async () => {
    const s = await open();
    await s.update((d) => {
      d.apps.alpha = { ...sampleApp('alpha'), env: { A: '1' } };
    });
    consul.put('goku/apps/alpha/env/A', 'by hand');
    // The update below may run before the watch has seen the edit: its check-and-set fails,
    // and it is applied again on the fresh value.
    await s.update((d) => {
      const app = d.apps.alpha as AppRecord;
      app.env.A = `${app.env.A}+goku`;
    });
    expect(consul.get('goku/apps/alpha/env/A')).toBe('by hand+goku');
  });

  it('fails clearly when Consul answers 500, and nothing is written', async () => {
    const s = await open();
    await s.update((d) => {
      d.apps.alpha = sampleApp('alpha');
    });
    consul.failWith = 500;
    const err = await s
      .update((d) => {
        (d.apps.alpha as AppRecord).env.NEW = '1';
      })
      .catch((e: unknown) => e as Error & { code?: string });
    expect(err).toMatchObject({ code: 'GOKU_ERR_STORE_UNAVAILABLE' });
    expect(err?.message).toMatch(new RegExp(`^Consul at ${consul.url} answered 500`));
    consul.failWith = null;
    expect(consul.get('goku/apps/alpha/env/NEW')).toBeUndefined();
    expect(s.read().apps.alpha?.env.NEW).toBeUndefined();
  });

  it('fails clearly when Consul is unreachable; reads keep working from the last copy', async () => {
    const s = await open();
    await s.update((d) => {
      d.apps.alpha = sampleApp('alpha');
    });
    await consul.stop();
    await expect(
      s.update((d) => {
        (d.apps.alpha as AppRecord).env.NEW = '1';
      }),
    ).rejects.toMatchObject({
      code: 'GOKU_ERR_STORE_UNAVAILABLE',
      message: expect.stringMatching(/unreachable/),
    });
    expect(s.read().apps.alpha?.env.TRICKY).toBe(TRICKY);
    await expect(s.syncServices('alpha', [])).rejects.toMatchObject({ code: 'GOKU_ERR_STORE_UNAVAILABLE' });
    await expect(ConsulStore.open({ url: consul.url, log })).rejects.toMatchObject({
      code: 'GOKU_ERR_SETTINGS',
      message: expect.stringMatching(/^GOKU_CONSUL_URL: Consul at .* is unreachable/),
    });
  });

  it('refuses a wrong token with a message naming GOKU_CONSUL_TOKEN', async () => {
    await expect(open('wrong')).rejects.toMatchObject({
      message: expect.stringMatching(/refused the token .*GOKU_CONSUL_TOKEN/),
    });
  });

  it('refuses a change larger than one transaction, writing nothing', async () => {
    const s = await open();
    await s.update((d) => {
      d.apps.alpha = { ...sampleApp('alpha'), env: {} };
    });
    await expect(
      s.update((d) => {
        for (let i = 0; i < 70; i++) (d.apps.alpha as AppRecord).env[`K${i}`] = 'v';
      }),
    ).rejects.toMatchObject({ code: 'GOKU_ERR_STORE_LIMIT' });
    expect(consul.keys('goku/apps/alpha/env/')).toEqual([]);
  });

  it('destroys an app of many keys in one transaction', async () => {
    const s = await open();
    await s.update((d) => {
      d.apps.alpha = sampleApp('alpha');
    });
    for (let i = 0; i < 100; i++) consul.put(`goku/apps/alpha/env/K${i}`, 'v');
    await eventually(
      async () => s.read(),
      (d) => Object.keys(d.apps.alpha?.env ?? {}).length === 103,
    );
    await s.update((d) => {
      delete d.apps.alpha;
    });
    expect(consul.keys('goku/apps/alpha/')).toEqual([]);
  });
});
