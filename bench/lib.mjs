// Shared by the benchmarks: a busybox base image, a goku server on random ports with a key,
// HTTP helpers, and cleanup of everything they made.
import { execFile, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildNodeImage as buildNodeImageFrom } from '../test/fixtures/node-image.mjs';

export const ROOT = resolve(import.meta.dirname, '..');
export const BASE = 'goku-bench/busybox:1';
export const NODE_IMAGE = 'goku-bench/node:1';

export const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: 'pipe', ...opts }).toString();
/** sh without blocking the event loop: resolves with stdout, rejects on a non-zero exit. */
export const shAsync = (cmd, args, opts = {}) =>
  new Promise((resolve, reject) =>
    execFile(cmd, args, { ...opts }, (err, stdout) => (err ? reject(err) : resolve(String(stdout)))),
  );

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export const freePort = () =>
  new Promise((res) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });

export const get = (port, host, addr = '127.0.0.1') =>
  new Promise((res) => {
    const req = http.get(
      { host: addr, port, path: '/', headers: { Host: host }, agent: false, timeout: 2000 },
      (r) => {
        let b = '';
        r.on('data', (d) => (b += d));
        r.on('end', () => res({ status: r.statusCode, body: b }));
        // Cut off mid-body: no 'end', and no 'error' without a listener.
        r.on('error', () => res({ status: 0, body: '' }));
        r.on('close', () => r.complete || res({ status: 0, body: '' }));
      },
    );
    req.on('error', () => res({ status: 0, body: '' }));
    req.on('timeout', () => req.destroy());
  });

