import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AppRecord, ServiceRecord, Store } from '../../src/store/types.js';

/** One backing store (a directory, a Consul) that adapters can be opened on, again and again. */
export interface StoreBackend {
  open(): Promise<Store>;
  cleanup(): Promise<void>;
}

export const TRICKY = 'a b = "c" \'d\'\nsecond line ünïcödé ✓ $HOME\t';

export function sampleApp(name: string): AppRecord {
  return {
    name,
    createdAt: '2026-11-22T10:00:00.000Z',
    updatedAt: '2026-11-22T11:00:00.000Z',
    defaultBranch: 'master',
    env: { TRICKY, EMPTY: '', URL: 'postgres://u:p@h/db?x=1' },
    domains: ['www.example.com', 'example.org'],
    deployments: {
      [name]: {
        name,
        branch: 'master',
        commit: 'a'.repeat(40),
        image: `goku/${name}:abc`,
        port: 8000,
        cnameDomains: ['cname.example.com'],
        containerId: 'c1',
        containerIds: ['c1', 'c2'],
        health: { kind: 'default' },
        release: 'r1',
        deployedAt: '2026-11-22T11:00:00.000Z',
      },
      [`${name}-dev`]: {
        name: `${name}-dev`,
        branch: 'dev',
        commit: 'b'.repeat(40),
        image: `goku/${name}-dev:abc`,
        port: null,
        cnameDomains: [],
        containerId: 'c3',
        release: 'r2',
        deployedAt: '2026-11-22T11:00:00.000Z',
      },
    },
    ports: [{ host: 2525, container: 25, proto: 'tcp' }],
    scale: 2,
    releases: [1, 2, 10].map((version) => ({
      version,
      kind: 'push' as const,
      deployment: name,
      branch: 'master',
      commit: 'a'.repeat(40),
      image: `goku/${name}:abc`,
      imageId: 'sha256:x',
      digest: null,
      config: { TRICKY },
      by: 'dev',
      startedAt: '2026-11-22T10:00:00.000Z',
      finishedAt: '2026-11-22T10:01:00.000Z',
      status: 'succeeded' as const,
      reason: null,
      log: `-----> Building\nline ${version}\n`,
      release: `r${version}`,
    })),
  };
}

function service(app: string, id: string, address: string): ServiceRecord {
  return {
    id,
    name: app,
    app,
    address,
    port: 8000,
    tags: ['goku', `goku-app=${app}`],
  };
}

/**
 * What every store adapter promises (the Store port in src/store/types.ts), run against the
 * embedded store and against the Consul adapter.
 */
