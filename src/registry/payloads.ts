import { z } from 'zod';
import { GokuError } from '../errors.js';
import { DOCKER_HUB, type ImageRef, parseImageRef } from './reference.js';

/**
 * What a webhook says changed, read from its payload: only where to look (registry,
 * repository, tag). The digest is never taken from a payload: goku asks the registry.
 */
export interface ImageUpdate {
  registry: string;
  repository: string;
  tag: string;
  /**
   * The digest the event says was pushed, only as a hint: a registry sends the event before it
   * moves the tag, so until the tag names it goku asks again, a few seconds at most.
   */
  digest?: string;
}

function shape(kind: string, err: z.ZodError): GokuError {
  const issue = err.issues[0];
  const where = issue?.path.join('.') || 'the body';
  return new GokuError(
    'GOKU_ERR_WEBHOOK_PAYLOAD',
    `not a ${kind} payload: ${where}: ${issue?.message ?? 'wrong shape'}`,
  );
}

/** `repository.repo_name` and `push_data.tag` of Docker Hub's payload; the rest is not needed. */
const dockerHub = z.object({
  push_data: z.object({ tag: z.string().min(1).max(128) }),
  repository: z.object({
    repo_name: z.string().min(1).max(255),
    namespace: z.string().max(255).optional(),
  }),
  callback_url: z.string().max(2048).optional(),
});

export interface DockerHubHook {
  update: ImageUpdate;
  /** The repository's namespace (owner), for GOKU_WEBHOOK_OWNERS. */
  namespace: string;
  /** Only ever called when it is a https://registry.hub.docker.com/ URL. */
  callbackUrl: string | null;
}

export function parseDockerHub(body: unknown): DockerHubHook {
  const r = dockerHub.safeParse(body);
  if (!r.success) throw shape('Docker Hub', r.error);
  const { push_data, repository, callback_url } = r.data;
  const ref = parseImageRef(`${repository.repo_name}:${push_data.tag}`);
  if (ref.tag !== push_data.tag || ref.digest) {
    throw new GokuError('GOKU_ERR_WEBHOOK_PAYLOAD', 'not a Docker Hub payload: push_data.tag is not a tag');
  }
  if (ref.registry !== DOCKER_HUB) {
    throw new GokuError(
      'GOKU_ERR_WEBHOOK_PAYLOAD',
      'not a Docker Hub payload: repository.repo_name names another registry',
    );
  }
  const namespace = ref.repository.split('/')[0] as string;
  return {
    update: { registry: DOCKER_HUB, repository: ref.repository, tag: push_data.tag },
    namespace,
    callbackUrl: callback_url && isDockerHubCallback(callback_url) ? callback_url : null,
  };
}

/** Docker Hub's callback is called only on its own host, over HTTPS: no other host is ever contacted. */
export function isDockerHubCallback(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' && u.host === 'registry.hub.docker.com' && !u.username && !u.password;
  } catch {
    return false;
  }
}

/** A distribution registry's notification envelope (application/vnd.docker.distribution.events.v1+json). */
const envelope = z.object({
  events: z
    .array(
      z.object({
        action: z.string().max(64),
        target: z
          .object({
            mediaType: z.string().max(255).optional(),
            repository: z.string().max(255).optional(),
            tag: z.string().max(128).optional(),
            digest: z.string().max(200).optional(),
          })
          .optional(),
        request: z.object({ host: z.string().max(300).optional() }).optional(),
      }),
    )
    .max(1000),
});

const MANIFEST = /manifest|image\.index/;

/**
 * The image updates of a notification: pushes of a manifest with a tag. Blob pushes, pulls,
 * deletes and untagged manifests say nothing to deploy and are skipped.
 */
export function parseRegistryEvents(body: unknown): ImageUpdate[] {
  const r = envelope.safeParse(body);
  if (!r.success) throw shape('registry notification', r.error);
  const out: ImageUpdate[] = [];
  for (const ev of r.data.events) {
    const t = ev.target;
    if (ev.action !== 'push' || !t?.tag || !t.repository || !ev.request?.host) continue;
    if (t.mediaType && !MANIFEST.test(t.mediaType)) continue;
    let ref: ImageRef;
    try {
      ref = parseImageRef(`${ev.request.host}/${t.repository}:${t.tag}`);
    } catch {
      continue; // a host or name no reference can have: nothing of ours follows it
    }
    // What the reference parser read must be what the event said (it trims; a tag has no spaces).
    if (ref.tag !== t.tag) continue;
    if (!out.some((u) => u.registry === ref.registry && u.repository === ref.repository && u.tag === t.tag)) {
      const digest = t.digest && /^sha256:[0-9a-f]{64}$/.test(t.digest) ? { digest: t.digest } : {};
      out.push({ registry: ref.registry, repository: ref.repository, tag: t.tag, ...digest });
    }
  }
  return out;
}

const deployHook = z.object({
  service: z.string().min(1).max(63),
  tag: z.string().min(1).max(128).optional(),
});

/** gopdater's contract: `{"service": "APP", "tag"?: "TAG"}`. */
export function parseDeployHook(body: unknown): { app: string; tag: string | null } {
  const r = deployHook.safeParse(body);
  if (!r.success) throw shape('deploy', r.error);
  return { app: r.data.service, tag: r.data.tag ?? null };
}
