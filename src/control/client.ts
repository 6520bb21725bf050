import net from 'node:net';
import { type ControlRequest, lineReader } from './protocol.js';

/** Sends one request to the daemon and relays its frames; resolves with the exit status. */
export function callDaemon(
  socketPath: string,
  req: ControlRequest,
  out: (t: string) => void,
  err: (t: string) => void,
): Promise<number> {
  return new Promise((resolve) => {
    let code: number | null = null;
    const sock = net.createConnection(socketPath);
    sock.on('connect', () => sock.write(`${JSON.stringify(req)}\n`));
    sock.on(
      'data',
      lineReader((line) => {
        const f = JSON.parse(line) as Partial<{ o: string; e: string; x: number }>;
        if (f.o !== undefined) out(f.o);
        if (f.e !== undefined) err(f.e);
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
