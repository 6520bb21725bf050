import { parse } from 'shell-quote';
import { GokuError } from '../../errors.js';
import type { ContainerOptions, HealthcheckSpec, MountSpec, RestartPolicy } from '../../runtime/types.js';
import { type ComposeService, durationMs } from './parse.js';

/** How one container of a compose service runs: what Docker gets besides its name, image and labels. */
export interface ServiceRun {
  env: Record<string, string>;
  cmd?: string[];
  entrypoint?: string[];
  workingDir?: string;
  user?: string;
  mounts: MountSpec[];
  networks: { name: string; aliases: string[] }[];
  healthcheck?: HealthcheckSpec;
  /** The policy once the container has proven itself (goku's default: unless-stopped). */
  restart: RestartPolicy;
  options: ContainerOptions;
  /** Seconds a stop waits before SIGKILL (stop_grace_period); null: GOKU_STOP_GRACE. */
  stopGrace: number | null;
}

/** The Docker names of a compose deployment's objects: PROJECT_NAME, as Compose names them. */
export function projectObject(project: string, name: string): string {
  return `${project}_${name}`;
}

/**
 * What a service's containers run with. The env is the app's config, then its env_files,
 * then its `environment` (the file's own word for that service wins; `${VAR}` takes config);
 * `KEY` alone takes the config's value, or is left out as Compose leaves it out.
 */
export function serviceRun(
  s: ComposeService,
  p: {
    project: string;
    config: Readonly<Record<string, string>>;
    /** Each env_file's variables, by its path in the tree. */
    envFiles: Readonly<Record<string, Readonly<Record<string, string>>>>;
    /** Each bind mount's host directory or file, by its path in the tree. */
    binds: Readonly<Record<string, string>>;
  },
): ServiceRun {
  const env: Record<string, string> = { ...p.config };
  for (const f of s.envFiles) Object.assign(env, p.envFiles[f] ?? {});
  for (const [k, v] of Object.entries(s.environment)) {
    if (v !== null) env[k] = v;
    else if (p.config[k] === undefined) delete env[k];
  }
  const mounts = s.volumes.map((v): MountSpec => {
    if (v.type === 'volume') {
      return {
        type: 'volume',
        source: v.source === null ? null : projectObject(p.project, v.source),
        target: v.target,
        readOnly: v.readOnly,
      };
    }
    const host = p.binds[v.source as string];
    if (!host)
      throw new GokuError('GOKU_ERR_COMPOSE', `bind mount ${v.source} of ${s.name} was not prepared`);
    return { type: 'bind', source: host, target: v.target, readOnly: v.readOnly };
  });
  const nets = s.networks.length ? s.networks : ['default'];
  return {
    env,
    ...(s.command !== null ? { cmd: argvOf(s.command) } : {}),
    ...(s.entrypoint !== null ? { entrypoint: argvOf(s.entrypoint) } : {}),
    ...(s.workingDir ? { workingDir: s.workingDir } : {}),
    ...(s.user ? { user: s.user } : {}),
    mounts,
    networks: nets.map((n) => ({ name: projectObject(p.project, n), aliases: [s.name] })),
    ...(s.healthcheck
      ? {
          healthcheck: {
            test: s.healthcheck.test,
            ...opt('intervalMs', durationMs(s.healthcheck.interval)),
            ...opt('timeoutMs', durationMs(s.healthcheck.timeout)),
            ...opt('startPeriodMs', durationMs(s.healthcheck.startPeriod)),
            ...opt('retries', s.healthcheck.retries ?? undefined),
          },
        }
      : {}),
    restart: s.restart ?? 'unless-stopped',
    options: optionsOf(s),
    stopGrace: s.stopGraceMs === null ? null : Math.ceil(s.stopGraceMs / 1000),
  };
}

/** The service's own settings of how its containers run, as the runtime takes them. */
function optionsOf(s: ComposeService): ContainerOptions {
  return {
    init: s.init,
    ...(s.stopSignal ? { stopSignal: s.stopSignal } : {}),
    ...(s.stopGraceMs !== null ? { stopTimeoutSeconds: Math.ceil(s.stopGraceMs / 1000) } : {}),
    ...(s.tty ? { tty: true } : {}),
    ...(s.stdinOpen ? { openStdin: true } : {}),
    ...(s.hostname ? { hostname: s.hostname } : {}),
    ...(s.extraHosts.length ? { extraHosts: s.extraHosts } : {}),
    ...(s.memoryBytes ? { memoryBytes: s.memoryBytes } : {}),
    ...(s.cpus ? { nanoCpus: Math.round(s.cpus * 1e9) } : {}),
    ...(s.tmpfs.length ? { tmpfs: s.tmpfs } : {}),
    ...(s.shmBytes ? { shmBytes: s.shmBytes } : {}),
  };
}

function opt<K extends string>(key: K, v: number | undefined): Partial<Record<K, number>> {
  return v === undefined ? {} : ({ [key]: v } as Record<K, number>);
}

/**
 * A command as Compose splits it (shlex): a list is taken as it is; a string is split into
 * words with quotes honoured and nothing expanded (interpolation has happened already).
 */
export function argvOf(c: string | string[]): string[] {
  if (Array.isArray(c)) return c;
  let words: ReturnType<typeof parse>;
  try {
    if (!quotesClosed(c)) throw new Error('unclosed');
    words = parse(c, (key) => `$${key}`);
  } catch {
    throw new GokuError(
      'GOKU_ERR_COMPOSE',
      `the command ${JSON.stringify(c)} does not parse (an unclosed quote)`,
    );
  }
  return words.map((w) => {
    if (typeof w === 'string') return w;
    if ('op' in w) return w.op === 'glob' ? (w as { pattern: string }).pattern : String(w.op);
    return `#${(w as { comment: string }).comment}`;
  });
}

/** shlex refuses an unclosed quote; shell-quote would take the rest as the quoted word. */
function quotesClosed(c: string): boolean {
  let quote: string | null = null;
  for (let i = 0; i < c.length; i++) {
    const ch = c[i];
    if (ch === '\\' && quote !== "'") i++;
    else if (quote === null && (ch === '"' || ch === "'")) quote = ch;
    else if (ch === quote) quote = null;
  }
  return quote === null;
}
