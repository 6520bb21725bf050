#!/usr/bin/env node
// One goku server with many apps: their routes all in nginx, their containers few. Prints
// what the scale goals ask about: one deploy's route change (render, nginx -t, reload,
// confirm; goku's own 'route' timing of the push), `goku apps`, goku's restart to serving
// (with its nginx left running, and cold: nginx stopped too) and the daemon's RSS.
//   node bench/scale.mjs [--apps 1000] [--containers 10] [--rounds 5]
//
// `--live` apps (default 2) are pushed by git as a user would; the other apps are written
// into the stopped server's store, each a deployment whose instance is one of `--containers`
// busybox httpd containers the bench runs itself with goku's label. Every app thus has a
// server block and an upstream in nginx and answers.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  BASE,
  buildBase,
  cleanupGoku,
  cleanupOnce,
  commit,
  get,
  makeRepo,
  median,
  ROOT,
  sh,
  shAsync,
  startGoku,
  until,
} from './lib.mjs';

const { values } = parseArgs({
  options: {
    apps: { type: 'string', default: '1000' },
    containers: { type: 'string', default: '10' },
    live: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '5' },
  },
});
const APPS = Number(values.apps);
const CONTAINERS = Number(values.containers);
const LIVE = Number(values.live);
const ROUNDS = Number(values.rounds);
const tmp = mkdtempSync(join(tmpdir(), 'goku-scale-'));
chmodSync(tmp, 0o711); // nginx's workers pass through to GOKU_HOME/nginx
const tag = `sc${randomBytes(3).toString('hex')}`;
const benchLabel = `goku-bench=${tag}`;
let goku = null;

const secs = (ms) => `${(ms / 1000).toFixed(3)} s`;
const rssMb = (pid) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const nginxPids = (home) =>
  ['nginx/edge/nginx.pid', 'nginx/nginx.pid'].map((f) => {
    try {
      return Number(readFileSync(join(home, f), 'utf8'));
    } catch {
      return 0;
    }
  });

/** The daemon's JSON log lines, as they come. */
function follow(server) {
  const lines = [];
  let buf = '';
  server.stdout.on('data', (d) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop();
    for (const p of parts) {
      try {
        lines.push(JSON.parse(p));
      } catch {}
    }
  });
  return lines;
}

