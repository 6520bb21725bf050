import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { appJsonChecks, type HealthPlan } from '../core/checks.js';
import { assertConfigSize } from '../core/config.js';
import { dockerfileFacts, insertAfterFinalFrom, portFromImageConfig } from '../core/dockerfile.js';
import { assertOwnDomain, branchFromRef, deploymentName, parseCnameFile, ZERO_SHA } from '../core/names.js';
import { deploymentDomains, makeRoute } from '../core/routes.js';
import { packContext } from '../docker/context.js';
import type { DockerEngine } from '../docker/engine.js';
import { GokuError, oneLine } from '../errors.js';
import type { Repos } from '../git/repos.js';
import { GitTree } from '../git/tree.js';
import type { Settings } from '../settings.js';
import type { AppRecord, DeploymentRecord, ReleaseKind, ReleaseRecord, Store } from '../store/types.js';
import { awaitHealthy } from './health.js';
import type { AppLocks } from './locks.js';
import type { RouteTable } from './routing.js';

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

/** A pushed release that is live but waits for git to land its ref. */
interface PendingPush {
  ref: string;
  newSha: string;
  version: number;
  tail: () => Promise<void>;
  revert: () => Promise<void>;
}

/** How long git gets after the hook's verdict to update the refs and exit. */
const LANDING_TIMEOUT_MS = 120_000;

export type Out = (line: string) => void;

export interface DeployerDeps {
  settings: Settings;
  store: Store;
  docker: DockerEngine;
  repos: Repos;
  routes: RouteTable;
  locks: AppLocks;
  log: Logger;
  /** Label value that marks this server's Docker objects (its GOKU_HOME). */
  homeLabel: string;
}

const RELEASE_LOG_BYTES = 64 * 1024;
const MAX_RELEASES = 200;
/** Dockerfile, CNAME, app.json and .dockerignore are read whole; none is anywhere near this. */
const MAX_READ_BYTES = 1024 * 1024;

export interface ReleaseHandle {
  version: number;
  /** Output that also goes into the release's log. */
  out: Out;
  set(fields: Partial<Pick<ReleaseRecord, 'image' | 'imageId' | 'digest' | 'release'>>): void;
  /** Nothing changed after all (no Dockerfile): drop the record. */
  discard(): void;
}

/**
 * The default deployment's succeeded release before its current one, skipping releases that
 * ran the same image with the same config (a restart): rolling back always changes something.
 */
function previousRelease(app: AppRecord): ReleaseRecord | undefined {
  const current = app.deployments[app.name];
  if (!current) return undefined;
  const ok = (app.releases ?? []).filter((r) => r.deployment === app.name && r.status === 'succeeded');
  const idx = ok.findIndex((r) => r.release === current.release);
  const cur = ok[idx];
  if (!cur) return undefined;
  const same = (r: ReleaseRecord) =>
    r.image === cur.image && JSON.stringify(r.config) === JSON.stringify(cur.config);
  return ok
    .slice(0, idx)
    .reverse()
    .find((r) => !same(r));
}

