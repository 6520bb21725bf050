#!/usr/bin/env node
// One server with many apps: N apps, each a routed deployment in nginx (their records all point
// at one running container; the containers may be few, the routes are what is measured).
//   node bench/scale.mjs [--apps 1000] [--rounds 5]
// Prints: goku start to ready and to serving the last app, `goku apps`, one route change
// (domains:add: render every route, nginx -t, reload, wait for the old workers), the route
// stage of a real push into that server, and the daemon's resident memory.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BASE, buildBase, cleanupGoku, get, makeRepo, median, ROOT, sh, startGoku } from './lib.mjs';

const { values } = parseArgs({
  options: { apps: { type: 'string', default: '1000' }, rounds: { type: 'string', default: '5' } },
});
const N = Number(values.apps);
const ROUNDS = Number(values.rounds);
const tmp = mkdtempSync(join(tmpdir(), 'goku-scale-'));
chmodSync(tmp, 0o711);
const id = randomBytes(3).toString('hex');
const now = () => performance.now();
const fmt = (ms) => `${(ms / 1000).toFixed(3)} s`;
const rss = (pid) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

buildBase(tmp);
const home = join(tmp, 'home');
let goku = null;
let cid = '';
try {
  // One container serves every app's route (httpd answers any Host).
  cid = sh('docker', [
    'run',
    '-d',
    '--init',
    '--label',
    `goku.home=${home}`,
    '--label',
    `goku.app=s${id}0`,
    '--label',
    `goku.deployment=s${id}0`,
    BASE,
    'httpd',
    '-f',
    '-p',
    '8000',
    '-h',
    '/www',
  ]).trim();
  sh('docker', ['exec', cid, 'sh', '-c', 'echo scale > /www/index.html']);
  const now0 = new Date().toISOString();
  const apps = {};
  for (let i = 0; i < N; i++) {
    const name = `s${id}${i}`;
    const release = `r${i}-${id}`;
    apps[name] = {
      name,
      createdAt: now0,
      updatedAt: now0,
      defaultBranch: 'master',
      env: {},
      domains: [],
      deployments: {
        [name]: {
          name,
          branch: 'master',
          commit: '0'.repeat(40),
          image: BASE,
          port: 8000,
          cnameDomains: [],
          health: { kind: 'default' },
          containerId: cid,
          containerIds: [cid],
          release,
          deployedAt: now0,
        },
      },
      releases: [],
    };
  }
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, 'store.json'), JSON.stringify({ version: 1, keys: [], apps }));

  // Start to ready, and to the last app served through nginx.
  let t = now();
  goku = await startGoku(tmp, {}, 'home');
  const ready = now() - t;
  const last = `s${id}${N - 1}.bench.test`;
  while ((await get(goku.ports.proxy, last)).status !== 200) await new Promise((r) => setTimeout(r, 5));
  const serving = now() - t;

  // goku apps, through the CLI as a user runs it.
  const appsTimes = [];
  for (let r = 0; r < ROUNDS; r++) {
    t = now();
    sh(join(ROOT, 'bin/goku'), ['apps', '--json'], { env: goku.env, maxBuffer: 64 * 1024 * 1024 });
    appsTimes.push(now() - t);
  }

  // One route change among N: domains:add renders every route, runs nginx -t and reloads.
  const routeTimes = [];
  for (let r = 0; r < ROUNDS; r++) {
    t = now();
    sh(join(ROOT, 'bin/goku'), ['domains:add', `s${id}${r}`, `d${r}-${id}.example.com`], { env: goku.env });
    routeTimes.push(now() - t);
  }

  // A real push into the crowded server: the daemon's own stage times.
  const repo = join(tmp, 'repo');
  makeRepo(repo, `pushed-${id}`, 0);
  sh('git', ['remote', 'add', 'goku', `ssh://git@127.0.0.1:${goku.ports.ssh}/p${id}`], { cwd: repo });
  const logs = [];
  goku.server.stdout.on('data', (d) => logs.push(String(d)));
  sh('git', ['push', '-q', 'goku', 'master'], {
    cwd: repo,
    env: { ...process.env, GIT_SSH_COMMAND: goku.gitSsh },
  });
  await new Promise((r) => setTimeout(r, 200));
  const deployed = logs
    .join('')
    .split('\n')
    .find((l) => l.includes('"deployed"'));
  const stages = deployed ? JSON.parse(deployed).ms : null;

  // Resident memory once the reconciler has swept every deployment a few times.
  await new Promise((r) => setTimeout(r, 11_000));
  const mem = rss(goku.server.pid);

  // Restart to serving: nginx keeps serving while goku is down; goku is back when ready.
  goku.server.kill('SIGTERM');
  await new Promise((r) => goku.server.on('exit', r));
  t = now();
  goku.server = spawn(join(ROOT, 'bin/goku'), ['server'], {
    env: goku.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise((res) => {
    let log = '';
    goku.server.stdout.on('data', (d) => {
      log += d;
      if (log.includes('goku is ready')) res();
    });
  });
  const restart = now() - t;

  console.log(`${N} apps, ${ROUNDS} rounds where repeated (medians)`);
  console.log(`goku start to ready (with keys:add)  ${fmt(ready)}`);
  console.log(`goku start to serving app ${N}         ${fmt(serving)}`);
  console.log(`goku restart to ready                ${fmt(restart)}`);
  console.log(`goku apps --json                     ${fmt(median(appsTimes))}`);
  console.log(`route change (domains:add)           ${fmt(median(routeTimes))}`);
  console.log(`push into the server, daemon stages  ${JSON.stringify(stages)}`);
  console.log(`daemon RSS after 11 s                ${mem.toFixed(0)} MB`);
  console.log(
    JSON.stringify({ appsTimes: appsTimes.map(Math.round), routeTimes: routeTimes.map(Math.round) }),
  );
} finally {
  if (cid) sh('docker', ['rm', '-f', cid]);
  await cleanupGoku(tmp, goku ? [goku] : [], []);
}
