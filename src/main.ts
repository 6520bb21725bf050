import { commandTable, findCommand, runCommand } from './commands/index.js';
import type { Services } from './commands/types.js';
import { callDaemon } from './control/client.js';
import { GokuError, oneLine } from './errors.js';
import { packageVersion, socketPath } from './paths.js';

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const parts: Buffer[] = [];
  for await (const chunk of process.stdin) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

async function server(): Promise<void> {
  // Loaded only here: the CLI path stays small and starts fast (zod alone takes 60 ms to load).
  const { readSettings } = await import('./settings.js');
  const settings = readSettings();
  const { startGoku } = await import('./server.js');
  const { pino } = await import('pino');
  const log = pino({ level: settings.GOKU_LOG_LEVEL, base: undefined });
  // A stray rejection is a bug to fix, not a reason to stop serving every app's deploys: it is
  // logged with its stack and the daemon goes on (Node would exit).
  process.on('unhandledRejection', (err) => {
    log.error({ err: err instanceof Error ? err.stack : String(err) }, 'unhandled rejection (a bug in goku)');
  });
  const running = await startGoku(settings, log);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping (apps and nginx keep running)');
    await running.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

/** Colour only on a terminal, never with NO_COLOR (https://no-color.org). */
function useColor(): boolean {
  return process.stdout.isTTY === true && !process.env.NO_COLOR;
}

/** Local commands (help, version) never touch settings or the store. */
function localServices(): Services {
  const unavailable = (): never => {
    throw new GokuError('GOKU_ERR_DAEMON_UNREACHABLE', 'this command needs the goku daemon');
  };
  return {
    get settings() {
      return unavailable();
    },
    get store() {
      return unavailable();
    },
    get certs() {
      return unavailable();
    },
    get cluster() {
      return unavailable();
    },
    get ops() {
      return unavailable();
    },
    get keys() {
      return unavailable();
    },
    get registries() {
      return unavailable();
    },
    get watch() {
      return unavailable();
    },
    get webhooks() {
      return unavailable();
    },
    version: packageVersion(),
  };
}

/** `goku COMMAND`: help and version answer locally; everything else goes to the running daemon. */
async function client(argv: string[]): Promise<number> {
  const table = commandTable();
  const out = (t: string | Buffer) => process.stdout.write(t);
  const err = (t: string | Buffer) => process.stderr.write(t);
  const name = argv[0];
  const local = !name || name === '--version' || name === 'version' || findCommand(table, name)?.local;
  if (local) {
    return runCommand(
      table,
      argv,
      { stdin: '', out, err, color: useColor(), signal: new AbortController().signal },
      { via: 'cli', keyName: null, admin: true },
      localServices(),
    );
  }
  const home = process.env.GOKU_HOME || '/var/lib/goku';
  const command = findCommand(table, name);
  if (command?.interactive) return session(socketPath(home), argv);
  const stdin = command?.stdin ? await readStdin() : '';
  return callDaemon(socketPath(home), { op: 'command', argv, stdin, color: useColor() }, out, err);
}

/**
 * run and enter from the server's own terminal: stdin streams to the daemon (raw, so Ctrl-C
 * reaches the container's tty as it would over ssh -t), output comes back as bytes, and the
 * terminal's size follows its resizes.
 */
async function session(path: string, argv: string[]): Promise<number> {
  const tty = process.stdin.isTTY === true && process.stdout.isTTY === true;
  const size = () => ({ cols: process.stdout.columns || 80, rows: process.stdout.rows || 24 });
  if (tty) process.stdin.setRawMode(true);
  try {
    return await callDaemon(
      path,
      { op: 'command', argv, stdin: '', color: useColor(), session: { tty: tty ? size() : null } },
      (t) => process.stdout.write(t),
      (t) => process.stderr.write(t),
      (send) => {
        process.stdin.on('data', (d: Buffer) => send({ i: d.toString('base64') }));
        process.stdin.on('end', () => send({ eof: true }));
        if (tty) process.stdout.on('resize', () => send({ r: [size().cols, size().rows] }));
      },
    );
  } finally {
    if (tty) process.stdin.setRawMode(false);
    // The daemon is done: stdin must not keep the process alive.
    process.stdin.destroy();
  }
}

const argv = process.argv.slice(2);
if (argv[0] === 'server' && argv.length === 1) {
  server().catch((e: unknown) => {
    process.stderr.write(`error: ${oneLine(e)}\n`);
    process.exit(1);
  });
} else {
  client(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`error: ${oneLine(e)}\n`);
      process.exitCode = 1;
    },
  );
}
