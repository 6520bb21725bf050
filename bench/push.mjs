#!/usr/bin/env node
// Push-to-live benchmark: goku's `git push` against the same work done by hand, alternating,
// in one run on one machine. Prints medians and the ratio (goku / by hand).
//   node bench/push.mjs [--rounds 5] [--files 0]
// --files N adds N small files to the repo (the ARCHITECTURE notes measured 2,035 files).
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    files: { type: 'string', default: '0' },
    // goku's default health check watches a new container for GOKU_CHECK_UPTIME (1 s) after its
    // first good answer; the by-hand procedure stops at the first 200. --uptime 0 compares like with like.
    uptime: { type: 'string', default: '1' },
  },
});
const ROUNDS = Number(values.rounds);
const FILES = Number(values.files);
const ROOT = resolve(import.meta.dirname, '..');
const BASE = 'goku-bench/busybox:1';
const tmp = mkdtempSync(join(tmpdir(), 'goku-bench-'));
const id = randomBytes(3).toString('hex');
const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: 'pipe', ...opts }).toString();
const now = () => performance.now();
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const freePort = () =>
  new Promise((res) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
const get = (port, host, addr = '127.0.0.1') =>
  new Promise((res) => {
    const req = http.get(
      { host: addr, port, path: '/', headers: { Host: host }, agent: false, timeout: 2000 },
      (r) => {
        let b = '';
        r.on('data', (d) => (b += d));
        r.on('end', () => res({ status: r.statusCode, body: b }));
      },
    );
    req.on('error', () => res({ status: 0, body: '' }));
    req.on('timeout', () => req.destroy());
  });
async function until(fn, want) {
  for (;;) {
    const r = await fn();
    if (r.status === 200 && r.body === want) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

function writeApp(dir, body) {
  writeFileSync(
    join(dir, 'Dockerfile'),
    `FROM ${BASE}\nCOPY index.html /www/index.html\nEXPOSE 8000\nCMD ["httpd", "-f", "-p", "8000", "-h", "/www"]\n`,
  );
  writeFileSync(join(dir, 'index.html'), `${body}\n`);
}
function makeRepo(dir, body) {
  mkdirSync(dir, { recursive: true });
  sh('git', ['init', '-q', '-b', 'master'], { cwd: dir });
  sh('git', ['config', 'user.email', 'b@example.com'], { cwd: dir });
  sh('git', ['config', 'user.name', 'bench'], { cwd: dir });
  for (let i = 0; i < FILES; i++) {
    const sub = join(dir, 'assets', String(i % 40));
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `f${i}.txt`), `file ${i}\n`.repeat(40));
  }
  writeApp(dir, body);
  sh('git', ['add', '-A'], { cwd: dir });
  sh('git', ['commit', '-qm', 'v0'], { cwd: dir });
}
function commit(dir, body) {
  writeFileSync(join(dir, 'index.html'), `${body}\n`);
  sh('git', ['commit', '-qam', body], { cwd: dir });
}

// --- setup: base image, a goku server on random ports, a key
const bb = join(tmp, 'bb');
mkdirSync(bb);
copyFileSync('/bin/busybox', join(bb, 'busybox'));
writeFileSync(
  join(bb, 'Dockerfile'),
  'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nRUN mkdir /www\n',
);
sh('docker', ['build', '-q', '-t', BASE, bb]);
const home = join(tmp, 'home');
const ports = { ssh: await freePort(), http: await freePort(), proxy: await freePort() };
const env = {
  ...process.env,
  GOKU_HOME: home,
  GOKU_SSH_HOST: '127.0.0.1',
  GOKU_SSH_PORT: String(ports.ssh),
  GOKU_HTTP_HOST: '127.0.0.1',
  GOKU_HTTP_PORT: String(ports.http),
  GOKU_PROXY_HOST: '127.0.0.1',
  GOKU_PROXY_PORT: String(ports.proxy),
  GOKU_DOMAIN: 'bench.test',
  GOKU_CHECK_UPTIME: values.uptime,
};
const server = spawn(join(ROOT, 'bin/goku'), ['server'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
if (process.env.BENCH_LOG) server.stdout.on('data', (d) => process.stderr.write(d));
await new Promise((res, rej) => {
  let log = '';
  server.stdout.on('data', (d) => {
    log += d;
    if (log.includes('goku is ready')) res();
  });
  server.on('exit', () => rej(new Error(log)));
});
const key = join(tmp, 'key');
sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
sh(join(ROOT, 'bin/goku'), ['keys:add', 'bench'], { env, input: readFileSync(`${key}.pub`) });
const gitSsh = `ssh -i ${key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR`;

const results = { gokuFirst: [], handFirst: [], gokuChange: [], handChange: [] };
const cleanup = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    // goku: first deploy of a new app, then a one-line change.
    const app = `b${id}r${round}`;
    // Every build gets content no earlier build had, so neither side is served from Docker's cache.
    const v = (n) => `v${n}-${id}-${round}-${randomBytes(4).toString('hex')}`;
    const [g0, g1, h0, h1] = [v(0), v(1), v(0), v(1)];
    const gdir = join(tmp, `g${round}`);
    makeRepo(gdir, g0);
    sh('git', ['remote', 'add', 'goku', `ssh://git@127.0.0.1:${ports.ssh}/${app}`], { cwd: gdir });
    const push = () =>
      sh('git', ['push', '-q', 'goku', 'master'], {
        cwd: gdir,
        env: { ...process.env, GIT_SSH_COMMAND: gitSsh },
      });
    let t = now();
    push();
    await until(() => get(ports.proxy, `${app}.bench.test`), `${g0}\n`);
    results.gokuFirst.push(now() - t);
    commit(gdir, g1);
    t = now();
    push();
    await until(() => get(ports.proxy, `${app}.bench.test`), `${g1}\n`);
    results.gokuChange.push(now() - t);

    // By hand: push to a bare repo over file://, docker build, docker run, first HTTP 200, remove the old.
    const hdir = join(tmp, `h${round}`);
    const bare = join(tmp, `h${round}.git`);
    makeRepo(hdir, h0);
    sh('git', ['init', '-q', '--bare', bare]);
    sh('git', ['remote', 'add', 'origin', `file://${bare}`], { cwd: hdir });
    const name = `goku-bench-${id}-${round}`;
    const byHand = async (body, tag, old) => {
      sh('git', ['push', '-q', 'origin', 'master'], { cwd: hdir });
      sh('docker', ['build', '-q', '-t', `goku-bench/${id}:${tag}-${round}`, hdir]);
      const cid = sh('docker', [
        'run',
        '-d',
        '--init',
        '--label',
        'goku-bench=1',
        '--name',
        `${name}-${tag}`,
        `goku-bench/${id}:${tag}-${round}`,
      ]).trim();
      const ip = sh('docker', ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', cid]).trim();
      await until(() => get(8000, 'x', ip), body);
      if (old) sh('docker', ['rm', '-f', old]);
      return cid;
    };
    t = now();
    const first = await byHand(`${h0}\n`, 'v0', null);
    results.handFirst.push(now() - t);
    commit(hdir, h1);
    t = now();
    const second = await byHand(`${h1}\n`, 'v1', first);
    results.handChange.push(now() - t);
    cleanup.push(second);
  }
} finally {
  for (const c of cleanup) sh('docker', ['rm', '-f', c]);
  server.kill('SIGTERM');
  await new Promise((r) => server.on('exit', r));
  try {
    process.kill(Number(readFileSync(join(home, 'nginx/nginx.pid'), 'utf8')), 'SIGQUIT');
  } catch {}
  const ids = sh('docker', ['ps', '-aq', '--filter', `label=goku.home=${home}`])
    .split(/\s+/)
    .filter(Boolean);
  if (ids.length) sh('docker', ['rm', '-f', ...ids]);
  const imgs = [
    ...sh('docker', ['images', '-q', '--filter', `label=goku.home=${home}`]).split(/\s+/),
    ...sh('docker', ['images', '-q', `goku-bench/${id}`]).split(/\s+/),
  ].filter(Boolean);
  if (imgs.length) sh('docker', ['rmi', '-f', ...new Set(imgs)]);
  sh('docker', ['rmi', BASE]);
  rmSync(tmp, { recursive: true, force: true });
}

const fmt = (ms) => `${(ms / 1000).toFixed(3)} s`;
const row = (label, g, h) =>
  `${label.padEnd(22)} goku ${fmt(median(g)).padStart(9)}   by hand ${fmt(median(h)).padStart(9)}   ratio ${(median(g) / median(h)).toFixed(2)}`;
console.log(
  `push-to-live, ${ROUNDS} rounds alternating, repo with ${FILES + 2} files, GOKU_CHECK_UPTIME=${values.uptime} (medians)`,
);
console.log(row('first deploy', results.gokuFirst, results.handFirst));
console.log(row('one-line change', results.gokuChange, results.handChange));
console.log(
  JSON.stringify(
    Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.map((x) => Math.round(x))])),
  ),
);
