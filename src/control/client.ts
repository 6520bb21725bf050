import net from 'node:net';
import { type ClientFrame, type ControlRequest, lineReader } from './protocol.js';

/** Sends one request to the daemon and relays its frames; resolves with the exit status. */
export function callDaemon(
  socketPath: string,
  req: ControlRequest,
  out: (t: string | Buffer) => void,
  err: (t: string | Buffer) => void,
  /** A session's other half: called once connected with a way to send frames to the daemon. */
  session?: (send: (f: ClientFrame) => void) => void,
): Promise<number> {
  return new Promise((resolve) => {
    let code: number | null = null;
    const sock = net.createConnection(socketPath);
    sock.on('connect', () => {
      sock.write(`${JSON.stringify(req)}\n`);
      session?.((f) => {
        if (!sock.destroyed) sock.write(`${JSON.stringify(f)}\n`);
      });
    });
    sock.on(
      'data',
      lineReader((line) => {
        const f = JSON.parse(line) as Partial<{ o: string; e: string; x: number; ob: string; eb: string }>;
        if (f.o !== undefined) out(f.o);
        if (f.e !== undefined) err(f.e);
        if (f.ob !== undefined) out(Buffer.from(f.ob, 'base64'));
        if (f.eb !== undefined) err(Buffer.from(f.eb, 'base64'));
        if (f.x !== undefined) code = f.x;
      }),
    );
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (code !== null) return;
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') {
        err(`error: goku server is not running (no daemon at ${socketPath}); start it with: goku server\n`);
      } else {
        err(`error: cannot reach the goku daemon: ${e.message}\n`);
      }
      code = 1;
      resolve(1);
    });
    sock.on('close', () => resolve(code ?? 1));
  });
}
