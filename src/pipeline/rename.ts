import type { HealthPlan, HttpCheck } from '../core/checks.js';
import { deploymentName } from '../core/names.js';
import type { Procfile } from '../core/procfile.js';
import { GokuError, oneLine } from '../errors.js';
import { assertAppNameFree } from '../store/apps.js';
import { type AppRecord, type DeploymentView, thaw } from '../store/types.js';
import { appView, domainsFor, type Out, type PipelineDeps } from './context.js';
import { assertDeploymentNameFree } from './guards.js';
import { newRouteId, withRelease } from './release.js';
import { type Switched, switchTo } from './switch.js';

/**
 * apps:rename APP NEW: the record, repository, images and containers move to the new name.
 * Docker labels cannot change, so each deployment gets new containers through the switch (new
 * beside old, checked, routed in one nginx change that drops the old route): domains the app
 * keeps (CNAME, domains:add) never stop answering. Anything failing puts everything back.
 */
export function renameApp(d: PipelineDeps, from: string, to: string, by: string, out: Out): Promise<void> {
  return d.locks.run(from, () => d.locks.run(to, () => rename(d, from, to, by, out)));
}

async function rename(d: PipelineDeps, from: string, to: string, by: string, out: Out): Promise<void> {
  const rec = thaw<AppRecord>(appView(d, from));
  const names = plan(d, rec, to);
  // The images move to goku/NEWDEPLOYMENT (the same ids); release records follow them.
  const retag = new Map<string, string>();
  for (const [oldDep, newDep] of names) {
    for (const img of await d.runtime.listImages(`goku/${oldDep}`, { 'goku.home': d.homeLabel })) {
      for (const t of img.tags) retag.set(t, `goku/${newDep}:${t.slice(t.indexOf(':') + 1)}`);
    }
  }
  for (const [a, b] of retag) await d.runtime.tagImage(a, b);
  out(`-----> Renaming ${from} to ${to}`);
  const moved = renamedRecord(rec, to, names, retag);
  await d.store.update((s) => {
    delete s.apps[from];
    s.apps[to] = moved;
  });
  await d.repos.rename(from, to);
  const done: Switched[] = [];
  try {
    for (const [oldDep, newDep] of names) {
      const dep = moved.deployments[newDep] as DeploymentView;
      const base = {
        kind: 'rename' as const,
        deployment: newDep,
        branch: dep.branch,
        commit: dep.commit,
        by,
      };
      // Each deployment's new containers are a release of the new name (rolled back to like any).
      const s = await withRelease(d, to, { ...base, config: { ...moved.env } }, out, async (rel) => {
        const release = newRouteId(dep.commit);
        rel.set({ image: dep.image, imageId: await d.runtime.imageId(dep.image), release });
        return switchRenamed(d, { from, oldDep, dep, release, to }, rel.out);
      });
      done.push(s);
    }
  } catch (err) {
    // Back as it was: the switched deployments first (their old containers still run).
    for (const s of done.reverse())
      await s.revert().catch((e) => d.log.error({ err: oneLine(e) }, 'revert failed'));
    await d.repos
      .rename(to, from)
      .catch((e) => d.log.error({ err: oneLine(e) }, 'could not rename the repository back'));
    await d.store.update((s) => {
      delete s.apps[to];
      s.apps[from] = rec;
    });
    for (const [, b] of retag) await d.runtime.removeImageTag(b).catch(() => undefined);
    throw err;
  }
  for (const s of done) await s.tail();
  for (const [a] of retag) await d.runtime.removeImageTag(a).catch(() => undefined);
  await d.store.syncServices(from, []).catch(() => undefined);
  out(`=====> ${from} is now ${to}: push to ssh://git@HOST/${to} from now on`);
}

/** Old deployment name → new one, each checked free; the new domains too. */
function plan(d: PipelineDeps, rec: AppRecord, to: string): Map<string, string> {
  const data = d.store.read();
  if (data.apps[to]) throw new GokuError('GOKU_ERR_APP_EXISTS', `app ${to} already exists`);
  assertAppNameFree(data, to);
  if (rec.image?.schedule?.downtime) {
    throw new GokuError(
      'GOKU_ERR_USAGE',
      `${rec.name} may not run two copies (schedule --downtime), and a rename runs the new containers beside the old; set its schedule without --downtime first`,
    );
  }
  const names = new Map<string, string>();
  const owners = d.routes.domainOwners();
  for (const dep of Object.values(rec.deployments)) {
    const next = dep.name === rec.name ? to : deploymentName(to, dep.branch, '');
    assertDeploymentNameFree(d, to, next);
    names.set(dep.name, next);
    const probe = { ...rec, name: to } as AppRecord;
    for (const domain of domainsFor(d, probe, next, dep.branch, dep.cnameDomains)) {
      const owner = owners.get(domain);
      if (owner && owner.app !== rec.name) {
        throw new GokuError(
          'GOKU_ERR_DOMAIN_TAKEN',
          `domain ${domain} is already served by app ${owner.app}; remove it there first`,
        );
      }
    }
  }
  return names;
}

/** The app's record under its new name: deployments and releases renamed, images retagged. */
function renamedRecord(
  rec: AppRecord,
  to: string,
  names: Map<string, string>,
  retag: Map<string, string>,
): AppRecord {
  const dep = (n: string) => names.get(n) ?? n;
  return {
    ...structuredClone(rec),
    name: to,
    updatedAt: new Date().toISOString(),
    deployments: Object.fromEntries(
      Object.values(rec.deployments).map((x) => [
        dep(x.name),
        { ...structuredClone(x), name: dep(x.name), image: retag.get(x.image) ?? x.image },
      ]),
    ),
    releases: (rec.releases ?? []).map((r) => ({
      ...r,
      deployment: dep(r.deployment),
      image: retag.get(r.image) ?? r.image,
    })),
  };
}

/** One deployment under its new name: new containers from its image, the old route replaced in one change. */
function switchRenamed(
  d: PipelineDeps,
  p: { from: string; to: string; oldDep: string; dep: DeploymentView; release: string },
  out: Out,
): Promise<Switched> {
  const { dep } = p;
  return switchTo(
    d,
    {
      app: p.to,
      deployment: dep.name,
      branch: dep.branch,
      commit: dep.commit,
      image: dep.image,
      port: dep.exposedPort === undefined ? dep.port : dep.exposedPort,
      cname: [...dep.cnameDomains],
      release: p.release,
      ownsImage: false,
      health: dep.health ? thaw<HealthPlan>(dep.health) : { kind: 'default' },
      procfile: dep.procfile ? thaw<Procfile>(dep.procfile) : null,
      appFormation: dep.appFormation ? { ...dep.appFormation } : null,
      ...(dep.scripts ? { scripts: { ...dep.scripts } } : {}),
      ...(dep.liveness ? { liveness: thaw<HttpCheck[]>(dep.liveness) } : {}),
      replaces: { app: p.from, deployment: p.oldDep },
    },
    out,
  );
}
