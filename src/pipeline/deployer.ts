import type { AppScripts } from '../core/checks.js';
import { applyConfigChange, assertConfigSize, type ConfigChange, webPort } from '../core/config.js';
import { branchFromRef, defaultBranchOf, deploymentName, ZERO_SHA } from '../core/names.js';
import { type Procfile, processTypes } from '../core/procfile.js';
import { policyFor } from '../core/tag-policy.js';
import { errorBody, GokuError, oneLine } from '../errors.js';
import { formatImageRef, type ImageRef, parseImageRef } from '../registry/reference.js';
import { buildFromCommit, type GitComposeCandidate } from '../sources/git.js';
import { pullCandidate, pullPushedBack, pushToRegistry } from '../sources/image.js';
import {
  type AppView,
  type ComposeSources,
  type DeepReadonly,
  type DeploymentView,
  type ReleaseKind,
  type ReleaseRecord,
  type ServiceImage,
  thaw,
} from '../store/types.js';
import type { ComposeSpec } from './compose.js';
import { appView, domainsFor, type Out, type PipelineDeps, urlOf } from './context.js';
import { assertDeploymentNameFree, assertDomainsFree, assertDowntimeAllowed } from './guards.js';
import { failRelease, newRouteId, previousRelease, type ReleaseHandle, withRelease } from './release.js';
import { renameApp } from './rename.js';
import { destroyApp } from './retire.js';
import { runningSpec } from './switch.js';
import { runAfterSwitch, runBeforeSwitch, type TaskPlan } from './tasks.js';

export type { Out } from './context.js';

export interface RefUpdate {
  oldSha: string;
  newSha: string;
  ref: string;
}

export interface PushRequest {
  app: string;
  keyName: string;
  updates: RefUpdate[];
  /** The pre-receive hook's quarantine object directory. */
  objectDir: string | null;
  /**
   * Resolves when `git receive-pack` has exited, i.e. after git updated the refs (or failed
   * to). Only then is a pushed release final: until it resolves the old containers stay.
   */
  landed?: Promise<void>;
  /** True once `git receive-pack` has exited: the push can no longer land, so nothing may go live. */
  abandoned?: () => boolean;
}

/** One pushed branch's commit, on its way to its deployment. */
interface PushedCommit {
  app: string;
  branch: string;
  deployment: string;
  defaultBranch: string;
  commit: string;
  req: PushRequest;
}

/** A pushed release that is live but waits for git to land its ref. */
interface PendingPush {
  ref: string;
  newSha: string;
  version: number;
  tail: () => Promise<void>;
  revert: () => Promise<void>;
}

/**
 * What a deploy starts from. Every trigger (a push, ps:restart, config:set, ps:scale,
 * rollback; next: an image webhook, the registry watcher, the API) is one of these, handed to
 * Deployer.deploy; each becomes releases through the same switch (pipeline/switch.ts).
 */
export type DeploySource =
  /** Pushed commits of branches: sources/git.ts builds each. */
  (
    | { kind: 'push'; push: PushRequest }
    /** An image app's registry image (ref: switch the app to this reference first). */
    /** pushed: the digest a registry notification says was pushed (a hint to wait for; never pulled as such). */
    | { kind: 'image'; by: string; ref: string | null; pushed?: string }
    /** The running image of every deployment again (service: only that service of a compose app). */
    | { kind: 'restart'; by: string; service?: string }
    /** The running images with a new env (restart: false only stores it). */
    | { kind: 'config'; by: string; change: ConfigChange; restart: boolean }
    /** The default deployment's image with these instance counts (web, worker, ...). */
    | { kind: 'scale'; by: string; counts: Record<string, number> }
    /** An earlier release's image and config (null: the one before the current). */
    | { kind: 'rollback'; by: string; target: number | null }
    /** ps:rebuild: each deployment built again from its branch's commit; an image app pulled again. */
    | { kind: 'rebuild'; by: string }
  ) & {
    /** Deploy now although the app may not run two copies and its schedule does not allow it (--force). */
    force?: boolean;
  };

/** What a restart, config change or scale changes of a running deployment. */
interface Redeploy {
  kind: ReleaseKind;
  by: string;
  /** The config the release records. */
  config: Record<string, string>;
  /** A new env to run with (a config change). */
  env?: Record<string, string>;
  /** New counts (ps:scale). */
  scale?: Record<string, number>;
  /** Compose services replaced whatever changed (a restart's). */
  force?: string[] | 'all';
}

/** What each kind is called in the refusal of a stop-first deploy outside its window. */
const WHAT: Record<DeploySource['kind'], string> = {
  push: 'a push',
  image: 'a deploy',
  restart: 'a restart',
  config: 'a config change',
  scale: 'a scale change',
  rollback: 'a rollback',
  rebuild: 'a rebuild',
};

/** How often (every 250 ms) an image deploy from a notification asks again until the tag names the pushed digest. */
const PUSHED_TAG_TRIES = 20;

/** How long git gets after the hook's verdict to update the refs and exit. */
const LANDING_TIMEOUT_MS = 120_000;

/**
 * The push pipeline: receive → build → start → check → route → retire, under the app's lock.
 * Any failure before the switch leaves the running deployment exactly as it was.
 */
export class Deployer {
  constructor(private readonly d: PipelineDeps) {}

