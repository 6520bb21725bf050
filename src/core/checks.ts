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

const check = z
  .object({
    type: z.enum(['startup', 'liveness', 'readiness']).default('startup'),
    name: z.string().max(100).optional(),
    path: z.string().startsWith('/').max(2000).default('/'),
    content: z.string().max(10000).optional(),
    attempts: z.number().int().min(1).max(100).default(5),
    timeout: z.number().positive().max(600).default(5),
    wait: z.number().min(0).max(600).default(1),
    initialDelay: z.number().min(0).max(600).default(0),
    port: z.number().int().min(1).max(65535).optional(),
  })
  .passthrough();

const appJson = z
  .object({
    healthchecks: z
      .object({ web: z.array(check).max(20).optional() })
      .passthrough()
      .optional(),
  })
  .passthrough();

/**
 * The checks of an app.json, or null when it has none. Only startup checks gate a deploy;
 * liveness and readiness checks are accepted and not run.
 */
export function appJsonChecks(text: string): HttpCheck[] | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new GokuError('GOKU_ERR_APP_JSON', `app.json is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = appJson.safeParse(raw);
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
