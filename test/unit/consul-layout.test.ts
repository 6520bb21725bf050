import { describe, expect, it } from 'vitest';
import { bundleId } from '../../src/core/certs.js';
import { fromPairs, planOps, toPairs } from '../../src/store/consul-layout.js';
import type { StoreData } from '../../src/store/types.js';
import { sampleApp } from '../integration/store-contract.js';

const data = (): StoreData => ({ version: 1, keys: [], apps: { alpha: sampleApp('alpha') } });

describe('Consul KV layout', () => {
  it('round-trips a store through pairs', () => {
    const d = data();
    expect(fromPairs(toPairs(d))).toEqual(d);
  });

  it('round-trips process counts, checks rules and extra HTTP ports; drops what is not one', () => {
    const d = data();
    const a = d.apps.alpha as NonNullable<typeof d.apps.alpha>;
    a.formation = { worker: 2, clock: 0 };
    a.checks = { disabled: ['worker'], skipped: ['_all_'] };
    a.proxyPorts = [{ host: 8080, container: 5000 }];
    expect(fromPairs(toPairs(d))).toEqual(d);
    const pairs = toPairs(d);
    // Hand-edited: a type that names no process, a negative count, a port out of range.
    const meta = JSON.parse(pairs.get('goku/apps/alpha/app') as string);
    meta.formation = { worker: 2, 'Bad Type': 1, clock: -1 };
    meta.checks = { disabled: ['worker', 7, '../x'], skipped: 'all' };
    meta.proxyPorts = [{ host: 8080, container: 5000 }, { host: 70000, container: 1 }, null];
    pairs.set('goku/apps/alpha/app', JSON.stringify(meta));
    const back = fromPairs(pairs).apps.alpha;
    expect(back?.formation).toEqual({ worker: 2 });
    expect(back?.checks).toEqual({ disabled: ['worker'], skipped: [] });
    expect(back?.proxyPorts).toEqual([{ host: 8080, container: 5000 }]);
  });

  it("round-trips HTTPS settings and certificate bundles; drops a bundle its id does not name, and ids that are not goku's", () => {
    const d = data();
    const a = d.apps.alpha as NonNullable<typeof d.apps.alpha>;
    const bundle =
      '-----BEGIN PRIVATE KEY-----\nk\n-----END PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\nc\n';
    const id = bundleId(bundle);
    const meta = {
      source: 'manual' as const,
      id,
      names: ['www.example.com'],
      issuer: 'CN=ca',
      notBefore: '2026-11-01T00:00:00.000Z',
      notAfter: '2027-11-01T00:00:00.000Z',
      fingerprint: 'AB:CD',
      installedAt: '2026-11-22T10:00:00.000Z',
    };
    a.tls = { cert: meta, redirect: true, hsts: false };
    a.certBundles = { [id]: bundle };
    const pairs = toPairs(d);
    expect(pairs.get(`goku/apps/alpha/certs/${id}`)).toBe(bundle);
    expect(fromPairs(pairs)).toEqual(d);
    // Hand-edited: a bundle under another id, and a certificate id that would name another directory.
    pairs.set('goku/apps/alpha/certs/0123456789abcdef', bundle);
    const problems: string[] = [];
    expect(fromPairs(pairs, problems).apps.alpha?.certBundles).toEqual({ [id]: bundle });
    expect(problems).toEqual([
      'goku/apps/alpha/certs/0123456789abcdef: not a certificate bundle of this id; ignored',
    ]);
    pairs.set('goku/apps/alpha/tls', JSON.stringify({ cert: { ...meta, id: '../../../etc' } }));
    expect(fromPairs(pairs).apps.alpha?.tls).toBeUndefined();
  });

  it('puts env, CONTAINERS and domains where INTERFACE §6 says', () => {
    const pairs = toPairs(data());
    expect(pairs.get('goku/apps/alpha/env/URL')).toBe('postgres://u:p@h/db?x=1');
    expect(pairs.get('goku/apps/alpha/CONTAINERS')).toBe('2');
    expect(pairs.get('goku/apps/alpha/domains')).toBe('["www.example.com","example.org"]');
  });

  it('plans a check-and-set for exactly the keys that changed', () => {
    const before = data();
    const after = structuredClone(before);
    const a = after.apps.alpha as NonNullable<typeof after.apps.alpha>;
    a.env.URL = 'changed';
    a.env.NEW = 'n';
    delete a.env.EMPTY;
    const index = (k: string) => (k.endsWith('/URL') ? 7 : k.endsWith('/EMPTY') ? 9 : 0);
    expect(planOps(before, after, index)).toEqual([
      { verb: 'cas', key: 'goku/apps/alpha/env/URL', value: 'changed', index: 7 },
      { verb: 'cas', key: 'goku/apps/alpha/env/NEW', value: 'n', index: 0 },
      { verb: 'delete-cas', key: 'goku/apps/alpha/env/EMPTY', index: 9 },
    ]);
  });

  it('removes a destroyed app as one tree', () => {
    const after = data();
    delete after.apps.alpha;
    expect(planOps(data(), after, () => 1)).toEqual([{ verb: 'delete-tree', key: 'goku/apps/alpha/' }]);
  });

  it('reads hand edits leniently and names what it ignores', () => {
    const problems: string[] = [];
    const d = fromPairs(
      new Map([
        ['goku/apps/beta/env/GOOD', 'v'],
        ['goku/apps/beta/env/1BAD', 'v'],
        ['goku/apps/beta/env/', ''],
        ['goku/apps/beta/CONTAINERS', ' 3\n'],
        ['goku/apps/beta/domains', '["Www.Example.com", "not a domain"]'],
        ['goku/apps/Bad_Name/env/X', 'v'],
        ['goku/apps/gamma/CONTAINERS', 'three'],
        ['goku/apps/gamma/whatever', 'x'],
        // Named after Object methods: keys like any other unknown one.
        ['goku/apps/gamma/constructor', 'x'],
        ['goku/apps/gamma/__proto__', '{}'],
        ['goku/apps/gamma/releases/x1', '{}'],
        ['goku/other/thing', 'x'],
      ]),
      problems,
    );
    expect(d.apps.beta?.env).toEqual({ GOOD: 'v' });
    expect(d.apps.beta?.scale).toBe(3);
    expect(d.apps.beta?.domains).toEqual(['www.example.com']);
    expect(d.apps.gamma?.scale).toBeUndefined();
    expect(Object.keys(d.apps).sort()).toEqual(['beta', 'gamma']);
    expect(problems).toHaveLength(8);
    expect(problems.join('\n')).toMatch(/gamma\/constructor: not a key goku uses/);
    expect(problems.join('\n')).toMatch(/gamma\/releases\/x1: not a key goku uses/);
    expect(problems.join('\n')).toMatch(/1BAD is not a valid env var name/);
    expect(problems.join('\n')).toMatch(/CONTAINERS is "three", not a number/);
  });

  it('leaves unusable hand-edited values alone when something else of the app changes', () => {
    const raw = new Map([
      ['goku/apps/beta/CONTAINERS', 'three'],
      ['goku/apps/beta/env/A', '1'],
    ]);
    const before = fromPairs(raw);
    const after = structuredClone(before);
    (after.apps.beta as NonNullable<typeof after.apps.beta>).env.A = '2';
    const ops = planOps(before, after, () => 5);
    expect(ops.map((o) => o.key)).toEqual(['goku/apps/beta/env/A']);
  });
});
