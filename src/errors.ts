/**
 * Every user-facing failure: a stable code, what it means, and the HTTP status it maps to (the
 * CLI's and ssh's exit status is 2 for usage errors, 1 otherwise).
 */
export const ERROR_CODES = {
  GOKU_ERR_INVALID_APP_NAME: { text: 'app name is invalid', status: 400 },
  GOKU_ERR_APP_NOT_FOUND: { text: 'app does not exist', status: 404 },
  GOKU_ERR_APP_EXISTS: { text: 'app already exists', status: 409 },
  GOKU_ERR_APP_LIMIT: { text: 'key has created GOKU_MAX_APPS_PER_KEY apps', status: 429 },
  GOKU_ERR_INVALID_REPO_PATH: { text: 'repository path is not an app name', status: 400 },
  GOKU_ERR_COMMAND_NOT_ALLOWED: { text: 'command is not allowed', status: 403 },
  GOKU_ERR_UNKNOWN_COMMAND: { text: 'unknown command', status: 404 },
  GOKU_ERR_USAGE: { text: 'wrong arguments', status: 400 },
  GOKU_ERR_INVALID_KEY: { text: 'public key is malformed', status: 400 },
  GOKU_ERR_KEY_EXISTS: { text: 'key name or key already stored', status: 409 },
  GOKU_ERR_KEY_NOT_FOUND: { text: 'key does not exist', status: 404 },
  GOKU_ERR_INVALID_KEY_NAME: { text: 'key name is invalid', status: 400 },
  GOKU_ERR_INVALID_DOMAIN: { text: 'domain is not a plain host name', status: 400 },
  GOKU_ERR_DOMAIN_TAKEN: { text: 'domain belongs to another app', status: 409 },
  GOKU_ERR_NAME_TAKEN: { text: 'app or deployment name is used by another app', status: 409 },
  GOKU_ERR_NOT_DEPLOYED: { text: 'app has no running deployment', status: 409 },
  GOKU_ERR_INVALID_PORT: { text: 'port mapping is invalid', status: 400 },
  GOKU_ERR_PORT_TAKEN: { text: 'host port is in use', status: 409 },
  GOKU_ERR_RELEASE_NOT_FOUND: { text: 'no such release to roll back to', status: 404 },
  GOKU_ERR_IMAGE_PRUNED: { text: 'release image was pruned', status: 410 },
  GOKU_ERR_APP_JSON: { text: 'app.json is invalid', status: 422 },
  GOKU_ERR_TASK_FAILED: { text: 'a release task (predeploy, release) failed', status: 422 },
  GOKU_ERR_PROCFILE: { text: 'Procfile is invalid, or names no such process type', status: 422 },
  GOKU_ERR_UNHEALTHY: { text: 'container failed its health check', status: 422 },
  GOKU_ERR_INVALID_CONFIG: { text: 'config key or value is invalid', status: 400 },
  GOKU_ERR_DOCKERFILE: { text: 'Dockerfile does not parse', status: 422 },
  GOKU_ERR_COMPOSE: { text: 'the compose file is invalid, unsupported or unsafe', status: 422 },
  GOKU_ERR_ACME: { text: 'the ACME CA issued no certificate', status: 502 },
  GOKU_ERR_CERT: {
    text: 'certificate bundle is invalid, expired or covers none of the domains',
    status: 422,
  },
  GOKU_ERR_BUILD_FAILED: { text: 'docker build failed', status: 422 },
  GOKU_ERR_CONTAINER_EXITED: { text: 'container exited during start', status: 422 },
  GOKU_ERR_HEALTH_TIMEOUT: { text: 'container never answered HTTP', status: 422 },
  GOKU_ERR_ROUTING_FAILED: { text: 'nginx did not take the new route', status: 502 },
  GOKU_ERR_SETTINGS: { text: 'bad setting', status: 500 },
  GOKU_ERR_STORE_UNAVAILABLE: { text: 'the store (Consul) did not take the change', status: 503 },
  GOKU_ERR_STORE_LIMIT: { text: 'the change is too large for one store transaction', status: 413 },
  GOKU_ERR_DAEMON_UNREACHABLE: { text: 'goku server is not running', status: 503 },
  GOKU_ERR_PUSH_REJECTED: { text: 'push rejected', status: 409 },
  GOKU_ERR_SUPERSEDED: { text: 'a newer request of the same kind replaced this waiting one', status: 409 },
  GOKU_ERR_TREE_TOO_LARGE: {
    text: 'pushed tree is over GOKU_MAX_TREE_FILES or GOKU_MAX_TREE_BYTES',
    status: 413,
  },
  GOKU_ERR_UNSAFE_FILE: {
    text: 'a file goku reads is a symlink, a directory, too large or an unsafe path',
    status: 422,
  },
  GOKU_ERR_INVALID_IMAGE: { text: 'image reference is invalid', status: 400 },
  GOKU_ERR_SOURCE_MISMATCH: { text: 'app deploys from the other source (git or image)', status: 409 },
  GOKU_ERR_REGISTRY: { text: 'the registry could not be reached or gave a bad answer', status: 502 },
  GOKU_ERR_REGISTRY_AUTH: { text: 'the registry needs credentials or refused them', status: 502 },
  GOKU_ERR_TAG_NOT_FOUND: { text: 'the registry has no such repository or tag', status: 404 },
  GOKU_ERR_PULL_FAILED: { text: 'docker pull failed', status: 502 },
  GOKU_ERR_PUSH_FAILED: { text: 'docker push to GOKU_REGISTRY failed', status: 502 },
  GOKU_ERR_CLUSTER: { text: 'the swarm refused or is not set up', status: 409 },
  GOKU_ERR_NO_LOGIN: { text: 'no credentials are stored for that registry', status: 404 },
  GOKU_ERR_WEBHOOK_PAYLOAD: { text: 'webhook body is not JSON of the expected shape', status: 400 },
  GOKU_ERR_WEBHOOK_OWNER: { text: 'Docker Hub namespace is not in GOKU_WEBHOOK_OWNERS', status: 403 },
  GOKU_ERR_BODY_TOO_LARGE: { text: 'request body is over the limit', status: 413 },
  GOKU_ERR_UNAUTHORIZED: { text: 'the admin bearer token is missing or wrong', status: 401 },
  GOKU_ERR_CSRF: { text: "a dashboard change lacks its session's CSRF token", status: 403 },
  GOKU_ERR_RATE_LIMITED: { text: 'too many requests (dashboard logins): wait and retry', status: 429 },
  GOKU_ERR_OUTSIDE_WINDOW: {
    text: 'app may not run two copies and its deploy window is closed (add --force)',
    status: 409,
  },
  GOKU_ERR_NOT_WATCHED: { text: 'app is not an image app the registry watcher follows', status: 400 },
  GOKU_ERR_NOT_FOUND: { text: 'no such HTTP route', status: 404 },
  GOKU_ERR_DOCKER_TIMEOUT: { text: 'the Docker engine did not answer in time', status: 504 },
  GOKU_ERR_INTERNAL: { text: 'internal error', status: 500 },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class GokuError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'GokuError';
  }
}

/** Turns anything thrown into one line a user can act on. */
export function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/\s*\n\s*/g, ' ').trim();
}

export function errorCode(err: unknown): ErrorCode {
  return err instanceof GokuError ? err.code : 'GOKU_ERR_INTERNAL';
}

/** The HTTP status of an error (fastify-style: the error carries it). */
export function httpStatus(err: unknown): number {
  return ERROR_CODES[errorCode(err)].status;
}

/** The exit status of a command that failed with err. */
export function exitStatus(err: unknown): number {
  return errorCode(err) === 'GOKU_ERR_USAGE' ? 2 : 1;
}

/** The error as a JSON body: the message and its stable code. */
export function errorBody(err: unknown): { message: string; code: ErrorCode } {
  return { message: oneLine(err), code: errorCode(err) };
}

/**
 * A short, printable excerpt of text a user sent (a pushed file, an argument) for an error
 * message: control characters shown as ?, whitespace runs as one space, at most `max` characters.
 */
export function excerpt(text: string, max = 60): string {
  const flat = text
    .replace(/\s+/g, ' ')
    // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?')
    .trim();
  return flat.length > max ? `${flat.slice(0, max)}...` : flat;
}
