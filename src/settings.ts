import { networkInterfaces } from 'node:os';
import { z } from 'zod';
import { GokuError } from './errors.js';

const port = z.coerce.number().int().min(0).max(65535);

const schema = z.object({
  GOKU_HOME: z.string().min(1).default('/var/lib/goku'),
  GOKU_SSH_HOST: z.string().min(1).default('0.0.0.0'),
  GOKU_SSH_PORT: port.default(2222),
  GOKU_HTTP_HOST: z.string().min(1).default('0.0.0.0'),
  GOKU_HTTP_PORT: port.default(8080),
  GOKU_PROXY_HOST: z.string().min(1).default('0.0.0.0'),
  GOKU_PROXY_PORT: port.min(1).default(80),
  /** HTTPS of every app at the edge nginx (managed mode), certificates chosen by SNI; 0: none. */
  GOKU_HTTPS_PORT: port.default(443),
  /** Turns ACME on: certificates for every app's domains, issued and renewed by goku. */
  GOKU_ACME_EMAIL: z
    .string()
    .regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'must be an email address')
    .optional(),
  /** The ACME (RFC 8555) directory: Let's Encrypt's production one unless set. */
  GOKU_ACME_DIRECTORY: z
    .string()
    .regex(/^https:\/\/\S+$/, 'must be an https:// URL')
    .default('https://acme-v02.api.letsencrypt.org/directory'),
  /** A PEM file of the root that signs the ACME directory's own TLS certificate (a private CA). */
  GOKU_ACME_CA: z.string().min(1).optional(),
  /** The HTTP API and dashboard over TLS with this certificate chain and key (PEM files). */
  GOKU_HTTP_TLS_CERT: z.string().min(1).optional(),
  GOKU_HTTP_TLS_KEY: z.string().min(1).optional(),
  /** The HTTP API and dashboard over TLS with an ACME certificate for this name of goku's own. */
  GOKU_HTTP_TLS_DOMAIN: z
    .string()
    .regex(
      /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/,
      'must be a lowercase host name',
    )
    .optional(),
  GOKU_DOMAIN: z
    .string()
    .regex(/^[a-z0-9.-]+$/, 'must be a lowercase host name')
    .optional(),
  GOKU_NGINX: z.enum(['managed', 'system']).default('managed'),
  GOKU_NGINX_CONF: z.string().min(1).default('/etc/nginx/conf.d/goku.conf'),
  GOKU_NGINX_BIN: z.string().min(1).default('nginx'),
  GOKU_NGINX_PID: z.string().min(1).default('/run/nginx.pid'),
  /**
   * goku in a container on the host's engine (install.sh host sets it to goku's image): the
   * managed nginx masters run as containers of this image, so they outlive goku's container.
   */
  GOKU_NGINX_IMAGE: z.string().min(1).optional(),
  /** Set by goku's own container (host, dind): goku runs in a container, so its edge nginx must too. */
  GOKU_CONTAINER_MODE: z.enum(['host', 'dind']).optional(),
  /** Seconds a new container has to answer HTTP on its port. */
  GOKU_DEPLOY_TIMEOUT: z.coerce.number().positive().max(3600).default(60),
  /** Seconds a release task (predeploy, the Procfile's release, postdeploy) may run. */
  GOKU_RELEASE_TIMEOUT: z.coerce.number().positive().max(86400).default(900),
  /** Upper bound of ps:scale. */
  GOKU_MAX_SCALE: z.coerce.number().int().min(1).max(1000).default(20),
  /** Seconds an old container gets between SIGTERM and SIGKILL when it is retired. */
  GOKU_STOP_GRACE: z.coerce.number().int().min(0).max(3600).default(10),
  /** Seconds a new container must keep answering after its first good answer (default check). */
  GOKU_CHECK_UPTIME: z.coerce.number().min(0).max(600).default(1),
  /** Releases of a deployment whose images are kept for rollback (the running and previous always). */
  GOKU_KEEP_RELEASES: z.coerce.number().int().min(2).max(100).default(5),
  /** When set, app data and service records live in Consul (KV under goku/, services in its agent). */
  GOKU_CONSUL_URL: z
    .string()
    .regex(/^https?:\/\/[^/\s]+\/?$/, 'must be http(s)://HOST:PORT')
    .optional(),
  GOKU_CONSUL_TOKEN: z.string().min(1).optional(),
  /** Docker Hub namespaces whose webhook payloads are taken (comma list); unset: any. */
  GOKU_WEBHOOK_OWNERS: z
    .string()
    .regex(/^[a-z0-9_.-]+(\s*,\s*[a-z0-9_.-]+)*$/, 'a comma list of Docker Hub namespaces')
    .optional(),
  /** Bearer token of the HTTP API; unset: the one goku made in GOKU_HOME/admin-token. */
  GOKU_ADMIN_TOKEN: z
    .string()
    .regex(/^[\x21-\x7e]{16,256}$/, 'must be 16 to 256 printable characters, no spaces')
    .optional(),
  /** Seconds between registry polls of one image app (the registry watcher). */
  GOKU_WATCH_INTERVAL: z.coerce.number().min(5, 'must be at least 5 (seconds)').max(86400).default(60),
  /** Where deployments run: containers on goku's engine (docker), or Swarm services (swarm, on a manager). */
  GOKU_SCHEDULER: z.enum(['docker', 'swarm'], { error: 'must be docker or swarm' }).default('docker'),
  /** HOST[:PORT]/PREFIX: every image goku builds is pushed there too (a rollback pulls it back). */
  GOKU_REGISTRY: z
    .string()
    .regex(
      /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?(\/[a-z0-9]+([._-][a-z0-9]+)*)+$/,
      'must be HOST[:PORT]/PREFIX, e.g. registry.example.com/goku',
    )
    .optional(),
  /** For tests and mirrors: Docker Hub references are resolved and pulled from this registry. */
  GOKU_DOCKERHUB_REGISTRY: z
    .string()
    .regex(/^https?:\/\/[^/\s]+\/?$/, 'must be http(s)://HOST:PORT')
    .optional(),
  /** Bytes of pack data one push may send (git's receive.maxInputSize). */
  GOKU_MAX_PUSH_BYTES: z.coerce
    .number()
    .int()
    .min(1)
    .default(2 * 1024 ** 3),
  /** Files a pushed tree may hold (checked from its tree objects before anything is read). */
  GOKU_MAX_TREE_FILES: z.coerce.number().int().min(1).max(10_000_000).default(100_000),
  /** Bytes a pushed tree may hold (blob sizes from git's object headers). */
  GOKU_MAX_TREE_BYTES: z.coerce
    .number()
    .int()
    .min(1)
    .default(2 * 1024 ** 3),
  /** Apps one key may create by pushing (apps:create by an admin is not counted). */
  GOKU_MAX_APPS_PER_KEY: z.coerce.number().int().min(0).max(100000).default(20),
  /** Seconds an ssh connection has to finish its handshake and authenticate. */
  GOKU_SSH_AUTH_TIMEOUT: z.coerce.number().positive().max(600).default(20),
  /** Seconds an authenticated ssh connection may stay open with no channel. */
  GOKU_SSH_IDLE_TIMEOUT: z.coerce.number().positive().max(86400).default(300),
  /** Unauthenticated ssh connections at once, in total and per source address. */
  GOKU_SSH_MAX_UNAUTH: z.coerce.number().int().min(1).max(100000).default(100),
  GOKU_SSH_MAX_UNAUTH_PER_IP: z.coerce.number().int().min(1).max(100000).default(10),
  /**
   * Put before every container name, so that two gokus can share one Docker engine (each
   * filters by its goku.home label; names are the one thing the engine makes them share).
   */
  GOKU_CONTAINER_PREFIX: z
    .string()
    .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,30}$/, 'must be letters, digits, _ . - (at most 31)')
    .default(''),
  GOKU_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});

