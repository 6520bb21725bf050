import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HttpCheck } from '../../src/core/checks.js';
import { routableAddrs, serviceHealthcheck, serviceName, swarmLiteral } from '../../src/core/swarm.js';

const check = (over: Partial<HttpCheck>): HttpCheck => ({
  name: 'web',
  path: '/',
  content: null,
  attempts: 3,
  timeout: 2,
  wait: 1,
  initialDelay: 0,
  port: null,
  ...over,
});

/** Runs a CMD-SHELL health check as Docker does (sh -c), with PATH limited to `path`. */
function runShell(script: string, path: string): Promise<number> {
  return new Promise((res) =>
    execFile('/bin/sh', ['-c', script], { env: { PATH: path } }, (err) =>
      res(err ? (typeof err.code === 'number' ? err.code : 1) : 0),
    ),
  );
}

describe('Swarm services (pure parts)', () => {
  it("escapes Go templates' braces in values Swarm expands (env, hostname, mounts)", () => {
    expect(swarmLiteral('plain')).toBe('plain');
    expect(swarmLiteral('a {{.Node.Hostname}} }} b')).toBe('a {{"{{"}}.Node.Hostname}} }} b');
    expect(swarmLiteral('{{{{')).toBe('{{"{{"}}{{"{{"}}');
  });

  it('names a service per process type after the prefix', () => {
    expect(serviceName('', 'app', 'web')).toBe('app');
    expect(serviceName('t1-', 'app-dev', 'worker')).toBe('t1-app-dev-worker');
  });

  it('no health check of its own for the default check and the image HEALTHCHECK', () => {
    expect(serviceHealthcheck({ kind: 'default' }, 5000)).toBeUndefined();
    expect(serviceHealthcheck({ kind: 'docker' }, 5000)).toBeUndefined();
    expect(serviceHealthcheck({ kind: 'checks', checks: [] }, 5000)).toBeUndefined();
  });

  it("the app's checks as one command: the most patient check's timing", () => {
    const hc = serviceHealthcheck(
      {
        kind: 'checks',
        checks: [
          check({ path: '/a', attempts: 2, wait: 3 }),
          check({ path: '/b', timeout: 7, initialDelay: 4 }),
        ],
      },
      8000,
    );
    expect(hc).toMatchObject({ intervalMs: 3000, timeoutMs: 7000, retries: 3, startPeriodMs: 4000 });
    expect(hc?.test[0]).toBe('CMD-SHELL');
    expect(hc?.test[1]).toContain("'http://127.0.0.1:8000/a'");
  });

  it('the command passes and fails as the app answers, with wget, curl or neither; quotes hold', async () => {
    let body = "it's READY; $(touch /tmp/goku-never)";
    const srv = http.createServer((req, res) => {
      if (req.url === '/health') res.end(body);
      else res.writeHead(404).end('no');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    try {
      const plan = (c: Partial<HttpCheck>) =>
        serviceHealthcheck({ kind: 'checks', checks: [check(c)] }, port)?.test[1] as string;
      const ok = plan({ path: '/health', content: "it's READY; $(touch /tmp/goku-never)" });
      // Images as the check meets them: busybox's wget, curl, or neither.
      const bins = mkdtempSync(join(tmpdir(), 'goku-hc-'));
      const image = (name: string, tools: Record<string, string>) => {
        mkdirSync(join(bins, name));
        for (const [tool, target] of Object.entries({ grep: '/bin/busybox', ...tools }))
          symlinkSync(target, join(bins, name, tool));
        return join(bins, name);
      };
      const wget = image('wget', { wget: '/bin/busybox' });
      const curl = image('curl', { curl: '/usr/bin/curl' });
      const none = image('none', {});
      try {
        expect(await runShell(ok, wget)).toBe(0);
        expect(await runShell(ok, curl)).toBe(0);
        expect(await runShell(ok, none)).toBe(1);
        expect(await runShell(plan({ path: '/missing' }), wget)).not.toBe(0);
        expect(await runShell(plan({ path: '/missing' }), curl)).not.toBe(0);
        body = 'not yet';
        expect(await runShell(ok, wget)).not.toBe(0);
        expect(await runShell(ok, curl)).not.toBe(0);
        expect(existsSync('/tmp/goku-never')).toBe(false);
      } finally {
        rmSync(bins, { recursive: true, force: true });
      }
      const cmd = serviceHealthcheck(
        { kind: 'checks', checks: [check({ kind: 'command', command: ['test', "a'b", '=', "a'b"] })] },
        port,
      )?.test[1] as string;
      expect(await runShell(cmd, '/usr/bin:/bin')).toBe(0);
    } finally {
      srv.close();
    }
  });

  it('routes to the tasks Swarm wants running that run, optionally of one release', () => {
    const t = (desired: string, state: string, addr: string | null, release = 'r1') => ({
      desired,
      state,
      addr,
      labels: { 'goku.release': release },
    });
    const tasks = [
      t('running', 'running', '10.0.1.4'),
      t('running', 'starting', '10.0.1.5'),
      t('shutdown', 'running', '10.0.1.6'),
      t('running', 'running', null),
      t('running', 'running', '10.0.1.2', 'r2'),
    ];
    expect(routableAddrs(tasks)).toEqual(['10.0.1.2', '10.0.1.4']);
    expect(routableAddrs(tasks, 'r2')).toEqual(['10.0.1.2']);
  });
});
