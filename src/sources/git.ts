import {
  type AppScripts,
  appJsonFormation,
  appJsonLiveness,
  appJsonScripts,
  type HealthPlan,
  type HttpCheck,
  healthPlan,
} from '../core/checks.js';
import { dockerfileFacts, insertAfterFinalFrom, portFromImageConfig } from '../core/dockerfile.js';
import { assertOwnDomain, parseCnameFile } from '../core/names.js';
import { type Procfile, parseProcfile } from '../core/procfile.js';
import { packContext } from '../docker/context.js';
import { GitTree } from '../git/tree.js';
import { appView, domainsFor, labels, type Out, type PipelineDeps } from '../pipeline/context.js';
import { assertDomainsFree, assertProcessNamesFree } from '../pipeline/guards.js';
import { newRouteId } from '../pipeline/release.js';
import { type ComposeCandidate, composeCandidate, composeFileOf } from './compose.js';
import { pushToRegistry } from './image.js';

/** Dockerfile, CNAME, app.json, Procfile, CHECKS and .dockerignore are read whole; none is anywhere near this. */
const MAX_READ_BYTES = 1024 * 1024;

/** What a pushed commit yields for the switch: a built image and how to run and route it. */
export interface GitCandidate {
  kind?: 'dockerfile';
  image: string;
  imageId: string;
  release: string;
  port: number | null;
  health: HealthPlan;
  cname: string[];
  /** Every domain the deployment will be served at. */
  domains: string[];
  /** The tree's Procfile (null: none; the image's CMD is web). */
  procfile: Procfile | null;
  /** app.json's formation, when it sets counts. */
  appFormation: Record<string, number> | null;
  /** app.json's deployment tasks. */
  scripts: AppScripts;
  /** app.json's liveness checks. */
  liveness: HttpCheck[] | null;
  /** Where GOKU_REGISTRY holds the build (null: not set). */
  pushed: { repo: string; digest: string } | null;
}

/** A pushed compose app: its sources and service images, for the compose switch. */
export interface GitComposeCandidate extends ComposeCandidate {
  kind: 'compose';
  release: string;
  cname: string[];
}

/**
 * The git source: reads the pushed commit from git's objects (never from disk, never through
 * a link), checks its domains, and builds its Dockerfile. Null when the tree has no Dockerfile.
 */
export async function buildFromCommit(
  d: PipelineDeps,
  p: { app: string; deployment: string; branch: string; commit: string; objectDir: string | null },
  out: Out,
  lap: (stage: string) => void,
): Promise<GitCandidate | GitComposeCandidate | null> {
  const { app, deployment, branch, commit } = p;
  const s = d.settings;
  const tree = await GitTree.open({
    gitdir: d.repos.path(app),
    objectDir: p.objectDir,
    commit,
    limits: { maxFiles: s.GOKU_MAX_TREE_FILES, maxBytes: s.GOKU_MAX_TREE_BYTES },
  });
  lap('checkout');
  const compose = composeFileOf(tree);
  if (compose) {
    out(
      `-----> ${compose} found: deploying ${app} as a compose app${tree.entry('Dockerfile') ? ' (the Dockerfile is used only by services that build it)' : ''}`,
    );
    const cname = await cnameDomains(d, tree, app, deployment, out);
    const release = newRouteId(commit);
    const c = await composeCandidate(
      d,
      { app, deployment, release, tree, file: compose, config: { ...appView(d, app).env } },
      out,
    );
    lap('build');
    return { kind: 'compose', ...c, release, cname };
  }
  const dockerfile = await tree.readText('Dockerfile', MAX_READ_BYTES);
  if (dockerfile === null) return null;
  const cname = await cnameDomains(d, tree, app, deployment, out);
  const domains = domainsFor(d, appView(d, app), deployment, branch, cname);
  assertDomainsFree(d, app, deployment, domains);

  const facts = dockerfileFacts(dockerfile);
  const appJson = await tree.readText('app.json', MAX_READ_BYTES);
  const health = healthPlan(appJson, !!facts.healthcheck, await tree.readText('CHECKS', MAX_READ_BYTES));
  const procfileText = await tree.readText('Procfile', MAX_READ_BYTES);
  const procfile = procfileText === null ? null : parseProcfile(procfileText);
  assertProcessNamesFree(d, deployment, procfile);
  const appFormation = appJson === null ? null : appJsonFormation(appJson);
  const scripts = appJson === null ? {} : appJsonScripts(appJson);
  const liveness = appJson === null ? null : appJsonLiveness(appJson);
  const release = newRouteId(commit);
  const image = `goku/${deployment}:${release}`;
  // goku's labels as one LABEL line after the final FROM: a cached layer on every rebuild.
  const labelLine = `LABEL ${Object.entries(labels(d, app, deployment))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(' ')}`;
  const context = packContext(tree, {
    dockerignore: await tree.readText('.dockerignore', MAX_READ_BYTES),
    rewriteDockerfile: (text) => insertAfterFinalFrom(text, labelLine),
  });
  const imageId = await d.runtime.buildImage(context, { tag: image }, (l) => out(`       ${l}`));
  lap('build');
  const port = facts.port ?? portFromImageConfig((await d.runtime.imageConfig(imageId)).exposedPorts);
  const pushed = await pushToRegistry(d, { image, deployment, release }, out);
  if (pushed) lap('push');
  return {
    image,
    imageId,
    release,
    port,
    health,
    cname,
    domains,
    procfile,
    appFormation,
    scripts,
    liveness,
    pushed,
  };
}

/** CNAME domains belong to the default deployment; other branches carry the same file and skip it. */
async function cnameDomains(
  d: PipelineDeps,
  tree: GitTree,
  app: string,
  deployment: string,
  out: Out,
): Promise<string[]> {
  const text = await tree.readText('CNAME', MAX_READ_BYTES);
  if (deployment !== app) {
    if (text?.trim())
      out(`-----> Skipping the CNAME file: its domains belong to ${app} (the default branch)`);
    return [];
  }
  const cname = parseCnameFile(text ?? '');
  for (const domain of cname) assertOwnDomain(domain, d.settings.GOKU_DOMAIN, app);
  return cname;
}
