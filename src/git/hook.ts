import type { Duplex } from 'node:stream';
import { lineReader } from '../control/protocol.js';
import { oneLine } from '../errors.js';

export interface HookPush {
  /** git's quarantine directory, where the pushed objects wait during pre-receive. */
  objectDir: string | null;
  updates: { oldSha: string; newSha: string; ref: string }[];
}

/** Marks the verdict line; build output can never start with it. */
const EXIT = '\u0001exit ';

/**
 * The daemon's side of hooks/pre-receive: git passes file descriptor 3 of `git receive-pack`
 * (a socket goku made) down to the hook, so a push needs no socket path, no token and no
 * second program. The hook sends "objects DIR", the ref update lines and "end"; goku answers
 * with output lines and a final verdict line.
 */
export function serveHook(
  channel: Duplex,
  deploy: (push: HookPush, out: (line: string) => void) => Promise<void>,
  /** Logs the failure and says what still runs, for the push's last line. */
  onFailure: (err: unknown) => string,
): void {
  const push: HookPush = { objectDir: null, updates: [] };
  let done = false;
  const write = (text: string) => {
    if (!channel.destroyed && channel.writable) channel.write(text);
  };
  channel.on('error', () => undefined);
  channel.on(
    'data',
    lineReader((line) => {
      if (done) return;
      if (line.startsWith('objects ')) {
        push.objectDir = line.slice('objects '.length) || null;
      } else if (line === 'end') {
        done = true;
        const out = (l: string) => write(`${l.replace(/[\r\n]+/g, ' ')}\n`);
        deploy(push, out).then(
          () => write(`${EXIT}0\n`),
          (err: unknown) => {
            const still = onFailure(err);
            out(` !     ${oneLine(err)}`);
            out(` !     Push rejected: ${still}`);
            write(`${EXIT}1\n`);
          },
        );
      } else {
        const [oldSha = '', newSha = '', ref = ''] = line.trim().split(' ');
        push.updates.push({ oldSha, newSha, ref });
      }
    }),
  );
}
