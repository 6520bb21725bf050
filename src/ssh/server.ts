import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import ssh2 from 'ssh2';
import { findCommand, runCommand } from '../commands/index.js';
import type { Command, Services, Terminal } from '../commands/types.js';
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
  deploy(
    push: HookPush & { app: string; keyName: string; landed: Promise<void>; abandoned: () => boolean },
    out: (line: string) => void,
  ): Promise<void>;
  table: Command[];
  services: Services;
  /** Around one `git receive-pack`: see AppOps.openPush, arrivePush and closePush. */
  pushes: {
    open(app: string, keyName: string): Promise<void>;
    arrive(app: string, keyName: string): Promise<boolean>;
    close(app: string, created: boolean): Promise<void>;
  };
  log: Logger;
  limits: SshLimits;
}

/** Bounds on what a connection may cost before and after it authenticates. */
export interface SshLimits {
  /** Milliseconds from TCP accept to a successful authentication. */
  authTimeoutMs: number;
  /** Milliseconds an authenticated connection may stay open without a channel. */
  idleTimeoutMs: number;
  maxUnauth: number;
  maxUnauthPerIp: number;
}

/** One TCP connection and what goku tracks of it. */
interface Conn {
  socket: net.Socket;
  ip: string;
  key: KeyRecord | null;
  client: ssh2.Connection | null;
  channels: number;
  timer: NodeJS.Timeout | null;
  /**
   * Aborted when the TCP connection goes: ssh2 then ends its channels' streams without
   * emitting 'close' on them, so work tied to a channel must also watch this.
   */
  gone: AbortController;
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
  constructor(private readonly d: SshDeps) {}

  private tcp: net.Server | null = null;
  private sweeper: NodeJS.Timeout | null = null;
  /** Connections by "ip|port", the one thing ssh2's connection event tells about its socket. */
  private readonly conns = new Map<string, Conn>();
  private unauthByIp = new Map<string, number>();
  private unauth = 0;

