import type { Logger } from 'pino';
import type { AppEvents } from '../app/events.js';
import { deploymentDomains } from '../core/routes.js';
import { GokuError } from '../errors.js';
import type { Repos } from '../git/repos.js';
import type { RegistryClient } from '../registry/client.js';
import type { ContainerRuntime } from '../runtime/types.js';
import type { Settings } from '../settings.js';
import {
  type AppView,
  type DeploymentRecord,
  type DeploymentView,
  instanceName,
  type Store,
  thaw,
} from '../store/types.js';
import type { AppLocks } from './locks.js';
import type { RouteTable } from './routing.js';
import type { Scheduler } from './scheduler.js';

/** Where a deploy's progress lines go (the pusher's terminal, a command's stdout, a release log). */
export type Out = (line: string) => void;

/** What every stage of the pipeline works with, built once in the composition root. */
export interface PipelineDeps {
  settings: Settings;
  store: Store;
  runtime: ContainerRuntime;
  repos: Repos;
  routes: RouteTable;
  locks: AppLocks;
  /** Asks registries which digest a tag names (image apps). */
  registry: RegistryClient;
  log: Logger;
  /** Label value that marks this server's Docker objects (its GOKU_HOME). */
  homeLabel: string;
  /** The time deploy windows are judged by (tests move it inside the process). */
  clock: () => Date;
  /** Where deploys are published as they happen (the API's event streams); none in some tests. */
  events?: AppEvents;
  /** Where deployments run (containers here, or Swarm services). */
  scheduler: Scheduler;
}

/** The app's record as the store holds it now; a missing app is a coded error. */
export function appView(d: PipelineDeps, app: string): AppView {
  const rec = d.store.read().apps[app];
  if (!rec) throw new GokuError('GOKU_ERR_APP_NOT_FOUND', `app ${app} does not exist`);
  return rec;
}

/** Puts a deployment's record back as it was before a switch (none: it did not exist). */
export function restoreRecord(
  d: PipelineDeps,
  app: string,
  deployment: string,
  previous: DeploymentView | undefined,
): Promise<void> {
  return d.store.update((s) => {
    const a = s.apps[app];
    if (!a) return;
    if (previous) a.deployments[deployment] = thaw<DeploymentRecord>(previous);
    else delete a.deployments[deployment];
  });
}

/** The labels that make a Docker object this goku's, of this app and deployment. */
export function labels(d: PipelineDeps, app: string, deployment: string): Record<string, string> {
  return { 'goku.app': app, 'goku.deployment': deployment, 'goku.home': d.homeLabel };
}

/** Instance i (from 0) of a deployment: DEPLOYMENT, DEPLOYMENT.2, ... after GOKU_CONTAINER_PREFIX. */
export function containerName(d: PipelineDeps, deployment: string, i: number): string {
  return instanceName(d.settings.GOKU_CONTAINER_PREFIX, deployment, i);
}

/** Every domain a deployment is served at (its own, the CNAME's, domains:add for the default one). */
export function domainsFor(
  d: { settings: Pick<Settings, 'GOKU_DOMAIN'> },
  appRec: AppView,
  deployment: string,
  branch: string,
  cname: readonly string[],
): string[] {
  return deploymentDomains({
    app: appRec.name,
    deployment,
    branch,
    baseDomain: d.settings.GOKU_DOMAIN,
    cname,
    extra: deployment === appRec.name ? appRec.domains : [],
  });
}

/** The address a domain is served at through goku's proxy. */
export function urlOf(d: { settings: Pick<Settings, 'GOKU_PROXY_PORT'> }, domain: string): string {
  const port = d.settings.GOKU_PROXY_PORT;
  return `http://${domain}${port === 80 ? '' : `:${port}`}/`;
}
