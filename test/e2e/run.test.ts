import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AppRepo,
  eventually,
  GOKU_BIN,
  GokuServer,
  makeKey,
  run,
  type SshKey,
  sshArgs,
  sshRun,
  uniquePrefix,
} from '../helpers/goku.js';

// One-off commands, as Dokku's run and enter: a container of the current release with the
// app's config, attached to the caller (a pty over ssh -t: input, Ctrl-C, exit status), removed
// afterwards; enter execs into a running container. Admin keys only.
describe('run and enter', () => {
  const server = new GokuServer();
  const p = uniquePrefix();
  const app = `${p}-run`;
  let admin: SshKey;

  beforeAll(async () => {
    await server.start();
    admin = makeKey(server.tmp, 'admin');
    expect((await server.cli(['keys:add', 'admin', '--admin'], admin.pub)).code).toBe(0);
    const repo = new AppRepo(server.tmp, app, server, admin);
    await repo.deploy(
      {
        Dockerfile:
          'FROM goku-test/busybox:1\nCOPY www /www\nEXPOSE 8000\nCMD ["httpd", "-f", "-p", "8000", "-h", "/www"]\n',
        'www/index.html': 'served\n',
        Procfile: `web: httpd -f -p $PORT -h /www\nhello: sh -c 'echo hello from the procfile'\n`,
      },
      'one',
    );
    const set = await server.cli(['config:set', app, 'GREETING=hi there', '--no-restart']);
    expect(set.code, set.stderr).toBe(0);
  });
  afterAll(() => server.cleanup());

  /** ssh -tt (a pty although the test's stdin is no terminal), answering prompts as they come. */
  const interactive = (command: string, steps: [RegExp, string][]) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn('ssh', ['-tt', ...sshArgs(server, admin), command]);
      let out = '';
      let step = 0;
      const on = (d: Buffer) => {
        out += d.toString();
        const next = steps[step];
        if (next?.[0].test(out)) {
          step++;
          child.stdin.write(next[1]);
        }
      };
      child.stdout.on('data', on);
      child.stderr.on('data', on);
      child.on('close', (code) => resolve({ code, out }));
    });

  it('run over ssh -t: a pty, the config, Ctrl-C and the exit status pass through; nothing is left', async () => {
    const r = await interactive(`run ${app} sh`, [
      [/\/ # /, 'tty; echo "size=$(stty size) greeting=$GREETING port=$PORT"; exit 7\r'],
    ]);
    expect(r.out).toMatch(/\/dev\/pts\/\d+/);
    expect(r.out).toContain('greeting=hi there port=8000');
    expect(r.out).toMatch(/size=\d+ \d+/);
    expect(r.code).toBe(7);

    // Ctrl-C goes to the container's terminal: the foreground process gets SIGINT.
    const c = await interactive(
      `run ${app} sh -c 'trap "echo got-int; exit 130" INT; echo ready; sleep 30 & wait'`,
      [[/ready/, '\x03']],
    );
    expect(c.out).toContain('got-int');
    expect(c.code).toBe(130);
    await eventually(
      async () => server.names(app),
      (n) => n.length === 1,
    );
    expect(server.names(app)).toEqual([app]);
  });

  it("run from the server's own terminal: its size, and its resizes, reach the container's tty", async () => {
    // script(1) gives goku a terminal; the background stty resizes it while the command runs.
    // (A tty's size can only be set once its container runs: the first read waits a moment.)
    // The resize comes 5 s in: a CI run under load took over a second to start the container,
    // and the first read at 2 s had the new size already.
    const inner = `stty cols 91 rows 33; (sleep 5; stty cols 120 rows 50 < /dev/tty) & exec ${GOKU_BIN} run ${app} sh -c 'sleep 1; stty size; sleep 7; stty size'`;
    const r = await run('script', ['-qec', inner, '/dev/null'], { env: server.env() });
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/33 91\r*\n[\s\S]*50 120/);
  });

  it('run without a terminal: stdin streams in, output and status come back, locally and over ssh', async () => {
    const piped = await sshRun(server, admin, `run ${app} cat`, 'line one\nline two\n');
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout).toBe('line one\nline two\n');

    const status = await sshRun(server, admin, `run ${app} sh -c 'echo out; echo err >&2; exit 3'`);
    expect(status.code).toBe(3);
    expect(status.stdout).toBe('out\n');
    expect(status.stderr).toBe('err\n');

    // The server's own CLI, options before APP, the command's own flags after it untouched.
    const local = await server.cli(['run', app, 'sh', '-c', 'echo "$GREETING" -n'], 'ignored');
    expect(local.code, local.stderr).toBe(0);
    expect(local.stdout).toBe('hi there -n\n');
    const shortcut = await server.cli(['run', app, 'hello']);
    expect(shortcut.stdout).toBe('hello from the procfile\n');
    const missing = await server.cli(['run', app, 'no-such-program']);
    expect(missing.code).not.toBe(0);

    const detached = await server.cli(['run', '--detach', app, 'sh', '-c', 'echo detached says hi; sleep 2']);
    expect(detached.code, detached.stderr).toBe(0);
    expect(detached.stdout).toMatch(new RegExp(`=====> ${app}--run-[0-9a-f]+ runs detached`));
    const logs = await eventually(
      () => server.cli(['logs', app, '-p', 'run']),
      (l) => l.stdout.includes('detached says hi'),
    );
    expect(logs.code).toBe(0);
    // Removed once it exits.
    await eventually(
      async () => server.names(app),
      (n) => n.length === 1,
    );
  });

  it('enter runs a command in a running container; a deploy key may do neither', async () => {
    const r = await sshRun(server, admin, `enter ${app} cat /www/index.html`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('served\n');
    const named = await sshRun(server, admin, `enter ${app} ${app} sh -c 'echo $PORT; exit 4'`);
    expect(named.stdout).toBe('8000\n');
    expect(named.code).toBe(4);
    const local = await server.cli(['enter', app, 'web', 'hostname']);
    expect(local.code, local.stderr).toBe(0);
    expect(local.stdout.trim()).toMatch(/^[0-9a-f]{12}$/);

    const deploy = makeKey(server.tmp, 'deployer');
    const add = await server.cli(['keys:add', 'deployer'], deploy.pub);
    expect(add.code, add.stderr).toBe(0);
    for (const cmd of [`run ${app} id`, `enter ${app} id`]) {
      const refused = await sshRun(server, deploy, cmd);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain('commands need an admin key');
    }
    expect(server.names(app)).toEqual([app]);
  });
});