  /**
   * goku accepts TCP itself and hands sockets to ssh2 (injectSocket): ssh2 only learns of a
   * connection once the client has sent its banner, so a silent connection would otherwise
   * hold a file descriptor for ever.
   */
  async listen(host: string, port: number): Promise<number> {
    const server = new Server({ hostKeys: [loadHostKey(this.d.hostKeyFile)] }, (client, info) =>
      this.onClient(client, info),
    );
    const tcp = net.createServer((socket) => this.onSocket(server, socket));
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(port, host, () => resolve());
    });
    this.tcp = tcp;
    // A removed key loses its open connections too (a ControlMaster keeps one for hours).
    this.sweeper = setInterval(() => this.sweepKeys(), 1000);
    this.sweeper.unref();
    return (tcp.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    for (const c of this.conns.values()) c.socket.destroy();
    await new Promise<void>((resolve) => (this.tcp ? this.tcp.close(() => resolve()) : resolve()));
  }

  private onSocket(server: ssh2.Server, socket: net.Socket): void {
    const ip = socket.remoteAddress ?? '?';
    const perIp = this.unauthByIp.get(ip) ?? 0;
    const { maxUnauth, maxUnauthPerIp, authTimeoutMs } = this.d.limits;
    if (this.unauth >= maxUnauth || perIp >= maxUnauthPerIp) {
      socket.destroy();
      return;
    }
    const id = `${ip}|${socket.remotePort}`;
    const conn: Conn = {
      socket,
      ip,
      key: null,
      client: null,
      channels: 0,
      timer: null,
      gone: new AbortController(),
    };
    this.conns.set(id, conn);
    this.unauth++;
    this.unauthByIp.set(ip, perIp + 1);
    conn.timer = setTimeout(() => socket.destroy(), authTimeoutMs);
    // ssh2 writes the handshake in small packets, several in a row (EXT_INFO, then
    // SERVICE_ACCEPT): with Nagle on, the second waits for the client's delayed ACK, 40 ms of
    // each connection's 100 ms here.
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      conn.gone.abort();
      if (conn.timer) clearTimeout(conn.timer);
      if (!conn.key) this.leaveUnauth(ip);
      this.conns.delete(id);
    });
    server.injectSocket(socket);
  }

  private leaveUnauth(ip: string): void {
    this.unauth--;
    const n = (this.unauthByIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.unauthByIp.delete(ip);
    else this.unauthByIp.set(ip, n);
  }

  private authenticated(conn: Conn, key: KeyRecord): void {
    conn.key = key;
    this.leaveUnauth(conn.ip);
    this.idle(conn);
  }

  /** Starts the idle clock when the last channel closes; a new channel stops it. */
  private idle(conn: Conn): void {
    if (conn.timer) clearTimeout(conn.timer);
    conn.timer = conn.channels === 0 ? setTimeout(() => this.drop(conn), this.d.limits.idleTimeoutMs) : null;
  }

  private drop(conn: Conn): void {
    try {
      conn.client?.end();
    } catch {
      // already closing
    }
    setTimeout(() => conn.socket.destroy(), 1000).unref();
  }

  /** The key as stored now (role included), or null once it was removed. */
  private current(key: KeyRecord): KeyRecord | null {
    return this.d.store.read().keys.find((k) => k.type === key.type && k.blob === key.blob) ?? null;
  }

  private sweepKeys(): void {
    for (const c of this.conns.values()) {
      if (c.key && !this.current(c.key)) {
        this.d.log.info({ key: c.key.name, ip: c.ip }, 'closing the connection of a removed key');
        this.drop(c);
      }
    }
  }

  private findKey(algo: string, data: Buffer): KeyRecord | null {
    for (const k of this.d.store.read().keys) {
      if (k.type === algo && sameKey(Buffer.from(k.blob, 'base64'), data)) return k;
    }
    return null;
  }

  private onClient(client: ssh2.Connection, info: ssh2.ClientInfo): void {
    const conn = this.conns.get(`${info.ip}|${info.port}`);
    if (!conn) {
      client.end();
      return;
    }
    conn.client = client;
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
      this.authenticated(conn, rec);
      ctx.accept();
    });
    client.on('ready', () => {
      client.on('session', (accept, reject) => {
        // The key is checked again at every channel: it may have been removed or changed role.
        const key = conn.key ? this.current(conn.key) : null;
        if (!key) {
          reject();
          this.drop(conn);
          return;
        }
        this.onSession(conn, key, accept());
      });
    });
  }

  /** One session channel: env and pty requests, then a shell (refused) or an exec. */
  private onSession(conn: Conn, key: KeyRecord, session: ssh2.Session): void {
    conn.channels++;
    this.idle(conn);
    session.on('close', () => {
      conn.channels--;
      this.idle(conn);
    });
    const env: Record<string, string> = {};
    // The client's terminal (ssh -t): its size now, and who follows its resizes.
    const term: SessionTerm = { size: null, resized: new Set() };
    session.on('env', (acceptEnv, _reject, info) => {
      // Git asks for protocol v2 this way; nothing else from the client's environment is taken.
      if (info.key === 'GIT_PROTOCOL' && /^[a-z0-9=:.]+$/i.test(info.val)) env.GIT_PROTOCOL = info.val;
      if (info.key === 'NO_COLOR') env.NO_COLOR = '1';
      acceptEnv?.();
    });
    session.on('pty', (acceptPty, _reject, info) => {
      env.pty = '1';
      term.size = { cols: info.cols || 80, rows: info.rows || 24 };
      acceptPty?.();
    });
    session.on('window-change', (accept, _reject, info) => {
      term.size = { cols: info.cols, rows: info.rows };
      for (const cb of term.resized) cb(info.cols, info.rows);
      accept?.();
    });
    session.on('shell', (acceptShell) => {
      const ch = acceptShell();
      ch.stderr.write(
        `Hi ${key.name}! goku has no shell. Push with git, or run commands: ssh git@HOST help\r\n`,
      );
      ch.exit(1);
      ch.end();
    });
    session.on('exec', (acceptExec, _reject, info) => {
      const ch = acceptExec();
      const now = conn.key ? this.current(conn.key) : null;
      if (!now) {
        ch.stderr.write('error: this key was removed\n');
        this.finish(ch, 1);
        this.drop(conn);
        return;
      }
      void this.exec(ch, info.command, env, now, conn.gone.signal, term);
    });
  }

  /** The pre-receive hook hands the push over: create the app if new, then deploy. */
  private serveHook(
    channel: Duplex,
    app: string,
    key: KeyRecord,
    child: ChildProcess,
    landed: Promise<void>,
    onCreated: (made: boolean) => void,
  ): void {
    serveHook(
      channel,
      async (push, out) => {
        onCreated(await this.d.pushes.arrive(app, key.name));
        const abandoned = () => child.exitCode !== null || child.signalCode !== null;
        return this.d.deploy({ ...push, app, keyName: key.name, landed, abandoned }, out);
      },
      (err) => {
        this.d.log.warn({ app, code: errorCode(err), err: oneLine(err) }, 'deploy failed');
        // A first push that fails has no earlier release to speak of.
        const deployments = Object.keys(this.d.store.read().apps[app]?.deployments ?? {});
        return deployments.length > 0
          ? `what ran before keeps running (${deployments.join(', ')})`
          : 'nothing was deployed; the app has no running release yet';
      },
    );
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
    gone: AbortSignal,
    term: SessionTerm,
  ): Promise<void> {
    const closed = new AbortController();
    ch.on('close', () => closed.abort());
    const ended = AbortSignal.any([closed.signal, gone]);
    let req: ReturnType<typeof parseSshCommand>;
    try {
      req = parseSshCommand(command);
    } catch (err) {
      ch.stderr.write(`error: ${oneLine(err)}\n`);
      return this.finish(ch, 1);
    }
    if (req.kind === 'command') return this.command(ch, req.argv, env, key, ended, term);
    return this.git(ch, req.app, req.service, env, key, ended);
  }

  /** A goku command over ssh (admin keys only; runCommand says so to deploy keys). */
  private async command(
    ch: Channel,
    argv: string[],
    env: Record<string, string>,
    key: KeyRecord,
    ended: AbortSignal,
    term: SessionTerm,
  ): Promise<void> {
    // With a terminal requested the client is in raw mode: lines need \r\n.
    const crlf = (t: string) => (env.pty === '1' ? t.replace(/\r?\n/g, '\r\n') : t);
    const found = findCommand(this.d.table, argv[0] ?? '');
    const stdin = found?.stdin ? await readAll(ch) : '';
    // run and enter: the channel is the session itself (input, raw output, the pty's size).
    const terminal: Terminal | undefined = found?.interactive
      ? {
          input: ch,
          write: (d) => ch.write(d),
          writeErr: (d) => ch.stderr.write(d),
          tty: term.size,
          onResize: (cb) => term.resized.add(cb),
        }
      : undefined;
    const code = await runCommand(
      this.d.table,
      argv,
      {
        stdin,
        out: (t) => ch.write(crlf(t)),
        err: (t) => ch.stderr.write(crlf(t)),
        // Colour only when the client asked for a terminal and did not send NO_COLOR.
        color: env.pty === '1' && env.NO_COLOR === undefined,
        signal: ended,
        ...(terminal ? { terminal } : {}),
      },
      { via: 'ssh', keyName: key.name, admin: key.admin },
      this.d.services,
    );
    return this.finish(ch, code);
  }

  /** git receive-pack (a push, deployed by the hook) or upload-pack (a fetch) on an app's repo. */
  private async git(
    ch: Channel,
    app: string,
    service: 'receive-pack' | 'upload-pack',
    env: Record<string, string>,
    key: KeyRecord,
    ended: AbortSignal,
  ): Promise<void> {
    try {
      if (service === 'upload-pack') {
        if (!this.d.repos.exists(app))
          throw new GokuError('GOKU_ERR_APP_NOT_FOUND', `app ${app} does not exist`);
      } else {
        await this.d.pushes.open(app, key.name);
      }
    } catch (err) {
      ch.stderr.write(`error: ${oneLine(err)}\n`);
      return this.finish(ch, 1);
    }
    const childEnv: Record<string, string> = {};
    if (env.GIT_PROTOCOL) childEnv.GIT_PROTOCOL = env.GIT_PROTOCOL;
    this.d.log.info({ app, key: key.name, service }, 'git session');
    const child = this.d.repos.spawn(service, app, childEnv);
    const landed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    let created = false;
    if (service === 'receive-pack') {
      void landed.then(() =>
        this.d.pushes
          .close(app, created)
          .catch((err) => this.d.log.warn({ app, err: oneLine(err) }, 'cleaning up after a push failed')),
      );
    }
    const hookChannel = child.stdio[3] as Duplex | undefined;
    if (hookChannel) {
      this.serveHook(hookChannel, app, key, child, landed, (made) => {
        created = made;
      });
    }
    // git may exit before reading all it was sent (a pack over receive.maxInputSize): the
    // write error must not take the daemon down.
    child.stdin?.on('error', () => undefined);
    ch.pipe(child.stdin as NodeJS.WritableStream);
    child.stdout?.pipe(ch, { end: false });
    child.stderr?.pipe(ch.stderr, { end: false });
    child.on('error', (err) => ch.stderr.write(`error: ${err.message}\n`));
    // 'close', not 'exit': all of git's output must be flushed first.
    child.on('close', (code) => {
      this.finish(ch, code ?? 1);
    });
    ended.addEventListener('abort', () => {
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

/** An ssh session's terminal: the size of the client's pty (none without -t) and its resize listeners. */
interface SessionTerm {
  size: { cols: number; rows: number } | null;
  resized: Set<(cols: number, rows: number) => void>;
}
