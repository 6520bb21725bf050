#!/usr/bin/env node
// The HTTP API and the dashboard, against the goals: `GET /api/apps` with 200 apps
// (p99 ≤ 20 ms; beside `goku apps --json`, the same answer through the CLI), the dashboard's
// first load in headless Chromium (≤ 200 KB, ≤ 300 ms to interactive) and the daemon's RSS
// with 5 dashboards open on an app that logs 20 lines a second (≤ 150 MB; beside none open).
//   node bench/dashboard.mjs [--apps 200] [--requests 1000] [--hold 60]
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { BASE, buildBase, cleanupGoku, cleanupOnce, makeRepo, ROOT, sh, startGoku } from './lib.mjs';

const { values } = parseArgs({
  options: {
    apps: { type: 'string', default: '200' },
    requests: { type: 'string', default: '1000' },
    hold: { type: 'string', default: '60' },
  },
});
const APPS = Number(values.apps);
const REQUESTS = Number(values.requests);
const HOLD = Number(values.hold);
const tmp = mkdtempSync(join(tmpdir(), 'goku-dash-'));
chmodSync(tmp, 0o711);
let goku = null;
let browser = null;
const cleanup = cleanupOnce(async () => {
  await browser?.close().catch(() => undefined);
  await cleanupGoku(tmp, goku);
});

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const ms = (x) => `${x.toFixed(2)} ms`;
const rssMb = (pid) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

try {
  buildBase(tmp);
  goku = await startGoku(tmp);
  const base = `http://127.0.0.1:${goku.ports.http}`;
  const token = readFileSync(join(goku.home, 'admin-token'), 'utf8').trim();
  const auth = { authorization: `Bearer ${token}` };

  // One real app that logs 20 lines a second, pushed by git; the rest created over the API.
  const repo = join(tmp, 'repo');
  makeRepo(repo, 'dash');
  writeFileSync(
    join(repo, 'Dockerfile'),
    `FROM ${BASE}\nCOPY index.html /www/index.html\nEXPOSE 8000\nCMD ["sh", "-c", "httpd -p 8000 -h /www; i=0; while true; do i=$((i+1)); echo line $i of the bench app; usleep 50000; done"]\n`,
  );
  sh('git', ['commit', '-qam', 'logging app'], { cwd: repo });
  sh('git', ['push', '-q', `ssh://git@127.0.0.1:${goku.ports.ssh}/live`, 'master'], {
    cwd: repo,
    env: { ...process.env, GIT_SSH_COMMAND: goku.gitSsh },
  });
  for (let i = 1; i < APPS; i++) {
    const r = await fetch(`${base}/api/apps`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `app-${String(i).padStart(3, '0')}` }),
    });
    if (r.status !== 200) throw new Error(`apps:create over HTTP: ${r.status} ${await r.text()}`);
  }

  // API latency, one request at a time on a kept-alive connection.
  const times = [];
  let count = 0;
  for (let i = 0; i < REQUESTS + 50; i++) {
    const t0 = performance.now();
    const r = await fetch(`${base}/api/apps`, { headers: auth });
    const list = await r.json();
    if (i >= 50) times.push(performance.now() - t0); // the first 50 warm up
    count = list.length;
  }
  const cli = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    execFileSync(join(ROOT, 'bin/goku'), ['apps', '--json'], { env: goku.env, stdio: 'pipe' });
    cli.push(performance.now() - t0);
  }
  console.log(`GET /api/apps, ${count} apps, ${REQUESTS} requests one at a time:`);
  console.log(
    `  p50 ${ms(pct(times, 50))}  p99 ${ms(pct(times, 99))}  max ${ms(Math.max(...times))}  (goal p99 <= 20 ms)`,
  );
  console.log(
    `  goku apps --json (the CLI, same answer): median ${ms(pct(cli, 50))}; API p50 is ${(pct(cli, 50) / pct(times, 50)).toFixed(1)}x faster`,
  );

  // First load: log in, then each page cold (a new context: nothing cached).
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const login = async (context) => {
    const page = await context.newPage();
    await page.goto(`${base}/login`);
    await page.fill('#token', token);
    await Promise.all([page.waitForURL(`${base}/`), page.click('button[type=submit]')]);
    return page;
  };
  // One login (they are rate limited: 10 a minute): its cookie opens every context after.
  const first = await browser.newContext();
  await login(first);
  const storageState = await first.storageState();
  await first.close();
  for (const path of ['/', '/apps/live']) {
    const loads = [];
    let bytes = 0;
    for (let i = 0; i < 5; i++) {
      const context = await browser.newContext({ storageState });
      // A new page with the cache off: everything it needs comes over the wire again.
      const page = await context.newPage();
      const cdp = await context.newCDPSession(page);
      await cdp.send('Network.enable');
      await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
      let sum = 0;
      cdp.on('Network.loadingFinished', (e) => {
        sum += e.encodedDataLength;
      });
      await page.goto(`${base}${path}`, { waitUntil: 'load' });
      const t = await page.evaluate(() => {
        const n = performance.getEntriesByType('navigation')[0];
        return n.domInteractive - n.startTime;
      });
      // The event stream stays open (not counted: it never finishes loading); the rest is in.
      await page.waitForTimeout(300);
      loads.push(t);
      bytes = Math.max(bytes, sum);
      await context.close();
    }
    console.log(
      `dashboard ${path === '/' ? 'apps page (200 apps)' : 'app page'}: ${(bytes / 1024).toFixed(1)} KB transferred, ` +
        `${ms(pct(loads, 50))} to interactive (median of 5; goals <= 200 KB, <= 300 ms)`,
    );
  }

  // RSS: the daemon alone for HOLD s, then with 5 app pages open (logs and stats live).
  const pid = goku.server.pid;
  const sample = async (secs) => {
    let max = 0;
    for (let s = 0; s < secs; s += 5) {
      await new Promise((r) => setTimeout(r, 5000));
      max = Math.max(max, rssMb(pid));
    }
    return max;
  };
  const idle = await sample(HOLD / 2);
  const context = await browser.newContext({ storageState });
  const pages = [];
  for (let i = 0; i < 5; i++) {
    const p = await context.newPage();
    await p.goto(`${base}/apps/live`);
    pages.push(p);
  }
  const open = await sample(HOLD);
  const lines = await pages[0].evaluate(() => document.getElementById('logs').childNodes.length);
  console.log(
    `daemon RSS: ${idle.toFixed(1)} MB with no dashboard, ${open.toFixed(1)} MB with 5 app pages streaming for ${HOLD} s ` +
      `(max of 5 s samples; ${(open / idle).toFixed(2)}x; goal <= 150 MB; one page had ${lines} log lines)`,
  );
} finally {
  await cleanup();
}
