#!/usr/bin/env node
// Push-to-live benchmark: goku's `git push` against the same work done by hand, alternating,
// in one run on one machine. Prints medians and the ratio (goku / by hand).
//   node bench/push.mjs [--rounds 5] [--files 0] [--uptime 1,0]
// --uptime takes one or more GOKU_CHECK_UPTIME values: one goku server per value, all
// alternating with the by-hand procedure in the same run, so the cost of the health watch
// is measured against the same hand-made baseline.
// --files N adds N small files to the repo (the ARCHITECTURE notes measured 2,035 files).
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  benchTmp,
  buildBase,
  cleanupGoku,
  cleanupOnce,
  commit,
  get,
  makeRepo,
  median,
  sh,
  shAsync,
  startGoku,
  until,
} from './lib.mjs';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    files: { type: 'string', default: '0' },
    // goku's default health check watches a new container for GOKU_CHECK_UPTIME (1 s) after its
    // first good answer; the by-hand procedure stops at the first 200. --uptime 0 compares like with like.
    uptime: { type: 'string', default: '1,0' },
  },
});
const ROUNDS = Number(values.rounds);
const FILES = Number(values.files);
const tmp = benchTmp();
const id = randomBytes(3).toString('hex');
const now = () => performance.now();

buildBase(tmp);
const uptimes = values.uptime.split(',').map((u) => u.trim());
const gokus = [];

const results = { handFirst: [], handChange: [] };
for (const u of uptimes)
  Object.assign(results, {
    [`goku${u}First`]: [],
    [`goku${u}FirstReturned`]: [],
    [`goku${u}Change`]: [],
    [`goku${u}ChangeReturned`]: [],
  });
const handContainers = [];
const cleanup = cleanupOnce(async () => {
  for (const c of handContainers) sh('docker', ['rm', '-f', c]);
  await cleanupGoku(tmp, gokus, [`goku-bench/${id}`]);
});
try {
  for (const u of uptimes) gokus.push(await startGoku(tmp, { GOKU_CHECK_UPTIME: u }, `home-u${u}`));
  for (let round = 0; round < ROUNDS; round++) {
    // Every build gets content no earlier build had, so neither side is served from Docker's cache.
    const v = (n) => `v${n}-${id}-${round}-${randomBytes(4).toString('hex')}`;
    let t = 0;
    for (const [i, u] of uptimes.entries()) {
      // goku: first deploy of a new app, then a one-line change.
      const { ports, gitSsh } = gokus[i];
      const app = `b${id}u${i}r${round}`;
      const [g0, g1] = [v(0), v(1)];
      const gdir = join(tmp, `g${i}-${round}`);
      makeRepo(gdir, g0, FILES);
      sh('git', ['remote', 'add', 'goku', `ssh://git@127.0.0.1:${ports.ssh}/${app}`], { cwd: gdir });
      // Each push is timed twice: when nginx serves the new content (the push may still be
      // watching the new release, with the old one as backup) and when the push returns.
      const push = async (body, served, returned) => {
        const t = now();
        const done = shAsync('git', ['push', '-q', 'goku', 'master'], {
          cwd: gdir,
          env: { ...process.env, GIT_SSH_COMMAND: gitSsh },
        }).then(() => now() - t);
        await until(() => get(ports.proxy, `${app}.bench.test`), `${body}\n`);
        results[served].push(now() - t);
        results[returned].push(await done);
      };
      await push(g0, `goku${u}First`, `goku${u}FirstReturned`);
      commit(gdir, g1);
      await push(g1, `goku${u}Change`, `goku${u}ChangeReturned`);
    }
    const [h0, h1] = [v(0), v(1)];

    // By hand: push to a bare repo over file://, docker build, docker run, first HTTP 200, remove the old.
    const hdir = join(tmp, `h${round}`);
    const bare = join(tmp, `h${round}.git`);
    makeRepo(hdir, h0, FILES);
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
    handContainers.push(second);
  }
} finally {
  await cleanup();
}

const fmt = (ms) => `${(ms / 1000).toFixed(3)} s`;
const row = (label, g, h) =>
  `${label.padEnd(34)} goku ${fmt(median(g)).padStart(9)}   by hand ${fmt(median(h)).padStart(9)}   ratio ${(median(g) / median(h)).toFixed(2)}`;
console.log(`push-to-live, ${ROUNDS} rounds alternating, repo with ${FILES + 2} files (medians)`);
for (const u of uptimes) {
  console.log(row(`first deploy, GOKU_CHECK_UPTIME=${u}`, results[`goku${u}First`], results.handFirst));
  console.log(row(`  ... until the push returns`, results[`goku${u}FirstReturned`], results.handFirst));
  console.log(row(`one-line change, GOKU_CHECK_UPTIME=${u}`, results[`goku${u}Change`], results.handChange));
  console.log(row(`  ... until the push returns`, results[`goku${u}ChangeReturned`], results.handChange));
}
if (uptimes.length > 1) {
  const [a, b] = uptimes;
  const added = median(results[`goku${a}Change`]) - median(results[`goku${b}Change`]);
  console.log(`health watch: GOKU_CHECK_UPTIME=${a} adds ${fmt(added)} to a one-line change over ${b}`);
}
console.log(
  JSON.stringify(
    Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.map((x) => Math.round(x))])),
  ),
);
