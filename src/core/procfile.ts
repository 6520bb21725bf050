import { parse } from 'shell-quote';
import { GokuError } from '../errors.js';

/** A Procfile: process type → command, in the file's order. `release` is the release phase, not a process. */
export type Procfile = Record<string, string>;

/** Dokku's port for a web process that names none (no EXPOSE, no config PORT). */
export const DEFAULT_WEB_PORT = 5000;

/** Lowercase, so that a type names its containers (APP-worker) and `ps:scale APP worker=2` alike. */
const TYPE = /^[a-z0-9][a-z0-9_-]{0,29}$/;
const MAX_TYPES = 30;
const MAX_COMMAND = 4096;

const bad = (n: number, why: string) => new GokuError('GOKU_ERR_PROCFILE', `Procfile line ${n}: ${why}`);

/**
 * A Procfile as Heroku and Dokku (procfile-util, strict mode) read it: `type: command` lines,
 * blank lines and `#` comments. A line that is none of these, a duplicate type, an empty
 * command, or shell syntax that only a shell could run (Dokku runs the words, not a shell)
 * rejects it, naming the line.
 */
export function parseProcfile(text: string): Procfile {
  const out: Procfile = {};
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const n = i + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([^:\s]+)\s*:(.*)$/.exec(line);
    if (!m) throw bad(n, `${JSON.stringify(line.slice(0, 60))} is not "type: command"`);
    const [, type, rest] = m as unknown as [string, string, string];
    if (!TYPE.test(type)) {
      throw bad(
        n,
        `process type ${JSON.stringify(type.slice(0, 40))} must be lowercase letters, digits, - and _ (at most 30, starting with a letter or digit)`,
      );
    }
    if (Object.hasOwn(out, type)) throw bad(n, `process type ${type} is defined twice`);
    const command = rest.trim();
    if (command === '') throw bad(n, `process type ${type} has no command`);
    if (command.length > MAX_COMMAND) throw bad(n, `the command is over ${MAX_COMMAND} characters`);
    // The release command runs through a shell (as Dokku's does) unless the image has an
    // ENTRYPOINT; process commands never do.
    try {
      if (type !== 'release') commandArgv(command, {});
    } catch (err) {
      throw bad(n, (err as GokuError).message);
    }
    out[type] = command;
    if (Object.keys(out).length > MAX_TYPES)
      throw bad(n, `a Procfile has at most ${MAX_TYPES} process types`);
  }
  if (Object.keys(out).length === 0) {
    throw new GokuError(
      'GOKU_ERR_PROCFILE',
      'the Procfile defines no process type (write lines of "type: command")',
    );
  }
  return out;
}

/** The process types that run as containers: every type but `release` (the release phase). */
export function processTypes(procfile: Readonly<Procfile> | null): string[] {
  return procfile ? Object.keys(procfile).filter((t) => t !== 'release') : ['web'];
}

/**
 * A variable as a shell reads it: NAME, or NAME:-DEFAULT (the default when unset or empty) and
 * NAME-DEFAULT (when unset), as Heroku's Procfiles write `${PORT:-5000}`; unset is empty.
 */
function lookup(env: Readonly<Record<string, string>>, key: string): string {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(:?-)([\s\S]*)$/.exec(key);
  if (!m) return Object.hasOwn(env, key) ? (env[key] as string) : '';
  const [, name, op, fallback] = m as unknown as [string, string, string, string];
  const value = Object.hasOwn(env, name) ? env[name] : undefined;
  if (value === undefined || (op === ':-' && value === '')) return fallback;
  return value;
}

/**
 * A Procfile command as the words a container runs (after the image's ENTRYPOINT, as Dokku
 * passes them): split as a shell splits words, quotes honoured, `$VAR` and `${VAR}` taken
 * from the process's env (PORT included), as procfile-util expands them. Operators (`&&`,
 * `|`, `;`, redirections) would need a shell: refused, with the way to ask for one.
 */
export function commandArgv(command: string, env: Readonly<Record<string, string>>): string[] {
  let words: ReturnType<typeof parse>;
  try {
    words = parse(command, (key) => lookup(env, key));
  } catch {
    throw new GokuError('GOKU_ERR_PROCFILE', 'the command does not parse (an unclosed quote or ${)');
  }
  const argv: string[] = [];
  for (const w of words) {
    // A word that expands to nothing is no word, as an unquoted variable's in a shell
    // (`node $NODE_OPTIONS app.js` with NODE_OPTIONS unset); an explicit "" goes the same way.
    if (typeof w === 'string') {
      if (w !== '') argv.push(w);
    } else if ('comment' in w) break;
    else if ('pattern' in w && typeof w.pattern === 'string') argv.push(w.pattern);
    else {
      throw new GokuError(
        'GOKU_ERR_PROCFILE',
        `"${(w as { op?: string }).op}" needs a shell, and the command runs without one (as Dokku runs it): write sh -c '...'`,
      );
    }
  }
  if (argv.length === 0) throw new GokuError('GOKU_ERR_PROCFILE', 'the command is empty');
  return argv;
}

