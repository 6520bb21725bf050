import { createHash } from 'node:crypto';
import { GokuError } from '../errors.js';
import { RegistryHttp, type Reply } from './http.js';
import { DOCKER_HUB, type ImageRef } from './reference.js';

/** Credentials for one registry host (registries:login). */
export interface RegistryCredentials {
  username: string;
  password: string;
}

/** Where a registry is reached: its API base URL and the host the engine pulls from. */
export interface RegistryEndpoint {
  api: string;
  pullHost: string;
}

export interface RegistryOptions {
  /** Test-only / mirror setting: Docker Hub's API and pulls go to this URL instead. */
  dockerHubRegistry: string | null;
  credentials: (host: string) => RegistryCredentials | null;
  timeoutMs?: number;
}

/** Every manifest kind a tag can point at; the digest of whichever it is gets pulled. */
const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
].join(', ');
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Basic credentials do not expire; kept for an hour so a changed login is picked up anyway. */
const BASIC_TTL_MS = 3_600_000;
const MAX_TOKEN_BYTES = 64 * 1024;

function isLoopback(host: string): boolean {
  const h = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/**
 * Docker Hub's API is registry-1.docker.io; a loopback registry speaks plain HTTP, as the
 * Docker engine allows for 127.0.0.0/8; every other registry is HTTPS.
 */
export function registryEndpoint(registry: string, dockerHubRegistry: string | null): RegistryEndpoint {
  if (registry === DOCKER_HUB) {
    if (dockerHubRegistry) {
      const u = new URL(dockerHubRegistry);
      return { api: u.origin, pullHost: u.host };
    }
    return { api: 'https://registry-1.docker.io', pullHost: DOCKER_HUB };
  }
  return { api: `${isLoopback(registry) ? 'http' : 'https'}://${registry}`, pullHost: registry };
}

/** `Bearer realm="…",service="…",scope="…"` → scheme and parameters. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  const params: Record<string, string> = {};
  if (!m) return { scheme: '', params };
  for (const p of (m[2] ?? '').matchAll(/(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params[(p[1] ?? '').toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  }
  return { scheme: (m[1] ?? '').toLowerCase(), params };
}

async function readLimited(res: Reply, max: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.length;
    if (size > max) throw new GokuError('GOKU_ERR_REGISTRY', `the registry's answer is over ${max} bytes`);
    parts.push(Buffer.from(chunk));
  }
  return Buffer.concat(parts);
}

/**
 * The Registry HTTP API v2, for the one question goku asks: what digest does this tag point
 * at now? It answers the auth challenges Docker's registries send (Basic, and Bearer tokens
 * from the realm they name) with the stored credentials. Payloads are never trusted for that.
 */
/** What a tags listing gave: the tags, or that they did not change since `etag`. */
export type TagList = { tags: string[]; etag: string | null } | { notModified: true };

/** A tag as the reference grammar allows it (a registry is not trusted to send only those). */
const TAG = /^[\w][\w.-]{0,127}$/;
const MAX_TAG_PAGES = 20;
const TAG_PAGE = 1000;
const MAX_TAGS_BYTES = 4 * 1024 * 1024;

export class RegistryClient {
  /**
   * The Authorization that last worked per registry and repository, sent up front next time:
   * a poll then costs its requests, not a 401 and a retry each (Bearer tokens until they expire).
   */
  private readonly auth = new Map<string, { header: string; until: number }>();

  private readonly http = new RegistryHttp();

  constructor(private readonly opts: RegistryOptions) {}

  /** Closes the kept-alive connections. */
  close(): void {
    this.http.close();
  }

  endpoint(ref: ImageRef): RegistryEndpoint {
    return registryEndpoint(ref.registry, this.opts.dockerHubRegistry);
  }

  credentials(ref: ImageRef): RegistryCredentials | null {
    return this.opts.credentials(ref.registry);
  }

  /** The digest the reference's tag (or pinned digest) names; GOKU_ERR_TAG_NOT_FOUND if none. */
  async resolveDigest(ref: ImageRef): Promise<string> {
    const target = ref.digest ?? ref.tag ?? 'latest';
    const url = `${this.endpoint(ref).api}/v2/${ref.repository}/manifests/${encodeURIComponent(target)}`;
    const res = await this.request(ref, url, 'HEAD');
    res.discard();
    if (res.status === 404) {
      throw new GokuError(
        'GOKU_ERR_TAG_NOT_FOUND',
        `${ref.registry} has no ${ref.repository}:${target}; push it there first, or check the name`,
      );
    }
    if (res.status !== 200) throw this.unexpected(ref, res.status);
    const header = res.header('docker-content-digest');
    if (header && /^sha256:[a-f0-9]{64}$/.test(header)) return header;
    // Some registries leave the header out of HEAD: the digest is the manifest's own hash.
    const got = await this.request(ref, url, 'GET');
    if (got.status !== 200) {
      got.discard();
      throw this.unexpected(ref, got.status);
    }
    const body = await readLimited(got, MAX_MANIFEST_BYTES);
    return `sha256:${createHash('sha256').update(body).digest('hex')}`;
  }

  /**
   * The repository's tags (GET /v2/REPO/tags/list, following `Link` pages, at most
   * 20 × 1,000). With the ETag of an earlier one-page listing, an unchanged list is a 304.
   */
  async listTags(ref: ImageRef, etag: string | null = null): Promise<TagList> {
    const api = this.endpoint(ref).api;
    let url: string | null = `${api}/v2/${ref.repository}/tags/list?n=${TAG_PAGE}`;
    const tags: string[] = [];
    let firstEtag: string | null = null;
    for (let page = 0; url && page < MAX_TAG_PAGES; page++) {
      const res = await this.request(ref, url, 'GET', page === 0 && etag ? { 'If-None-Match': etag } : {});
      if (res.status === 304 && page === 0) {
        res.discard();
        return { notModified: true };
      }
      if (res.status === 404) {
        res.discard();
        throw new GokuError('GOKU_ERR_TAG_NOT_FOUND', `${ref.registry} has no repository ${ref.repository}`);
      }
      if (res.status !== 200) {
        res.discard();
        throw this.unexpected(ref, res.status);
      }
      if (page === 0) firstEtag = res.header('etag');
      let body: { tags?: unknown };
      try {
        body = JSON.parse(await res.text(MAX_TAGS_BYTES)) as { tags?: unknown };
      } catch (err) {
        throw new GokuError(
          'GOKU_ERR_REGISTRY',
          (err as { code?: string }).code === 'E2BIG'
            ? `${ref.registry}'s tags list is over ${MAX_TAGS_BYTES} bytes`
            : `${ref.registry} sent a tags list that is not JSON`,
        );
      }
      if (Array.isArray(body.tags)) {
        for (const t of body.tags) if (typeof t === 'string' && TAG.test(t)) tags.push(t);
      }
      url = nextPage(api, res.header('link'));
      if (url) firstEtag = null; // an ETag speaks for one page: a later page may change alone
    }
    return { tags, etag: firstEtag };
  }

  private unexpected(ref: ImageRef, status: number): GokuError {
    return new GokuError(
      'GOKU_ERR_REGISTRY',
      `${ref.registry} answered HTTP ${status} for ${ref.repository}`,
    );
  }

  /**
   * One request, with the Authorization that last worked for this repository; a 401 is
   * answered once (Basic, or a Bearer token for pull scope) and what worked is kept.
   */
  private async request(
    ref: ImageRef,
    url: string,
    method: 'HEAD' | 'GET',
    extra: Record<string, string> = {},
  ): Promise<Reply> {
    // Manifests need the list of kinds goku takes; a tags listing is plain JSON.
    const accept = url.includes('/manifests/') ? MANIFEST_TYPES : 'application/json';
    const headers: Record<string, string> = { Accept: accept, ...extra };
    const key = `${ref.registry}/${ref.repository}`;
    const known = this.auth.get(key);
    const usable = known && known.until > Date.now() ? known.header : null;
    const first = await this.fetch(ref, url, {
      method,
      headers: usable ? { ...headers, Authorization: usable } : headers,
    });
    if (first.status !== 401) return first;
    first.discard();
    this.auth.delete(key);
    const creds = this.credentials(ref);
    const { header, ttl } = await this.authorize(
      ref,
      first.header('www-authenticate') ?? '',
      creds,
      ref.repository,
    );
    const again = await this.fetch(ref, url, { method, headers: { ...headers, Authorization: header } });
    if (again.status === 401 || again.status === 403) {
      again.discard();
      throw this.refused(ref, creds);
    }
    this.auth.set(key, { header, until: Date.now() + ttl });
    return again;
  }

  /**
   * Checks credentials as `docker login` does: the registry's /v2/ answers 200 with them (a
   * registry that asks for none takes any).
   */
  async verifyLogin(host: string, creds: RegistryCredentials): Promise<void> {
    const ref: ImageRef = { registry: host, repository: '', tag: null, digest: null };
    const url = `${this.endpoint(ref).api}/v2/`;
    const first = await this.fetch(ref, url, { method: 'GET' });
    first.discard();
    if (first.status === 200) return;
    if (first.status !== 401) throw this.unexpected(ref, first.status);
    const { header } = await this.authorize(ref, first.header('www-authenticate') ?? '', creds, null);
    const again = await this.fetch(ref, url, { method: 'GET', headers: { Authorization: header } });
    again.discard();
    if (again.status === 401 || again.status === 403) throw this.refused(ref, creds);
    if (again.status !== 200) throw this.unexpected(ref, again.status);
  }

  private refused(ref: ImageRef, creds: RegistryCredentials | null): GokuError {
    const what = ref.repository ? ` for ${ref.repository}` : '';
    return new GokuError(
      'GOKU_ERR_REGISTRY_AUTH',
      creds
        ? `${ref.registry} refused the credentials of ${creds.username}${what}; goku registries:login ${ref.registry} USER (secret on stdin) with the right ones`
        : `${ref.registry} needs credentials${what}; goku registries:login ${ref.registry} USER (secret on stdin)`,
    );
  }

  /**
   * The Authorization header a 401's challenge asks for: Basic, or a Bearer token (pull
   * scope), and how long to keep using it (a token's expires_in, less a margin).
   */
  private async authorize(
    ref: ImageRef,
    header: string,
    creds: RegistryCredentials | null,
    repository: string | null,
  ): Promise<{ header: string; ttl: number }> {
    const { scheme, params } = parseChallenge(header);
    const basic = creds
      ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`
      : null;
    if (scheme === 'basic') {
      if (!basic) throw this.refused(ref, creds);
      return { header: basic, ttl: BASIC_TTL_MS };
    }
    if (scheme !== 'bearer' || !params.realm) {
      throw new GokuError(
        'GOKU_ERR_REGISTRY',
        `${ref.registry} asked for an authentication goku does not speak`,
      );
    }
    const realm = new URL(params.realm);
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') {
      throw new GokuError('GOKU_ERR_REGISTRY', `${ref.registry} named a token service that is not HTTP`);
    }
    if (params.service) realm.searchParams.set('service', params.service);
    if (repository) realm.searchParams.set('scope', `repository:${repository}:pull`);
    if (creds) realm.searchParams.set('account', creds.username);
    const res = await this.fetch(ref, realm.toString(), {
      method: 'GET',
      headers: basic ? { Authorization: basic } : {},
    });
    if (res.status !== 200) {
      res.discard();
      throw res.status === 401 || res.status === 403
        ? this.refused(ref, creds)
        : this.unexpected(ref, res.status);
    }
    let token: unknown;
    let expires: unknown;
    try {
      const body = JSON.parse((await readLimited(res, MAX_TOKEN_BYTES)).toString('utf8')) as Record<
        string,
        unknown
      >;
      token = body.token ?? body.access_token;
      expires = body.expires_in;
    } catch {
      token = null;
    }
    if (typeof token !== 'string' || !token) {
      throw new GokuError('GOKU_ERR_REGISTRY', `${ref.registry}'s token service gave no token`);
    }
    // The token spec's default lifetime is 60 s; keep a tenth (at most 30 s) as margin.
    const secs = typeof expires === 'number' && expires > 0 && expires < 86_400 ? expires : 60;
    return { header: `Bearer ${token}`, ttl: secs * 1000 - Math.min(30_000, secs * 100) };
  }

  private async fetch(
    ref: ImageRef,
    url: string,
    init: { method: 'GET' | 'HEAD'; headers?: Record<string, string> },
  ): Promise<Reply> {
    try {
      return await this.http.request(url, { ...init, timeoutMs: this.opts.timeoutMs ?? 15_000 });
    } catch (err) {
      const why = (err as { code?: string }).code ?? (err as Error).name;
      throw new GokuError('GOKU_ERR_REGISTRY', `${ref.registry} could not be reached (${why})`);
    }
  }
}

/** The next page of a listing: `Link: </v2/…?last=…&n=…>; rel="next"`, on the registry's own origin only. */
export function nextPage(api: string, link: string | null): string | null {
  const m = link ? /<([^>]+)>\s*;\s*rel="?next"?/i.exec(link) : null;
  if (!m) return null;
  let u: URL;
  try {
    u = new URL(m[1] as string, api);
  } catch {
    return null;
  }
  return u.origin === new URL(api).origin ? u.toString() : null;
}
