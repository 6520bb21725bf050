import { type ParseError, parse, printParseErrorCode } from 'jsonc-parser';
import { z } from 'zod';
import { GokuError } from '../errors.js';

/** One HTTP check of app.json's healthchecks.web (Dokku's format). */
export interface HttpCheck {
  name: string;
  path: string;
  /** Text the body must contain, if set. */
  content: string | null;
  attempts: number;
  /** Seconds per attempt. */
  timeout: number;
  /** Seconds between attempts. */
  wait: number;
  /** Seconds before the first attempt. */
  initialDelay: number;
  /** Port to ask; default the deployment's port. */
  port: number | null;
  /** Host header to send (a CHECKS line `//HOST/PATH`); default none. */
  host?: string;
  /**
   * What is checked, as Dokku decides it: `listening` (the port takes connections), a
   * `command` run in the container, an HTTP `path`, else `uptime` (running, never restarted,
   * for `uptime` seconds). Absent: path.
   */
  kind?: 'path' | 'command' | 'listening' | 'uptime';
  /** The command check's argv (run with docker exec; exit 0 passes). */
  command?: string[];
  /** Seconds the container must have been up (uptime checks). */
  uptime?: number;
  /** A failing check is reported and does not fail the deploy. */
  warn?: boolean;
  /** Extra request headers of a path check. */
  headers?: { name: string; value: string }[];
}

/** How a new container proves it is ready before it takes traffic. */
export type HealthPlan = { kind: 'default' } | { kind: 'docker' } | { kind: 'checks'; checks: HttpCheck[] };

/**
 * The one rule for both sources: app.json's checks, else a CHECKS file's (Dokku's older
 * format), else the image's HEALTHCHECK, else the default.
 */
export function healthPlan(
  appJson: string | null,
  hasHealthcheck: boolean,
  checksFile: string | null = null,
): HealthPlan {
  const checks =
    (appJson === null ? null : appJsonChecks(appJson)) ??
    (checksFile === null ? null : checksFileChecks(checksFile));
  if (checks) return { kind: 'checks', checks };
  return hasHealthcheck ? { kind: 'docker' } : { kind: 'default' };
}

/** Dokku's CHECKS defaults: 5 s before the first check, 30 s per attempt, 5 attempts. */
const CHECKS_DEFAULTS = { WAIT: 5, TIMEOUT: 30, ATTEMPTS: 5 };

/**
 * A CHECKS file (Dokku's format before app.json): blank lines and `#` comments, settings
 * WAIT=, TIMEOUT=, ATTEMPTS= (a `#` comment may follow), and check lines `/PATH [CONTENT]`
 * or `//HOST/PATH [CONTENT]` (asked with that Host header). Null when it has no check. Any
 * other line is refused, naming its number.
 */
export function checksFileChecks(text: string): HttpCheck[] | null {
  const settings = { ...CHECKS_DEFAULTS };
  const found: { path: string; host?: string; content: string | null; line: number }[] = [];
  const bad = (n: number, why: string) => new GokuError('GOKU_ERR_APP_JSON', `CHECKS line ${n}: ${why}`);
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const n = i + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const setting = /^([A-Z_]+)=(\S*)\s*(#.*)?$/.exec(line);
    if (setting) {
      const [, key, value] = setting as unknown as [string, keyof typeof CHECKS_DEFAULTS, string];
      const limit = {
        WAIT: CHECK_LIMITS.initialDelay,
        TIMEOUT: CHECK_LIMITS.timeout,
        ATTEMPTS: CHECK_LIMITS.attempts,
      }[key];
      if (limit === undefined) throw bad(n, `unknown setting ${key} (WAIT, TIMEOUT and ATTEMPTS are known)`);
      const v = Number(value);
      const min = key === 'WAIT' ? 0 : 1;
      if (!/^\d+$/.test(value) || v < min || v > limit)
        throw bad(n, `${key} must be a whole number from ${min} to ${limit}`);
      settings[key] = v;
      continue;
    }
    const check = /^(\/\/[^/\s]+)?(\/\S*)(?:\s+(.*))?$/.exec(line);
    if (!check) {
      throw bad(
        n,
        `${JSON.stringify(line.slice(0, 60))} is not a check (/PATH [CONTENT], //HOST/PATH [CONTENT]) nor a setting (WAIT=, TIMEOUT=, ATTEMPTS=)`,
      );
    }
    const host = check[1]?.slice(2);
    if (host !== undefined && !/^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$/.test(host))
      throw bad(n, `${JSON.stringify(host.slice(0, 60))} is not a host name`);
    if ((check[2] as string).length > 2000) throw bad(n, 'the path is over 2000 characters');
    found.push({
      path: check[2] as string,
      ...(host !== undefined ? { host } : {}),
      content: check[3]?.trim() || null,
      line: n,
    });
  }
  if (found.length === 0) return null;
  if (found.length > CHECK_LIMITS.checks) {
    throw new GokuError(
      'GOKU_ERR_APP_JSON',
      `CHECKS has ${found.length} checks; at most ${CHECK_LIMITS.checks}`,
    );
  }
  // WAIT is Dokku's pause before the checks start: before the first check only.
  return found.map((c, i) => ({
    name: `CHECKS line ${c.line}`,
    path: c.path,
    ...(c.host !== undefined ? { host: c.host } : {}),
    content: c.content,
    attempts: settings.ATTEMPTS,
    timeout: settings.TIMEOUT,
    wait: 1,
    initialDelay: i === 0 ? settings.WAIT : 0,
    port: null,
  }));
}

