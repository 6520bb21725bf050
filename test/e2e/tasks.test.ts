import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppRepo, GokuServer, type SshKey, uniquePrefix } from '../helpers/goku.js';

// Dokku's deployment tasks: app.json's scripts.dokku.predeploy (committed into the image) and
// the Procfile's release run in one-off containers of the new image with the new config
// before anything starts, and a failure changes nothing; postdeploy runs after the switch and
// its failure is only reported. Heroku's scripts.postdeploy runs after the first deploy only.
describe('release phase and deployment tasks', () => {
  const server = new GokuServer();
  const p = uniquePrefix();
  let key: SshKey;

  const files = (o: { predeploy?: string; postdeploy?: string; release?: string; body?: string } = {}) => ({
    Dockerfile:
      'FROM goku-test/busybox:1\nCOPY www /www\nEXPOSE 8000\nCMD ["httpd", "-f", "-p", "8000", "-h", "/www"]\n',
    'www/index.html': `${o.body ?? 'index'}\n`,
    'app.json': JSON.stringify({
      scripts: {
        dokku: {
          predeploy: o.predeploy ?? 'echo "made by predeploy for $GREETING" > /www/pre.html',
          postdeploy: o.postdeploy ?? 'echo postdeploy ran',
        },
        postdeploy: 'echo first deploy only',
      },
    }),
    Procfile: `web: httpd -f -p 8000 -h /www\nrelease: ${o.release ?? 'echo "release ran with $GREETING"; test "$FAIL" != yes'}\n`,
  });
  const get = (app: string, path = '/') => server.get(`${app}.${server.domain}`, path);

  beforeAll(async () => {
    key = await server.startWithKey();
  });
  afterAll(() => server.cleanup());

  it('predeploy writes a file the web process serves, release and postdeploy run with the new config; no config value enters the image', async () => {
    const app = `${p}-tasks`;
    await server.ok(['apps:create', app]);
    await server.ok(['config:set', app, 'GREETING=hello', '--no-restart']);
    const repo = new AppRepo(server.tmp, app, server, key);
    repo.write(files());
    repo.commit('one');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    const out = r.stderr;
    expect(out).toContain('-----> Running predeploy task: echo "made by predeploy');
    expect(out).toContain('release ran with hello');
    expect(out).toContain('postdeploy ran');
    expect(out).toContain('first deploy only');
    // Order: predeploy, release, then the switch, then postdeploy.
    expect(out.indexOf('Running release task')).toBeGreaterThan(out.indexOf('Running predeploy task'));
    expect(out.indexOf('-----> Routing')).toBeGreaterThan(out.indexOf('release ran with hello'));
    expect(out.indexOf('postdeploy ran')).toBeGreaterThan(out.indexOf('-----> Routing'));
    expect((await get(app, '/pre.html')).body).toBe('made by predeploy for hello\n');

    const [c] = server.containers(app);
    const image = execFileSync('docker', ['inspect', '-f', '{{.Image}}', c?.id as string])
      .toString()
      .trim();
    const env = JSON.parse(
      execFileSync('docker', ['inspect', '-f', '{{json .Config.Env}}', image]).toString(),
    );
    expect(env).not.toContain('GREETING=hello');
    const cmd = JSON.parse(
      execFileSync('docker', ['inspect', '-f', '{{json .Config.Cmd}}', image]).toString(),
    );
    expect(cmd).toEqual(['httpd', '-f', '-p', '8000', '-h', '/www']);
    // No task container is left.
    expect(server.names(app)).toEqual([app]);

    repo.write({ 'www/index.html': 'two\n' });
    repo.commit('two');
    const r2 = await repo.push();
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stderr).not.toContain('first deploy only');
    expect(r2.stderr).toContain('postdeploy ran');

    // A config change is a release: the release command runs again with the new value;
    // predeploy's work is in the image already.
    const set = await server.ok(['config:set', app, 'GREETING=bye']);
    expect(set.stdout).toContain('release ran with bye');
    expect(set.stdout).not.toContain('Running predeploy task');
    expect(set.stdout).toContain('postdeploy ran');
    expect((await get(app, '/pre.html')).body).toBe('made by predeploy for hello\n');
  });

  it('a failing release or predeploy rejects the push, a failing release fails the config change; what ran keeps running', async () => {
    const app = `${p}-fail`;
    const repo = new AppRepo(server.tmp, app, server, key);
    repo.write(files({ body: 'good' }));
    repo.commit('good');
    expect((await repo.push()).code).toBe(0);
    const ids = server.ids(app);
    const images = server.images(app);

    const bad = await server.cli(['config:set', app, 'FAIL=yes']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('error: the release task failed with exit status 1');
    expect((await server.cli(['config:get', app, 'FAIL'])).code).not.toBe(0);
    expect(server.ids(app)).toEqual(ids);

    for (const [o, says] of [
      [{ release: 'echo migrating; exit 3', body: 'bad' }, 'the release task failed with exit status 3'],
      [{ predeploy: 'echo no; exit 4', body: 'bad' }, 'the predeploy task failed with exit status 4'],
    ] as const) {
      repo.write(files(o));
      repo.commit(says);
      const r = await repo.push();
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(says);
      expect(r.stderr).toContain('pre-receive hook declined');
      expect((await get(app)).body).toBe('good\n');
      expect(server.ids(app)).toEqual(ids);
      expect(server.images(app)).toEqual(images);
    }
    expect(server.names(app)).toEqual([app]);

    // postdeploy failing is reported; the release stays (Dokku's semantics).
    repo.write(files({ postdeploy: 'echo oops; exit 5', body: 'new' }));
    repo.commit('postdeploy fails');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      'Warning: the postdeploy task failed with exit status 5; the new release stays',
    );
    expect((await get(app)).body).toBe('new\n');
  });
  it("a rollback runs the tasks of the release it goes back to, not the running one's", async () => {
    const app = `${p}-back`;
    const repo = new AppRepo(server.tmp, app, server, key);
    const plain = files({ body: 'plain' });
    await repo.deploy({ Dockerfile: plain.Dockerfile, 'www/index.html': 'plain\n' }, 'no tasks');
    await repo.deploy(files({ body: 'tasks' }), 'tasks');
    // v1 as a store written before releases kept their tasks has it: no scripts field at all.
    await server.stop();
    const file = join(server.home, 'store.json');
    const store = JSON.parse(readFileSync(file, 'utf8'));
    const v1 = store.apps[app].releases.find((r: { version: number }) => r.version === 1);
    delete v1.scripts;
    writeFileSync(file, JSON.stringify(store));
    await server.start();
    const back = await server.ok(['rollback', app, 'v1']);
    expect(back.stdout).not.toContain('postdeploy ran');
    expect((await get(app)).body).toBe('plain\n');
    // The deployment now runs v1, which had no app.json: a config change runs no task.
    const set = await server.ok(['config:set', app, 'AFTER=1']);
    expect(set.stdout).not.toContain('Running');
  });
});
