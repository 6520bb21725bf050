#!/usr/bin/env node
// One-off commands: `goku run APP CMD` (a container of the release's image with the app's
// config, attached, removed afterwards) and `goku enter APP CMD` (docker exec into a running
// one), against doing the same by hand (`docker run --rm --init -e ... IMAGE CMD`, `docker exec
// CONTAINER CMD`), alternating, in one run. Wall time of the whole command, as a user waits.
//   node bench/run.mjs [--rounds 15]
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  benchTmp,
  buildBase,
  cleanupGoku,
  cleanupOnce,
  makeRepo,
  median,
  ROOT,
  sh,
  startGoku,
} from './lib.mjs';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '15' } } });
const ROUNDS = Number(values.rounds);
const tmp = benchTmp();
let goku = null;
const cleanup = cleanupOnce(() => cleanupGoku(tmp, goku));
const time = (fn) => {
  const t = performance.now();
  fn();
  return performance.now() - t;
};

try {
  buildBase(tmp);
  goku = await startGoku(tmp);
  const repo = join(tmp, 'repo');
  makeRepo(repo, 'one-off');
  sh('git', ['remote', 'add', 'goku', `ssh://git@127.0.0.1:${goku.ports.ssh}/bench`], { cwd: repo });
  sh('git', ['push', '-q', 'goku', 'master'], {
    cwd: repo,
    env: { ...process.env, GIT_SSH_COMMAND: goku.gitSsh },
  });
  const bin = join(ROOT, 'bin/goku');
  sh(bin, ['config:set', 'bench', 'GREETING=hi', '--no-restart'], { env: goku.env });
  const image = sh('docker', ['inspect', '-f', '{{.Config.Image}}', 'bench']).trim();
  const cmd = ['sh', '-c', 'echo $GREETING'];
  const rows = { run: [], runByHand: [], enter: [], enterByHand: [] };
  for (let i = 0; i < ROUNDS; i++) {
    rows.run.push(time(() => execFileSync(bin, ['run', 'bench', ...cmd], { env: goku.env })));
    rows.runByHand.push(
      time(() =>
        execFileSync('docker', [
          'run',
          '--rm',
          '--init',
          '-e',
          'GREETING=hi',
          '-e',
          'PORT=8000',
          image,
          ...cmd,
        ]),
      ),
    );
    rows.enter.push(time(() => execFileSync(bin, ['enter', 'bench', 'true'], { env: goku.env })));
    rows.enterByHand.push(time(() => execFileSync('docker', ['exec', 'bench', 'true'])));
  }
  const m = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, median(v)]));
  console.log(`rounds: ${ROUNDS}`);
  console.log(
    `run:   goku ${m.run.toFixed(0)} ms, by hand ${m.runByHand.toFixed(0)} ms, ratio ${(m.run / m.runByHand).toFixed(2)}`,
  );
  console.log(
    `enter: goku ${m.enter.toFixed(0)} ms, by hand ${m.enterByHand.toFixed(0)} ms, ratio ${(m.enter / m.enterByHand).toFixed(2)}`,
  );
} finally {
  await cleanup();
}
