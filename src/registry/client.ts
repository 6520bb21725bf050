import { createHash } from 'node:crypto';
import { GokuError } from '../errors.js';
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

async function readLimited(res: Response, max: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  if (!res.body) return Buffer.alloc(0);
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
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
export class RegistryClient {
  constructor(private readonly opts: RegistryOptions) {}

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
    if (res.status === 404) {
      throw new GokuError(
        'GOKU_ERR_TAG_NOT_FOUND',
        `${ref.registry} has no ${ref.repository}:${target}; push it there first, or check the name`,
      );
    }
    if (res.status !== 200) throw this.unexpected(ref, res.status);
    const header = res.headers.get('docker-content-digest');
    if (header && /^sha256:[a-f0-9]{64}$/.test(header)) return header;
    // Some registries leave the header out of HEAD: the digest is the manifest's own hash.
    const got = await this.request(ref, url, 'GET');
    if (got.status !== 200) throw this.unexpected(ref, got.status);
    const body = await readLimited(got, MAX_MANIFEST_BYTES);
    return `sha256:${createHash('sha256').update(body).digest('hex')}`;
  }

  private unexpected(ref: ImageRef, status: number): GokuError {
    return new GokuError(
      'GOKU_ERR_REGISTRY',
      `${ref.registry} answered HTTP ${status} for ${ref.repository}`,
    );
  }

  /** One request, answering a 401 challenge once (Basic or a Bearer token for pull scope). */
  private async request(ref: ImageRef, url: string, method: 'HEAD' | 'GET'): Promise<Response> {
    const headers: Record<string, string> = { Accept: MANIFEST_TYPES };
    const first = await this.fetch(ref, url, { method, headers });
    if (first.status !== 401) return first;
    await first.body?.cancel();
    const creds = this.credentials(ref);
    const auth = await this.authorize(
      ref,
      first.headers.get('www-authenticate') ?? '',
      creds,
      ref.repository,
    );
    const again = await this.fetch(ref, url, { method, headers: { ...headers, Authorization: auth } });
    if (again.status === 401 || again.status === 403) throw this.refused(ref, creds);
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
    await first.body?.cancel();
    if (first.status === 200) return;
    if (first.status !== 401) throw this.unexpected(ref, first.status);
    const auth = await this.authorize(ref, first.headers.get('www-authenticate') ?? '', creds, null);
    const again = await this.fetch(ref, url, { method: 'GET', headers: { Authorization: auth } });
    await again.body?.cancel();
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

  /** The Authorization header a 401's challenge asks for: Basic, or a Bearer token (pull scope). */
  private async authorize(
    ref: ImageRef,
    header: string,
    creds: RegistryCredentials | null,
    repository: string | null,
  ): Promise<string> {
    const { scheme, params } = parseChallenge(header);
    const basic = creds
      ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`
      : null;
    if (scheme === 'basic') {
      if (!basic) throw this.refused(ref, creds);
      return basic;
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
    if (res.status === 401 || res.status === 403) throw this.refused(ref, creds);
    if (res.status !== 200) throw this.unexpected(ref, res.status);
    let token: unknown;
    try {
      const body = JSON.parse((await readLimited(res, MAX_TOKEN_BYTES)).toString('utf8')) as Record<
        string,
        unknown
      >;
      token = body.token ?? body.access_token;
    } catch {
      token = null;
    }
    if (typeof token !== 'string' || !token) {
      throw new GokuError('GOKU_ERR_REGISTRY', `${ref.registry}'s token service gave no token`);
    }
    return `Bearer ${token}`;
  }

  private async fetch(ref: ImageRef, url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, {
        ...init,
        redirect: 'follow',
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 15_000),
      });
    } catch (err) {
      const why = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      throw new GokuError('GOKU_ERR_REGISTRY', `${ref.registry} could not be reached (${why})`);
    }
  }
}
