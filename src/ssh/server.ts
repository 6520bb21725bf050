import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import ssh2 from 'ssh2';
import { findCommand, runCommand } from '../commands/index.js';
import type { Command, Services } from '../commands/types.js';
import { parseSshCommand } from '../core/ssh-command.js';
import { errorCode, GokuError, oneLine } from '../errors.js';
import { type HookPush, serveHook } from '../git/hook.js';
import type { Repos } from '../git/repos.js';
import type { KeyRecord, Store } from '../store/types.js';
import { sameKey } from './keys.js';

const { Server, utils } = ssh2;

export interface SshDeps {
  hostKeyFile: string;
  store: Store;
  repos: Repos;
  /** Runs the deploy of a push the pre-receive hook handed over. */
  deploy(push: HookPush & { app: string; keyName: string }, out: (line: string) => void): Promise<void>;
  table: Command[];
  services: Services;
  /** Creates the app on its first push (refuses names that collide). */
  createApp(app: string): Promise<void>;
  log: Logger;
}

/** Loads the persistent host key, creating it on first start, so clients keep trusting the server. */
export function loadHostKey(file: string): string {
  if (!existsSync(file)) {
    // ssh2's ed25519 keygen mangles ~1 key in 250 (a public key starting with a zero byte,
    // mscdex/ssh2#1390) and then cannot parse it: keep only a key it reads back.
    for (;;) {
      const pair = utils.generateKeyPairSync('ed25519');
      if (utils.parseKey(pair.private) instanceof Error) continue;
      writeFileSync(file, pair.private, { mode: 0o600 });
      break;
    }
  }
  return readFileSync(file, 'utf8');
}

type Channel = ssh2.ServerChannel;

/** The git + command ssh endpoint: public keys only, the two git services, admin commands. */
export class SshServer {
  private server: ssh2.Server | null = null;

  constructor(private readonly d: SshDeps) {}

  async listen(host: string, port: number): Promise<number> {
    const server = new Server({ hostKeys: [loadHostKey(this.d.hostKeyFile)] }, (client) =>
      this.onClient(client),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private findKey(algo: string, data: Buffer): KeyRecord | null {
    for (const k of this.d.store.read().keys) {
      if (k.type === algo && sameKey(Buffer.from(k.blob, 'base64'), data)) return k;
    }
    return null;
  }

  private onClient(client: ssh2.Connection): void {
    let key: KeyRecord | null = null;
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
      const rec = this.findKey(ctx.key.algo, ctx.key.data);
      if (!rec) return ctx.reject(['publickey']);
      if (!ctx.signature || !ctx.blob) return ctx.accept(); // key query: "would you take this key?"
      const parsed = utils.parseKey(ctx.key.data);
      if (
        parsed instanceof Error ||
        Array.isArray(parsed) ||
        !parsed.verify(ctx.blob, ctx.signature, ctx.hashAlgo)
      ) {
        return ctx.reject(['publickey']);
      }
      key = rec;
      ctx.accept();
    });
    client.on('ready', () => {
      client.on('session', (accept) => {
        const session = accept();
        const env: Record<string, string> = {};
        session.on('env', (acceptEnv, _reject, info) => {
          // Git asks for protocol v2 this way; nothing else from the client's environment is taken.
          if (info.key === 'GIT_PROTOCOL' && /^[a-z0-9=:.]+$/i.test(info.val)) env.GIT_PROTOCOL = info.val;
          if (info.key === 'NO_COLOR') env.NO_COLOR = '1';
          acceptEnv?.();
        });
        session.on('pty', (acceptPty) => {
          env.pty = '1';
          acceptPty?.();
        });
        session.on('shell', (acceptShell) => {
          const ch = acceptShell();
          ch.stderr.write(
            `Hi ${key?.name}! goku has no shell. Push with git, or run commands: ssh git@HOST help\r\n`,
          );
          ch.exit(1);
          ch.end();
        });
        session.on('exec', (acceptExec, _reject, info) => {
          const ch = acceptExec();
          if (!key) {
            ch.exit(1);
            ch.end();
            return;
          }
          void this.exec(ch, info.command, env, key);
        });
      });
    });
  }

  private finish(ch: Channel, code: number): void {
    // The exit status must go out before the close, or git reports a failed push.
    try {
      ch.exit(code);
      ch.end();
    } catch {
      // the client is already gone
    }
  }

  private async exec(
    ch: Channel,
    command: string,
    env: Record<string, string>,
    key: KeyRecord,
  ): Promise<void> {
    let req: ReturnType<typeof parseSshCommand>;
    try {
      req = parseSshCommand(command);
    } catch (err) {
      ch.stderr.write(`error: ${oneLine(err)}\n`);
      return this.finish(ch, 1);
    }
    if (req.kind === 'command') {
      const abort = new AbortController();
      ch.on('close', () => abort.abort());
      // With a terminal requested the client is in raw mode: lines need \r\n.
      const crlf = (t: string) => (env.pty === '1' ? t.replace(/\r?\n/g, '\r\n') : t);
      const stdin = findCommand(this.d.table, req.argv[0] ?? '')?.stdin ? await readAll(ch) : '';
      const code = await runCommand(
        this.d.table,
        req.argv,
        {
          stdin,
          out: (t) => ch.write(crlf(t)),
          err: (t) => ch.stderr.write(crlf(t)),
          // Colour only when the client asked for a terminal and did not send NO_COLOR.
          color: env.pty === '1' && env.NO_COLOR === undefined,
          signal: abort.signal,
        },
        { via: 'ssh', keyName: key.name, admin: key.admin },
        this.d.services,
      );
      return this.finish(ch, code);
    }
    const { app, service } = req;
    try {
      if (service === 'upload-pack') {
        if (!this.d.repos.exists(app))
          throw new GokuError('GOKU_ERR_APP_NOT_FOUND', `app ${app} does not exist`);
      } else {
        if (!this.d.store.read().apps[app]) await this.d.createApp(app);
        await this.d.repos.ensure(app);
      }
    } catch (err) {
      ch.stderr.write(`error: ${oneLine(err)}\n`);
      return this.finish(ch, 1);
    }
    const childEnv: Record<string, string> = {};
    if (env.GIT_PROTOCOL) childEnv.GIT_PROTOCOL = env.GIT_PROTOCOL;
    this.d.log.info({ app, key: key.name, service }, 'git session');
    const child = this.d.repos.spawn(service, app, childEnv);
    const hookChannel = child.stdio[3] as Duplex | undefined;
    if (hookChannel) {
      serveHook(
        hookChannel,
        (push, out) => this.d.deploy({ ...push, app, keyName: key.name }, out),
        (err) => this.d.log.warn({ app, code: errorCode(err), err: oneLine(err) }, 'deploy failed'),
      );
    }
    ch.pipe(child.stdin as NodeJS.WritableStream);
    child.stdout?.pipe(ch, { end: false });
    child.stderr?.pipe(ch.stderr, { end: false });
    child.on('error', (err) => ch.stderr.write(`error: ${err.message}\n`));
    // 'close', not 'exit': all of git's output must be flushed first.
    child.on('close', (code) => {
      this.finish(ch, code ?? 1);
    });
    ch.on('close', () => {
      if (child.exitCode === null) child.kill('SIGTERM');
    });
  }
}

function readAll(ch: Channel): Promise<string> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let size = 0;
    ch.on('data', (d: Buffer) => {
      size += d.length;
      if (size <= 1024 * 1024) parts.push(d);
    });
    ch.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    ch.on('close', () => resolve(Buffer.concat(parts).toString('utf8')));
  });
}
