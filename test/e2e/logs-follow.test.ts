import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AppRepo,
  eventually,
  GOKU_BIN,
  GokuServer,
  httpdApp,
  makeKey,
  type SshKey,
  sshArgs,
  uniquePrefix,
} from '../helpers/goku.js';

// `logs -t` holds a Docker connection while it follows; a client that goes away gives it back.
describe('logs -t', () => {
  const server = new GokuServer();
  const app = `${uniquePrefix()}-logs`;
  let admin: SshKey;

  beforeAll(async () => {
    const key = await server.startWithKey();
    admin = makeKey(server.tmp, 'admin');
    expect((await server.cli(['keys:add', 'admin', '--admin'], admin.pub)).code).toBe(0);
    const repo = new AppRepo(server.tmp, app, server, key);
    await repo.deploy(httpdApp('logs'), 'logs');
  });
  afterAll(async () => {
    await server.cleanup();
  });

  /** Starts a follower, waits until it is streaming, then kills the client outright. */
  async function followAndKill(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<void> {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    await new Promise((r) => setTimeout(r, 400));
    expect(child.exitCode).toBeNull();
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  it('20 followers over ssh and the CLI, killed: no connection or file stays open', async () => {
    // Warm up (first ssh session, first Docker connection) before counting.
    await followAndKill('ssh', [...sshArgs(server, admin), `logs -t ${app}`]);
    await new Promise((r) => setTimeout(r, 1000));
    const baseline = server.openFiles();
    for (let i = 0; i < 10; i++) await followAndKill('ssh', [...sshArgs(server, admin), `logs -t ${app}`]);
    for (let i = 0; i < 10; i++) await followAndKill(GOKU_BIN, ['logs', '-t', app], server.env());
    const n = await eventually(
      async () => server.openFiles(),
      (count) => count <= baseline + 2,
      10000,
    );
    expect(n).toBeLessThanOrEqual(baseline + 2);
  });
});
