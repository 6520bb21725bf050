import type { ParseArgsConfig } from 'node:util';
import type { CertService } from '../app/certs.js';
import type { ClusterService } from '../app/cluster.js';
import type { KeyService } from '../app/keys.js';
import type { AppOps } from '../app/ops.js';
import type { RegistryLogins } from '../app/registries.js';
import type { WatchService } from '../app/watch.js';
import type { Webhooks } from '../registry/webhooks.js';
import type { Settings } from '../settings.js';
import type { Store } from '../store/types.js';

export interface Caller {
  via: 'cli' | 'ssh' | 'http';
  keyName: string | null;
  admin: boolean;
}

export interface CommandIO {
  stdin: string;
  out(text: string): void;
  err(text: string): void;
  /** Colour is allowed: a terminal on the other end and no NO_COLOR. */
  color: boolean;
  /** Aborts when the caller goes away (Ctrl-C, ssh disconnect): following commands stop. */
  signal: AbortSignal;
  /** The caller's terminal, for interactive commands: streamed input, raw output, its size. */
  terminal?: Terminal;
}

export interface Terminal {
  input: NodeJS.ReadableStream;
  write(data: Buffer): void;
  writeErr(data: Buffer): void;
  /** Set when the caller has a terminal (ssh -t, a local tty): a tty is allocated. */
  tty: { cols: number; rows: number } | null;
  onResize(cb: (cols: number, rows: number) => void): void;
}

/** What commands may use; built in the composition root. */
export interface Services {
  settings: Settings;
  store: Store;
  ops: AppOps;
  keys: KeyService;
  registries: RegistryLogins;
  webhooks: Webhooks;
  watch: WatchService;
  certs: CertService;
  cluster: ClusterService;
  version: string;
}

export interface CommandContext {
  args: string[];
  flags: Record<string, string | boolean | undefined>;
  io: CommandIO;
  caller: Caller;
  services: Services;
}

export interface Command {
  name: string;
  usage: string;
  summary: string;
  /** Longer help shown by `goku help NAME`. */
  help: string;
  options?: ParseArgsConfig['options'];
  /** Other names it answers to (Dokku's: apps:list, config:show). */
  aliases?: string[];
  args: { min: number; max: number };
  /** Reads stdin (keys:add); other commands never wait for it. */
  stdin?: boolean;
  /** Runs without a daemon (help, version). */
  local?: boolean;
  /** Options come before APP; every word after APP belongs to the command it runs (run, enter). */
  passThrough?: boolean;
  /** Attaches the caller's terminal (io.terminal): stdin streams in, output streams out (run, enter). */
  interactive?: boolean;
  run(ctx: CommandContext): Promise<number | undefined> | number | undefined;
}
