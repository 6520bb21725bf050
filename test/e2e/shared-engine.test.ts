import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppRepo, GokuServer, httpdApp, type SshKey, uniquePrefix } from '../helpers/goku.js';

// Two gokus on one Docker engine each touch only their own objects (filtered by goku.home);
// names are the one thing the engine makes them share, so one takes a GOKU_CONTAINER_PREFIX.
describe('two gokus on one engine', () => {
  const a = new GokuServer();
  const b = new GokuServer({ env: { GOKU_CONTAINER_PREFIX: 'b-' } });
  const c = new GokuServer();
  const app = `${uniquePrefix()}-same`;
  const keys: SshKey[] = [];

  const push = async (server: GokuServer, key: SshKey, body: string) => {
    const repo = new AppRepo(server.tmp, app, server, key);
    repo.write(httpdApp(body));
    repo.commit(body);
    return repo.push();
  };

  beforeAll(async () => {
    for (const s of [a, b, c]) keys.push(await s.startWithKey());
  });
  afterAll(async () => {
    for (const s of [a, b, c]) await s.cleanup();
  });

  it('the same app name on both: own names, own images; destroying one leaves the other whole', async () => {
    expect((await push(a, keys[0] as SshKey, 'from a')).code).toBe(0);
    const rb = await push(b, keys[1] as SshKey, 'from b');
    expect(rb.code, rb.stderr).toBe(0);
    expect((await a.get(`${app}.${a.domain}`)).body).toBe('from a\n');
    expect((await b.get(`${app}.${b.domain}`)).body).toBe('from b\n');
    expect(await a.settled(app, [app])).toEqual([app]);
    expect(await b.settled(app, [`b-${app}`])).toEqual([`b-${app}`]);

    // A third goku without a prefix cannot take the name the first one uses.
    const rc = await push(c, keys[2] as SshKey, 'from c');
    expect(rc.code).not.toBe(0);
    expect(rc.stderr).toMatch(
      new RegExp(
        `a container named ${app} exists that this goku does not own \\(another goku, GOKU_HOME ${a.home}\\)`,
      ),
    );
    expect(await a.settled(app, [app])).toEqual([app]);

    const imagesOfB = b.images(app);
    expect(imagesOfB.length).toBeGreaterThan(0);
    expect((await a.cli(['apps:destroy', app, '--force'])).code).toBe(0);
    expect(a.containers(app)).toEqual([]);
    expect(a.images(app)).toEqual([]);
    expect(b.images(app)).toEqual(imagesOfB);
    expect(b.names(app)).toEqual([`b-${app}`]);
    expect((await b.get(`${app}.${b.domain}`)).body).toBe('from b\n');
  });

  it('a container left with its temporary name (goku stopped mid-retire) gets its name back at start', async () => {
    await b.stop();
    const id = b.ids(app)[0] as string;
    execFileSync('docker', ['rename', id, `b-${app}--interrupted`]);
    await b.start();
    expect(await b.settled(app, [`b-${app}`])).toEqual([`b-${app}`]);
    expect((await b.get(`${app}.${b.domain}`)).body).toBe('from b\n');
  });
});
