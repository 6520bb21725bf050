/** Every user-facing failure carries a stable code; cli, ssh and the hook turn it into text + exit status in one place. */
export const ERROR_CODES = {
  GOKU_ERR_INVALID_APP_NAME: 'app name is invalid',
  GOKU_ERR_APP_NOT_FOUND: 'app does not exist',
  GOKU_ERR_APP_EXISTS: 'app already exists',
  GOKU_ERR_APP_LIMIT: 'key has created GOKU_MAX_APPS_PER_KEY apps',
  GOKU_ERR_INVALID_REPO_PATH: 'repository path is not an app name',
  GOKU_ERR_COMMAND_NOT_ALLOWED: 'command is not allowed',
  GOKU_ERR_UNKNOWN_COMMAND: 'unknown command',
  GOKU_ERR_USAGE: 'wrong arguments',
  GOKU_ERR_INVALID_KEY: 'public key is malformed',
  GOKU_ERR_KEY_EXISTS: 'key name or key already stored',
  GOKU_ERR_KEY_NOT_FOUND: 'key does not exist',
  GOKU_ERR_INVALID_KEY_NAME: 'key name is invalid',
  GOKU_ERR_INVALID_DOMAIN: 'domain is not a plain host name',
  GOKU_ERR_DOMAIN_TAKEN: 'domain belongs to another app',
  GOKU_ERR_NAME_TAKEN: 'app or deployment name is used by another app',
  GOKU_ERR_NOT_DEPLOYED: 'app has no running deployment',
  GOKU_ERR_INVALID_PORT: 'port mapping is invalid',
  GOKU_ERR_PORT_TAKEN: 'host port is in use',
  GOKU_ERR_RELEASE_NOT_FOUND: 'no such release to roll back to',
  GOKU_ERR_IMAGE_PRUNED: 'release image was pruned',
  GOKU_ERR_APP_JSON: 'app.json is invalid',
  GOKU_ERR_UNHEALTHY: 'container failed its health check',
  GOKU_ERR_INVALID_CONFIG: 'config key or value is invalid',
  GOKU_ERR_DOCKERFILE: 'Dockerfile does not parse',
  GOKU_ERR_BUILD_FAILED: 'docker build failed',
  GOKU_ERR_CONTAINER_EXITED: 'container exited during start',
  GOKU_ERR_HEALTH_TIMEOUT: 'container never answered HTTP',
  GOKU_ERR_ROUTING_FAILED: 'nginx did not take the new route',
  GOKU_ERR_SETTINGS: 'bad setting',
  GOKU_ERR_STORE_UNAVAILABLE: 'the store (Consul) did not take the change',
  GOKU_ERR_STORE_LIMIT: 'the change is too large for one store transaction',
  GOKU_ERR_DAEMON_UNREACHABLE: 'goku server is not running',
  GOKU_ERR_PUSH_REJECTED: 'push rejected',
  GOKU_ERR_TREE_TOO_LARGE: 'pushed tree is over GOKU_MAX_TREE_FILES or GOKU_MAX_TREE_BYTES',
  GOKU_ERR_UNSAFE_FILE: 'a file goku reads is a symlink, a directory, too large or an unsafe path',
  GOKU_ERR_INTERNAL: 'internal error',
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