/** A number within [min, max] (whole when `int`), whose error names the limits. */
const bounded = (min: number, max: number, int = false) => {
  const msg = `must be ${int ? 'a whole number' : 'a number'} from ${min} to ${max}`;
  const n = z.number({ message: msg }).min(min, { message: msg }).max(max, { message: msg });
  return int ? n.refine(Number.isInteger, { message: msg }) : n;
};

/** Limits of one app.json check (documented in the README). */
export const CHECK_LIMITS = {
  attempts: 100,
  timeout: 600,
  wait: 600,
  initialDelay: 600,
  uptime: 600,
  checks: 20,
};

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;

/** One check of Dokku's format (docker-container-healthchecker's fields); any other field is refused. */
const check = z
  .object({
    type: z.enum(['startup', 'liveness', 'readiness']).default('startup'),
    name: z.string().max(100).optional(),
    description: z.string().max(1000).optional(),
    path: z.string().startsWith('/').max(2000).optional(),
    content: z.string().max(10000).optional(),
    attempts: bounded(1, CHECK_LIMITS.attempts, true).default(5),
    timeout: bounded(0.001, CHECK_LIMITS.timeout).default(5),
    wait: bounded(0, CHECK_LIMITS.wait).default(1),
    initialDelay: bounded(0, CHECK_LIMITS.initialDelay).default(0),
    port: bounded(1, 65535, true).optional(),
    command: z.array(z.string().max(4096)).min(1).max(100).optional(),
    listening: z.boolean().optional(),
    uptime: bounded(1, CHECK_LIMITS.uptime, true).optional(),
    warn: z.boolean().optional(),
    httpHeaders: z
      .array(
        z
          .object({
            name: z.string().regex(HEADER_NAME, { message: 'must be an HTTP header name' }),
            value: z
              .string()
              .max(4096)
              .regex(/^[^\r\n\0]*$/, { message: 'must be one line' }),
          })
          .strict(),
      )
      .max(20)
      .optional(),
    scheme: z.literal('http', { message: 'goku asks the container over plain HTTP: only "http"' }).optional(),
    onFailure: z
      .unknown()
      .refine(() => false, { message: 'is not supported: goku runs nothing on the host for a pushed app' })
      .optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    // Dokku's own rule: a check is one kind of thing.
    const kinds = [
      c.command ? 'a command' : null,
      c.path !== undefined ? 'a path' : null,
      c.listening ? 'listening' : null,
      c.uptime !== undefined ? 'an uptime' : null,
    ].filter((k): k is string => k !== null);
    if (kinds.length > 1) {
      ctx.addIssue({
        code: 'custom',
        message: `a check has one of command, path, listening and uptime, not ${kinds.join(' and ')}`,
      });
    }
  });

/** app.json's formation (Dokku's): per process type, its quantity (size and max_parallel are Heroku's, ignored). */
const formation = z.record(
  z.string(),
  z
    .object({
      quantity: bounded(0, 1000, true).optional(),
      size: z.string().max(100).optional(),
      max_parallel: bounded(1, 1000, true).optional(),
    })
    .strict(),
);

const appJson = z
  .object({
    healthchecks: z
      .object({ web: z.array(check).max(CHECK_LIMITS.checks).optional() })
      .passthrough()
      .optional(),
    formation: formation.optional(),
    // Heroku's scripts may hold others (test, ...): only Dokku's and postdeploy run here.
    scripts: z
      .object({
        dokku: z
          .object({
            predeploy: z.string().min(1).max(4096).optional(),
            postdeploy: z.string().min(1).max(4096).optional(),
          })
          .strict()
          .optional(),
        postdeploy: z.string().min(1).max(4096).optional(),
      })
      .passthrough()
      .optional(),
  })
  .passthrough();