  /**
   * The one way into a deploy. Resolves when the change is live (the caller's part); retiring
   * the old containers continues afterwards under the app's lock.
   */
  async deploy(app: string, source: DeploySource, out: Out): Promise<void> {
    // Before anything is built: a goku that cannot deploy here says where to go instead.
    this.d.scheduler.assertDeploys();
    const events = this.d.events;
    if (!events) return this.dispatch(app, source, out);
    const kind = source.kind;
    const at = () => this.d.clock().toISOString();
    events.publish({
      type: 'start',
      app,
      kind,
      by: source.kind === 'push' ? source.push.keyName : source.by,
      at: at(),
    });
    const tee: Out = (line) => {
      events.publish({ type: 'progress', app, line });
      out(line);
    };
    return this.dispatch(app, source, tee).then(
      () => events.publish({ type: 'done', app, kind, at: at() }),
      (err: unknown) => {
        events.publish({ type: 'failed', app, kind, at: at(), ...errorBody(err) });
        throw err;
      },
    );
  }

  private dispatch(app: string, source: DeploySource, out: Out): Promise<void> {
    const stops =
      !(source.kind === 'config' && !source.restart) &&
      !(source.kind === 'scale' && Object.values(source.counts).every((n) => n === 0));
    try {
      if (stops) assertDowntimeAllowed(this.d, app, WHAT[source.kind], source.force === true);
    } catch (err) {
      return Promise.reject(err);
    }
    switch (source.kind) {
      case 'push':
        return this.handlePush({ ...source.push, app }, out);
      case 'image':
        return this.deployImage(app, source.ref, source.by, out, false, source.pushed);
      case 'restart':
        return this.restart(app, source.by, out, source.service);
      case 'config':
        return this.reconfigure(app, source.change, source.restart, source.by, out);
      case 'scale':
        return this.scale(app, source.counts, source.by, out);
      case 'rollback':
        return this.rollback(app, source.target, source.by, out);
      case 'rebuild':
        return appView(this.d, app).image
          ? this.deployImage(app, null, source.by, out, true)
          : this.rebuild(app, source.by, out);
    }
  }

  /**
   * Resolves as soon as every pushed branch is live (the pusher's part); retiring the old
   * containers continues afterwards, still under the app's lock, so the next deploy of the
   * app waits for it while the pusher does not.
   */
  private handlePush(req: PushRequest, out: Out): Promise<void> {
    // A push still waiting is replaced by a newer push of the same branches (CapRover's "a
    // newer source replaces the queued build"): the waiting one's refs never land.
    const refs = req.updates.map((u) => branchFromRef(u.ref) ?? u.ref).sort();
    return this.withTails(req.app, out, (tails) => this.pushUnderLock(req, out, tails), {
      replaces: `push of ${refs.join(', ')}`,
    });
  }

  /**
   * An image app from its registry: the digest its tag names now (asked of the registry),
   * pulled, labelled and switched to like a pushed build, as a release of kind image. An app
   * already running that digest of that reference gets no release. A deploy still waiting is
   * replaced by a newer one: the newest digest is what is wanted.
   */
  private deployImage(
    app: string,
    refText: string | null,
    by: string,
    out: Out,
    again = false,
    pushed?: string,
  ): Promise<void> {
    return this.withTails(
      app,
      out,
      async (tails) => {
        const rec = appView(this.d, app);
        if (!rec.image) {
          throw new GokuError(
            'GOKU_ERR_SOURCE_MISMATCH',
            `app ${app} deploys by git push, not from an image; push to it, or create an image app with goku apps:create APP --image REF`,
          );
        }
        const ref = parseImageRef(refText ?? rec.image.ref);
        const source = formatImageRef(ref);
        const base = { kind: 'image' as const, deployment: app, branch: '', commit: '', by, config: rec.env };
        await withRelease(this.d, app, base, out, (rel) =>
          this.pullAndSwitch(app, ref, source, rel, tails, again, pushed),
        );
      },
      { replaces: 'image deploy' },
    );
  }

  /** The image deploy's release: the digest asked of the registry, pulled, adopted, switched to. */
  private async pullAndSwitch(
    app: string,
    ref: ImageRef,
    source: string,
    rel: ReleaseHandle,
    tails: (() => Promise<void>)[],
    /** ps:rebuild: pull and deploy even the digest that runs. */
    again = false,
    /** The digest a notification says was pushed: asked for again until the tag names it. */
    pushed?: string,
  ): Promise<void> {
    const started = Date.now();
    const { timings, lap } = stopwatch();
    // A registry that refuses the credentials fails the release; a tag it does not have, or
    // the digest already running, is no release at all.
    const digest = await this.currentDigest(ref, pushed).catch((err: unknown) => {
      if (err instanceof GokuError && err.code === 'GOKU_ERR_TAG_NOT_FOUND') rel.discard();
      throw err;
    });
    lap('resolve');
    const { image, deployments } = appView(this.d, app);
    if (!again && deployments[app] && image?.digest === digest && image.ref === source) {
      rel.discard();
      rel.out(`=====> ${app} already runs ${source}@${digest.slice(0, 19)}; nothing to deploy`);
      return;
    }
    const hex = digest.replace(/^sha256:/, '');
    rel.set({ digest, source, commit: hex });
    const c = await pullCandidate(this.d, { app, ref, digest }, rel.out);
    lap('pull');
    const { plan, first } = this.newImage(app, app, c, rel);
    if (c.scripts.predeploy || c.procfile?.release) {
      // The tasks run on the labelled image (predeploy commits onto it) and a failure removes
      // it: its own commit must be done first, or it would land after the removal.
      await c.committed;
      const id = await this.beforeSwitch(plan, c, rel);
      if (id) c.committed = Promise.resolve(id);
    }
    const ready = c.committed.then((imageId) => rel.set({ imageId }));
    // The switch awaits it; a commit that fails while the switch awaits something else (its
    // parent image removed under it) must not be an unhandled rejection, which ends the daemon.
    ready.catch(() => undefined);
    const { tail, port } = await this.d.scheduler.switchTo(
      this.d,
      {
        app,
        deployment: app,
        ready,
        branch: '',
        commit: hex,
        image: c.image,
        port: c.port,
        cname: [],
        release: c.release,
        ownsImage: true,
        health: c.health,
        procfile: c.procfile,
        appFormation: c.appFormation,
        scripts: c.scripts,
        liveness: c.liveness,
      },
      rel.out,
      lap,
    );
    tails.push(tail);
    await runAfterSwitch(this.d, plan, rel.out, first);
    await this.d.store.update((s) => {
      const a = s.apps[app];
      if (a?.image) a.image = { ...a.image, ref: source, digest, pulledAt: new Date().toISOString() };
    });
    this.d.log.info({ app, release: c.release, version: rel.version, ms: timings }, 'deployed');
    this.announce(app, app, { domains: c.domains, port }, started, rel);
  }