export type Settings = Omit<z.infer<typeof schema>, 'GOKU_DOMAIN'> & { GOKU_DOMAIN: string };

/** Reads settings from the environment; a bad one is a one-line GOKU_ERR_SETTINGS. */
export function readSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const picked: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const v = env[key];
    if (v !== undefined && v !== '') picked[key] = v;
  }
  const parsed = schema.safeParse(picked);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = String(issue?.path[0] ?? '?');
    throw new GokuError(
      'GOKU_ERR_SETTINGS',
      `bad setting ${key}=${JSON.stringify(picked[key] ?? '')}: ${issue?.message}`,
    );
  }
  const s = parsed.data;
  if (!s.GOKU_HTTP_TLS_CERT !== !s.GOKU_HTTP_TLS_KEY)
    throw new GokuError('GOKU_ERR_SETTINGS', 'set both GOKU_HTTP_TLS_CERT and GOKU_HTTP_TLS_KEY, or neither');
  if (s.GOKU_HTTP_TLS_DOMAIN && s.GOKU_HTTP_TLS_CERT)
    throw new GokuError('GOKU_ERR_SETTINGS', 'set GOKU_HTTP_TLS_DOMAIN or GOKU_HTTP_TLS_CERT/_KEY, not both');
  if (s.GOKU_HTTP_TLS_DOMAIN && !s.GOKU_ACME_EMAIL)
    throw new GokuError('GOKU_ERR_SETTINGS', 'GOKU_HTTP_TLS_DOMAIN needs ACME: set GOKU_ACME_EMAIL too');
  if (s.GOKU_ACME_EMAIL && s.GOKU_NGINX !== 'managed')
    throw new GokuError(
      'GOKU_ERR_SETTINGS',
      "ACME (GOKU_ACME_EMAIL) needs goku's own edge nginx (GOKU_NGINX=managed) to answer its challenges",
    );
  return { ...s, GOKU_DOMAIN: s.GOKU_DOMAIN ?? defaultDomain() };
}

function defaultDomain(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family === 'IPv4' && !a.internal) return `${a.address}.sslip.io`;
    }
  }
  return '127.0.0.1.sslip.io';
}

/** The port goku serves HTTPS on: GOKU_HTTPS_PORT at its own edge nginx; 0 (none) with the system nginx. */
export function httpsPortOf(s: Pick<Settings, 'GOKU_NGINX' | 'GOKU_HTTPS_PORT'>): number {
  return s.GOKU_NGINX === 'managed' ? s.GOKU_HTTPS_PORT : 0;
}

/** ACME is on: an email is set and goku's edge answers HTTP-01 challenges. */
export function acmeOn(s: Pick<Settings, 'GOKU_NGINX' | 'GOKU_ACME_EMAIL'>): boolean {
  return s.GOKU_NGINX === 'managed' && !!s.GOKU_ACME_EMAIL;
}