/** app.json's deployment tasks (Dokku's `scripts.dokku`, and Heroku's once-only `scripts.postdeploy`). */
export interface AppScripts {
  predeploy?: string;
  postdeploy?: string;
  /** Heroku's scripts.postdeploy: once, after the app's first deploy. */
  firstDeploy?: string;
}

export function appJsonScripts(text: string): AppScripts {
  const s = appJsonData(text).scripts;
  return {
    ...(s?.dokku?.predeploy ? { predeploy: s.dokku.predeploy } : {}),
    ...(s?.dokku?.postdeploy ? { postdeploy: s.dokku.postdeploy } : {}),
    ...(s?.postdeploy ? { firstDeploy: s.postdeploy } : {}),
  };
}

/** app.json checked against its schema; the first problem is named by its field. */
function appJsonData(text: string): z.infer<typeof appJson> {
  const parsed = appJson.safeParse(parseAppJson(text));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new GokuError(
      'GOKU_ERR_APP_JSON',
      // A key is the pusher's text: quoted (one line) unless it is a plain name.
      `app.json: ${issue?.path.map((k) => (/^[\w-]{1,40}$/.test(String(k)) ? String(k) : JSON.stringify(String(k).slice(0, 40)))).join('.') || 'root'}: ${issue?.message}`,
    );
  }
  return parsed.data;
}

/**
 * app.json's formation as Dokku reads it: when any type has a quantity, the file sets every
 * count (a type it does not name runs 0) and ps:scale is off. Null: no quantity given.
 */
export function appJsonFormation(text: string): Record<string, number> | null {
  const f = appJsonData(text).formation;
  for (const t of Object.keys(f ?? {})) {
    if (!/^[a-z0-9][a-z0-9_-]{0,29}$/.test(t)) {
      throw new GokuError(
        'GOKU_ERR_APP_JSON',
        `app.json: formation: ${JSON.stringify(t.slice(0, 40))} is not a process type (lowercase letters, digits, - and _)`,
      );
    }
  }
  if (!f || !Object.values(f).some((e) => e.quantity !== undefined)) return null;
  return Object.fromEntries(Object.entries(f).map(([t, e]) => [t, e.quantity ?? 0]));
}

/**
 * app.json as Dokku reads it: JSON with comments (`//`, `/* *\/`) and trailing commas. The
 * first syntax error is named with its line and column.
 */
export function parseAppJson(text: string): unknown {
  const errors: ParseError[] = [];
  const raw: unknown = parse(text, errors, { allowTrailingComma: true, disallowComments: false });
  const first = errors[0];
  if (first) {
    const before = text.slice(0, first.offset);
    const line = before.split('\n').length;
    const column = first.offset - before.lastIndexOf('\n');
    throw new GokuError(
      'GOKU_ERR_APP_JSON',
      `app.json is not valid JSON (comments and trailing commas are fine): ${printParseErrorCode(first.error)} at line ${line}, column ${column}`,
    );
  }
  return raw;
}

/**
 * The startup checks of an app.json, or null when it has none: they gate a deploy. Liveness
 * checks run after it (appJsonLiveness); readiness checks are accepted and not run.
 */
export function appJsonChecks(text: string): HttpCheck[] | null {
  return checksOfType(text, 'startup');
}

/**
 * app.json's liveness checks: run against every running web container after the switch, every
 * `wait` seconds (at least 1) after `initialDelay`; `attempts` failures in a row restart it.
 */
export function appJsonLiveness(text: string): HttpCheck[] | null {
  return checksOfType(text, 'liveness');
}

function checksOfType(text: string, type: 'startup' | 'liveness'): HttpCheck[] | null {
  const web = appJsonData(text).healthchecks?.web;
  if (!web || web.length === 0) return null;
  const startup = web.filter((c) => c.type === type);
  if (startup.length === 0) return null;
  return startup.map((c, i) => ({
    name: c.name ?? `check ${i + 1}`,
    path: c.path ?? '/',
    content: c.content ?? null,
    attempts: c.attempts,
    timeout: c.timeout,
    wait: c.wait,
    initialDelay: c.initialDelay,
    port: c.port ?? null,
    kind: c.listening ? 'listening' : c.command ? 'command' : c.path !== undefined ? 'path' : 'uptime',
    ...(c.command ? { command: c.command } : {}),
    ...(c.uptime !== undefined ? { uptime: c.uptime } : {}),
    ...(c.warn ? { warn: true } : {}),
    ...(c.httpHeaders?.length ? { headers: c.httpHeaders } : {}),
  }));
}