  /**
   * The digest the reference's tag names now, asked of the registry. With `pushed` (a
   * notification's digest) it asks again, every 250 ms for up to 5 s, until the tag names that
   * digest: a registry notifies a push before it moves the tag (distribution's manifest handler
   * tags after the event), so the tag may still name the old digest, or none, for a moment.
   */
  private async currentDigest(ref: ImageRef, pushed?: string): Promise<string> {
    let last: { digest: string } | { err: unknown } = { err: null };
    for (let i = 0; i < (pushed ? PUSHED_TAG_TRIES : 1); i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 250));
      last = await this.d.registry.resolveDigest(ref).then(
        (digest) => ({ digest }),
        (err: unknown) => ({ err }),
      );
      if ('digest' in last && (!pushed || last.digest === pushed)) return last.digest;
    }
    if ('digest' in last) return last.digest;
    throw last.err;
  }

  /**
   * ps:rebuild of a git app: every deployment is built again from the commit its branch holds
   * now, through the push pipeline (a release of kind push, by the caller), as Dokku's does.
   */
  private async rebuild(app: string, by: string, out: Out): Promise<void> {
    const deps = Object.values(appView(this.d, app).deployments);
    if (deps.length === 0) {
      throw new GokuError('GOKU_ERR_NOT_DEPLOYED', `app ${app} has no deployment to rebuild; push it first`);
    }
    const updates: RefUpdate[] = [];
    for (const dep of deps) {
      const ref = `refs/heads/${dep.branch}`;
      const sha = await this.d.repos.refValue(app, ref);
      if (sha === ZERO_SHA) out(`-----> Skipping ${dep.name}: its branch ${dep.branch} is gone`);
      else updates.push({ oldSha: sha, newSha: sha, ref });
    }
    return this.handlePush({ app, keyName: by, updates, objectDir: null }, out);
  }

  /**
   * Restarts every deployment of the app from its current image through the same switch a
   * push uses: new container beside the old, check, nginx switch, then the old one retires.
   * A restart still waiting for the lock is replaced by a newer one: one restart does for both.
   */
  private restart(app: string, by: string, out: Out, service?: string): Promise<void> {
    return this.withTails(
      app,
      out,
      async (tails) => {
        const rec = appView(this.d, app);
        const deps = Object.values(rec.deployments);
        if (deps.length === 0) {
          throw new GokuError(
            'GOKU_ERR_NOT_DEPLOYED',
            `app ${app} has no deployment to restart; push it first`,
          );
        }
        if (service) assertService(app, rec.deployments[app], service);
        for (const dep of service ? [rec.deployments[app] as DeploymentView] : deps) {
          const what = service ? `${service} of ${dep.name}` : dep.name;
          await this.redeploy(
            app,
            dep,
            { kind: 'restart', by, config: rec.env, force: service ? [service] : 'all' },
            out,
            tails,
            {
              intro: `-----> Restarting ${what} (${dep.branch} ${dep.commit.slice(0, 7)})`,
              done: (v) => `=====> ${what} restarted as release v${v}`,
            },
          );
        }
      },
      { replaces: service ? `ps:restart ${service}` : 'ps:restart' },
    );
  }

  /**
   * Changes the app's env: every deployment restarts with it through the same switch, each as
   * a release of kind config. Without a restart (or without deployments) the new env is only
   * stored and recorded, and takes effect at the next deploy or restart.
   */
  private reconfigure(
    app: string,
    change: ConfigChange,
    restart: boolean,
    by: string,
    out: Out,
  ): Promise<void> {
    return this.withTails(app, out, async (tails) => {
      const rec = appView(this.d, app);
      // The env as it is now, under the lock: a change queued behind another builds on it.
      const env = applyConfigChange(rec.env, change);
      assertConfigSize(env);
      const deps = Object.values(rec.deployments);
      if (!restart || deps.length === 0) {
        const dep = deps.find((d) => d.name === app) ?? deps[0];
        const base = { deployment: dep?.name ?? app, branch: dep?.branch ?? '', commit: dep?.commit ?? '' };
        await withRelease(this.d, app, { kind: 'config', ...base, by, config: env }, out, async (rel) => {
          await this.d.store.update((s) => {
            const a = s.apps[app];
            if (a) a.env = { ...env };
          });
          rel.out(
            `=====> Config of ${app} saved as release v${rel.version}; it takes effect at the next deploy or restart`,
          );
        });
        return;
      }
      for (const dep of deps) {
        await this.redeploy(app, dep, { kind: 'config', by, config: env, env }, out, tails, {
          intro: `-----> Restarting ${dep.name} with the new config`,
          done: (v) => `=====> ${dep.name} runs the new config as release v${v}`,
        });
      }
    });
  }

  /**
   * Runs the default deployment with new instance counts per process type (web 0 stops the web:
   * nginx answers 503) through the same switch: new containers from the current image,
   * checked, then the old ones retired.
   */
  private scale(app: string, counts: Record<string, number>, by: string, out: Out): Promise<void> {
    // A scale still waiting for the lock is replaced by a newer one: the latest count is wanted.
    return this.withTails(
      app,
      out,
      async (tails) => {
        const rec = appView(this.d, app);
        const dep = rec.deployments[app];
        if (!dep)
          throw new GokuError(
            'GOKU_ERR_NOT_DEPLOYED',
            `app ${app} has no default deployment to scale; push it first`,
          );
        assertScalable(app, dep, counts);
        const said =
          Object.keys(counts).length === 1 && counts.web !== undefined
            ? `${counts.web} instance${counts.web === 1 ? '' : 's'}`
            : Object.entries(counts)
                .map(([t, n]) => `${t}=${n}`)
                .join(' ');
        await this.redeploy(app, dep, { kind: 'scale', by, config: rec.env, scale: counts }, out, tails, {
          done: (v) => `=====> ${app} runs ${said} as release v${v}`,
        });
      },
      { replaces: 'ps:scale' },
    );
  }

  /**
   * One deployment again from its current image, as a new release, through the switch:
   * restart, config change and scale differ only in what they change (env, count).
   */
  private async redeploy(
    app: string,
    dep: DeploymentView,
    change: Redeploy,
    out: Out,
    tails: (() => Promise<void>)[],
    text: { intro?: string; done: (version: number) => string },
  ): Promise<void> {
    const base = { deployment: dep.name, branch: dep.branch, commit: dep.commit };
    await withRelease(
      this.d,
      app,
      { kind: change.kind, ...base, by: change.by, config: change.config },
      out,
      async (rel) => {
        if (text.intro) rel.out(text.intro);
        const release = newRouteId(dep.commit);
        const again = dep.compose ? this.composeAgain : this.imageAgain;
        await again.call(this, app, dep, change, { rel, release, tails });
        rel.out(text.done(rel.version));
      },
    );
  }

  /** redeploy of a Dockerfile or image deployment: its image, Procfile and tasks again. */
  private async imageAgain(
    app: string,
    dep: DeploymentView,
    change: Redeploy,
    { rel, release, tails }: { rel: ReleaseHandle; release: string; tails: (() => Promise<void>)[] },
  ): Promise<void> {
    const running = runningSpec(dep);
    const { procfile, appFormation, scripts } = running;
    rel.set({
      image: dep.image,
      imageId: await this.d.runtime.imageId(dep.image),
      release,
      procfile,
      appFormation,
      ...(scripts ? { scripts } : {}),
    });
    // A config change is a new release: the release command runs again (predeploy's
    // changes are in the image already); a restart or a scale is not.
    const tasks = change.kind === 'config';
    const plan: TaskPlan = {
      app,
      deployment: dep.name,
      image: dep.image,
      env: change.env ?? change.config,
      port: dep.port,
      procfile,
      scripts: scripts ?? null,
    };
    if (tasks) await runBeforeSwitch(this.d, plan, rel.out, { predeploy: false });
    const { tail } = await this.d.scheduler.switchTo(
      this.d,
      {
        app,
        deployment: dep.name,
        ...running,
        release,
        ownsImage: false,
        ...(change.env ? { env: change.env } : {}),
        ...(change.scale ? { scale: change.scale } : {}),
      },
      rel.out,
    );
    // Live now: the old containers retire whatever the postdeploy task does.
    tails.push(tail);
    if (tasks) await runAfterSwitch(this.d, plan, rel.out, false);
  }

  /**
   * redeploy of a compose deployment: its recorded sources and images, the file parsed again
   * with the config in force; what changed (or is forced) is replaced.
   */
  private async composeAgain(
    app: string,
    dep: DeploymentView,
    change: Redeploy,
    { rel, release, tails }: { rel: ReleaseHandle; release: string; tails: (() => Promise<void>)[] },
  ): Promise<void> {
    const tail = await this.composeRelease(
      app,
      dep,
      composeOf(dep),
      { rel, release },
      {
        ...(change.env ? { env: change.env } : {}),
        ...(change.scale ? { scale: change.scale } : {}),
        ...(change.force ? { force: change.force } : {}),
      },
    );
    tails.push(tail);
  }

  /**
   * Goes back to release vN (default: the succeeded release of the default deployment before
   * the current one): its image with its config, through the same switch, as a new release.
   */
  private rollback(app: string, target: number | null, by: string, out: Out): Promise<void> {
    // A rollback still waiting is replaced by a newer one: two clicks must not go back twice.
    return this.withTails(
      app,
      out,
      async (tails) => {
        const { to, dep, pruned } = await this.rollbackTarget(app, target);
        const base = {
          kind: 'rollback' as const,
          deployment: to.deployment,
          branch: to.branch,
          commit: to.commit,
          by,
        };
        await withRelease(
          this.d,
          app,
          { ...base, config: to.config, rollbackOf: to.version },
          out,
          async (rel) => {
            tails.push(await this.switchBack(app, { to, dep, pruned }, rel));
          },
        );
      },
      { replaces: 'rollback' },
    );
  }

  /** The rollback's release: vN's image (pulled again if an image release was pruned) with vN's config. */
  private async switchBack(
    app: string,
    { to, dep, pruned }: { to: DeepReadonly<ReleaseRecord>; dep: DeploymentView; pruned: boolean },
    rel: ReleaseHandle,
  ): Promise<() => Promise<void>> {
    rel.out(`-----> Rolling ${to.deployment} back to v${to.version} (${to.branch} ${to.commit.slice(0, 7)})`);
    if (to.compose) return this.switchBackCompose(app, to, dep, rel);
    let image = to.image;
    let release = newRouteId(to.commit);
    if (pruned && to.digest && to.registry) {
      await pullPushedBack(this.d, { image, repo: to.registry, digest: to.digest }, rel.out);
    } else if (pruned && to.digest && to.source) {
      const ref = parseImageRef(to.source);
      const c = await pullCandidate(this.d, { app, ref, digest: to.digest }, rel.out);
      await c.committed;
      ({ image, release } = c);
    }
    // Releases recorded before Procfiles were read had none.
    const procfile = to.procfile ? thaw<Procfile>(to.procfile) : null;
    const appFormation = to.appFormation ? { ...to.appFormation } : null;
    const scripts = to.scripts ? { ...to.scripts } : undefined;
    // A rollback is a new release: vN's release command runs again, with vN's config.
    const plan: TaskPlan = {
      app,
      deployment: to.deployment,
      image,
      env: to.config,
      port: dep.port,
      procfile,
      scripts: scripts ?? null,
    };
    await runBeforeSwitch(this.d, plan, rel.out, { predeploy: false });
    rel.set({
      image,
      imageId: await this.d.runtime.imageId(image),
      release,
      procfile,
      appFormation,
      ...(scripts ? { scripts } : {}),
      ...(to.digest ? { digest: to.digest } : {}),
      ...(to.source ? { source: to.source } : {}),
      ...(to.registry ? { registry: to.registry } : {}),
    });
    const { tail } = await this.d.scheduler.switchTo(
      this.d,
      {
        app,
        deployment: to.deployment,
        ...runningSpec(dep),
        // vN's own: its commit, image, config and Procfile (releases before Procfiles had none).
        branch: to.branch,
        commit: to.commit,
        image,
        release,
        ownsImage: pruned,
        env: { ...to.config },
        procfile,
        appFormation,
        // None recorded: none, not the running deployment's (runningSpec above).
        scripts: scripts ?? {},
      },
      rel.out,
    );
    await runAfterSwitch(this.d, plan, rel.out, false);
    if (to.digest && to.source) await this.followRolledBack(app, to.source, to.digest, rel);
    rel.out(`=====> ${app} rolled back to v${to.version} as release v${rel.version}`);
    return tail;
  }

  /**
   * A compose release of recorded sources and images (a restart, config change, scale or
   * rollback): recorded in the release, then through the compose switch; returns its tail.
   */
  private async composeRelease(
    app: string,
    dep: Pick<DeploymentView, 'name' | 'branch' | 'commit' | 'cnameDomains'>,
    made: { sources: ComposeSources; images: Record<string, ServiceImage> },
    { rel, release }: { rel: ReleaseHandle; release: string },
    extra: Pick<ComposeSpec, 'env' | 'scale' | 'force'>,
  ): Promise<() => Promise<void>> {
    rel.set({ release, compose: made, ...webImage(made.images) });
    const { tail } = await this.d.scheduler.switchCompose(
      this.d,
      {
        app,
        deployment: dep.name,
        branch: dep.branch,
        commit: dep.commit,
        release,
        ...made,
        cname: [...dep.cnameDomains],
        ownsImages: false,
        ...extra,
      },
      rel.out,
    );
    return tail;
  }

  /** A compose rollback: vN's sources, service images and config, through the compose switch. */
  private async switchBackCompose(
    app: string,
    to: DeepReadonly<ReleaseRecord>,
    dep: DeploymentView,
    rel: ReleaseHandle,
  ): Promise<() => Promise<void>> {
    const sources = thaw<ComposeSources>(to.compose?.sources as DeepReadonly<ComposeSources>);
    const images = thaw<Record<string, ServiceImage>>(to.compose?.images ?? {});
    for (const img of Object.values(images)) {
      if (img.registry && img.digest && !(await this.d.runtime.imageExists(img.image)))
        await pullPushedBack(this.d, { image: img.image, repo: img.registry, digest: img.digest }, rel.out);
    }
    const at = { name: to.deployment, branch: to.branch, commit: to.commit, cnameDomains: dep.cnameDomains };
    const release = newRouteId(to.commit);
    const tail = await this.composeRelease(
      app,
      at,
      { sources, images },
      { rel, release },
      { env: { ...to.config } },
    );
    rel.out(`=====> ${app} rolled back to v${to.version} as release v${rel.version}`);
    return tail;
  }

  /**
   * An image app follows what it runs: a later deploy of the tag brings the newer digest back.
   * The watcher and webhooks would do so at once, undoing the rollback: it turns auto-deploy
   * off until the operator turns it on again.
   */
  private async followRolledBack(
    app: string,
    source: string,
    digest: string,
    rel: ReleaseHandle,
  ): Promise<void> {
    let wasOn = false;
    await this.d.store.update((s) => {
      const a = s.apps[app];
      if (!a?.image) return;
      const policy = policyFor(a.image.watch, parseImageRef(a.image.ref).tag);
      wasOn = policy.auto;
      a.image = { ...a.image, ref: source, digest, watch: { ...policy, auto: false } };
    });
    if (wasOn) {
      rel.out(
        `       Auto-deploy of registry updates is now off (goku watch:auto ${app} on to follow ${source} again)`,
      );
    }
  }

  /** The release a rollback goes to, checked: succeeded, its deployment still there, its image kept. */
  private async rollbackTarget(
    app: string,
    target: number | null,
  ): Promise<{ to: DeepReadonly<ReleaseRecord>; dep: DeploymentView; pruned: boolean }> {
    const rec = appView(this.d, app);
    const to =
      target === null ? previousRelease(rec) : (rec.releases ?? []).find((r) => r.version === target);
    const missing = (msg: string) => new GokuError('GOKU_ERR_RELEASE_NOT_FOUND', msg);
    if (!to) {
      throw missing(
        target === null
          ? `app ${app} has no earlier release to roll back to; see goku releases ${app}`
          : `app ${app} has no release v${target}; see goku releases ${app}`,
      );
    }
    if (to.status !== 'succeeded') {
      throw missing(
        `release v${to.version} of ${app} ${to.status === 'failed' ? 'failed' : 'never finished'}; roll back to a succeeded release`,
      );
    }
    const dep = rec.deployments[to.deployment];
    if (!dep) {
      throw missing(
        `deployment ${to.deployment} of release v${to.version} no longer exists; push its branch again`,
      );
    }
    if (to.compose) {
      for (const [service, img] of Object.entries(to.compose.images)) {
        if (!(await this.d.runtime.imageExists(img.image)) && !(img.registry && img.digest)) {
          throw new GokuError(
            'GOKU_ERR_IMAGE_PRUNED',
            `the image of ${service} in release v${to.version} (${img.image}) is gone${img.built ? ' (GOKU_KEEP_RELEASES)' : ''}; push that commit again instead`,
          );
        }
      }
      return { to, dep, pruned: false };
    }
    // An image release's digest can be pulled again, and so can a build pushed to
    // GOKU_REGISTRY; any other build's image is gone with its prune.
    const pruned = !(await this.d.runtime.imageExists(to.image));
    if (pruned && !(to.digest && (to.source || to.registry))) {
      throw new GokuError(
        'GOKU_ERR_IMAGE_PRUNED',
        `the image of release v${to.version} was pruned (GOKU_KEEP_RELEASES); push that commit again instead`,
      );
    }
    return { to, dep, pruned };
  }

  /**
   * Runs `work` under the app's lock and resolves as soon as it is done (the caller's part);
   * the tails it collects (retiring old containers) run afterwards, still under the lock, so
   * the next change of the app waits for them while the caller does not.
   */
  private withTails(
    app: string,
    out: Out,
    work: (tails: (() => Promise<void>)[]) => Promise<void>,
    lock: { replaces?: string } = {},
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.d.locks
        .run(
          app,
          async () => {
            const tails: (() => Promise<void>)[] = [];
            try {
              await work(tails);
              resolve();
            } catch (err) {
              // What did go live before the failure still has its tail to run.
              reject(err);
            }
            for (const t of tails) {
              await t().catch((err) =>
                this.d.log.error({ app, err: oneLine(err) }, 'retiring old containers failed'),
              );
            }
          },
          () => out(`-----> Another deploy of ${app} is in progress; waiting for it to finish`),
          lock,
        )
        .catch(reject);
    });
  }

  private async pushUnderLock(req: PushRequest, out: Out, tails: (() => Promise<void>)[]): Promise<void> {
    const { app } = req;
    const pending: PendingPush[] = [];
    // Runs after the hook's verdict, still under the app's lock: the next push of the app
    // sees the ref git landed, and a release whose ref did not land is undone.
    tails.push(() => this.land(req, pending));
    for (const u of req.updates) {
      const branch = branchFromRef(u.ref);
      if (!branch) {
        out(`-----> Skipping ${u.ref}: only branches deploy`);
        continue;
      }
      const record = appView(this.d, app);
      const defaultBranch = defaultBranchOf(record.defaultBranch, branch);
      const deployment = deploymentName(app, branch, defaultBranch);
      // Different branches can share a slug (FEATURE/UP and feature-up): the first keeps it.
      const holder = record.deployments[deployment]?.branch;
      if (u.newSha === ZERO_SHA) {
        if (holder === branch) await this.d.scheduler.removeDeployment(this.d, app, deployment, out);
        else out(`-----> Branch ${branch} had no deployment to remove`);
        continue;
      }
      if (holder !== undefined && holder !== branch) {
        throw new GokuError(
          'GOKU_ERR_NAME_TAKEN',
          `branch ${JSON.stringify(branch)} would deploy as ${deployment}, which branch ${JSON.stringify(holder)} already uses; push it under another branch name`,
        );
      }
      // Another push may have moved the branch while this one waited for the lock: deploying
      // now would serve a commit git is about to refuse.
      const now = await this.d.repos.refValue(app, u.ref);
      if (now !== u.oldSha) {
        throw new GokuError(
          'GOKU_ERR_PUSH_REJECTED',
          `${branch} moved to ${now.slice(0, 7)} while this push waited; fetch, merge and push again`,
        );
      }
      const done = await withRelease(
        this.d,
        app,
        { kind: 'push', deployment, branch, commit: u.newSha, by: req.keyName, config: record.env },
        out,
        (rel) => this.deployCommit({ app, branch, deployment, defaultBranch, commit: u.newSha, req }, rel),
      );
      if (done) pending.push({ ref: u.ref, newSha: u.newSha, ...done });
    }
  }

  /**
   * Waits for git to land the pushed refs, then retires the old containers of every release
   * whose ref landed and undoes every one whose ref did not (the pusher went away, or git
   * refused the update): what runs is always what the repository holds.
   */
  private async land(req: PushRequest, pending: PendingPush[]): Promise<void> {
    if (pending.length === 0) return;
    if (req.landed) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([req.landed, new Promise((r) => (timer = setTimeout(r, LANDING_TIMEOUT_MS)))]);
      clearTimeout(timer);
    }
    for (const p of pending) {
      const at = await this.d.repos.refValue(req.app, p.ref).catch(() => 'unknown');
      if (at === p.newSha) {
        await p.tail();
        continue;
      }
      const reason = `the push did not land: git left ${p.ref} at ${at.slice(0, 7)}, not ${p.newSha.slice(0, 7)}; the previous release is back`;
      this.d.log.warn({ app: req.app, version: p.version, ref: p.ref }, reason);
      await p.revert();
      await failRelease(this.d, req.app, p.version, reason);
    }
  }

  /** A pushed commit: the git source builds it, the switch runs it. Null: nothing to run. */
  private async deployCommit(
    p: PushedCommit,
    rel: ReleaseHandle,
  ): Promise<Omit<PendingPush, 'ref' | 'newSha'> | null> {
    const { app, branch, deployment, commit } = p;
    const { out } = rel;
    const started = Date.now();
    assertDeploymentNameFree(this.d, app, deployment);
    out(`-----> Building ${app} (${branch} ${commit.slice(0, 7)})`);
    const { timings, lap } = stopwatch();
    const c = await buildFromCommit(
      this.d,
      { app, deployment, branch, commit, objectDir: p.req.objectDir },
      out,
      lap,
    );
    if (!c) {
      out(`-----> No Dockerfile in ${branch} ${commit.slice(0, 7)}: nothing to run`);
      await this.rememberDefaultBranch(app, p.defaultBranch, branch);
      rel.discard(); // nothing changed: not a release
      return null;
    }
    if (c.kind === 'compose') return this.switchCompose(p, c, rel, { started, timings, lap });
    rel.set({
      imageId: c.imageId,
      ...(c.pushed ? { digest: c.pushed.digest, registry: c.pushed.repo } : {}),
    });
    const { plan, first } = this.newImage(app, deployment, c, rel);
    const committed = await this.beforeSwitch(plan, c, rel);
    // predeploy's changes are a new image: the registry gets it too, and the release its digest
    // (a rollback that pulls the release back must get what ran).
    if (committed && c.pushed) {
      const again = await pushToRegistry(this.d, { image: c.image, deployment, release: c.release }, out);
      if (again) rel.set({ digest: again.digest });
    }
    const { tail, revert, port } = await this.d.scheduler.switchTo(
      this.d,
      {
        app,
        deployment,
        branch,
        commit,
        image: c.image,
        port: c.port,
        cname: c.cname,
        release: c.release,
        ownsImage: true,
        health: c.health,
        procfile: c.procfile,
        appFormation: c.appFormation,
        scripts: c.scripts,
        liveness: c.liveness,
        ...(p.req.abandoned ? { abandoned: p.req.abandoned } : {}),
      },
      out,
      lap,
    );
    await runAfterSwitch(this.d, plan, out, first);
    this.d.log.info({ app, deployment, release: c.release, version: rel.version, ms: timings }, 'deployed');
    await this.rememberDefaultBranch(app, p.defaultBranch, branch);
    this.announce(app, deployment, { domains: c.domains, port }, started, rel);
    return { tail, revert, version: rel.version };
  }

  /** A pushed compose app: its sources and images into the release, then the compose switch. */
  private async switchCompose(
    p: PushedCommit,
    c: GitComposeCandidate,
    rel: ReleaseHandle,
    clock: { started: number; timings: Record<string, number>; lap: (stage: string) => void },
  ): Promise<Omit<PendingPush, 'ref' | 'newSha'>> {
    const { app, deployment, branch } = p;
    const { sources, images, release, cname } = c;
    rel.set({ release, compose: { sources, images }, ...webImage(images) });
    const { tail, revert, port } = await this.d.scheduler.switchCompose(
      this.d,
      {
        app,
        deployment,
        branch,
        commit: p.commit,
        release,
        sources,
        images,
        cname,
        ownsImages: true,
        ...(p.req.abandoned ? { abandoned: p.req.abandoned } : {}),
      },
      rel.out,
    );
    clock.lap('switch');
    this.d.log.info({ app, deployment, release, version: rel.version, ms: clock.timings }, 'deployed');
    await this.rememberDefaultBranch(app, p.defaultBranch, branch);
    const domains = domainsFor(this.d, appView(this.d, app), deployment, branch, cname);
    this.announce(app, deployment, { domains, port }, clock.started, rel);
    return { tail, revert, version: rel.version };
  }

  /**
   * A new image (push, image deploy): what it runs goes into its release, and its tasks are
   * planned with the env and port it will run with; `first`: the app has never deployed.
   */
  private newImage(
    app: string,
    deployment: string,
    c: {
      image: string;
      release: string;
      port: number | null;
      procfile: Procfile | null;
      appFormation: Record<string, number> | null;
      scripts: AppScripts;
    },
    rel: ReleaseHandle,
  ): { plan: TaskPlan; first: boolean } {
    const { image, release, procfile, appFormation, scripts } = c;
    rel.set({ image, release, procfile, appFormation, scripts });
    const rec = appView(this.d, app);
    let port: number | null = c.port;
    try {
      port = webPort(rec.env, c.port);
    } catch {
      // A bad config PORT fails in the switch, with its own message.
    }
    return {
      plan: { app, deployment, image, env: rec.env, port, procfile, scripts },
      first: !hasSucceeded(rec),
    };
  }

  /**
   * predeploy (committed into the new image) and the release command, before anything starts.
   * A failure removes the new image: the running release stays as it was.
   */
  private async beforeSwitch(
    plan: TaskPlan,
    c: { image: string },
    rel: ReleaseHandle,
  ): Promise<string | null> {
    try {
      const id = await runBeforeSwitch(this.d, plan, rel.out, { predeploy: true });
      if (id) rel.set({ imageId: id });
      return id;
    } catch (err) {
      await this.d.runtime
        .removeImageTag(c.image)
        .catch((e) => this.d.log.warn({ image: c.image, err: oneLine(e) }, 'could not remove the image'));
      throw err;
    }
  }

  /** The push's last lines: where the deployment answers, how long it took, its release. */
  private announce(
    app: string,
    deployment: string,
    c: { domains: string[]; port: number | null },
    started: number,
    rel: ReleaseHandle,
  ): void {
    // Without an HTTP port nginx does not route the deployment: a URL would only answer 404.
    const url = c.domains[0] && c.port ? urlOf(this.d, c.domains[0]) : null;
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    rel.out(
      url
        ? `=====> ${app} deployed: ${url} (${secs}s)`
        : `=====> ${app} deployed as ${deployment} (${secs}s; no HTTP port, so no URL)`,
    );
    rel.out(`=====> Release v${rel.version}`);
  }

  private async rememberDefaultBranch(app: string, defaultBranch: string, branch: string): Promise<void> {
    const rec = this.d.store.read().apps[app];
    if (rec?.defaultBranch || branch !== defaultBranch || defaultBranchOf(null, branch) !== branch) return;
    await this.d.store.update((s) => {
      const a = s.apps[app];
      if (a && !a.defaultBranch) a.defaultBranch = branch;
    });
    await this.d.repos
      .setHead(app, branch)
      .catch((err) =>
        this.d.log.warn({ app, err: oneLine(err) }, 'could not point HEAD at the default branch'),
      );
  }

  /** apps:rename: under both names' locks, outside the deploy queue's replacing rules. */
  rename(from: string, to: string, by: string, out: Out): Promise<void> {
    return renameApp(this.d, from, to, by, out);
  }

  destroy(app: string, out: Out): Promise<void> {
    return destroyApp(this.d, app, out);
  }

  assertDomainsFree(app: string, deployment: string, domains: string[]): void {
    assertDomainsFree(this.d, app, deployment, domains);
  }
}

