import { deploymentName } from '../core/names.js';
import { GokuError, oneLine } from '../errors.js';
import { assertAppNameFree } from '../store/apps.js';
import { type AppRecord, type DeploymentView, thaw } from '../store/types.js';
import { appView, domainsFor, type Out, type PipelineDeps } from './context.js';
import { assertDeploymentNameFree } from './guards.js';
import { newRouteId, withRelease } from './release.js';
import { runningSpec, type Switched } from './switch.js';

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
  // Docker cannot rename a volume: the compose app's data would stay under the old name.
  if (Object.values(rec.deployments).some((dep) => dep.compose)) {
    throw new GokuError(
      'GOKU_ERR_USAGE',
      `${from} is a compose app, and Docker cannot rename its named volumes (its data); create ${to}, push to it and move the data, or keep the name`,
    );
  }
  const names = plan(d, rec, to);
  // The images move to goku/NEWDEPLOYMENT (the same ids); release records follow them.
  const retag = new Map<string, string>();
  for (const [oldDep, newDep] of names) {
    for (const img of await d.runtime.listImages(`goku/${oldDep}`, { 'goku.home': d.homeLabel })) {
      for (const t of img.tags) retag.set(t, `goku/${newDep}:${t.slice(t.indexOf(':') + 1)}`);
    }
  }
  out(`-----> Renaming ${from} to ${to}`);
  const moved = renamedRecord(rec, to, names, retag);
  const tagged: string[] = [];
  const done: Switched[] = [];
  let stored = false;
  let repoMoved = false;
  try {
    for (const [a, b] of retag) {
      await d.runtime.tagImage(a, b);
      tagged.push(b);
    }
    await d.store.update((s) => {
      delete s.apps[from];
      s.apps[to] = moved;
    });
    stored = true;
    await d.repos.rename(from, to);
    repoMoved = true;
    for (const [oldDep, newDep] of names) {
      done.push(
        await renameDeployment(
          d,
          { from, to, oldDep, dep: moved.deployments[newDep] as DeploymentView, by },
          out,
        ),
      );
    }
  } catch (err) {
    // Back as it was, in reverse: the switched deployments first (their old containers still run).
    const logged = (what: string) => (e: unknown) => d.log.error({ app: from, err: oneLine(e) }, what);
    for (const s of done.reverse()) await s.revert().catch(logged('could not revert a renamed deployment'));
    if (repoMoved) await d.repos.rename(to, from).catch(logged('could not rename the repository back'));
    if (stored) {
      await d.store
        .update((s) => {
          delete s.apps[to];
          s.apps[from] = rec;
        })
        .catch(logged('could not put the record back'));
    }
    for (const b of tagged) await d.runtime.removeImageTag(b).catch(() => undefined);
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

/** One deployment's new containers, as a release of the new name (rolled back to like any). */
function renameDeployment(
  d: PipelineDeps,
  p: { from: string; to: string; oldDep: string; dep: DeploymentView; by: string },
  out: Out,
): Promise<Switched> {
  const { dep } = p;
  const base = {
    kind: 'rename' as const,
    deployment: dep.name,
    branch: dep.branch,
    commit: dep.commit,
    by: p.by,
  };
  const config = { ...appView(d, p.to).env };
  return withRelease(d, p.to, { ...base, config }, out, async (rel) => {
    const release = newRouteId(dep.commit);
    rel.set({ image: dep.image, imageId: await d.runtime.imageId(dep.image), release });
    return switchRenamed(d, { ...p, release }, rel.out);
  });
}

/** One deployment under its new name: new containers from its image, the old route replaced in one change. */
function switchRenamed(
  d: PipelineDeps,
  p: { from: string; to: string; oldDep: string; dep: DeploymentView; release: string },
  out: Out,
): Promise<Switched> {
  return d.scheduler.switchTo(
    d,
    {
      app: p.to,
      deployment: p.dep.name,
      ...runningSpec(p.dep),
      release: p.release,
      ownsImage: false,
      replaces: { app: p.from, deployment: p.oldDep },
    },
    out,
  );
}
