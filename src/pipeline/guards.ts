import { type Procfile, processTypes } from '../core/procfile.js';
import { deployAllowed, formatWindow, nextDeployTime } from '../core/schedule.js';
import { GokuError } from '../errors.js';
import { allContainerIdsOf } from '../store/types.js';
import { containerName, type PipelineDeps } from './context.js';

/**
 * APP-SLUG of one app may equal another app's name or deployment, or the containers of a
 * process type (DEPLOYMENT-TYPE) of any deployment; containers would collide.
 */
export function assertDeploymentNameFree(d: PipelineDeps, app: string, deployment: string): void {
  for (const [name, rec] of Object.entries(d.store.read().apps)) {
    if (name !== app && (name === deployment || rec.deployments[deployment])) {
      throw new GokuError(
        'GOKU_ERR_NAME_TAKEN',
        `deployment name ${deployment} is already used by app ${name}; push this branch under another name`,
      );
    }
    for (const dep of Object.values(rec.deployments)) {
      const type = [...processTypes(dep.procfile ?? null), ...Object.keys(dep.compose?.services ?? {})].find(
        (t) => `${dep.name}-${t}` === deployment,
      );
      if (type && dep.name !== deployment) {
        throw new GokuError(
          'GOKU_ERR_NAME_TAKEN',
          `deployment name ${deployment} is the name of the ${type} processes of ${dep.name}; push this branch under another name`,
        );
      }
    }
  }
}

/** The containers of a process type (DEPLOYMENT-TYPE) must not take an app's or deployment's name. */
export function assertProcessNamesFree(
  d: PipelineDeps,
  deployment: string,
  procfile: Readonly<Procfile> | null,
): void {
  assertSuffixedNamesFree(
    d,
    deployment,
    processTypes(procfile).filter((t) => t !== 'web'),
    (type) => ({ what: `the ${type} processes`, fix: 'rename the process type in the Procfile' }),
  );
}

/** A compose service's containers (DEPLOYMENT-SERVICE) must not take an app's or deployment's name. */
export function assertServiceNamesFree(d: PipelineDeps, deployment: string, services: string[]): void {
  assertSuffixedNamesFree(d, deployment, services, (service) => ({
    what: `the containers of service ${service}`,
    fix: 'rename the service',
  }));
}

/** Containers named DEPLOYMENT-NAME (a process type's, a service's) against every app and deployment. */
function assertSuffixedNamesFree(
  d: PipelineDeps,
  deployment: string,
  names: string[],
  say: (name: string) => { what: string; fix: string },
): void {
  const apps = Object.values(d.store.read().apps);
  for (const name of names) {
    const base = `${deployment}-${name}`;
    const owner = apps.find((a) => a.name === base || a.deployments[base]);
    if (owner) {
      const { what, fix } = say(name);
      throw new GokuError(
        'GOKU_ERR_NAME_TAKEN',
        `${what} would be named ${base}, the name of ${owner.name === base ? 'an app' : `a deployment of ${owner.name}`}; ${fix}`,
      );
    }
  }
}

/** Refuses domains that another app (or another deployment of this app) serves or claims. */
export function assertDomainsFree(d: PipelineDeps, app: string, deployment: string, domains: string[]): void {
  const owners = d.routes.domainOwners();
  const apps = d.store.read().apps;
  for (const domain of domains) {
    const r = owners.get(domain);
    // A compose service's route (DEPLOYMENT/SERVICE) is its deployment's own.
    if (r && r.deployment.split('/')[0] !== deployment) {
      throw new GokuError(
        'GOKU_ERR_DOMAIN_TAKEN',
        `domain ${domain} is already served by ${r.app === app ? `deployment ${r.deployment}` : `app ${r.app}`}; remove it there first`,
      );
    }
    for (const [name, rec] of Object.entries(apps)) {
      if (name !== app && rec.domains.includes(domain)) {
        throw new GokuError(
          'GOKU_ERR_DOMAIN_TAKEN',
          `domain ${domain} is claimed by app ${name}; remove it there first`,
        );
      }
    }
  }
}

/**
 * The names the new containers will take must not belong to another goku on this engine
 * (or anything else): the rename after the switch would fail and leave temporary names.
 */
export async function assertNamesOurs(d: PipelineDeps, deployment: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const name = containerName(d, deployment, i);
    const c = await d.runtime.inspectContainer(name);
    if (c && c.labels['goku.home'] !== d.homeLabel) {
      const owner = c.labels['goku.home'];
      throw new GokuError(
        'GOKU_ERR_NAME_TAKEN',
        `a container named ${name} exists that this goku does not own (${owner ? `another goku, GOKU_HOME ${owner}` : 'not made by goku'}); remove it, or give each goku on this engine its own GOKU_CONTAINER_PREFIX`,
      );
    }
  }
}

/**
 * An app that may not run two copies (schedule --downtime) is down during each deploy, so one
 * asked for while its schedule does not allow deploys is refused unless forced. Updates that
 * passed the schedule (webhooks, the watcher, a window opening) come forced; an app with no
 * running container has nothing to stop.
 */
export function assertDowntimeAllowed(d: PipelineDeps, app: string, what: string, force: boolean): void {
  const rec = d.store.read().apps[app];
  const s = rec?.image?.schedule;
  if (!rec || !s?.downtime || force) return;
  const running = Object.values(rec.deployments).some((dep) => allContainerIdsOf(dep).length > 0);
  const now = d.clock();
  if (!running || deployAllowed(s, now)) return;
  const when = nextDeployTime(s, now)?.toISOString() ?? 'its schedule allows it';
  const rule = s.window
    ? `its window ${formatWindow(s.window)} UTC opens at ${when}`
    : `its set time is ${when}`;
  throw new GokuError(
    'GOKU_ERR_OUTSIDE_WINDOW',
    `${app} may not run two copies (schedule --downtime), so ${what} stops it for a while, and ${rule}; wait, or add --force to do it now`,
  );
}

/** The stored instance count may have been written by hand (APP/CONTAINERS in Consul). */
export function assertScale(d: PipelineDeps, app: string, count: number): void {
  if (count > 1 && d.store.read().apps[app]?.image?.schedule?.downtime) {
    throw new GokuError(
      'GOKU_ERR_USAGE',
      `${app} may not run two copies (schedule --downtime), so it runs at most one instance; scale it to 0 or 1, or set its schedule again without --downtime`,
    );
  }
  const max = d.settings.GOKU_MAX_SCALE;
  if (count > max) {
    throw new GokuError(
      'GOKU_ERR_USAGE',
      `${app} is set to ${count} instances, above GOKU_MAX_SCALE (${max}); run ps:scale ${app} with smaller counts (or change app.json's formation)`,
    );
  }
}