/**
 * How many containers of each process type a deployment runs, as Dokku decides: app.json's
 * formation when it sets counts (a type it does not name runs 0); else ps:scale's (`asked`,
 * then the stored counts), web 1 and every other type 0 until scaled. A branch deployment
 * runs at most one of each.
 */
export function formationOf(p: {
  procfile: Readonly<Procfile> | null;
  appFormation: Readonly<Record<string, number>> | null;
  /** The stored web count (ps:scale APP N) and other types' counts. */
  scale: number | undefined;
  formation: Readonly<Record<string, number>> | undefined;
  asked?: Readonly<Record<string, number>>;
  isDefault: boolean;
}): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const t of processTypes(p.procfile)) {
    const n = p.appFormation
      ? (p.appFormation[t] ?? 0)
      : (p.asked?.[t] ?? (t === 'web' ? (p.scale ?? 1) : (p.formation?.[t] ?? 0)));
    counts[t] = p.isDefault ? n : t === 'web' ? 1 : Math.min(n, 1);
  }
  return counts;
}

/**
 * `ps:scale` arguments: `N` (web, as before) or `TYPE=N ...` (Dokku's). Types are checked
 * against the running Procfile by the caller.
 */
export function parseScaleArgs(args: string[], max: number): Record<string, number> {
  const out: Record<string, number> = {};
  const count = (raw: string, what: string | null) => {
    const n = Number(raw);
    if (!/^\d{1,4}$/.test(raw) || n > max) {
      throw new GokuError(
        'GOKU_ERR_USAGE',
        `invalid instance count ${JSON.stringify(raw.slice(0, 20))}${what ? ` for ${what}` : ''}: a whole number from 0 to ${max} (GOKU_MAX_SCALE)${what ? '' : ', or TYPE=N'}`,
      );
    }
    return n;
  };
  if (args.length === 1 && !(args[0] as string).includes('=')) return { web: count(args[0] as string, null) };
  for (const a of args) {
    const m = /^([^=]*)=(.*)$/.exec(a);
    if (!m || !TYPE.test(m[1] as string)) {
      throw new GokuError(
        'GOKU_ERR_USAGE',
        `${JSON.stringify(a.slice(0, 40))} is not TYPE=N (ps:scale APP web=2 worker=1, or ps:scale APP N for web)`,
      );
    }
    const type = m[1] as string;
    if (Object.hasOwn(out, type)) throw new GokuError('GOKU_ERR_USAGE', `${type} is given twice`);
    out[type] = count(m[2] as string, type);
  }
  return out;
}

/** The checks rules of an app (checks:disable, checks:skip): whether a process type's are off. */
export function checksOff(
  checks: { readonly disabled?: readonly string[]; readonly skipped?: readonly string[] } | undefined,
  type: string,
): { disabled: boolean; skipped: boolean } {
  const has = (l: readonly string[] | undefined) => !!l && (l.includes('_all_') || l.includes(type));
  const disabled = has(checks?.disabled);
  return { disabled, skipped: disabled || has(checks?.skipped) };
}

/**
 * checks:enable/disable/skip's new lists: TYPES (none: every type, `_all_`) join one list and
 * leave the other; enable takes them off both. `_all_` is replaced by the types when some are
 * named while it stands, as Dokku does with its comma lists.
 */
export function changeChecks(
  cur: { readonly disabled?: readonly string[]; readonly skipped?: readonly string[] } | undefined,
  action: 'enable' | 'disable' | 'skip',
  types: string[],
  known: string[],
): { disabled: string[]; skipped: string[] } {
  const named = types.length ? types : ['_all_'];
  const expand = (l: readonly string[] = []) => (l.includes('_all_') && types.length ? [...known] : [...l]);
  const without = (l: string[]) => (types.length ? l.filter((t) => !named.includes(t)) : []);
  let disabled = without(expand(cur?.disabled));
  let skipped = without(expand(cur?.skipped));
  if (action === 'disable') disabled = types.length ? [...new Set([...disabled, ...named])] : ['_all_'];
  if (action === 'skip') skipped = types.length ? [...new Set([...skipped, ...named])] : ['_all_'];
  return { disabled: disabled.sort(), skipped: skipped.sort() };
}