export async function until(fn, want) {
  for (;;) {
    const r = await fn();
    if (r.status === 200 && r.body === want) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The bench's temp directory, which nginx's workers (user nobody) may pass through to GOKU_HOME/nginx. */
export function benchTmp() {
  const tmp = mkdtempSync(join(tmpdir(), 'goku-bench-'));
  chmodSync(tmp, 0o711);
  return tmp;
}

/** A busybox image to build apps FROM (no registry is reachable). */
export function buildBase(tmp) {
  const bb = join(tmp, 'bb');
  mkdirSync(bb);
  copyFileSync('/bin/busybox', join(bb, 'busybox'));
  writeFileSync(
    join(bb, 'Dockerfile'),
    'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nRUN mkdir /www\n',
  );
  sh('docker', ['build', '-q', '-t', BASE, bb]);
}

/** The Node app image of the load benchmarks (see test/fixtures/node-image.mjs for why). */
export function buildNodeImage(tmp) {
  buildNodeImageFrom(join(tmp, 'node-image'), BASE, NODE_IMAGE);
}

/** A git work tree with a Node app serving index.html (read at start). */
export function makeNodeRepo(dir, body) {
  makeRepo(dir, body);
  writeFileSync(
    join(dir, 'server.js'),
    "const body = require('fs').readFileSync('/www/index.html');\nrequire('http').createServer((q, s) => s.end(body)).listen(8000);\n",
  );
  writeFileSync(
    join(dir, 'Dockerfile'),
    `FROM ${NODE_IMAGE}\nCOPY index.html /www/index.html\nCOPY server.js /server.js\nEXPOSE 8000\nCMD ["/usr/bin/node", "/server.js"]\n`,
  );
  sh('git', ['add', '-A'], { cwd: dir });
  sh('git', ['commit', '-qm', 'node app'], { cwd: dir });
}

/** Random free ports for one goku (preset ones kept: a CA that validates at the proxy port picks it first). */
export async function gokuPorts(preset = {}) {
  return {
    ssh: preset.ssh ?? (await freePort()),
    http: preset.http ?? (await freePort()),
    proxy: preset.proxy ?? (await freePort()),
    https: preset.https ?? (await freePort()),
  };
}

/** The environment of a goku on 127.0.0.1 at those ports, with GOKU_HOME and extra settings. */
export function gokuEnv(home, ports, extraEnv = {}) {
  return {
    ...process.env,
    GOKU_HOME: home,
    GOKU_SSH_HOST: '127.0.0.1',
    GOKU_SSH_PORT: String(ports.ssh),
    GOKU_HTTP_HOST: '127.0.0.1',
    GOKU_HTTP_PORT: String(ports.http),
    GOKU_PROXY_HOST: '127.0.0.1',
    GOKU_PROXY_PORT: String(ports.proxy),
    GOKU_HTTPS_PORT: String(ports.https),
    GOKU_DOMAIN: 'bench.test',
    ...extraEnv,
  };
}

/** A deploy key added through `goku` (the command given) and the GIT_SSH_COMMAND that uses it. */
export function addKey(tmp, name, goku, env) {
  const key = join(tmp, `${name}-key`);
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  sh(goku, ['keys:add', 'bench'], { env, input: readFileSync(`${key}.pub`) });
  return `ssh -i ${key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR`;
}

/** Starts `goku server` on a temp GOKU_HOME and random ports, with a deploy key. */
export async function startGoku(tmp, extraEnv = {}, name = 'home', preset = {}) {
  const home = join(tmp, name);
  const ports = await gokuPorts(preset);
  const env = gokuEnv(home, ports, extraEnv);
  // BENCH_PROFILE=DIR: the daemon writes a CPU profile there when it stops (node --cpu-prof).
  const profile = process.env.BENCH_PROFILE
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`]
    : [];
  const server = spawn(process.execPath, [...profile, join(ROOT, 'bin/goku'), 'server'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (process.env.BENCH_LOG) server.stdout.on('data', (d) => process.stderr.write(d));
  await new Promise((res, rej) => {
    let log = '';
    server.stdout.on('data', (d) => {
      log += d;
      if (log.includes('goku is ready')) res();
    });
    server.on('exit', () => rej(new Error(log)));
  });
  const gitSsh = addKey(tmp, name, join(ROOT, 'bin/goku'), env);
  return { server, env, home, ports, gitSsh };
}

/**
 * The bench's clean-up, run once: from its finally block, or when the bench is interrupted
 * (Ctrl-C, kill), where a finally block never runs and containers, images and nginx would stay.
 */
export function cleanupOnce(fn) {
  let running = null;
  const run = () => {
    running ??= fn();
    return running;
  };
  for (const sig of ['SIGINT', 'SIGTERM'])
    process.once(sig, () => void run().finally(() => process.exit(130)));
  return run;
}

/** Stops goku and its nginx, removes its containers and images, the base image and tmp. */
export async function cleanupGoku(tmp, gokus, extraImageRefs = []) {
  for (const goku of [gokus].flat()) {
    if (!goku) continue;
    if (goku.server.exitCode === null) {
      goku.server.kill('SIGTERM');
      await new Promise((r) => goku.server.on('exit', r));
    }
    for (const pidFile of ['nginx/edge/nginx.pid', 'nginx/nginx.pid']) {
      try {
        process.kill(Number(readFileSync(join(goku.home, pidFile), 'utf8')), 'SIGQUIT');
      } catch {}
    }
    const ids = sh('docker', ['ps', '-aq', '--filter', `label=goku.home=${goku.home}`])
      .split(/\s+/)
      .filter(Boolean);
    if (ids.length) sh('docker', ['rm', '-f', ...ids]);
    // Compose apps' networks and named volumes.
    for (const kind of ['network', 'volume']) {
      const names = sh('docker', [kind, 'ls', '-q', '--filter', `label=goku.home=${goku.home}`])
        .split(/\s+/)
        .filter(Boolean);
      if (names.length) sh('docker', [kind, 'rm', ...names]);
    }
    const imgs = [
      ...sh('docker', ['images', '-q', '--filter', `label=goku.home=${goku.home}`]).split(/\s+/),
      ...extraImageRefs.flatMap((ref) => sh('docker', ['images', '-q', ref]).split(/\s+/)),
    ].filter(Boolean);
    // One at a time, so one that cannot go yet does not keep the rest (or the cleanup) back.
    for (const img of new Set(imgs)) {
      try {
        sh('docker', ['rmi', '-f', img]);
      } catch {}
    }
  }
  for (const ref of [NODE_IMAGE, BASE]) {
    try {
      sh('docker', ['rmi', ref]);
    } catch {}
  }
  rmSync(tmp, { recursive: true, force: true });
}

/** A git work tree with a busybox httpd app serving index.html. */
export function makeRepo(dir, body, files = 0) {
  mkdirSync(dir, { recursive: true });
  sh('git', ['init', '-q', '-b', 'master'], { cwd: dir });
  sh('git', ['config', 'user.email', 'b@example.com'], { cwd: dir });
  sh('git', ['config', 'user.name', 'bench'], { cwd: dir });
  for (let i = 0; i < files; i++) {
    const sub = join(dir, 'assets', String(i % 40));
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `f${i}.txt`), `file ${i}\n`.repeat(40));
  }
  writeFileSync(
    join(dir, 'Dockerfile'),
    `FROM ${BASE}\nCOPY index.html /www/index.html\nEXPOSE 8000\nCMD ["httpd", "-f", "-p", "8000", "-h", "/www"]\n`,
  );
  writeFileSync(join(dir, 'index.html'), `${body}\n`);
  sh('git', ['add', '-A'], { cwd: dir });
  sh('git', ['commit', '-qm', body], { cwd: dir });
}

export function commit(dir, body) {
  writeFileSync(join(dir, 'index.html'), `${body}\n`);
  sh('git', ['commit', '-qam', body], { cwd: dir });
}
