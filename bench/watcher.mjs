#!/usr/bin/env node
// Registry watcher cost and detection latency.
//   node bench/watcher.mjs [--apps 200] [--repos 200] [--seconds 120] [--interval 5] [--deployed 5] [--rounds 3] [--pinned]
// One docker-registry on 127.0.0.1 with htpasswd auth (so the auth goku caches is exercised)
// and its request log; N image apps spread over `--repos` repositories (default: one each,
// the worst case: polls of apps on one repository share the registry's answers), `--deployed`
// of them deployed (the rest are polled the same way; the watcher only deploys apps that run). For `--seconds` at
// GOKU_WATCH_INTERVAL=`--interval`: registry requests per poll per app, goku's CPU share of
// one core, its RSS growth. Then `--rounds` times: a new version pushed, and the time until
// the watcher's deploy starts (the release's startedAt), against the interval. The apps follow
// v1.0.0 (semver: the tags listing each poll, a digest only for a newer version); --pinned:
// they follow :latest (pinned: its digest each poll, the listing every tenth), and each round
// pushes :latest again.
import { spawn } from 'node:child_process';
import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import {
  BASE,
  benchTmp,
  buildBase,
  cleanupGoku,
  cleanupOnce,
  freePort,
  ROOT,
  sh,
  startGoku,
} from './lib.mjs';

const { values } = parseArgs({
  options: {
    apps: { type: 'string', default: '200' },
    repos: { type: 'string' },
    seconds: { type: 'string', default: '120' },
    interval: { type: 'string', default: '5' },
    deployed: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    pinned: { type: 'boolean', default: false },
  },
});
const APPS = Number(values.apps);
const REPOS = Number(values.repos ?? values.apps);
const SECONDS = Number(values.seconds);
const INTERVAL = Number(values.interval);
const tmp = benchTmp();
let goku = null;
let registry = null;
const built = [];
const cleanup = cleanupOnce(async () => {
  registry?.kill('SIGKILL');
  await cleanupGoku(tmp, [goku]);
  for (const img of built) {
    try {
      sh('docker', ['rmi', '-f', img]);
    } catch {}
  }
});

const clk = Number(sh('getconf', ['CLK_TCK']).trim());
const cpuTicks = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
};
const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
/** goku's requests in the registry's log (its user agent), and its polls (tags listings answered). */
const registryRequests = async (log) => {
  let requests = 0;
  let polls = 0;
  let heads = 0;
  const lines = createInterface({ input: createReadStream(log) });
  for await (const l of lines) {
    if (!l.includes('response completed') || !l.includes('useragent="goku')) continue;
    requests++;
    if (l.includes('/tags/list') && /http\.response\.status=(200|304)/.test(l)) polls++;
    if (l.includes('http.request.method=HEAD')) heads++;
  }
  return { requests, polls, heads };
};

function push(host, tag, body, repo = 'r0') {
  const ctx = join(tmp, `ctx-${tag}`);
  sh('mkdir', ['-p', join(ctx, 'www')]);
  writeFileSync(join(ctx, 'www/index.html'), `${body}\n`);
  writeFileSync(
    join(ctx, 'Dockerfile'),
    `FROM ${BASE}\nCOPY www /www\nEXPOSE 8000\nCMD ["httpd", "-f", "-p", "8000", "-h", "/www"]\n`,
  );
  const ref = `${host}/bench/${repo}:${tag}`;
  built.push(sh('docker', ['build', '-q', '-t', ref, ctx]).trim());
  sh('docker', ['push', ref], { env: { ...process.env, DOCKER_CONFIG: join(tmp, 'docker') } });
  return ref;
}

/** The same image in `count` more repositories (the registry mounts its layers across them). */
function copyTo(host, ref, tag, count) {
  const env = { ...process.env, DOCKER_CONFIG: join(tmp, 'docker') };
  for (let r = 1; r < count; r++) {
    const to = `${host}/bench/r${r}:${tag}`;
    sh('docker', ['tag', ref, to]);
    sh('docker', ['push', to], { env });
    sh('docker', ['rmi', to]);
  }
}