/** A compose release's image and id fields: its web service's (any service's when none is web). */
function webImage(images: Readonly<Record<string, ServiceImage>>): { image: string; imageId: string } {
  const i = images.web ?? Object.values(images)[0];
  return { image: i?.image ?? '', imageId: i?.imageId ?? '' };
}

/** Stage times for the `deployed` log line: lap(name) records the time since the last lap. */
function stopwatch(): { timings: Record<string, number>; lap: (stage: string) => void } {
  const timings: Record<string, number> = {};
  let mark = Date.now();
  return {
    timings,
    lap: (stage) => {
      timings[stage] = Date.now() - mark;
      mark = Date.now();
    },
  };
}

/**
 * ps:scale asks for types the running Procfile has, and not while app.json's formation sets
 * the counts (Dokku turns ps:scale off then).
 */
function assertScalable(app: string, dep: DeploymentView, counts: Record<string, number>): void {
  if (dep.compose) {
    for (const t of Object.keys(counts)) assertService(app, dep, t);
    return;
  }
  if (dep.appFormation) {
    throw new GokuError(
      'GOKU_ERR_USAGE',
      `the formation of ${app} is set by the formation key of its app.json; change the quantities there and push (Dokku turns ps:scale off then)`,
    );
  }
  const types = processTypes(dep.procfile ?? null);
  for (const t of Object.keys(counts)) {
    if (!types.includes(t)) {
      throw new GokuError(
        'GOKU_ERR_PROCFILE',
        `${app} has no process type ${t}; ${dep.procfile ? 'its Procfile defines' : 'without a Procfile it runs only'} ${types.join(', ') || 'none'}`,
      );
    }
  }
}

