import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { oneLine } from '../errors.js';
import { appView, labels, type Out, type PipelineDeps } from './context.js';
import { ownedRouteKeys } from './routing.js';

/** Stops and removes every other container of the deployment (the previous release, leftovers). */
export async function retireOthers(
  d: PipelineDeps,
  app: string,
  deployment: string,
  keep: string[],
): Promise<void> {
  const list = await d.runtime.listContainers(labels(d, app, deployment));
  await Promise.all(
    list
      .filter((c) => !keep.includes(c.id))
      .map((c) => d.runtime.ensureContainerStoppedAndRemoved(c.id, d.settings.GOKU_STOP_GRACE)),
  );
}

/**
 * Keeps the images of the deployment's last GOKU_KEEP_RELEASES succeeded releases (so the
 * running and the previous one always) and the current one; removes the other tags.
 */
export async function pruneImages(
  d: PipelineDeps,
  app: string,
  deployment: string,
  current: string,
): Promise<void> {
  const keep = new Set(
    (appView(d, app).releases ?? [])
      .filter((r) => r.deployment === deployment && r.status === 'succeeded' && r.image)
      .map((r) => r.image)
      .slice(-d.settings.GOKU_KEEP_RELEASES),
  );
  keep.add(current);
  const images = await d.runtime.listImages(`goku/${deployment}`, { 'goku.home': d.homeLabel });
  for (const t of images.flatMap((i) => i.tags)) if (!keep.has(t)) await d.runtime.removeImageTag(t);
}

/** Takes a deployment down: its route, containers, images and record. */
export async function removeDeployment(
  d: PipelineDeps,
  app: string,
  deployment: string,
  out: Out,
): Promise<void> {
  out(`-----> Removing deployment ${deployment}`);
  const keys = ownedRouteKeys(d, deployment);
  if (keys.length) await d.routes.change([], keys);
  const list = await d.runtime.listContainers(labels(d, app, deployment));
  await Promise.all(list.map((c) => d.runtime.ensureContainerStoppedAndRemoved(c.id)));
  const services = Object.keys(appView(d, app).deployments[deployment]?.compose?.services ?? {});
  for (const repo of [`goku/${deployment}`, ...services.map((s) => `goku/${deployment}.${s}`)]) {
    for (const img of await d.runtime.listImages(repo, { 'goku.home': d.homeLabel })) {
      for (const t of img.tags) await d.runtime.removeImageTag(t);
    }
  }
  // A compose deployment's named volumes (its data) and networks go with it, said one by one.
  for (const v of await d.runtime.listVolumes(labels(d, app, deployment))) {
    out(`-----> Removing volume ${v}`);
    await d.runtime.removeVolume(v);
  }
  for (const n of await d.runtime.listNetworks(labels(d, app, deployment))) {
    // Docker 20.10 can keep a removed container's endpoint for good ("has active endpoints"):
    // the deployment is gone all the same; the empty network is named for the operator.
    await d.runtime.removeNetwork(n).catch((err: unknown) => {
      d.log.warn({ app, network: n, err: oneLine(err) }, 'could not remove a network');
      out(
        `       Network ${n} could not be removed (${oneLine(err)}); remove it with docker network rm ${n}`,
      );
    });
  }
  await d.store.update((s) => {
    const a = s.apps[app];
    if (a) delete a.deployments[deployment];
  });
  out(`=====> ${deployment} removed`);
}

/** Removes every deployment, container, image, route and record of the app, and its repo. */
export function destroyApp(d: PipelineDeps, app: string, out: Out): Promise<void> {
  return d.locks.run(app, async () => {
    const rec = appView(d, app);
    for (const dep of Object.keys(rec.deployments)) await d.scheduler.removeDeployment(d, app, dep, out);
    // Leftovers no record points at (an interrupted first deploy).
    const rest = await d.runtime.listContainers({ 'goku.app': app, 'goku.home': d.homeLabel });
    await Promise.all(rest.map((c) => d.runtime.removeContainer(c.id)));
    await rm(join(d.settings.GOKU_HOME, 'binds', app), { recursive: true, force: true });
    await d.repos.remove(app);
    await d.store.update((s) => {
      delete s.apps[app];
    });
    out(`=====> ${app} destroyed`);
  });
}
