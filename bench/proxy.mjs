#!/usr/bin/env node
// What goku's proxy path costs: the same container served through goku (edge nginx → unix
// socket → routes nginx → container) and through one nginx configured by hand (→ container),
// wrk alternating between the two, no deploys. Prints requests/s and latency of each and
// the ratio. The app is a small Node server (see buildNodeImage in lib.mjs).
//   node bench/proxy.mjs [--rounds 3] [--seconds 8] [--connections 16]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  buildBase,
  buildNodeImage,
  cleanupGoku,
  cleanupOnce,
  freePort,
  get,
  makeNodeRepo,
  median,
  sh,
  startGoku,
  until,
} from './lib.mjs';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '8' },
    connections: { type: 'string', default: '16' },
  },
});
const tmp = mkdtempSync(join(tmpdir(), 'goku-px-'));
chmodSync(tmp, 0o711); // nginx's workers pass through to GOKU_HOME/nginx
const app = `px${randomBytes(3).toString('hex')}`;
let goku = null;
let handPid = null;

const wrk = (port, seconds = values.seconds) =>
  new Promise((resolve) => {
    const p = spawn('wrk', [
      '--latency',
      '-t2',
      `-c${values.connections}`,
      `-d${seconds}s`,
      '-H',
      `Host: ${app}.bench.test`,
      `http://127.0.0.1:${port}/`,
    ]);
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('exit', () => {
      const ms = (v) => {
        const m = /^([\d.]+)(us|ms|s|m)$/.exec(v);
        return m ? Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60000 }[m[2]] : Number.NaN;
      };
      const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      resolve({
        rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
        p50: ms(/50%\s+(\S+)/.exec(out)?.[1] ?? '0'),
        p99: ms(/99%\s+(\S+)/.exec(out)?.[1] ?? '0'),
        errors: errors
          ? errors
              .slice(1)
              .map(Number)
              .reduce((a, b) => a + b, 0)
          : 0,
        non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
      });
    });
  });

const cleanup = cleanupOnce(async () => {
  if (handPid) {
    try {
      process.kill(handPid, 'SIGQUIT');
    } catch {}
  }
  await cleanupGoku(tmp, goku);
});
try {
  buildBase(tmp);
  buildNodeImage(tmp);
  goku = await startGoku(tmp);
  const dir = join(tmp, 'repo');
  makeNodeRepo(dir, 'v0');
  sh('git', ['remote', 'add', 'goku', `ssh://git@127.0.0.1:${goku.ports.ssh}/${app}`], { cwd: dir });
  sh('git', ['push', '-q', 'goku', 'master'], {
    cwd: dir,
    env: { ...process.env, GIT_SSH_COMMAND: goku.gitSsh },
  });
  await until(() => get(goku.ports.proxy, `${app}.bench.test`), 'v0\n');
  // The very container goku serves, so only the proxy path differs.
  const ip = sh('docker', [
    'inspect',
    '-f',
    '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}',
    app,
  ]).trim();

  // By hand: one nginx with the proxy settings goku's routes use, in front of that container.
  const hand = join(tmp, 'hand');
  mkdirSync(join(hand, 'tmp'), { recursive: true });
  const handPort = await freePort();
  writeFileSync(
    join(hand, 'nginx.conf'),
    `worker_processes auto;\npid ${hand}/nginx.pid;\nerror_log ${hand}/error.log warn;\nevents { worker_connections 4096; }\nhttp {\n  access_log off;\n  client_body_temp_path ${hand}/tmp; proxy_temp_path ${hand}/tmp;\n  upstream app { server ${ip}:8000; keepalive 32; keepalive_timeout 4s; }\n  server {\n    listen 127.0.0.1:${handPort};\n    location / {\n      proxy_pass http://app;\n      proxy_http_version 1.1;\n      proxy_set_header Connection "";\n      proxy_set_header Host $host;\n      proxy_set_header X-Real-IP $remote_addr;\n      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n    }\n  }\n}\n`,
  );
  sh('nginx', ['-p', hand, '-c', join(hand, 'nginx.conf'), '-e', join(hand, 'error.log')]);
  handPid = Number(readFileSync(join(hand, 'nginx.pid'), 'utf8'));
  await until(() => get(handPort, `${app}.bench.test`), 'v0\n');

  // Warm both paths (and the app's JIT) before timing, so the first side timed pays no more.
  await wrk(goku.ports.proxy, 3);
  await wrk(handPort, 3);
  const runs = { goku: [], hand: [] };
  for (let i = 0; i < Number(values.rounds); i++) {
    runs.goku.push(await wrk(goku.ports.proxy));
    runs.hand.push(await wrk(handPort));
  }
  const pick = (xs, k) => median(xs.map((x) => x[k]));
  console.log(
    `wrk -t2 -c${values.connections} -d${values.seconds}s, keep-alive, ${values.rounds} rounds each, medians`,
  );
  for (const side of ['goku', 'hand']) {
    const xs = runs[side];
    console.log(
      `${side === 'goku' ? 'goku (edge + routes nginx)' : 'one nginx by hand       '}: ${pick(xs, 'rps').toFixed(0)} req/s, p50 ${pick(xs, 'p50').toFixed(2)} ms, p99 ${pick(xs, 'p99').toFixed(2)} ms, errors ${xs.reduce((a, x) => a + x.errors + x.non2xx, 0)}`,
    );
  }
  console.log(
    `ratio goku/hand: req/s ${(pick(runs.goku, 'rps') / pick(runs.hand, 'rps')).toFixed(2)}, p50 ${(pick(runs.goku, 'p50') / pick(runs.hand, 'p50')).toFixed(2)}`,
  );
} finally {
  await cleanup();
}