/** A compose app's service by name (ps:scale, ps:restart SERVICE). */
function assertService(app: string, dep: DeploymentView | undefined, service: string): void {
  const names = Object.keys(dep?.compose?.services ?? {});
  if (!dep?.compose) {
    throw new GokuError(
      'GOKU_ERR_USAGE',
      `${app} is not a compose app: it has no services to restart one by one; run goku ps:restart ${app}`,
    );
  }
  if (!names.includes(service))
    throw new GokuError(
      'GOKU_ERR_USAGE',
      `${app} has no service ${service}; its services: ${names.join(', ')}`,
    );
}

/** A compose deployment's sources and the image each service runs, as its release records them. */
function composeOf(dep: DeploymentView): { sources: ComposeSources; images: Record<string, ServiceImage> } {
  const c = dep.compose as NonNullable<DeploymentView['compose']>;
  return {
    sources: thaw<ComposeSources>(c.sources),
    images: Object.fromEntries(
      Object.entries(c.services).map(([n, s]) => [n, { image: s.image, imageId: s.imageId, built: s.built }]),
    ),
  };
}

/** Whether the app has deployed before (Heroku's scripts.postdeploy runs only after its first deploy). */
function hasSucceeded(rec: AppView): boolean {
  // A config saved before the first deploy is a release that ran nothing (no image).
  return (rec.releases ?? []).some((r) => r.status === 'succeeded' && r.image !== '');
}
