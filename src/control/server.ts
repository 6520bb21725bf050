import { chmod, rm } from 'node:fs/promises';
import net from 'node:net';
import type { Logger } from 'pino';
import { runCommand } from '../commands/index.js';
import type { Command, Services } from '../commands/types.js';
import { type ControlRequest, frame, lineReader } from './protocol.js';

/** The unix socket (mode 0600) the local CLI talks to. */
export class ControlServer {
  private server: net.Server | null = null;

  constructor(
    private readonly path: string,
    private readonly deps: {
      table: Command[];
      services: Services;
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
    if (req.op !== 'command') {
      this.write(sock, { e: 'error: bad request\n' });
      this.write(sock, { x: 1 });
      sock.end();
      return;
    }
    // The CLI going away (Ctrl-C on `logs -t`) ends the command.
    const abort = new AbortController();
    sock.on('close', () => abort.abort());
    const code = await runCommand(
      this.deps.table,
      req.argv,
      {
        stdin: req.stdin,
        out: (t) => this.write(sock, { o: t }),
        err: (t) => this.write(sock, { e: t }),
        color: req.color === true,
        signal: abort.signal,
      },
      { via: 'cli', keyName: null, admin: true },
      this.deps.services,
    );
    this.write(sock, { x: code });
    sock.end();
  }
}
