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
}

/** How a new container proves it is ready before it takes traffic. */
export type HealthPlan = { kind: 'default' } | { kind: 'docker' } | { kind: 'checks'; checks: HttpCheck[] };

/** The one rule for both sources: app.json's checks, else the image's HEALTHCHECK, else the default. */
export function healthPlan(appJson: string | null, hasHealthcheck: boolean): HealthPlan {
  const checks = appJson === null ? null : appJsonChecks(appJson);
  if (checks) return { kind: 'checks', checks };
  return hasHealthcheck ? { kind: 'docker' } : { kind: 'default' };
}

/** A number within [min, max] (whole when `int`), whose error names the limits. */
const bounded = (min: number, max: number, int = false) => {
  const msg = `must be ${int ? 'a whole number' : 'a number'} from ${min} to ${max}`;
  const n = z.number({ message: msg }).min(min, { message: msg }).max(max, { message: msg });
  return int ? n.refine(Number.isInteger, { message: msg }) : n;
};

/** Limits of one app.json check (documented in the README). */
export const CHECK_LIMITS = { attempts: 100, timeout: 600, wait: 600, initialDelay: 600, checks: 20 };

const check = z
  .object({
    type: z.enum(['startup', 'liveness', 'readiness']).default('startup'),
    name: z.string().max(100).optional(),
    path: z.string().startsWith('/').max(2000).default('/'),
    content: z.string().max(10000).optional(),
    attempts: bounded(1, CHECK_LIMITS.attempts, true).default(5),
    timeout: bounded(0.001, CHECK_LIMITS.timeout).default(5),
    wait: bounded(0, CHECK_LIMITS.wait).default(1),
    initialDelay: bounded(0, CHECK_LIMITS.initialDelay).default(0),
    port: bounded(1, 65535, true).optional(),
  })
  .passthrough();

const appJson = z
  .object({
    healthchecks: z
      .object({ web: z.array(check).max(CHECK_LIMITS.checks).optional() })
      .passthrough()
      .optional(),
  })
  .passthrough();

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
 * The checks of an app.json, or null when it has none. Only startup checks gate a deploy;
 * liveness and readiness checks are accepted and not run.
 */
export function appJsonChecks(text: string): HttpCheck[] | null {
  const parsed = appJson.safeParse(parseAppJson(text));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new GokuError(
      'GOKU_ERR_APP_JSON',
      `app.json: ${issue?.path.join('.') || 'root'}: ${issue?.message}`,
    );
  }
  const web = parsed.data.healthchecks?.web;
  if (!web || web.length === 0) return null;
  const startup = web.filter((c) => c.type === 'startup');
  if (startup.length === 0) return null;
  return startup.map((c, i) => ({
    name: c.name ?? `check ${i + 1}`,
    path: c.path,
    content: c.content ?? null,
    attempts: c.attempts,
    timeout: c.timeout,
    wait: c.wait,
    initialDelay: c.initialDelay,
    port: c.port ?? null,
  }));
}