export function storeContract(name: string, makeBackend: () => Promise<StoreBackend>): void {
  describe(`store contract: ${name}`, () => {
    let backend: StoreBackend;
    const open: Store[] = [];
    const openStore = async () => {
      const s = await backend.open();
      open.push(s);
      return s;
    };
    beforeEach(async () => {
      backend = await makeBackend();
    });
    afterEach(async () => {
      for (const s of open.splice(0)) s.close();
      await backend.cleanup();
    });

    it('starts empty', async () => {
      expect((await openStore()).read()).toMatchObject({ version: 1, keys: [], apps: {} });
    });

    it('keeps a whole app record exactly, across a reopen', async () => {
      const s = await openStore();
      const app = sampleApp('alpha');
      await s.update((d) => {
        d.apps.alpha = structuredClone(app);
      });
      expect(s.read().apps.alpha).toEqual(app);
      expect((await openStore()).read().apps.alpha).toEqual(app);
    });

    it('keeps ssh keys', async () => {
      const s = await openStore();
      const key = {
        name: 'dev',
        type: 'ssh-ed25519',
        blob: 'AAAA',
        fingerprint: 'SHA256:x',
        admin: true,
        addedAt: '2026-11-22T10:00:00.000Z',
      };
      await s.update((d) => {
        d.keys.push(key);
      });
      expect((await openStore()).read().keys).toEqual([key]);
      await s.update((d) => {
        d.keys = [];
      });
      expect((await openStore()).read().keys).toEqual([]);
    });

    it('an update that throws changes nothing', async () => {
      const s = await openStore();
      await s.update((d) => {
        d.apps.alpha = sampleApp('alpha');
      });
      await expect(
        s.update((d) => {
          (d.apps.alpha as AppRecord).env.NEW = 'x';
          d.apps.beta = sampleApp('beta');
          throw new Error('refused');
        }),
      ).rejects.toThrow('refused');
      expect(s.read().apps.alpha?.env.NEW).toBeUndefined();
      expect(s.read().apps.beta).toBeUndefined();
      expect((await openStore()).read().apps.beta).toBeUndefined();
    });

    it('a throwing update among concurrent ones changes nothing; the others land, in order', async () => {
      const s = await openStore();
      const results = await Promise.allSettled([
        s.update((d) => {
          d.apps.alpha = sampleApp('alpha');
        }),
        s.update((d) => {
          d.apps.beta = sampleApp('beta');
          throw new Error('refused');
        }),
        s.update((d) => {
          (d.apps.alpha as AppRecord).env.AFTER = 'yes';
          return Object.keys(d.apps).length;
        }),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect((results[2] as PromiseFulfilledResult<number>).value).toBe(1);
      for (const view of [s.read(), (await openStore()).read()]) {
        expect(view.apps.beta).toBeUndefined();
        expect(view.apps.alpha?.env.AFTER).toBe('yes');
      }
    });

    it('runs concurrent updates one at a time, losing none', async () => {
      const s = await openStore();
      await s.update((d) => {
        d.apps.alpha = { ...sampleApp('alpha'), env: {} };
      });
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          s.update((d) => {
            const a = d.apps.alpha as AppRecord;
            a.env[`K${i}`] = String(Object.keys(a.env).length);
          }),
        ),
      );
      const env = (await openStore()).read().apps.alpha?.env ?? {};
      expect(Object.keys(env)).toHaveLength(20);
      expect(new Set(Object.values(env)).size).toBe(20);
    });

    it('removes what is removed: env keys, deployments, releases, scale, apps', async () => {
      const s = await openStore();
      await s.update((d) => {
        d.apps.alpha = sampleApp('alpha');
        d.apps.beta = sampleApp('beta');
      });
      await s.update((d) => {
        const a = d.apps.alpha as AppRecord;
        delete a.env.TRICKY;
        delete a.deployments['alpha-dev'];
        a.releases = a.releases?.slice(1);
        delete a.scale;
        a.domains = [];
        delete d.apps.beta;
      });
      const again = (await openStore()).read();
      expect(again.apps.beta).toBeUndefined();
      expect(Object.keys(again.apps.alpha?.env ?? {}).sort()).toEqual(['EMPTY', 'URL']);
      expect(Object.keys(again.apps.alpha?.deployments ?? {})).toEqual(['alpha']);
      expect(again.apps.alpha?.releases?.map((r) => r.version)).toEqual([2, 10]);
      expect(again.apps.alpha?.scale).toBeUndefined();
      expect(again.apps.alpha?.domains).toEqual([]);
    });

    it('read() hands out a frozen snapshot: changing it throws and changes nothing', async () => {
      const s = await openStore();
      await s.update((d) => {
        d.apps.alpha = sampleApp('alpha');
      });
      const snap = s.read();
      expect(() => {
        (snap.apps.alpha as AppRecord).env.HACK = '1';
      }).toThrow(TypeError);
      expect(() => (snap.apps.alpha as AppRecord).domains.push('x.example')).toThrow(TypeError);
      expect(s.read().apps.alpha?.env.HACK).toBeUndefined();
      // An update works on its own copy; the snapshot read before it stays as it was.
      await s.update((d) => {
        (d.apps.alpha as AppRecord).env.LATER = '1';
      });
      expect(snap.apps.alpha?.env.LATER).toBeUndefined();
      expect(s.read().apps.alpha?.env.LATER).toBe('1');
    });

    it('keeps service records per app: registered, replaced, removed', async () => {
      const s = await openStore();
      await s.syncServices('alpha', [
        service('alpha', 'alpha', '172.17.0.2'),
        service('alpha', 'alpha.2', '172.17.0.3'),
      ]);
      await s.syncServices('beta', [service('beta', 'beta', '172.17.0.4')]);
      expect((await s.services('alpha')).map((r) => r.id).sort()).toEqual(['alpha', 'alpha.2']);
      expect(await s.services('alpha')).toContainEqual(service('alpha', 'alpha.2', '172.17.0.3'));
      await s.syncServices('alpha', [service('alpha', 'alpha', '172.17.0.9')]);
      const again = await openStore();
      expect(await again.services('alpha')).toEqual([service('alpha', 'alpha', '172.17.0.9')]);
      await s.syncServices('alpha', []);
      const last = await openStore();
      expect(await last.services('alpha')).toEqual([]);
      expect((await last.services()).map((r) => r.id)).toEqual(['beta']);
    });
  });
}