/** Starts `goku server` again on the same home; resolves with the time until it says it is ready. */
async function respawn() {
  const t0 = performance.now();
  const server = spawn(join(ROOT, 'bin/goku'), ['server'], {
    env: goku.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  if (process.env.BENCH_LOG) {
    server.stdout.on('data', (d) => process.stderr.write(d));
    server.stderr.on('data', (d) => process.stderr.write(d));
  }
  await new Promise((res, rej) => {
    server.stdout.on('data', (d) => {
      log += d;
      if (log.includes('goku is ready')) res();
    });
    server.on('exit', () => rej(new Error(log)));
  });
  goku.server = server;
  return { t0, ready: performance.now() - t0 };
}

async function stop() {
  const s = goku.server;
  if (s.exitCode !== null) return;
  const exited = new Promise((r) => s.on('exit', r));
  s.kill('SIGTERM');
  await exited;
}

const cli = (args) => sh(join(ROOT, 'bin/goku'), args, { env: goku.env });

const cleanup = cleanupOnce(async () => {
  try {
    const ids = sh('docker', ['ps', '-aq', '--filter', `label=${benchLabel}`])
      .split(/\s+/)
      .filter(Boolean);
    if (ids.length) sh('docker', ['rm', '-f', ...ids]);
  } catch {}
  await cleanupGoku(tmp, goku);
});
try {
  buildBase(tmp);
  goku = await startGoku(tmp, { GOKU_CHECK_UPTIME: '0' });
  const gitEnv = {
    ...process.env,
    GIT_SSH_COMMAND: process.env.BENCH_SSH_DEBUG
      ? goku.gitSsh.replace('LogLevel=ERROR', 'LogLevel=DEBUG1')
      : goku.gitSsh,
  };
  const live = Array.from({ length: LIVE }, (_, i) => `${tag}-live${i}`);
  for (const app of live) {
    const dir = join(tmp, app);
    makeRepo(dir, `${app} v0`);
    sh('git', ['remote', 'add', 'goku', `ssh://git@127.0.0.1:${goku.ports.ssh}/${app}`], { cwd: dir });
    await shAsync('git', ['push', '-q', 'goku', 'master'], { cwd: dir, env: gitEnv });
  }

  await stop();
  // The shared instances of the written apps.
  const ids = [];
  for (let i = 0; i < CONTAINERS; i++) {
    ids.push(
      sh('docker', [
        'run',
        '-d',
        '--label',
        benchLabel,
        // goku's label, so its one container listing sees them as it sees its own.
        '--label',
        `goku.home=${goku.home}`,
        '--name',
        `${tag}-c${i}`,
        BASE,
        'sh',
        '-c',
        `mkdir -p /www && echo shared-${i} > /www/index.html && exec httpd -f -p 8000 -h /www`,
      ]).trim(),
    );
  }

  const storeFile = join(goku.home, 'store.json');
  const store = JSON.parse(readFileSync(storeFile, 'utf8'));
  const model = store.apps[live[0]];
  const depModel = model.deployments[live[0]];
  const now = new Date().toISOString();
  for (let i = 0; store.apps && Object.keys(store.apps).length < APPS; i++) {
    const name = `${tag}-a${i}`;
    store.apps[name] = {
      ...structuredClone(model),
      name,
      createdAt: now,
      updatedAt: now,
      releases: (model.releases ?? []).map((r) => ({ ...r, deployment: name, log: '' })),
      deployments: {
        [name]: {
          ...structuredClone(depModel),
          name,
          cnameDomains: [],
          containerId: ids[i % ids.length],
          containerIds: [ids[i % ids.length]],
        },
      },
    };
  }
  writeFileSync(storeFile, JSON.stringify(store));
  const apps = Object.keys(store.apps).length;

  // Restart with nginx running (it is adopted), then cold: nginx stopped too.
  const restart = [];
  const cold = [];
  const probe = `${tag}-a${APPS - LIVE - 1}`;
  for (let r = 0; r < Math.min(ROUNDS, 3); r++) {
    const { ready } = await respawn();
    restart.push(ready);
    await stop();
    for (const pid of nginxPids(goku.home)) {
      try {
        process.kill(pid, 'SIGQUIT');
      } catch {}
    }
    while (nginxPids(goku.home).some((p) => p && alive(p))) await new Promise((r) => setTimeout(r, 20));
    const { t0 } = await respawn();
    await until(
      () => get(goku.ports.proxy, `${probe}.bench.test`),
      `shared-${(APPS - LIVE - 1) % CONTAINERS}\n`,
    );
    cold.push(performance.now() - t0);
    if (r < Math.min(ROUNDS, 3) - 1) await stop();
  }
  const log = follow(goku.server);
  if (process.env.BENCH_PAUSE) {
    // For profiling by hand: the server's env, then wait until the named file exists.
    console.error(JSON.stringify({ GOKU_HOME: goku.env.GOKU_HOME, pid: goku.server.pid }));
    while (!existsSync(process.env.BENCH_PAUSE)) await new Promise((r) => setTimeout(r, 500));
  }

  const listed = cli(['apps']).trim().split('\n').length;
  const appsTimes = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t = performance.now();
    cli(['apps']);
    appsTimes.push(performance.now() - t);
  }

  const routeTimes = [];
  const pushTimes = [];
  const dir = join(tmp, live[0]);
  for (let r = 1; r <= ROUNDS; r++) {
    commit(dir, `${live[0]} v${r}`);
    const t = performance.now();
    await shAsync('git', ['push', '-q', 'goku', 'master'], { cwd: dir, env: gitEnv });
    pushTimes.push(performance.now() - t);
    const deployed = log.filter((l) => l.msg === 'deployed' && l.app === live[0]).at(-1);
    routeTimes.push(deployed.ms.route);
    await until(() => get(goku.ports.proxy, `${live[0]}.bench.test`), `${live[0]} v${r}\n`);
  }
  const rss = rssMb(goku.server.pid);
  // And once the pushes' garbage has had time to go (two reconcile sweeps).
  await new Promise((r) => setTimeout(r, 12_000));
  const rssIdle = rssMb(goku.server.pid);
  const nginxConf = readFileSync(join(goku.home, 'nginx/nginx.conf'), 'utf8');

  console.log(
    `${apps} apps (${LIVE} pushed, ${apps - LIVE} written into the store on ${CONTAINERS} shared containers); ${(nginxConf.match(/^server \{/gm) ?? []).length} server blocks, ${(nginxConf.match(/^upstream /gm) ?? []).length} upstreams, ${(nginxConf.length / 1024).toFixed(0)} KiB of nginx config; medians of ${ROUNDS} rounds (restarts: ${restart.length})`,
  );
  console.log(
    `one deploy's route change (render, nginx -t, reload, confirm): ${secs(median(routeTimes))}  (goal ≤ 0.5 s; whole push ${secs(median(pushTimes))})`,
  );
  console.log(`goku apps (${listed} lines): ${secs(median(appsTimes))}  (goal ≤ 0.3 s)`);
  console.log(
    `goku restart to ready, nginx running: ${secs(median(restart))}; cold, nginx stopped too, to an app served: ${secs(median(cold))}  (goal ≤ 5 s)`,
  );
  console.log(
    `daemon RSS right after the pushes: ${rss.toFixed(0)} MB, 12 s later: ${rssIdle.toFixed(0)} MB  (goal ≤ 150 MB)`,
  );
} finally {
  await cleanup();
}

function alive(pid) {
  // A zombie (exited, not yet reaped by a slow init) is not alive.
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}