try {
  buildBase(tmp);
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  writeFileSync(join(tmp, 'htpasswd'), `${sh('htpasswd', ['-Bbn', 'ci', 'bench-secret']).trim()}\n`);
  writeFileSync(
    join(tmp, 'registry.yml'),
    `version: 0.1\nlog:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(tmp, 'registry')}\nhttp:\n  addr: ${host}\nauth:\n  htpasswd:\n    realm: bench\n    path: ${join(tmp, 'htpasswd')}\n`,
  );
  const log = join(tmp, 'registry.log');
  const out = (await import('node:fs')).openSync(log, 'a');
  registry = spawn('docker-registry', ['serve', join(tmp, 'registry.yml')], { stdio: ['ignore', out, out] });
  for (let i = 0; i < 100; i++) {
    const s = await fetch(`http://${host}/v2/`).then(
      (r) => r.status,
      () => 0,
    );
    if (s === 401) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  sh('docker', ['login', host, '-u', 'ci', '--password-stdin'], {
    input: 'bench-secret',
    env: { ...process.env, DOCKER_CONFIG: join(tmp, 'docker') },
  });
  const TAG = values.pinned ? 'latest' : 'v1.0.0';
  copyTo(host, push(host, TAG, 'v1.0.0'), TAG, REPOS);

  goku = await startGoku(tmp, { GOKU_WATCH_INTERVAL: String(INTERVAL), GOKU_CHECK_UPTIME: '0' });
  const bin = join(ROOT, 'bin/goku');
  const cli = (args, input) => sh(bin, args, { env: goku.env, ...(input ? { input } : {}) });
  cli(['registries:login', host, 'ci'], 'bench-secret');
  const apps = Array.from({ length: APPS }, (_, i) => `w${String(i).padStart(4, '0')}`);
  for (const [i, a] of apps.entries())
    cli(['apps:create', a, '--image', `${host}/bench/r${i % REPOS}:${TAG}`]);
  const deployed = apps.slice(0, Number(values.deployed));
  // Eight deploys at once: goku runs deploys of different apps in parallel.
  const { execFile } = await import('node:child_process');
  const queue = [...deployed];
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let a = queue.shift(); a; a = queue.shift()) {
        await new Promise((res, rej) =>
          execFile(bin, ['deploy', a], { env: goku.env }, (err) => (err ? rej(err) : res())),
        );
      }
    }),
  );

  // Let every app's first poll (spread over one interval) happen, then measure.
  await new Promise((r) => setTimeout(r, INTERVAL * 1000 + 2000));
  const pid = goku.server.pid;
  const [req0, cpu0, rss0, t0] = [await registryRequests(log), cpuTicks(pid), rssMb(pid), Date.now()];
  // RSS every 30 s: a leak keeps climbing, a heap settling at a larger size levels off.
  const rssSeries = [rss0];
  for (let left = SECONDS; left > 0; left -= 30) {
    await new Promise((r) => setTimeout(r, Math.min(30, left) * 1000));
    rssSeries.push(rssMb(pid));
  }
  const [req1, cpu1, rss1, t1] = [await registryRequests(log), cpuTicks(pid), rssMb(pid), Date.now()];
  const secs = (t1 - t0) / 1000;
  const polls = req1.polls - req0.polls;
  const requests = req1.requests - req0.requests;
  // Each app polls once per interval (less up to 10 % of jitter); apps on one repository
  // share the registry's answers, so tags listings can be fewer than app polls.
  const perApp = requests / (APPS * (secs / INTERVAL));
  const cpu = ((cpu1 - cpu0) / clk / secs) * 100;

  // Detection latency: a new version pushed, until the watcher's deploy of it starts.
  const latencies = [];
  for (let round = 0; round < Number(values.rounds); round++) {
    const tag = values.pinned ? 'latest' : `v1.${round + 1}.0`;
    const newest = (rels) => Math.max(0, ...rels.map((r) => r.version));
    const known = newest(JSON.parse(cli(['releases', deployed[0], '--json'])));
    push(host, tag, `v1.${round + 1}.0`);
    const pushed = Date.now();
    for (;;) {
      const rels = JSON.parse(cli(['releases', deployed[0], '--json']));
      const rel = rels.find((r) => r.version > known && r.source === `${host}/bench/r0:${tag}`);
      if (rel) {
        latencies.push((Date.parse(rel.startedAt) - pushed) / 1000);
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    // The other deployed apps follow too; let them finish before the next round.
    await new Promise((r) => setTimeout(r, INTERVAL * 1000 + 3000));
  }

  console.log(
    `registry watcher, ${APPS} image apps (${values.pinned ? 'pinned to :latest' : 'semver from v1.0.0'}) on ${REPOS} repositories (${deployed.length} deployed), GOKU_WATCH_INTERVAL=${INTERVAL}, ${Math.round(secs)} s`,
  );
  console.log(
    `registry requests per app per interval   ${perApp.toFixed(2)}   (${requests} requests: ${polls} tags listings, ${req1.heads - req0.heads} manifest HEADs)`,
  );
  console.log(`goku CPU, share of one core          ${cpu.toFixed(2)} %`);
  console.log(
    `goku RSS                             ${rss0.toFixed(1)} MB -> ${rss1.toFixed(1)} MB (${(rss1 - rss0).toFixed(1)} MB; every 30 s: ${rssSeries.map((x) => x.toFixed(0)).join(', ')})`,
  );
  console.log(
    `push to deploy start                 ${latencies.map((l) => `${l.toFixed(2)} s`).join(', ')} (interval ${INTERVAL} s)`,
  );
} finally {
  await cleanup();
}
