import { randomBytes } from 'node:crypto';
import type { Caller } from '../commands/types.js';
import { sameSecret } from '../util/secret.js';

/**
 * Routes anyone may reach; the rest needs the admin token or a dashboard session. Decided on
 * the route fastify matched, never on the raw path: `/%61pi/apps` and an absolute-form
 * `http://host/api/apps` match the route of /api/apps while their text does not start so.
 */
export const PUBLIC_ROUTES = new Set([
  '/ping',
  '/ping/',
  '/hooks/:kind/:secret',
  '/login',
  '/logout',
  '/assets/:file',
]);

/** Dashboard pages: without a session they show the login form rather than a 401. */
export const PAGE_ROUTES = new Set(['/', '/apps/:app', '/keys', '/settings']);

/** The dashboard's session cookie. */
export const SESSION_COOKIE = 'goku_session';

/** Sessions end this long after login. */
const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/** At most this many sessions at once; a login past it ends the oldest. */
const MAX_SESSIONS = 1000;

/** The token of an `Authorization: Bearer TOKEN` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m ? (m[1] as string) : null;
}

interface Session {
  csrf: string;
  expires: number;
}

/**
 * Dashboard logins: the admin token buys a random session id (the cookie) and a CSRF token the
 * page sends back on every change. In memory: a restart of goku logs everyone out.
 */
export class Sessions {
  private readonly map = new Map<string, Session>();

  constructor(
    private readonly adminToken: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new session for the right token; null for a wrong one. */
  login(token: string): { id: string; csrf: string } | null {
    if (!sameSecret(token, this.adminToken)) return null;
    this.sweep();
    if (this.map.size >= MAX_SESSIONS) {
      const oldest = this.map.keys().next().value;
      if (oldest !== undefined) this.map.delete(oldest);
    }
    const id = randomBytes(32).toString('base64url');
    const csrf = randomBytes(32).toString('base64url');
    this.map.set(id, { csrf, expires: this.now() + SESSION_TTL_MS });
    return { id, csrf };
  }

  /** The session of a cookie value, while it lasts. */
  get(id: string | undefined): Session | null {
    if (!id) return null;
    const s = this.map.get(id);
    if (!s) return null;
    if (s.expires <= this.now()) {
      this.map.delete(id);
      return null;
    }
    return s;
  }

  logout(id: string | undefined): void {
    if (id) this.map.delete(id);
  }

  private sweep(): void {
    const t = this.now();
    for (const [id, s] of this.map) if (s.expires <= t) this.map.delete(id);
  }
}

/** Who a request is: the bearer token (an API client) or a dashboard session; null: nobody. */
export function callerOf(
  d: { adminToken: string; sessions: Sessions },
  authorization: string | undefined,
  sessionId: string | undefined,
): { caller: Caller; csrf: string | null } | null {
  const bearer = bearerToken(authorization);
  if (bearer !== null) {
    return sameSecret(bearer, d.adminToken)
      ? { caller: { via: 'http', keyName: 'api', admin: true }, csrf: null }
      : null;
  }
  const s = d.sessions.get(sessionId);
  return s ? { caller: { via: 'http', keyName: 'dashboard', admin: true }, csrf: s.csrf } : null;
}
