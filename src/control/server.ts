import { chmod, rm } from 'node:fs/promises';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import type { Logger } from 'pino';
import { runCommand } from '../commands/index.js';
import type { Command, Services, Terminal } from '../commands/types.js';
import { type ClientFrame, type ControlRequest, frame, lineReader } from './protocol.js';

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
    // A session's frames after the request line (input, end of input, resizes).
    let onFrame: ((f: ClientFrame) => void) | null = null;
    sock.on('error', () => undefined);
    const read = lineReader((line) => {
      if (done) {
        try {
          onFrame?.(JSON.parse(line) as ClientFrame);
        } catch {
          // not a frame: ignored
        }
        return;
      }
      done = true;
      let req: ControlRequest;
      try {
        req = JSON.parse(line) as ControlRequest;
      } catch {
        sock.end(frame({ e: 'error: bad request\n' }) + frame({ x: 1 }));
        return;
      }
      if (req.session) onFrame = this.session(req.session, sock, (t) => (terminal = t));
      void this.dispatch(req, sock, terminal);
    });
    let terminal: Terminal | undefined;
    sock.on('data', read);
  }

  private write(sock: net.Socket, f: Parameters<typeof frame>[0]): void {
    if (!sock.destroyed) sock.write(frame(f));
  }

  /** The CLI's terminal for a session: input from {i}/{eof} frames, sizes from {r}, output as bytes. */
  private session(
    opts: NonNullable<ControlRequest['session']>,
    sock: net.Socket,
    made: (t: Terminal) => void,
  ): (f: ClientFrame) => void {
    const input = new PassThrough();
    const resized = new Set<(cols: number, rows: number) => void>();
    const tty = opts.tty && { cols: Number(opts.tty.cols) || 80, rows: Number(opts.tty.rows) || 24 };
    made({
      input,
      write: (d) => this.write(sock, { ob: d.toString('base64') }),
      writeErr: (d) => this.write(sock, { eb: d.toString('base64') }),
      tty,
      onResize: (cb) => resized.add(cb),
    });
    sock.on('close', () => input.end());
    return (f) => {
      if ('i' in f && typeof f.i === 'string') input.write(Buffer.from(f.i, 'base64'));
      else if ('eof' in f) input.end();
      else if ('r' in f && Array.isArray(f.r)) for (const cb of resized) cb(Number(f.r[0]), Number(f.r[1]));
    };
  }

  private async dispatch(req: ControlRequest, sock: net.Socket, terminal?: Terminal): Promise<void> {
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
        ...(terminal ? { terminal } : {}),
      },
      { via: 'cli', keyName: null, admin: true },
      this.deps.services,
    );
    this.write(sock, { x: code });
    sock.end();
  }
}