/** A release id: the commit, then a time-ordered unique suffix (also the image tag). */
function newRelease(commit: string): string {
  return `${commit.slice(0, 7)}-${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
}

/**
 * The push pipeline: receive → build → start → check → route → retire, under the app's lock.
 * Any failure before the switch leaves the running deployment exactly as it was.
 */
export class Deployer {
  constructor(private readonly d: DeployerDeps) {}

  /**
   * Resolves as soon as every pushed branch is live (the pusher's part); retiring the old
   * containers continues afterwards, still under the app's lock, so the next deploy of the
   * app waits for it while the pusher does not.
   */
  handlePush(req: PushRequest, out: Out): Promise<void> {
    return this.withTails(req.app, out, (tails) => this.pushUnderLock(req, out, tails));
  }

  /**
   * Restarts every deployment of the app from its current image through the same switch a
   * push uses: new container beside the old, check, nginx switch, then the old one retires.
   */
  restart(app: string, by: string, out: Out): Promise<void> {
    return this.withTails(app, out, async (tails) => {
      const rec = this.ensureAppView(app);
      const deps = Object.values(rec.deployments);
      if (deps.length === 0) {
        throw new GokuError(
          'GOKU_ERR_NOT_DEPLOYED',
          `app ${app} has no deployment to restart; push it first`,
        );
      }
      for (const dep of deps) {
        await this.redeploy(app, dep, { kind: 'restart', by, config: rec.env }, out, tails, {
          intro: `-----> Restarting ${dep.name} (${dep.branch} ${dep.commit.slice(0, 7)})`,
          done: (v) => `=====> ${dep.name} restarted as release v${v}`,
        });
      }
    });
  }

  /**
   * Changes the app's env: every deployment restarts with it through the same switch, each as
   * a release of kind config. Without a restart (or without deployments) the new env is only
   * stored and recorded, and takes effect at the next deploy or restart.
   */
  reconfigure(
    app: string,
    env: Record<string, string>,
    restart: boolean,
    by: string,
    out: Out,
  ): Promise<void> {
    return this.withTails(app, out, async (tails) => {
      const rec = this.ensureAppView(app);
      const deps = Object.values(rec.deployments);
      if (!restart || deps.length === 0) {
        const dep = deps.find((d) => d.name === app) ?? deps[0];
        const base = { deployment: dep?.name ?? app, branch: dep?.branch ?? '', commit: dep?.commit ?? '' };
        await this.withRelease(app, { kind: 'config', ...base, by, config: env }, out, async (rel) => {
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
   * Runs N instances of the default deployment (0 stops it: nginx answers 503) through the
   * same switch: N new containers from the current image, checked, then the old ones retired.
   */
  scale(app: string, count: number, by: string, out: Out): Promise<void> {
    return this.withTails(app, out, async (tails) => {
      const rec = this.ensureAppView(app);
      const dep = rec.deployments[app];
      if (!dep)
        throw new GokuError(
          'GOKU_ERR_NOT_DEPLOYED',
          `app ${app} has no default deployment to scale; push it first`,
        );
      await this.redeploy(app, dep, { kind: 'scale', by, config: rec.env, count }, out, tails, {
        done: (v) => `=====> ${app} runs ${count} instance${count === 1 ? '' : 's'} as release v${v}`,
      });
    });
  }

  /**
   * One deployment again from its current image, as a new release, through the switch:
   * restart, config change and scale differ only in what they change (env, count).
   */
  private async redeploy(
    app: string,
    dep: DeploymentRecord,
    change: {
      kind: ReleaseKind;
      by: string;
      config: Record<string, string>;
      env?: Record<string, string>;
      count?: number;
    },
    out: Out,
    tails: (() => Promise<void>)[],
    text: { intro?: string; done: (version: number) => string },
  ): Promise<void> {
    const base = { deployment: dep.name, branch: dep.branch, commit: dep.commit };
    await this.withRelease(
      app,
      { kind: change.kind, ...base, by: change.by, config: change.config },
      out,
      async (rel) => {
        if (text.intro) rel.out(text.intro);
        const release = newRelease(dep.commit);
        rel.set({ image: dep.image, imageId: await this.d.docker.imageId(dep.image), release });
        const { tail } = await this.rollout(
          {
            app,
            ...base,
            image: dep.image,
            port: dep.port,
            cname: dep.cnameDomains,
            release,
            ownsImage: false,
            health: dep.health ?? { kind: 'default' },
            ...(change.env ? { env: change.env } : {}),
            ...(change.count !== undefined ? { count: change.count } : {}),
          },
          rel.out,
        );
        tails.push(tail);
        rel.out(text.done(rel.version));
      },
    );
  }

  /**
   * Goes back to release vN (default: the succeeded release of the default deployment before
   * the current one): its image with its config, through the same switch, as a new release.
   */
  rollback(app: string, target: number | null, by: string, out: Out): Promise<void> {
    return this.withTails(app, out, async (tails) => {
      const rec = this.ensureAppView(app);
      const releases = rec.releases ?? [];
      const to = target === null ? previousRelease(rec) : releases.find((r) => r.version === target);
      if (!to) {
        throw new GokuError(
          'GOKU_ERR_RELEASE_NOT_FOUND',
          target === null
            ? `app ${app} has no earlier release to roll back to; see goku releases ${app}`
            : `app ${app} has no release v${target}; see goku releases ${app}`,
        );
      }
      if (to.status !== 'succeeded') {
        throw new GokuError(
          'GOKU_ERR_RELEASE_NOT_FOUND',
          `release v${to.version} of ${app} ${to.status === 'failed' ? 'failed' : 'never finished'}; roll back to a succeeded release`,
        );
      }
      const dep = rec.deployments[to.deployment];
      if (!dep) {
        throw new GokuError(
          'GOKU_ERR_RELEASE_NOT_FOUND',
          `deployment ${to.deployment} of release v${to.version} no longer exists; push its branch again`,
        );
      }
      if (!(await this.d.docker.imageExists(to.image))) {
        throw new GokuError(
          'GOKU_ERR_IMAGE_PRUNED',
          `the image of release v${to.version} was pruned (GOKU_KEEP_RELEASES); push that commit again instead`,
        );
      }
      const base = {
        kind: 'rollback' as const,
        deployment: to.deployment,
        branch: to.branch,
        commit: to.commit,
        by,
      };
      await this.withRelease(
        app,
        { ...base, config: to.config, rollbackOf: to.version },
        out,
        async (rel) => {
          rel.out(
            `-----> Rolling ${to.deployment} back to v${to.version} (${to.branch} ${to.commit.slice(0, 7)})`,
          );
          const release = newRelease(to.commit);
          rel.set({ image: to.image, imageId: to.imageId, release });
          const { tail } = await this.rollout(
            {
              app,
              deployment: to.deployment,
              branch: to.branch,
              commit: to.commit,
              image: to.image,
              port: dep.port,
              cname: dep.cnameDomains,
              release,
              ownsImage: false,
              env: to.config,
              health: dep.health ?? { kind: 'default' },
            },
            rel.out,
          );
          tails.push(tail);
          rel.out(`=====> ${app} rolled back to v${to.version} as release v${rel.version}`);
        },
      );
    });
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
      const record = this.ensureAppView(app);
      const defaultBranch =
        record.defaultBranch ?? (branch === 'master' || branch === 'main' ? branch : 'master');
      const deployment = deploymentName(app, branch, defaultBranch);
      // Different branches can share a slug (FEATURE/UP and feature-up): the first keeps it.
      const holder = record.deployments[deployment]?.branch;
      if (u.newSha === ZERO_SHA) {
        if (holder === branch) await this.removeDeployment(app, deployment, out);
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
      const done = await this.withRelease(
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
      await this.d.store.update((s) => {
        const r = s.apps[req.app]?.releases?.find((x) => x.version === p.version);
        if (r) Object.assign(r, { status: 'failed', reason, config: {} });
      });
    }
  }

  /**
   * Records one change as release vN of the app: created as running, finished as succeeded or
   * failed (with the reason), keeping the output it produced. A failed attempt changes nothing
   * but its own record.
   */
  private async withRelease<T>(
    app: string,
    base: Pick<ReleaseRecord, 'kind' | 'deployment' | 'branch' | 'commit' | 'by' | 'config'> & {
      rollbackOf?: number;
    },
    out: Out,
    fn: (rel: ReleaseHandle) => Promise<T>,
  ): Promise<T> {
    const log: string[] = [];
    let size = 0;
    const relOut: Out = (line) => {
      log.push(line);
      size += line.length + 1;
      while (size > RELEASE_LOG_BYTES && log.length > 1) size -= (log.shift() as string).length + 1;
      out(line);
    };
    const fields: Partial<ReleaseRecord> = {};
    let discarded = false;
    const version = await this.d.store.update((s) => {
      const a = s.apps[app];
      if (!a) throw new GokuError('GOKU_ERR_APP_NOT_FOUND', `app ${app} does not exist`);
      const releases = a.releases ?? [];
      const v = (releases[releases.length - 1]?.version ?? 0) + 1;
      releases.push({
        version: v,
        ...base,
        image: '',
        imageId: '',
        digest: null,
        startedAt: new Date().toISOString(),
        finishedAt: null,
        status: 'running',
        reason: null,
        log: '',
        release: '',
      });
      a.releases = releases.slice(-MAX_RELEASES);
      return v;
    });
    const finish = (status: 'succeeded' | 'failed', reason: string | null) =>
      this.d.store.update((s) => {
        const a = s.apps[app];
        if (!a?.releases) return;
        if (discarded) {
          a.releases = a.releases.filter((r) => r.version !== version);
          return;
        }
        const r = a.releases.find((x) => x.version === version);
        if (r)
          Object.assign(r, fields, {
            status,
            reason,
            finishedAt: new Date().toISOString(),
            log: log.join('\n'),
            // Nothing rolls back to a failed release: it keeps no config (which may be what failed).
            ...(status === 'failed' ? { config: {} } : {}),
          });
      });
    try {
      const result = await fn({
        version,
        out: relOut,
        set: (f) => Object.assign(fields, f),
        discard: () => {
          discarded = true;
        },
      });
      await finish('succeeded', null);
      return result;
    } catch (err) {
      await finish('failed', oneLine(err)).catch(() => undefined);
      throw err;
    }
  }

  private ensureAppView(app: string): AppRecord {
    const rec = this.d.store.read().apps[app];
    if (!rec) throw new GokuError('GOKU_ERR_APP_NOT_FOUND', `app ${app} does not exist`);
    return rec;
  }

  private labels(app: string, deployment: string): Record<string, string> {
    return { 'goku.app': app, 'goku.deployment': deployment, 'goku.home': this.d.homeLabel };
  }

  private async deployCommit(
    p: {
      app: string;
      branch: string;
      deployment: string;
      defaultBranch: string;
      commit: string;
      req: PushRequest;
    },
    rel: ReleaseHandle,
  ): Promise<Omit<PendingPush, 'ref' | 'newSha'> | null> {
    const { app, branch, deployment, commit } = p;
    const { out } = rel;
    const { settings, docker } = this.d;
    const started = Date.now();
    this.assertDeploymentNameFree(app, deployment);
    out(`-----> Building ${app} (${branch} ${commit.slice(0, 7)})`);

    const timings: Record<string, number> = {};
    let mark = Date.now();
    const lap = (name: string) => {
      const t = Date.now();
      timings[name] = t - mark;
      mark = t;
    };
    const tree = await GitTree.open({
      gitdir: this.d.repos.path(app),
      objectDir: p.req.objectDir,
      commit,
      limits: { maxFiles: settings.GOKU_MAX_TREE_FILES, maxBytes: settings.GOKU_MAX_TREE_BYTES },
    });
    lap('checkout');
    const dockerfile = await tree.readText('Dockerfile', MAX_READ_BYTES);
    if (dockerfile === null) {
      out(`-----> No Dockerfile in ${branch} ${commit.slice(0, 7)}: nothing to run`);
      await this.rememberDefaultBranch(app, p.defaultBranch, branch);
      rel.discard(); // nothing changed: not a release
      return null;
    }
    // CNAME domains belong to the default deployment; other branches carry the same file.
    const cnameText = await tree.readText('CNAME', MAX_READ_BYTES);
    let cname: string[] = [];
    if (deployment === app) {
      cname = parseCnameFile(cnameText ?? '');
      for (const d of cname) assertOwnDomain(d, settings.GOKU_DOMAIN, app);
    } else if (cnameText?.trim()) {
      out(`-----> Skipping the CNAME file: its domains belong to ${app} (the default branch)`);
    }
    const domains = this.domainsFor(this.ensureAppView(app), deployment, branch, cname);
    this.assertDomainsFree(app, deployment, domains);

    const facts = dockerfileFacts(dockerfile);
    const appJson = await tree.readText('app.json', MAX_READ_BYTES);
    const checks = appJson === null ? null : appJsonChecks(appJson);
    const health: HealthPlan = checks
      ? { kind: 'checks', checks }
      : facts.healthcheck
        ? { kind: 'docker' }
        : { kind: 'default' };
    const release = newRelease(commit);
    const tag = `goku/${deployment}:${release}`;
    // goku's labels as one LABEL line after the final FROM: a cached layer on every rebuild.
    const labelLine = `LABEL ${Object.entries(this.labels(app, deployment))
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(' ')}`;
    const context = packContext(tree, {
      dockerignore: await tree.readText('.dockerignore', MAX_READ_BYTES),
      rewriteDockerfile: (text) => insertAfterFinalFrom(text, labelLine),
    });
    const imageId = await docker.buildImage(context, { tag }, (l) => out(`       ${l}`));
    rel.set({ image: tag, imageId, release });
    lap('build');
    const port = facts.port ?? portFromImageConfig(await docker.imageExposedPorts(imageId));
    const { tail, revert } = await this.rollout(
      {
        app,
        deployment,
        branch,
        commit,
        image: tag,
        port,
        cname,
        release,
        ownsImage: true,
        health,
        ...(p.req.abandoned ? { abandoned: p.req.abandoned } : {}),
      },
      out,
      lap,
    );
    this.d.log.info({ app, deployment, release, version: rel.version, ms: timings }, 'deployed');
    await this.rememberDefaultBranch(app, p.defaultBranch, branch);
    // Without an HTTP port nginx does not route the deployment: a URL would only answer 404.
    const url = domains[0] && port ? this.url(domains[0]) : null;
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    out(
      url
        ? `=====> ${app} deployed: ${url} (${secs}s)`
        : `=====> ${app} deployed as ${deployment} (${secs}s; no HTTP port, so no URL)`,
    );
    out(`=====> Release v${rel.version}`);
    return { tail, revert, version: rel.version };
  }

  /**
   * The switch every change of a deployment goes through: start the new container beside the
   * old one, wait until it answers, point nginx at it and confirm through nginx, record it.
   * Any failure puts the old route back and removes what this attempt made. The returned tail
   * retires the old container.
   */
  private async rollout(
    spec: {
      app: string;
      deployment: string;
      branch: string;
      commit: string;
      /** Image tag to run. */
      image: string;
      port: number | null;
      cname: string[];
      release: string;
      /** The image was built for this attempt: remove it if the attempt fails. */
      ownsImage: boolean;
      /** Env to run with (a rollback's config); default: the app's current config. */
      env?: Record<string, string>;
      /** How the new container proves it is ready (default check, HEALTHCHECK, app.json). */
      health: HealthPlan;
      /** Instances to run (ps:scale), recorded as the app's scale when the switch succeeds. */
      count?: number;
      /** Checked just before the switch: the change can no longer be kept (the pusher left). */
      abandoned?: () => boolean;
    },
    out: Out,
    lap: (stage: string) => void = () => undefined,
  ): Promise<{ tail: () => Promise<void>; revert: () => Promise<void> }> {
    const { app, deployment, branch, commit, image, port, cname, release } = spec;
    const { docker, store, routes } = this.d;
    const appRec = this.ensureAppView(app);
    const domains = this.domainsFor(appRec, deployment, branch, cname);
    // The default deployment runs `ps:scale` instances; branch deployments one.
    const count = spec.count ?? (deployment === app ? (appRec.scale ?? 1) : 1);
    // The stored count may have been written by hand (APP/CONTAINERS in Consul).
    if (count > this.d.settings.GOKU_MAX_SCALE) {
      throw new GokuError(
        'GOKU_ERR_USAGE',
        `${app} is set to ${count} instances, above GOKU_MAX_SCALE (${this.d.settings.GOKU_MAX_SCALE}); run ps:scale ${app} N with a smaller N`,
      );
    }
    // The stored env may have been written by hand (Consul), past what Docker takes.
    assertConfigSize(spec.env ?? appRec.env);
    await this.assertNamesOurs(deployment, count);
    const started: string[] = [];
    let switched = false;
    const previous = routes.get(deployment);
    const previousRecord = appRec.deployments[deployment];
    try {
      out(
        `-----> Starting ${deployment}${count === 1 ? '' : ` (${count} instances)`}${port ? ` (port ${port})` : ' (no EXPOSE: not routed)'}`,
      );
      const health = {
        docker,
        timeout: this.d.settings.GOKU_DEPLOY_TIMEOUT,
        uptime: this.d.settings.GOKU_CHECK_UPTIME,
      };
      const ips = await Promise.all(
        Array.from({ length: count }, async (_, i) => {
          const id = await docker.runContainer({
            name: `${this.containerName(deployment, i)}--${release}`,
            image,
            env: { ...(spec.env ?? appRec.env), ...(port ? { PORT: String(port) } : {}) },
            labels: {
              ...this.labels(app, deployment),
              'goku.branch': branch,
              'goku.commit': commit,
              'goku.release': release,
              'goku.instance': String(i + 1),
            },
          });
          started[i] = id;
          return awaitHealthy(health, id, port, spec.health, i === 0 ? out : () => undefined);
        }),
      );
      lap('start');

      const route = makeRoute({
        app,
        deployment,
        domains,
        ips: ips.filter((ip): ip is string => !!ip),
        port,
        ports: deployment === app ? (appRec.ports ?? []) : [],
        release,
      });
      if (spec.abandoned?.()) {
        throw new GokuError(
          'GOKU_ERR_PUSH_REJECTED',
          'the pusher went away before the deploy finished, so git cannot land the push; nothing was switched',
        );
      }
      if (route && (ips.length > 0 || route.http)) {
        out(
          `-----> Routing ${route.http ? domains.join(', ') : ''}${route.streams.map((st) => ` ${st.mapping.host}/${st.mapping.proto}`).join(',')}`,
        );
        await routes.change([route]);
        switched = true;
        if (route.http) await this.confirm(domains[0] as string, release);
        await routes.confirmStreams(route);
      } else if (previous) {
        await routes.change([], [deployment]);
        switched = true;
      }

      const rec: DeploymentRecord = {
        name: deployment,
        branch,
        commit,
        image,
        port,
        cnameDomains: cname,
        health: spec.health,
        containerId: started[0] ?? '',
        containerIds: [...started],
        release,
        deployedAt: new Date().toISOString(),
      };
      await store.update((s) => {
        const a = s.apps[app];
        if (!a) throw new GokuError('GOKU_ERR_APP_NOT_FOUND', `app ${app} was destroyed during the deploy`);
        a.deployments[deployment] = rec;
        if (spec.env) a.env = { ...spec.env };
        if (spec.count !== undefined) a.scale = spec.count;
        if (!a.defaultBranch && (branch === 'master' || branch === 'main')) a.defaultBranch = branch;
        a.updatedAt = rec.deployedAt;
      });
      lap('route');
    } catch (err) {
      // Put the old route back before anything else, then remove everything this attempt made.
      if (switched) {
        await routes
          .change(previous ? [previous] : [], previous ? [] : [deployment])
          .catch((e) => this.d.log.error({ err: oneLine(e) }, 'could not restore route'));
      }
      const first = started[0];
      if (first) {
        const logs = await docker.containerLogs(first, 20);
        if (logs.trim()) {
          out('-----> Last lines of the container log:');
          for (const l of logs.trimEnd().split('\n')) out(`       ${l}`);
        }
      }
      await Promise.all(
        started.filter(Boolean).map((id) => docker.removeContainer(id).catch(() => undefined)),
      );
      if (spec.ownsImage) await docker.removeImageTag(image).catch(() => undefined);
      throw err;
    }
    const newIds = [...started];
    return {
      tail: async () => {
        // Old nginx workers may still be proxying to the old containers: let them finish first.
        await routes.drained();
        await this.retireOthers(app, deployment, newIds);
        for (const [i, id] of newIds.entries()) {
          await docker.renameContainer(id, this.containerName(deployment, i));
        }
        await this.pruneImages(app, deployment, image);
      },
      // Before the tail only: the old containers still run and take their route back.
      revert: async () => {
        await routes.change(previous ? [previous] : [], previous ? [] : [deployment]);
        await store.update((s) => {
          const a = s.apps[app];
          if (!a) return;
          if (previousRecord) a.deployments[deployment] = previousRecord;
          else delete a.deployments[deployment];
        });
        await Promise.all(newIds.map((id) => docker.removeContainer(id).catch(() => undefined)));
        if (spec.ownsImage) await docker.removeImageTag(image).catch(() => undefined);
      },
    };
  }

  /** Instance i (from 0) of a deployment: DEPLOYMENT, DEPLOYMENT.2, ... after GOKU_CONTAINER_PREFIX. */
  private containerName(deployment: string, i: number): string {
    return `${this.d.settings.GOKU_CONTAINER_PREFIX}${deployment}${i === 0 ? '' : `.${i + 1}`}`;
  }

  /**
   * The names the new containers will take must not belong to another goku on this engine
   * (or anything else): the rename after the switch would fail and leave temporary names.
   */
  private async assertNamesOurs(deployment: string, count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const name = this.containerName(deployment, i);
      const c = await this.d.docker.inspectContainer(name);
      if (c && c.labels['goku.home'] !== this.d.homeLabel) {
        throw new GokuError(
          'GOKU_ERR_NAME_TAKEN',
          `a container named ${name} exists that this goku does not own (${c.labels['goku.home'] ? `another goku, GOKU_HOME ${c.labels['goku.home']}` : 'not made by goku'}); remove it, or give each goku on this engine its own GOKU_CONTAINER_PREFIX`,
        );
      }
    }
  }

  private domainsFor(appRec: AppRecord, deployment: string, branch: string, cname: string[]): string[] {
    return deploymentDomains({
      app: appRec.name,
      deployment,
      branch,
      baseDomain: this.d.settings.GOKU_DOMAIN,
      cname,
      extra: deployment === appRec.name ? appRec.domains : [],
    });
  }

  url(domain: string): string {
    const port = this.d.settings.GOKU_PROXY_PORT;
    return `http://${domain}${port === 80 ? '' : `:${port}`}/`;
  }

  private async confirm(domain: string, release: string): Promise<void> {
    await this.d.routes.proxyConfirm(domain, release);
  }

  private async rememberDefaultBranch(app: string, defaultBranch: string, branch: string): Promise<void> {
    const rec = this.d.store.read().apps[app];
    if (rec?.defaultBranch || branch !== defaultBranch || (branch !== 'master' && branch !== 'main')) return;
    await this.d.store.update((s) => {
      const a = s.apps[app];
      if (a && !a.defaultBranch) a.defaultBranch = branch;
    });
    await this.d.repos.setHead(app, branch).catch(() => undefined);
  }

  /** Stops and removes every other container of the deployment (the previous release, leftovers). */
  private async retireOthers(app: string, deployment: string, keep: string[]): Promise<void> {
    const list = await this.d.docker.listContainers({ ...this.labels(app, deployment) });
    await Promise.all(
      list
        .filter((c) => !keep.includes(c.id))
        .map((c) => this.d.docker.ensureContainerStoppedAndRemoved(c.id, this.d.settings.GOKU_STOP_GRACE)),
    );
  }

  /**
   * Keeps the images of the deployment's last GOKU_KEEP_RELEASES succeeded releases (so the
   * running and the previous one always) and the current one; removes the other tags.
   */
  private async pruneImages(app: string, deployment: string, current: string): Promise<void> {
    const keep = new Set(
      (this.ensureAppView(app).releases ?? [])
        .filter((r) => r.deployment === deployment && r.status === 'succeeded' && r.image)
        .map((r) => r.image)
        .slice(-this.d.settings.GOKU_KEEP_RELEASES),
    );
    keep.add(current);
    const images = await this.d.docker.listImages(`goku/${deployment}`, { 'goku.home': this.d.homeLabel });
    for (const t of images.flatMap((i) => i.tags)) if (!keep.has(t)) await this.d.docker.removeImageTag(t);
  }

  async removeDeployment(app: string, deployment: string, out: Out): Promise<void> {
    out(`-----> Removing deployment ${deployment}`);
    if (this.d.routes.get(deployment)) await this.d.routes.change([], [deployment]);
    const list = await this.d.docker.listContainers(this.labels(app, deployment));
    await Promise.all(list.map((c) => this.d.docker.ensureContainerStoppedAndRemoved(c.id)));
    for (const img of await this.d.docker.listImages(`goku/${deployment}`, {
      'goku.home': this.d.homeLabel,
    })) {
      for (const t of img.tags) await this.d.docker.removeImageTag(t);
    }
    await this.d.store.update((s) => {
      const a = s.apps[app];
      if (a) delete a.deployments[deployment];
    });
    out(`=====> ${deployment} removed`);
  }

  /** Removes every deployment, container, image, work tree, route and record of the app, and its repo. */
  destroy(app: string, out: Out): Promise<void> {
    return this.d.locks.run(app, async () => {
      const rec = this.ensureAppView(app);
      for (const dep of Object.keys(rec.deployments)) await this.removeDeployment(app, dep, out);
      // Leftovers no record points at (an interrupted first deploy).
      const rest = await this.d.docker.listContainers({ 'goku.app': app, 'goku.home': this.d.homeLabel });
      await Promise.all(rest.map((c) => this.d.docker.removeContainer(c.id)));
      await this.d.repos.remove(app);
      await this.d.store.update((s) => {
        delete s.apps[app];
      });
      out(`=====> ${app} destroyed`);
    });
  }

  /** APP-SLUG of one app may equal another app's name or deployment; containers would collide. */
  private assertDeploymentNameFree(app: string, deployment: string): void {
    const data = this.d.store.read();
    for (const [name, rec] of Object.entries(data.apps)) {
      if (name === app) continue;
      if (name === deployment || rec.deployments[deployment]) {
        throw new GokuError(
          'GOKU_ERR_NAME_TAKEN',
          `deployment name ${deployment} is already used by app ${name}; push this branch under another name`,
        );
      }
    }
  }

  /** Refuses domains that another app (or another deployment of this app) serves or claims. */
  assertDomainsFree(app: string, deployment: string, domains: string[]): void {
    const owners = this.d.routes.domainOwners();
    const data = this.d.store.read();
    for (const d of domains) {
      const r = owners.get(d);
      if (r && r.deployment !== deployment) {
        throw new GokuError(
          'GOKU_ERR_DOMAIN_TAKEN',
          `domain ${d} is already served by ${r.app === app ? `deployment ${r.deployment}` : `app ${r.app}`}; remove it there first`,
        );
      }
      for (const [name, rec] of Object.entries(data.apps)) {
        if (name !== app && rec.domains.includes(d)) {
          throw new GokuError(
            'GOKU_ERR_DOMAIN_TAKEN',
            `domain ${d} is claimed by app ${name}; remove it there first`,
          );
        }
      }
    }
  }
}
