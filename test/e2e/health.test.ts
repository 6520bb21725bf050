import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppRepo, eventually, GokuServer, httpdApp, type SshKey, uniquePrefix } from '../helpers/goku.js';

// A deploy that does not come up healthy never takes traffic: the push is rejected, the old
// release keeps serving, and the failed release is recorded with the reason.
describe('health checks', () => {
  const server = new GokuServer({ env: { GOKU_DEPLOY_TIMEOUT: '4', GOKU_CHECK_UPTIME: '1' } });
  const p = uniquePrefix();
  const app = `${p}-health`;
  let key: SshKey;
  let repo: AppRepo;
  // The page httpdApp('good') committed in beforeAll stays in the repo for these Dockerfiles.
  const www = 'COPY www /www\n';

  beforeAll(async () => {
    key = await server.startWithKey();
    repo = new AppRepo(server.tmp, app, server, key);
    repo.write(httpdApp('good'));
    repo.commit('good');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      '-----> Healthy: GET / answered 200; it takes traffic now and is watched for 1s',
    );
  });
  afterAll(async () => {
    await server.cleanup();
  });

  async function rejected(files: Record<string, string>, reason: RegExp): Promise<string> {
    const before = await eventually(
      async () => server.containers(app),
      (cs) => cs.length === 1 && cs[0]?.name === app,
    );
    repo.write(files);
    repo.commit('attempt');
    const r = await repo.push();
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('(pre-receive hook declined)');
    expect(r.stderr).toMatch(reason);
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('good\n');
    expect(server.containers(app).map((c) => c.id)).toEqual(before.map((c) => c.id));
    const [last] = JSON.parse((await server.cli(['releases', app, '--json'])).stdout);
    expect(last.status).toBe('failed');
    expect(last.reason).toMatch(reason);
    repo.remove('app.json');
    repo.write(httpdApp('good'));
    return r.stderr;
  }

  it('default: a 5xx answer never takes traffic', async () => {
    await rejected(
      {
        // No index.html: busybox httpd answers / with cgi-bin/index.cgi, which says 500.
        Dockerfile: `FROM goku-test/busybox:1\nRUN mkdir -p /www/cgi-bin && printf '#!/bin/sh\\nprintf "Status: 500 Boom\\\\r\\\\n\\\\r\\\\nboom\\\\n"\\n' > /www/cgi-bin/index.cgi && chmod +x /www/cgi-bin/index.cgi\nEXPOSE 8000\nCMD ["httpd", "-f", "-p", "8000", "-h", "/www"]\n`,
      },
      /answered 500 on port 8000 for 4s; it needs a status below 500/,
    );
  });

  it('default: the wrong port times out', async () => {
    await rejected(
      {
        Dockerfile: `FROM goku-test/busybox:1\n${www}EXPOSE 9000\nCMD ["httpd", "-f", "-p", "8000", "-h", "/www"]\n`,
      },
      /did not answer HTTP on port 9000 within 4s/,
    );
  });

  it('default: a crash loop is refused, with the last log lines in the push output', async () => {
    const out = await rejected(
      {
        Dockerfile: `FROM goku-test/busybox:1\nEXPOSE 8000\nCMD ["sh", "-c", "echo crash-loop-line; exit 2"]\n`,
      },
      /the container exited during start/,
    );
    expect(out).toContain('crash-loop-line');
  });

  it('default: answering once and dying within the uptime is refused', async () => {
    await rejected(
      {
        Dockerfile: `FROM goku-test/busybox:1\n${www}EXPOSE 8000\nCMD ["sh", "-c", "httpd -p 8000 -h /www; sleep 0.4; echo going-away; exit 3"]\n`,
      },
      /the container exited during start|stopped answering on port 8000 during its first 1s/,
    );
  });

  it('default: a release that dies in its watch, after taking traffic, fails no request', async () => {
    const host = `${app}.${server.domain}`;
    const bodies = new Map<string, number>();
    const failures: string[] = [];
    let loading = true;
    const load = (async () => {
      while (loading) {
        const t = Date.now();
        const r = await server.get(host).catch((e: Error) => ({ status: 0, body: e.message }));
        if (r.status !== 200) failures.push(`${r.status} ${r.body.slice(0, 60)} after ${Date.now() - t} ms`);
        else bodies.set(r.body, (bodies.get(r.body) ?? 0) + 1);
      }
    })();
    // The app stops listening, then exits. (A process killed in the middle of writing a
    // response loses that response whatever the proxy does: nginx has passed its headers on and
    // cannot retry. What is tested is goku's routing, so the app lets its last answers finish.)
    await (() =>
      rejected(
        {
          Dockerfile: `FROM goku-test/busybox:1\nRUN mkdir -p /www && echo dying > /www/index.html\nEXPOSE 8000\nCMD ["sh", "-c", "httpd -f -p 8000 -h /www & sleep 0.6; kill $!; sleep 0.3; exit 3"]\n`,
        },
        /the container exited during start|stopped answering on port 8000 during its first 1s/,
      ))();
    loading = false;
    await load;
    expect(failures).toEqual([]);
    // It did take traffic before it died: nginx fell back to the old release as its backup.
    expect(bodies.get('dying\n') ?? 0).toBeGreaterThan(0);
    expect(bodies.get('good\n') ?? 0).toBeGreaterThan(10);
  });

  it('default: new content is served at the first good answer, a watch before the push returns', async () => {
    const host = `${app}.${server.domain}`;
    repo.write(httpdApp('fresh'));
    repo.commit('fresh');
    const started = Date.now();
    let firstFresh = 0;
    let pushing = true;
    const poll = (async () => {
      while (pushing && !firstFresh) {
        const r = await server.get(host).catch(() => null);
        if (r?.body === 'fresh\n') firstFresh = Date.now();
        await new Promise((res) => setTimeout(res, 10));
      }
    })();
    const r = await repo.push();
    const done = Date.now();
    pushing = false;
    await poll;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      'it takes traffic now, with the old release as backup while it is watched for 1s',
    );
    expect(firstFresh).toBeGreaterThan(started);
    // The watch (1 s) runs while the new release already serves.
    expect(done - firstFresh).toBeGreaterThan(700);
    await repo.deploy(httpdApp('good'), 'good again');
  });

  it('default: a first deploy is served at its first good answer; one that dies in its watch is unrouted again', async () => {
    // Served at once, the watch after that.
    const fresh = `${p}-first`;
    const first = new AppRepo(server.tmp, fresh, server, key);
    first.write(httpdApp('first'));
    first.commit('first');
    let firstSeen = 0;
    let pushing = true;
    const poll = (async () => {
      while (pushing && !firstSeen) {
        const r = await server.get(`${fresh}.${server.domain}`).catch(() => null);
        if (r?.body === 'first\n') firstSeen = Date.now();
        await new Promise((res) => setTimeout(res, 10));
      }
    })();
    const r = await first.push();
    const done = Date.now();
    pushing = false;
    await poll;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('it takes traffic now and is watched for 1s');
    expect(firstSeen).toBeGreaterThan(0);
    expect(done - firstSeen).toBeGreaterThan(700);

    // Dies in its watch: the push is rejected and the domain is unrouted, as before the push.
    const doomed = `${p}-doomed`;
    const host = `${doomed}.${server.domain}`;
    const d = new AppRepo(server.tmp, doomed, server, key);
    d.write({
      Dockerfile: `FROM goku-test/busybox:1\n${www}EXPOSE 8000\nCMD ["sh", "-c", "httpd -p 8000 -h /www; sleep 0.6; exit 3"]\n`,
      'www/index.html': 'doomed\n',
    });
    d.commit('doomed');
    let doomedSeen = false;
    pushing = true;
    const watch = (async () => {
      while (pushing) {
        const g = await server.get(host).catch(() => null);
        if (g?.body === 'doomed\n') doomedSeen = true;
        await new Promise((res) => setTimeout(res, 10));
      }
    })();
    const failed = await d.push();
    pushing = false;
    await watch;
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toMatch(
      /the container exited during start|stopped answering on port 8000 during its first 1s/,
    );
    expect(doomedSeen).toBe(true); // it did take traffic at its first good answer
    expect((await server.get(host)).status).toBe(404);
    expect(server.containers(doomed)).toEqual([]);
    // A push that created the app and failed leaves no app behind, as before the push.
    expect((await server.cli(['releases', doomed, '--json'])).stderr).toContain('GOKU_ERR_APP_NOT_FOUND');
  });

  it('app.json: a /health that answers 404 fails after its attempts, with progress in the output', async () => {
    const out = await rejected(
      {
        ...httpdApp('good'),
        'app.json': JSON.stringify({
          healthchecks: { web: [{ type: 'startup', name: 'web', path: '/health', attempts: 2, wait: 0.2 }] },
        }),
      },
      /health check web failed: GET \/health: status 404 after 2 attempts/,
    );
    expect(out).toContain('Health check web: GET /health: status 404 (attempt 1/2)');
  });

  it('app.json: content must match', async () => {
    await rejected(
      {
        ...httpdApp('good'),
        'app.json': JSON.stringify({
          healthchecks: { web: [{ path: '/', content: 'READY', attempts: 3, wait: 0.5 }] },
        }),
      },
      /the body does not contain "READY"/,
    );
  });

  it('app.json that does not parse or breaks the schema is a clear error', async () => {
    await rejected({ ...httpdApp('good'), 'app.json': '{ nope' }, /app.json is not valid JSON/);
    await rejected(
      { ...httpdApp('good'), 'app.json': JSON.stringify({ healthchecks: { web: [{ attempts: 0 }] } }) },
      /app.json: healthchecks.web.0.attempts: must be a whole number from 1 to 100/,
    );
    await rejected(
      { ...httpdApp('good'), 'app.json': '{"healthchecks": {"web": [{"attempts": 1e308}]}}' },
      /app.json: healthchecks.web.0.attempts: must be a whole number from 1 to 100/,
    );
  });

  it('one deadline (GOKU_DEPLOY_TIMEOUT, 4 s here) bounds a whole check, whatever its delays add up to', async () => {
    for (const web of [
      [{ path: '/', initialDelay: 90 }],
      [{ path: '/missing', attempts: 100, wait: 600 }],
      [
        { path: '/', initialDelay: 2 },
        { path: '/', initialDelay: 2.5 },
      ],
    ]) {
      const started = Date.now();
      await rejected(
        { ...httpdApp('good'), 'app.json': JSON.stringify({ healthchecks: { web } }) },
        /did not pass within GOKU_DEPLOY_TIMEOUT \(4s; last: /,
      );
      expect(Date.now() - started).toBeLessThan(12000);
    }
  });

  it('app.json: a passing check replaces the default and is shown', async () => {
    repo.write({
      Dockerfile: `FROM goku-test/busybox:1\nRUN mkdir -p /www && echo good > /www/index.html && echo ok > /www/health\nEXPOSE 8000\nCMD ["httpd", "-f", "-p", "8000", "-h", "/www"]\n`,
      'app.json': JSON.stringify({
        healthchecks: { web: [{ name: 'ready', path: '/health', content: 'ok' }] },
      }),
    });
    repo.commit('checked');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('Health check ready: GET /health answered 200 (attempt 1/5)');
    expect(r.stderr).not.toContain('watching it for');
    repo.remove('app.json');
    await repo.deploy(httpdApp('good'), 'back');
  });

  it('app.json with comments and trailing commas, as Dokku reads it (a syntax error names its line)', async () => {
    repo.write({
      Dockerfile: `FROM goku-test/busybox:1\nRUN mkdir -p /www && echo good > /www/index.html && echo ok > /www/health\nEXPOSE 8000\nCMD ["httpd", "-f", "-p", "8000", "-h", "/www"]\n`,
      'app.json': `{
  // Dokku's app.json may carry comments
  "healthchecks": {
    "web": [
      /* the one check */
      { "name": "commented", "path": "/health", "content": "ok", },
    ],
  },
}
`,
    });
    repo.commit('jsonc');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('Health check commented: GET /health answered 200');
    await rejected(
      { ...httpdApp('good'), 'app.json': '{\n  "healthchecks": {}\n  "scripts": {}\n}\n' },
      /app.json is not valid JSON \(comments and trailing commas are fine\): CommaExpected at line 3, column 3/,
    );
    repo.remove('app.json');
    await repo.deploy(httpdApp('good'), 'back');
  });

  it("a CHECKS file (Dokku's older format) is honoured: content that is not there rejects, then one that is deploys", async () => {
    await rejected(
      {
        ...httpdApp('good'),
        CHECKS: 'WAIT=0\nATTEMPTS=2\nTIMEOUT=1\n# the page must say so\n/   Ready for work\n',
      },
      /health check CHECKS line 5 failed: GET \/: the body does not contain "Ready for work" after 2 attempts/,
    );
    await rejected(
      { ...httpdApp('good'), CHECKS: 'WAIT=0\nhealth please\n' },
      /CHECKS line 2: "health please" is not a check/,
    );
    repo.write({ ...httpdApp('good'), CHECKS: 'WAIT=0\n/  good\n' });
    repo.commit('checks');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('Health check CHECKS line 2: GET / answered 200');
    repo.remove('CHECKS');
    await repo.deploy(httpdApp('good'), 'back');
  });

  it('says "connection refused" when nothing listens, and an attempt waits for the port for its timeout', async () => {
    await rejected(
      {
        ...httpdApp('good'),
        'app.json': JSON.stringify({
          healthchecks: { web: [{ name: 'other', path: '/', port: 9999, attempts: 1, timeout: 1 }] },
        }),
      },
      /health check other failed: GET \/: connection refused on port 9999 for 1s \(nothing listening\) after 1 attempts/,
    );
    // One attempt of 5 s: the app opens its port 2 s after it starts, and passes.
    repo.write({
      Dockerfile: `FROM goku-test/busybox:1\n${www}EXPOSE 8000\nCMD ["sh", "-c", "sleep 2; exec httpd -f -p 8000 -h /www"]\n`,
      'app.json': JSON.stringify({
        healthchecks: { web: [{ name: 'late', path: '/', attempts: 1, timeout: 5 }] },
      }),
    });
    repo.commit('late');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('Health check late: GET / answered 200 (attempt 1/1)');
    repo.remove('app.json');
    await repo.deploy(httpdApp('good'), 'back');
  });

  it("Dokku's other check kinds: command, listening, uptime; warn reports and goes on; unknown fields are refused", async () => {
    const checks = (web: unknown[]) => ({
      ...httpdApp('good'),
      'app.json': JSON.stringify({ healthchecks: { web } }),
    });
    await rejected(
      checks([{ name: 'cmd', command: ['sh', '-c', 'echo not ready; exit 3'], attempts: 2, wait: 0 }]),
      /health check cmd failed: command \["sh","-c","echo not ready; exit 3"\]: exited 3 \("not ready"\) after 2 attempts/,
    );
    await rejected(
      checks([{ name: 'ears', listening: true, port: 8100, attempts: 1, timeout: 1 }]),
      /health check ears failed: port 8100 listening: connection refused on port 8100/,
    );
    // Up 1 s, then it dies: an uptime of 3 s is not reached.
    await rejected(
      {
        Dockerfile: `FROM goku-test/busybox:1\n${www}EXPOSE 8000\nCMD ["sh", "-c", "httpd -p 8000 -h /www; sleep 1; exit 4"]\n`,
        'www/index.html': 'good\n',
        'app.json': JSON.stringify({ healthchecks: { web: [{ name: 'stays', uptime: 3 }] } }),
      },
      /the container exited during start/,
    );
    await rejected(checks([{ path: '/', frobnicate: true }]), /app.json: healthchecks.web.0: .*frobnicate/i);
    await rejected(
      checks([{ path: '/', onFailure: { command: ['rm', '-rf', '/'] } }]),
      /app.json: healthchecks.web.0.onFailure: is not supported: goku runs nothing on the host/,
    );
    await rejected(
      checks([{ path: '/', uptime: 2 }]),
      /a check has one of command, path, listening and uptime, not a path and an uptime/,
    );
    await rejected(checks([{ path: '/', scheme: 'https' }]), /only "http"/);

    repo.write(
      checks([
        { name: 'cmd', command: ['test', '-f', '/www/index.html'] },
        { name: 'ears', listening: true },
        { name: 'stays', uptime: 1 },
        { name: 'hdr', path: '/', httpHeaders: [{ name: 'X-Check', value: 'yes' }] },
        { name: 'optional', path: '/missing', attempts: 1, warn: true },
      ]),
    );
    repo.commit('kinds');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      'Health check cmd: command ["test","-f","/www/index.html"] exited 0 (attempt 1/5)',
    );
    expect(r.stderr).toContain('Health check ears: port 8000 listening accepts connections');
    expect(r.stderr).toContain('Health check stays: up 1s without a restart running');
    expect(r.stderr).toContain('Health check hdr: GET / answered 200');
    expect(r.stderr).toContain(
      'Health check optional failed, but it has warn: true, so the deploy goes on (health check optional failed: GET /missing: status 404 after 1 attempts)',
    );
    repo.remove('app.json');
    await repo.deploy(httpdApp('good'), 'back');
  });

  it('a Dockerfile HEALTHCHECK is honoured: healthy deploys, unhealthy is refused', async () => {
    const ok = await (async () => {
      repo.write({
        Dockerfile: `FROM goku-test/busybox:1\n${www}EXPOSE 8000\nHEALTHCHECK --interval=1s --timeout=1s CMD wget -q -O /dev/null http://127.0.0.1:8000/ || exit 1\nCMD ["httpd", "-f", "-p", "8000", "-h", "/www"]\n`,
      });
      repo.commit('hc');
      return repo.push();
    })();
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain('Docker HEALTHCHECK: healthy');
    await rejected(
      {
        Dockerfile: `FROM goku-test/busybox:1\n${www}EXPOSE 8000\nHEALTHCHECK --interval=1s --timeout=1s --retries=1 CMD false\nCMD ["httpd", "-f", "-p", "8000", "-h", "/www"]\n`,
      },
      /HEALTHCHECK reported unhealthy/,
    );
  });
});
