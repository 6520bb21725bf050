import { GokuError } from '../errors.js';

/**
 * An image reference, normalized the way the Docker CLI does (distribution's `reference`
 * package, ParseNormalizedNamed): `nginx` is `docker.io/library/nginx:latest`. No npm library
 * implements that grammar faithfully without a native or transpiled Go dependency, so it is
 * written here, pure and fuzzed.
 */
export interface ImageRef {
  /** Registry host (with port), `docker.io` for Docker Hub. */
  registry: string;
  /** Repository path on that registry: `library/nginx`, `team/app`. */
  repository: string;
  /** The tag followed; `latest` when none and no digest was given. */
  tag: string | null;
  /** A pinned digest (`sha256:…`), when the reference named one. */
  digest: string | null;
}

export const DOCKER_HUB = 'docker.io';
const MAX_NAME = 255;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

function invalid(ref: string, why: string): GokuError {
  return new GokuError(
    'GOKU_ERR_INVALID_IMAGE',
    `invalid image reference ${JSON.stringify(ref.slice(0, 300))}: ${why}; use [REGISTRY/]REPO[:TAG|@sha256:DIGEST], e.g. nginx:1.27 or registry.example.com/team/app:v2`,
  );
}

function validHost(domain: string): boolean {
  const okPort = (port: string | undefined) =>
    port === undefined || (/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535);
  const bracketed = /^\[[0-9a-fA-F:.]+\](?::(\d+))?$/.exec(domain);
  if (bracketed) return okPort(bracketed[1]);
  const [host = '', port, ...rest] = domain.split(':');
  if (rest.length > 0 || !okPort(port)) return false;
  return host.split('.').every((c) => DOMAIN_COMPONENT.test(c));
}

/** Parses `[REGISTRY/]REPO[:TAG][@DIGEST]`; throws GOKU_ERR_INVALID_IMAGE saying what is wrong. */
export function parseImageRef(input: string): ImageRef {
  const ref = input.trim();
  if (!ref) throw invalid(input, 'it is empty');
  if (ref.length > MAX_NAME + 200) throw invalid(input, 'it is too long');
  if (/[\s\0]/.test(ref)) throw invalid(input, 'it contains whitespace');
  let rest = ref;
  let digest: string | null = null;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(input, 'a digest is sha256: and 64 lowercase hex digits');
  }
  // A tag is after the last ':' that follows the last '/' (a registry port comes before a '/').
  let tag: string | null = null;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag))
      throw invalid(input, 'a tag is letters, digits, _ . - (at most 128, not starting with . or -)');
  }
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  // Docker's rule: the first component names a registry if it has a '.' or ':' or is localhost.
  const hasRegistry = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost');
  let registry = hasRegistry ? first : DOCKER_HUB;
  let repository = hasRegistry ? rest.slice(slash + 1) : rest;
  if (hasRegistry && !validHost(registry))
    throw invalid(input, `${JSON.stringify(registry)} is not a registry host`);
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DOCKER_HUB;
  if (!repository) throw invalid(input, 'it names no repository');
  if (/[A-Z]/.test(repository)) throw invalid(input, 'a repository name must be lowercase');
  if (!repository.split('/').every((c) => PATH_COMPONENT.test(c))) {
    throw invalid(input, 'a repository is lowercase letters and digits, separated by / . _ __ or -');
  }
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (`${registry}/${repository}`.length > MAX_NAME) throw invalid(input, 'the name is over 255 characters');
  return { registry, repository, tag: tag ?? (digest ? null : 'latest'), digest };
}

/** The canonical text of a reference: `docker.io/library/nginx:latest`, `host:5000/app@sha256:…`. */
export function formatImageRef(r: ImageRef): string {
  return `${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/**
 * The canonical reference to TAG of the same repository (watch:pin, a `{"service", "tag"}`
 * hook); GOKU_ERR_INVALID_IMAGE when TAG is not a tag.
 */
export function withTag(refText: string, tag: string): string {
  const cur = parseImageRef(refText);
  const next = parseImageRef(`${cur.registry}/${cur.repository}:${tag}`);
  if (next.tag !== tag || next.digest) {
    throw new GokuError('GOKU_ERR_INVALID_IMAGE', `invalid tag ${JSON.stringify(tag.slice(0, 40))}`);
  }
  return formatImageRef(next);
}

/** What the Docker engine pulls for a digest: `HOST/REPO@sha256:…` (HOST: the registry or its mirror). */
export function pullName(host: string, r: ImageRef, digest: string): string {
  return `${host}/${r.repository}@${digest}`;
}

/** Short form for output: Docker Hub's `library/` and `docker.io/` left out, as `docker` prints. */
export function familiarImageRef(r: ImageRef): string {
  const repo =
    r.registry === DOCKER_HUB ? r.repository.replace(/^library\//, '') : `${r.registry}/${r.repository}`;
  return `${repo}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}
