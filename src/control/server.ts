import { chmod, rm } from 'node:fs/promises';
import net from 'node:net';
import type { Logger } from 'pino';
import { runCommand } from '../commands/index.js';
import type { Command, Services } from '../commands/types.js';
import { errorCode, oneLine } from '../errors.js';
import type { Deployer } from '../pipeline/deploy.js';
import { type ControlRequest, frame, lineReader } from './protocol.js';

export interface PushSession {
  app: string;
  keyName: string;
}

/** Tokens the ssh server hands to the git hook it spawns, so a push is tied to its authenticated session. */
export class PushTokens {
  private readonly map = new Map<string, PushSession>();
  add(token: string, s: PushSession): void {
    this.map.set(token, s);
  }
  get(token: string): PushSession | undefined {
    return this.map.get(token);
  }
  delete(token: string): void {
    this.map.delete(token);
  }
}

/** The unix socket (mode 0600) the CLI and the pre-receive hook talk to. */
export class ControlServer {
  private server: net.Server | null = null;

  constructor(
    private readonly path: string,
    private readonly deps: {
      table: Command[];
      services: Services;
      deployer: Deployer;
      tokens: PushTokens;
      log: Logger;
    },
  ) {}

  async listen(): Promise<void> {
    await rm(this.path, { force: true });
    const server = net.createServer((sock) => this.handle(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => resolve());
    });
    await chmod(this.path, 0o600);
    this.server = server;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    await rm(this.path, { force: true });
  }

  private handle(sock: net.Socket): void {
    let done = false;
    sock.on('error', () => undefined);
    const read = lineReader((line) => {
      if (done) return;
      done = true;
      let req: ControlRequest;
      try {
        req = JSON.parse(line) as ControlRequest;
      } catch {
        sock.end(frame({ e: 'error: bad request\n' }) + frame({ x: 1 }));
        return;
      }
      void this.dispatch(req, sock);
    });
    sock.on('data', read);
  }

  private write(sock: net.Socket, f: Parameters<typeof frame>[0]): void {
    if (!sock.destroyed) sock.write(frame(f));
  }

  private async dispatch(req: ControlRequest, sock: net.Socket): Promise<void> {
    if (req.op === 'command') {
      const code = await runCommand(
        this.deps.table,
        req.argv,
        {
          stdin: req.stdin,
          out: (t) => this.write(sock, { o: t }),
          err: (t) => this.write(sock, { e: t }),
        },
        { via: 'cli', keyName: null, admin: true },
        this.deps.services,
      );
      this.write(sock, { x: code });
      sock.end();
      return;
    }
    if (req.op === 'push') {
      const session = this.deps.tokens.get(req.token);
      if (!session) {
        this.write(sock, { o: ' !     push refused: it did not come through the goku ssh server\n' });
        this.write(sock, { x: 1 });
        sock.end();
        return;
      }
      const out = (l: string) => this.write(sock, { o: `${l}\n` });
      try {
        await this.deps.deployer.handlePush(
          { app: session.app, keyName: session.keyName, updates: req.updates, objectDir: req.objectDir },
          out,
        );
        this.write(sock, { x: 0 });
      } catch (err) {
        this.deps.log.warn({ app: session.app, code: errorCode(err), err: oneLine(err) }, 'deploy failed');
        out(` !     ${oneLine(err)}`);
        out(` !     Push rejected: ${session.app} keeps running its previous release`);
        this.write(sock, { x: 1 });
      }
      sock.end();
    }
  }
}
