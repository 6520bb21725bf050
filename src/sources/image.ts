import { posix } from 'node:path';
import {
  type AppScripts,
  appJsonFormation,
  appJsonLiveness,
  appJsonScripts,
  type HealthPlan,
  type HttpCheck,
  healthPlan,
} from '../core/checks.js';
import { portFromImageConfig } from '../core/dockerfile.js';
import { type Procfile, parseProcfile } from '../core/procfile.js';
import { appView, domainsFor, labels, type Out, type PipelineDeps } from '../pipeline/context.js';
import { assertDomainsFree, assertProcessNamesFree } from '../pipeline/guards.js';
import { newRouteId } from '../pipeline/release.js';
import type { RegistryCredentials } from '../registry/client.js';
import { familiarImageRef, type ImageRef, parseImageRef, pullName } from '../registry/reference.js';
import type { PullAuth, PullProgress } from '../runtime/types.js';

const MAX_APP_JSON_BYTES = 1024 * 1024;

/** What an image reference yields for the switch: the pulled image, labelled, and how to run it. */
export interface ImageCandidate {
  /** goku/APP:ROUTEID: the pulled digest, then (once `committed`) the same with goku's labels. */
  image: string;
  /** The labelled image's id, once its commit is done (a failed deploy must await it before removing it). */
  committed: Promise<string>;
  release: string;
  digest: string;
  port: number | null;
  health: HealthPlan;
  domains: string[];
  /** The Procfile in the image's working directory (null: none), as Dokku reads it for images. */
  procfile: Procfile | null;
  appFormation: Record<string, number> | null;
  scripts: AppScripts;
  liveness: HttpCheck[] | null;
}

/**
 * The image source: pulls exactly the digest the registry named (the caller asked it; a
 * payload is never trusted for that) and gives it goku's labels. The app's deployment is the
 * app itself: images have no branches.
 */
export async function pullCandidate(
  d: PipelineDeps,
  p: { app: string; ref: ImageRef; digest: string },
  out: Out,
): Promise<ImageCandidate> {
  const { app, ref, digest } = p;
  const domains = domainsFor(d, appView(d, app), app, '', []);
  assertDomainsFree(d, app, app, domains);
  const release = newRouteId(digest.replace(/^sha256:/, ''));
  const image = `goku/${app}:${release}`;
  const name = pullName(d.registry.endpoint(ref).pullHost, ref, digest);
  // One pull of a digest at a time: another app's deploy of it must not drop the name between
  // this pull and this build.
  const { committed, files, config } = await d.locks.run(
    `pull ${digest}`,
    async () => {
      out(`-----> Pulling ${familiarImageRef(ref)} (${digest.slice(0, 19)})`);
      await pullFromRegistry(d, ref, (host) => pullName(host, ref, digest), out);
      const config = await d.runtime.imageConfig(name);
      const adopted = await d.runtime.adoptImage(name, {
        tag: image,
        labels: labels(d, app, app),
        // app.json, CHECKS and Procfile in the image's working directory, as Dokku reads them.
        readPaths: ['app.json', 'CHECKS', 'Procfile'].map((f) => posix.join(config.workingDir || '/', f)),
        maxBytes: MAX_APP_JSON_BYTES,
      });
      // `image` names the pulled image now and holds the layers; without its own name the
      // pulled image goes when the last image made from it is pruned, and is pulled again if a
      // rollback needs it.
      await d.runtime.removeImageTag(name);
      return { ...adopted, config };
    },
    undefined,
    { quiet: true },
  );
  // The image's port; a config PORT wins in the switch, for every source.
  const port = portFromImageConfig(config.exposedPorts);
  const [appJson = null, checks = null, procfileText = null] = files;
  const health = healthPlan(appJson, config.healthcheck, checks);
  const procfile = procfileText === null ? null : parseProcfile(procfileText);
  assertProcessNamesFree(d, app, procfile);
  const appFormation = appJson === null ? null : appJsonFormation(appJson);
  const scripts = appJson === null ? {} : appJsonScripts(appJson);
  const liveness = appJson === null ? null : appJsonLiveness(appJson);
  return {
    image,
    committed,
    release,
    digest,
    port,
    health,
    domains,
    procfile,
    appFormation,
    scripts,
    liveness,
  };
}

/**
 * Pulls what `name` gives for the registry's pull host (a digest of `ref`, a tag), with the
 * stored credentials of `ref`'s registry; the engine's per-layer progress is condensed to one
 * line per layer and state. Returns the name pulled.
 */
export async function pullFromRegistry(
  d: PipelineDeps,
  ref: ImageRef,
  name: (pullHost: string) => string,
  out: Out,
): Promise<string> {
  const creds = d.registry.credentials(ref);
  const { pullHost } = d.registry.endpoint(ref);
  const said = new Map<string, string>();
  const onProgress = (ev: PullProgress) => {
    const status = ev.status?.trim();
    if (!status || /^(Downloading|Extracting|Waiting|Verifying Checksum)/.test(status)) return;
    const key = ev.id ?? '';
    if (said.get(key) === status) return;
    said.set(key, status);
    out(`       ${ev.id && !status.includes(ev.id) ? `${ev.id}: ` : ''}${status}`);
  };
  const pulled = name(pullHost);
  await d.runtime.pullImage(pulled, engineAuth(creds, pullHost), onProgress);
  return pulled;
}

/**
 * GOKU_REGISTRY: a built image also goes to the registry as PREFIX/DEPLOYMENT:RELEASE, with the
 * stored credentials of its host (registries:login). Returns the repository and the digest the
 * registry gave, which the release records so that a rollback can pull the image back. A failed
 * push throws GOKU_ERR_PUSH_FAILED: the deploy stops before anything switched.
 */
export async function pushToRegistry(
  d: PipelineDeps,
  p: { image: string; deployment: string; release: string },
  out: Out,
): Promise<{ repo: string; digest: string } | null> {
  const prefix = d.settings.GOKU_REGISTRY;
  if (!prefix) return null;
  const repo = `${prefix}/${p.deployment}`;
  const ref = parseImageRef(repo);
  const creds = d.registry.credentials(ref);
  out(`-----> Pushing to ${repo}:${p.release}`);
  const digest = await d.runtime.pushImage(p.image, repo, p.release, engineAuth(creds, ref.registry));
  out(`       ${digest}`);
  return { repo, digest };
}

/**
 * A release whose built image was pruned here but is in GOKU_REGISTRY: pulled by digest and
 * named as it was (its labels are the build's own), for a rollback.
 */
export async function pullPushedBack(
  d: PipelineDeps,
  p: { image: string; repo: string; digest: string },
  out: Out,
): Promise<void> {
  const ref = parseImageRef(p.repo);
  out(`-----> Pulling ${p.repo}@${p.digest.slice(0, 19)} back (its image was pruned here)`);
  const name = await pullFromRegistry(d, ref, () => `${p.repo}@${p.digest}`, out);
  await d.runtime.tagImage(name, p.image);
  await d.runtime.removeImageTag(name).catch(() => undefined);
}

/** The stored credentials of a repository's registry (registries:login) as the engine takes them. */
export function registryAuth(d: PipelineDeps, repo: string): PullAuth | null {
  const ref = parseImageRef(repo);
  return engineAuth(d.registry.credentials(ref), ref.registry);
}

/** Stored credentials as the engine takes them for a pull or push from `host` (null: anonymous). */
function engineAuth(creds: RegistryCredentials | null, host: string): PullAuth | null {
  return creds ? { username: creds.username, password: creds.password, serveraddress: host } : null;
}
