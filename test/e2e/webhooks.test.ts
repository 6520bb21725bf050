import { readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api } from '../helpers/api.js';
import { eventually, GokuServer, uniquePrefix } from '../helpers/goku.js';
import { TestRegistry } from '../helpers/registry.js';

// Registry webhooks, from real registries: a docker push reaches goku through the registry's
// own notification; Docker Hub's payload is pointed at a local registry (GOKU_DOCKERHUB_REGISTRY).
describe('registry webhooks', () => {
  const hub = new TestRegistry();
  const p = uniquePrefix();
  let reg: TestRegistry;
  let server: GokuServer;
  let urls: { dockerhub: string; registry: string; deploy: string };

  const hook = async (url: string, body: unknown, init: RequestInit = {}) => {
    const res = await fetch(url, {
      method: 'POST',
      body: typeof body === 'string' ? body : JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
      ...init,
    });
    return {
      status: res.status,
      body: (await res.json().catch(() => null)) as { message: string; apps?: string[] },
    };
  };
  const releases = async (app: string) =>
    JSON.parse((await server.cli(['releases', app, '--json'])).stdout) as {
      kind: string;
      by: string;
      status: string;
      digest: string;
    }[];
  const imageApp = async (app: string, ref: string) => {
    const r = await server.cli(['apps:create', app, '--image', ref]);
    expect(r.code, r.stderr).toBe(0);
  };

  beforeAll(async () => {
    await hub.start();
    server = new GokuServer({
      env: {
        GOKU_WEBHOOK_OWNERS: 'team',
        GOKU_DOCKERHUB_REGISTRY: `http://${hub.host}`,
        // The watcher's first poll of a new app comes at a random moment of its interval: with
        // the default 60 s it sometimes found a push before a slow notification did, and the
        // deploy was the watcher's. These tests are about the hooks (the watcher has its own).
        GOKU_WATCH_INTERVAL: '86400',
      },
    });
    await server.startWithKey();
    urls = JSON.parse((await server.cli(['webhooks', '--json'])).stdout);
    reg = new TestRegistry({
      notify: urls.registry.replace(/^http:\/\/[^/]+/, `http://127.0.0.1:${server.httpPort}`),
    });
    await reg.start();
    // The printed URLs name GOKU_DOMAIN; the tests reach the HTTP port on 127.0.0.1.
    for (const k of Object.keys(urls) as (keyof typeof urls)[]) {
      urls[k] = urls[k].replace(/^http:\/\/[^/]+/, `http://127.0.0.1:${server.httpPort}`);
    }
  });
  afterAll(async () => {
    await server?.cleanup();
    reg?.cleanup();
    hub.cleanup();
  });

  it("a docker push reaches goku through the registry's notification; the new version serves, no request fails", async () => {
    const app = `${p}-notified`;
    const host = `${app}.${server.domain}`;
    reg.push(`${p}/web:latest`, 'one');
    await imageApp(app, `${reg.host}/${p}/web:latest`);
    expect((await server.cli(['deploy', app])).code).toBe(0);
    expect((await server.get(host)).body).toBe('one\n');

    const failures: string[] = [];
    let loading = true;
    let served = 0;
    const load = (async () => {
      while (loading) {
        const r = await server.get(host).catch((e: Error) => ({ status: 0, body: e.message }));
        if (r.status !== 200) failures.push(`${r.status} ${r.body.slice(0, 80)}`);
        else served++;
      }
    })();
    const d2 = reg.push(`${p}/web:latest`, 'two');
    await eventually(
      () => server.get(host),
      (r) => r.body === 'two\n',
      30_000,
    );
    loading = false;
    await load;
    expect(failures).toEqual([]);
    expect(served).toBeGreaterThan(20);
    const [last] = await releases(app);
    expect(last).toMatchObject({ kind: 'image', by: 'webhook', status: 'succeeded', digest: d2 });
  });

  it("Docker Hub's payload: the repository and tag it names are redeployed; other owners and callbacks are refused", async () => {
    const app = `${p}-hub`;
    const repo = `team/${p}hub`;
    hub.push(`${repo}:latest`, 'hub one');
    await imageApp(app, `${repo}:latest`);
    expect((await server.cli(['apps:info', app, '--json'])).stdout).toContain(
      `"ref": "docker.io/${repo}:latest"`,
    );
    // A callback to anything but https://registry.hub.docker.com/ is never contacted.
    let called = 0;
    const trap = http.createServer((_q, s) => {
      called++;
      s.end();
    });
    await new Promise<void>((r) => trap.listen(0, '127.0.0.1', () => r()));
    const payload = (name: string, namespace: string) => ({
      callback_url: `http://127.0.0.1:${(trap.address() as AddressInfo).port}/u/x/hook/1/`,
      push_data: { images: ['27d4'], pushed_at: 1.417566161e9, pusher: 'trustedbuilder', tag: 'latest' },
      repository: {
        repo_name: name,
        namespace,
        name: name.split('/')[1],
        owner: namespace,
        is_private: true,
        status: 'Active',
      },
    });
    try {
      const r = await hook(urls.dockerhub, payload(repo, 'team'));
      expect(r.status).toBe(202);
      expect(r.body.apps).toEqual([app]);
      await eventually(
        () => server.get(`${app}.${server.domain}`),
        (x) => x.body === 'hub one\n',
        30_000,
      );
      const evil = await hook(urls.dockerhub, payload(`evil/${p}hub`, 'evil'));
      expect(evil.status).toBe(403);
      expect(evil.body.message).toMatch(/namespace evil is not in GOKU_WEBHOOK_OWNERS/);
      const nobody = await hook(urls.dockerhub, payload('team/nobody-follows', 'team'));
      expect(nobody).toMatchObject({ status: 202, body: { apps: [] } });
      expect(nobody.body.message).toMatch(/no app follows docker\.io\/team\/nobody-follows:latest/);
      await new Promise((res) => setTimeout(res, 500));
      expect(called).toBe(0);
    } finally {
      trap.close();
    }
  });

  it('{"service"} redeploys one app (optionally at a tag); bad and hostile requests change nothing', async () => {
    const app = `${p}-svc`;
    reg.push(`${p}/svc:v1`, 'svc one');
    reg.push(`${p}/svc:v2`, 'svc two');
    await imageApp(app, `${reg.host}/${p}/svc:v1`);
    const r = await hook(urls.deploy, { service: app });
    expect(r).toMatchObject({ status: 202, body: { apps: [app] } });
    await eventually(
      () => server.get(`${app}.${server.domain}`),
      (x) => x.body === 'svc one\n',
      30_000,
    );
    // The app's event stream (the dashboard's deploy progress) shows a hook's deploy live.
    const watching = new Api(server).open('GET', `/api/apps/${app}/events`);
    await watching.ready;
    expect((await hook(urls.deploy, { service: app, tag: 'v2' })).status).toBe(202);
    await eventually(
      () => server.get(`${app}.${server.domain}`),
      (x) => x.body === 'svc two\n',
      30_000,
    );
    // The first hook's deploy may still be writing its last line when the stream opens.
    const seen = await eventually(
      async () => watching.events,
      (es) =>
        es.slice(es.findIndex((e) => e.event === 'start') + 1 || es.length).some((e) => e.event === 'done'),
      10_000,
    );
    watching.close();
    const start = seen.find((e) => e.event === 'start');
    expect(JSON.parse(start?.data as string)).toMatchObject({ kind: 'image', by: 'webhook' });
    expect(seen.some((e) => e.event === 'progress' && e.data.includes('Pulling'))).toBe(true);
    const before = (await releases(app)).length;

    expect((await hook(urls.deploy, { service: `${p}-nope` })).status).toBe(404);
    expect((await server.cli(['apps:create', `${p}-gitapp`])).code).toBe(0);
    expect((await hook(urls.deploy, { service: `${p}-gitapp` })).status).toBe(409);
    expect((await hook(urls.deploy, { nope: 1 })).status).toBe(400);
    expect((await hook(urls.deploy, '{"service": ')).status).toBe(400);
    expect((await hook(urls.deploy, { service: app, tag: 'bad tag!' })).status).toBe(400);
    expect((await hook(urls.registry, { events: 'no' })).status).toBe(400);
    expect((await hook(urls.dockerhub, { repository: {} })).status).toBe(400);
    const big = await hook(urls.deploy, JSON.stringify({ service: app, pad: 'x'.repeat(1024 * 1024) }));
    expect(big.status).toBe(413);
    // A wrong or missing secret is a plain 404, whatever the body.
    for (const url of [
      urls.deploy.replace(/[a-f0-9]{64}$/, 'f'.repeat(64)),
      urls.deploy.replace(/\/[a-f0-9]{64}$/, '/'),
    ]) {
      expect((await hook(url, { service: app })).status).toBe(404);
    }
    expect((await fetch(urls.deploy)).status).toBe(405);
    // Blob pushes and pulls say nothing to deploy.
    const blobs = await hook(urls.registry, {
      events: [
        {
          action: 'push',
          target: { mediaType: 'application/octet-stream', repository: `${p}/svc`, digest: 'sha256:1' },
          request: { host: reg.host },
        },
        {
          action: 'pull',
          target: {
            mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
            repository: `${p}/svc`,
            tag: 'v2',
          },
          request: { host: reg.host },
        },
      ],
    });
    expect(blobs).toMatchObject({ status: 202, body: { apps: [] } });
    await new Promise((res) => setTimeout(res, 300));
    expect((await releases(app)).length).toBe(before);
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('svc two\n');
  });

  it('a burst of 20 hooks gives at most 2 deploys and ends at the newest digest', async () => {
    const app = `${p}-burst`;
    reg.push(`${p}/burst:latest`, 'burst one');
    await imageApp(app, `${reg.host}/${p}/burst:latest`);
    expect((await server.cli(['deploy', app])).code).toBe(0);
    const newest = reg.push(`${p}/burst:latest`, 'burst two');
    const answers = await Promise.all(Array.from({ length: 20 }, () => hook(urls.deploy, { service: app })));
    expect(answers.every((a) => a.status === 202)).toBe(true);
    await eventually(
      async () => JSON.parse((await server.cli(['apps:info', app, '--json'])).stdout).image,
      (img) => img.digest === newest && !img.pendingSince,
      30_000,
    );
    const rs = (await releases(app)).filter((r) => r.by === 'webhook');
    expect(rs.length).toBeLessThanOrEqual(2);
    expect(rs.filter((r) => r.status === 'succeeded').map((r) => r.digest)).toContain(newest);
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('burst two\n');
  });

  it('webhooks prints the URLs; webhooks:rotate makes the old ones 404 at once; the secret is 0600 and never logged', async () => {
    const old = urls.deploy;
    const secret = old.split('/').pop() as string;
    expect(secret).toMatch(/^[a-f0-9]{64}$/);
    const text = await server.cli(['webhooks']);
    expect(text.stdout).toContain(`/hooks/dockerhub/${secret}`);
    expect(text.stdout).toContain(`/hooks/registry/${secret}`);
    expect(statSync(join(server.home, 'webhook-secret')).mode & 0o777).toBe(0o600);
    const rotated = await server.cli(['webhooks:rotate']);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).not.toContain(secret);
    const fresh = JSON.parse((await server.cli(['webhooks', '--json'])).stdout)
      .deploy.split('/')
      .pop();
    expect((await hook(old, { service: `${p}-svc` })).status).toBe(404);
    expect((await hook(`${old.replace(secret, fresh)}`, { service: `${p}-svc` })).status).toBe(202);
    expect(server.log).not.toContain(secret);
    expect(server.log).not.toContain(fresh);
    expect(readFileSync(join(server.home, 'webhook-secret'), 'utf8').trim()).toBe(fresh);
    for (const k of Object.keys(urls) as (keyof typeof urls)[]) urls[k] = urls[k].replace(secret, fresh);
  });

  it('goku killed in the middle of a hook-triggered deploy resumes it after a restart; the lock is free', async () => {
    const app = `${p}-resume`;
    reg.push(`${p}/resume:latest`, 'resume one');
    await imageApp(app, `${reg.host}/${p}/resume:latest`);
    expect((await server.cli(['deploy', app])).code).toBe(0);
    // The next version takes 3 s to answer: goku is killed while it waits for it.
    reg.push(`${p}/resume:latest`, 'resume two', {
      cmd: 'CMD ["sh", "-c", "sleep 3; exec httpd -f -p 8000 -h /www"]',
    });
    expect((await hook(urls.deploy, { service: app })).status).toBe(202);
    await eventually(
      async () => (await releases(app))[0],
      (r) => r?.status === 'running',
      15_000,
    );
    await server.kill();
    await server.start();
    await eventually(
      () => server.get(`${app}.${server.domain}`),
      (x) => x.body === 'resume two\n',
      30_000,
    );
    await eventually(
      async () => JSON.parse((await server.cli(['apps:info', app, '--json'])).stdout).image,
      (img) => !img.pendingSince,
    );
    // The lock is free: a deploy now runs (and finds nothing new).
    const again = await server.cli(['deploy', app]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('nothing to deploy');
  });
});
