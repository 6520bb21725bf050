import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, GokuServer, makeKey, run, type SshKey, sshArgs, sshRun } from '../helpers/goku.js';

/** A raw TCP connection to the ssh port from a given loopback address; resolves once open. */
function connect(
  port: number,
  localAddress = '127.0.0.1',
): Promise<{ sock: net.Socket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port, localAddress });
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    sock.on('error', () => undefined);
    sock.resume(); // read the server's banner, or 'close' never comes
    sock.once('connect', () => resolve({ sock, closed }));
    sock.once('error', reject);
  });
}

const isClosed = (c: { closed: Promise<void> }, ms: number) =>
  Promise.race([c.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

// Connections that never authenticate, or authenticate and then sit idle, cost nothing for long.
describe('ssh connection limits', () => {
  const server = new GokuServer({
    env: {
      GOKU_SSH_AUTH_TIMEOUT: '2',
      GOKU_SSH_IDLE_TIMEOUT: '2',
      GOKU_SSH_MAX_UNAUTH_PER_IP: '5',
      GOKU_SSH_MAX_UNAUTH: '8',
    },
  });
  let key: SshKey;

  beforeAll(async () => {
    key = await server.startWithKey();
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it('drops silent connections at the auth timeout, caps them per address and in total; files come back', async () => {
    const baseline = server.openFiles();
    const mine = await Promise.all(Array.from({ length: 5 }, () => connect(server.sshPort)));
    // The sixth from the same address is closed at once.
    const sixth = await connect(server.sshPort);
    expect(await isClosed(sixth, 1000)).toBe(true);
    // Other addresses fill the total (8): three more get in, the next is closed at once.
    const others = await Promise.all(
      ['127.0.0.2', '127.0.0.3', '127.0.0.4'].map((a) => connect(server.sshPort, a)),
    );
    const over = await connect(server.sshPort, '127.0.0.5');
    expect(await isClosed(over, 1000)).toBe(true);
    for (const c of [...mine, ...others]) expect(await isClosed(c, 1)).toBe(false);
    // A real client still gets in once the silent ones are gone (auth timeout: 2 s).
    for (const c of [...mine, ...others]) expect(await isClosed(c, 4000)).toBe(true);
    const r = await sshRun(server, key, 'help');
    expect(r.code).not.toBe(255);
    await eventually(
      async () => server.openFiles(),
      (n) => n <= baseline,
      5000,
    );
  });

  it('closes an authenticated connection with no channel after the idle timeout', async () => {
    const sock = join(server.tmp, 'idle.sock');
    const m = await run('ssh', [
      ...sshArgs(server, key, ['-o', 'ControlMaster=yes', '-S', sock, '-f', '-N']),
    ]);
    expect(m.code, m.stderr).toBe(0);
    const check = () => run('ssh', ['-S', sock, '-O', 'check', 'git@127.0.0.1']);
    expect((await check()).code).toBe(0);
    // A channel that opened and closed starts the idle clock again.
    const once = await run('ssh', [...sshArgs(server, key, ['-S', sock, '-o', 'ControlMaster=no']), 'help']);
    expect(once.stderr).not.toContain('Connection refused');
    expect((await check()).code).toBe(0);
    await eventually(
      async () => (await check()).code,
      (code) => code !== 0,
      6000,
    );
  });
});

describe('a removed key', () => {
  const server = new GokuServer();
  let temp: SshKey;

  beforeAll(async () => {
    await server.start();
    temp = makeKey(server.tmp, 'temp');
    expect((await server.cli(['keys:add', 'temp', '--admin'], temp.pub)).code).toBe(0);
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it('loses its rights on an open ControlMaster connection, which is closed', async () => {
    const sock = join(server.tmp, 'master.sock');
    const master = ['-o', 'ControlMaster=auto', '-o', 'ControlPersist=60', '-S', sock];
    const over = (cmd: string, input = '') => sshRun(server, temp, cmd, input, master);
    const first = await over('keys:list');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('temp');
    expect((await server.cli(['keys:remove', 'temp'])).code).toBe(0);
    const ghost = makeKey(server.tmp, 'ghost');
    for (const [cmd, input] of [
      ['keys:list', ''],
      ['apps:create ghostapp', ''],
      ['keys:add ghost --admin', ghost.pub],
    ] as const) {
      const r = await run('ssh', [...sshArgs(server, temp, [...master, '-o', 'ControlMaster=no']), cmd], {
        input,
      });
      expect(r.code, `${cmd}: ${r.stdout}`).not.toBe(0);
    }
    const keys = JSON.parse((await server.cli(['keys:list', '--json'])).stdout) as { name: string }[];
    expect(keys.map((k) => k.name)).toEqual([]);
    expect((await server.cli(['apps'])).stdout).not.toContain('ghostapp');
    // The master connection itself is closed.
    await eventually(
      async () => (await run('ssh', ['-S', sock, '-O', 'check', 'git@127.0.0.1'])).code,
      (code) => code !== 0,
      5000,
    );
  });
});
