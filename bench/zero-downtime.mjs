#!/usr/bin/env node
// Zero-downtime benchmark: steady load through goku's nginx (wrk, keep-alive connections)
// while the app is redeployed N times by git push. Counts requests served, non-2xx answers
// and socket errors apart. The bar is 0 failed requests of any kind.
//   node bench/zero-downtime.mjs [--deploys 5] [--connections 16] [--close] [--app node|busybox]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  buildBase,
  buildNodeImage,
  cleanupGoku,
  cleanupOnce,
  commit,
  get,
  makeNodeRepo,
  makeRepo,
  sh,
  startGoku,
  until,
} from './lib.mjs';

const { values } = parseArgs({
  options: {
    deploys: { type: 'string', default: '5' },
    connections: { type: 'string', default: '16' },
    // Ask for a new connection per request (no keep-alive): no idle connection for a reload to close.
    close: { type: 'boolean', default: false },
    // The app: a small Node server (default) or busybox httpd (forks per request; see lib.mjs).
    app: { type: 'string', default: 'node' },
  },
});
const DEPLOYS = Number(values.deploys);
const tmp = mkdtempSync(join(tmpdir(), 'goku-zd-'));
chmodSync(tmp, 0o711); // nginx's workers pass through to GOKU_HOME/nginx
const app = `zd${randomBytes(3).toString('hex')}`;
let goku = null;
const cleanup = cleanupOnce(async () => {
  await cleanupGoku(tmp, goku);
});
try {
  buildBase(tmp);
  if (values.app === 'node') buildNodeImage(tmp);
  goku = await startGoku(tmp);
  const dir = join(tmp, 'repo');
  if (values.app === 'node') makeNodeRepo(dir, 'v0');
  else makeRepo(dir, 'v0');
  sh('git', ['remote', 'add', 'goku', `ssh://git@127.0.0.1:${goku.ports.ssh}/${app}`], { cwd: dir });
  const push = () =>
    sh('git', ['push', '-q', 'goku', 'master'], {
      cwd: dir,
      env: { ...process.env, GIT_SSH_COMMAND: goku.gitSsh },
    });
  push();
  await until(() => get(goku.ports.proxy, `${app}.bench.test`), 'v0\n');

  // wrk runs until we stop it (SIGINT prints its summary).
  const wrk = spawn('wrk', [
    '--latency',
    '-t2',
    `-c${values.connections}`,
    '-d300s',
    '-H',
    `Host: ${app}.bench.test`,
    ...(values.close ? ['-H', 'Connection: close'] : []),
    `http://127.0.0.1:${goku.ports.proxy}/`,
  ]);
  let report = '';
  wrk.stdout.on('data', (d) => (report += d));
  const done = new Promise((r) => wrk.on('exit', r));
  await new Promise((r) => setTimeout(r, 1000));
  const t0 = performance.now();
  for (let i = 1; i <= DEPLOYS; i++) {
    commit(dir, `v${i}`);
    push();
    await until(() => get(goku.ports.proxy, `${app}.bench.test`), `v${i}\n`);
  }
  // Let the last retirement finish under load too.
  await new Promise((r) => setTimeout(r, 2000));
  const secs = (performance.now() - t0) / 1000;
  wrk.kill('SIGINT');
  await done;

  const total = Number(/(\d+) requests in/.exec(report)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(report);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(report)?.[1] ?? 0);
  const [connect, read, write, timeout] = socket ? socket.slice(1).map(Number) : [0, 0, 0, 0];
  console.log(
    `${DEPLOYS} redeploys by git push in ${secs.toFixed(1)} s under wrk -c${values.connections} (${values.close ? 'Connection: close' : 'keep-alive'}), app: ${values.app}`,
  );
  console.log(`requests served: ${total}`);
  console.log(`non-2xx/3xx answers: ${non2xx}`);
  console.log(`socket errors: connect ${connect}, read ${read}, write ${write}, timeout ${timeout}`);
  console.log(`failed requests of any kind: ${non2xx + connect + read + write + timeout}`);
  const lat = /Latency\s+(\S+)\s+(\S+)\s+(\S+)/.exec(report);
  const p99 = /99%\s+(\S+)/.exec(report);
  if (lat) console.log(`latency: avg ${lat[1]}, p99 ${p99?.[1] ?? '?'}, max ${lat[3]}`);
  if (non2xx + connect + read + write + timeout > 0) {
    // Where to look: what the two nginx masters logged.
    for (const f of ['nginx/edge/error.log', 'nginx/error.log']) {
      const text = sh('tail', ['-n', '5', join(goku.home, f)]);
      if (text.trim()) console.log(`--- ${f}\n${text.trim()}`);
    }
  }
} finally {
  await cleanup();
}
