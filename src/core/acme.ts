/**
 * ACME decisions, pure: which names to ask for, when a certificate is due (new names,
 * renewal, retry after a failure), and what a CA's refusal names.
 */

const DAY = 24 * 60 * 60 * 1000;
/** Renewal starts this long before expiry (as certbot and Dokku's plugin do for 90-day certificates). */
export const RENEW_BEFORE_MS = 30 * DAY;
/** The first retry after a failure; each next one waits twice as long, up to a day. */
export const RETRY_FIRST_MS = 5 * 60 * 1000;
export const RETRY_MAX_MS = DAY;
/** Let's Encrypt's limit of names on one certificate. */
export const MAX_NAMES = 100;

/** What goku remembers of one certificate's ACME life (per deployment, or goku's own domain). */
export interface AcmeState {
  /** The names the last attempt asked for (sorted). */
  names: readonly string[];
  /** When the last attempt ended, and its error (absent: it succeeded). */
  lastAttempt?: string;
  error?: string;
  /** Failed attempts in a row for these names (the retry backoff). */
  failures?: number;
}

/** The facts of a certificate that scheduling reads. */
export interface CertDates {
  names: readonly string[];
  notBefore: string;
  notAfter: string;
}

const HOST = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;
const ADDRESS = /^[0-9.]+$/;

/**
 * The names an ACME CA can be asked for: host names with a dot, at most 253 characters, not an
 * address (HTTP-01 proves names, not addresses), at most MAX_NAMES of them. The others are
 * returned apart so that `certs` can say why they have no certificate.
 */
export function acmeNames(domains: string[]): { names: string[]; skipped: string[] } {
  const names: string[] = [];
  const skipped: string[] = [];
  for (const d of [...new Set(domains.map((x) => x.toLowerCase()))].sort()) {
    if (d.length <= 253 && HOST.test(d) && !ADDRESS.test(d) && names.length < MAX_NAMES) names.push(d);
    else skipped.push(d);
  }
  return { names, skipped };
}

/**
 * When renewal starts: 30 days before expiry, or with a third of its life left for a certificate
 * that lives less than 90 days (short-lived certificates renew in time too).
 */
export function renewAt(cert: CertDates): number {
  const from = Date.parse(cert.notBefore);
  const to = Date.parse(cert.notAfter);
  return to - Math.min(RENEW_BEFORE_MS, (to - from) / 3);
}

/** The wait after `failures` failed attempts in a row. */
export function retryDelay(failures: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** Math.max(0, failures - 1));
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

/**
 * When the next attempt for `names` is due (epoch ms; at or before `now`: now), or Infinity when
 * there is nothing to ask for. A set of names that failed waits out its backoff; a different
 * set (a domain added or removed) is tried at once.
 */
export function dueAt(
  names: string[],
  state: AcmeState | undefined,
  cert: CertDates | undefined,
  now: number,
): number {
  if (!names.length) return Number.POSITIVE_INFINITY;
  const valid = !!cert && Date.parse(cert.notAfter) > now;
  const covered = valid && names.every((n) => cert.names.includes(n));
  const failed = state?.failures && state.lastAttempt && sameNames(state.names, names);
  const retry = failed ? Date.parse(state.lastAttempt as string) + retryDelay(state.failures ?? 1) : now;
  if (!covered) return retry;
  return Math.max(renewAt(cert), retry);
}

/**
 * The requested names a CA's refusal of an order names (`Cannot issue for "x"`, pebble's
 * `forbidden by policy: "x"`): goku asks again without them, so one bad name does not keep the
 * others from a certificate.
 */
export function refusedNames(message: string, names: string[]): string[] {
  const quoted = new Set([...message.matchAll(/"([^"\s]{1,253})"/g)].map((m) => (m[1] ?? '').toLowerCase()));
  return names.filter((n) => quoted.has(n));
}
