import { formatWindow, nextDeployTime, parseAt, parseWindow, type Schedule } from '../core/schedule.js';
import type { WatchPolicy } from '../core/tag-policy.js';
import { GokuError } from '../errors.js';
import type { Out } from '../pipeline/context.js';
import type { Deployer } from '../pipeline/deployer.js';
import { parseImageRef, withTag } from '../registry/reference.js';
import { policyOf } from '../registry/updates.js';
import type { Observation, Watcher } from '../registry/watcher.js';
import type { DeepReadonly, HeldUpdate, ImageSource, Store } from '../store/types.js';

/** `goku watch APP`: the policy, what runs, what the registry has, what the watcher last did. */
export interface WatchView {
  app: string;
  ref: string;
  mode: WatchPolicy['mode'];
  autoDeploy: boolean;
  /** pinned mode: the tag followed, and its digest at the last poll. */
  pinnedTag: string | null;
  pinnedDigest: string | null;
  deployedTag: string | null;
  deployedDigest: string | null;
  /** The newest version greater than the deployed tag (what semver mode moves to). */
  newestEligible: string | null;
  /** The tag the policy wants now and its digest. */
  desiredTag: string | null;
  desiredDigest: string | null;
  tags: string[];
  lastPoll: string | null;
  lastError: string | null;
  nextPoll: string | null;
  lastOutcome: string;
  held: HeldUpdate | null;
  schedule: ScheduleView | null;
}

export interface ScheduleView {
  window: string | null;
  at: string | null;
  /** The app may not run two copies: its deploys stop the old container first. */
  downtime: boolean;
  /** When held updates deploy: null when the schedule allows them now. */
  nextDeploy: string | null;
}

/** A held update in one line: what, since when, brought by what. */
export function heldLine(held: DeepReadonly<HeldUpdate> | null | undefined): string {
  return held ? `${held.ref} (held since ${held.since}, from ${held.by})` : '-';
}

/** What a poll came to, in one line: its error, else its outcome. */
export function pollSummary(o: Observation): string {
  return o.lastError ? `the poll failed: ${o.lastError}` : o.outcome;
}

/** The registry watcher's and the schedule's commands (watch:*, schedule:*), for every caller. */
export class WatchService {
  constructor(
    private readonly d: { store: Store; watcher: Watcher; deployer: Deployer; clock: () => Date },
  ) {}

  view(app: string): WatchView {
    const img = this.image(app);
    const o = this.d.watcher.observation(app);
    const ref = parseImageRef(img.ref);
    const policy = policyOf(img);
    const deployed = img.digest ? ref.tag : null;
    return {
      app,
      ref: img.ref,
      mode: policy.mode,
      autoDeploy: policy.auto,
      pinnedTag: policy.mode === 'pinned' ? ref.tag : null,
      pinnedDigest: policy.mode === 'pinned' && o.desiredTag === ref.tag ? o.desiredDigest : null,
      deployedTag: deployed,
      deployedDigest: img.digest,
      newestEligible: o.newestEligible,
      desiredTag: o.desiredTag,
      desiredDigest: o.desiredDigest,
      tags: o.tags,
      lastPoll: o.lastPoll,
      lastError: o.lastError,
      nextPoll: o.lastPoll || o.running ? new Date(o.nextPoll).toISOString() : null,
      lastOutcome: o.outcome,
      held: img.held ? { ...img.held } : null,
      schedule: this.scheduleView(img),
    };
  }

  /** Every image app's view (GET /repos). */
  views(): WatchView[] {
    return Object.values(this.d.store.read().apps)
      .filter((a) => a.image)
      .map((a) => this.view(a.name));
  }

  /** watch:pin: follow TAG (redeployed whenever its digest changes) and deploy it now. */
  async pin(app: string, tag: string, by: string, out: Out, force = false): Promise<void> {
    const img = this.image(app);
    const next = withTag(img.ref, tag);
    // Pinned before the deploy, so a poll meanwhile does not move the app elsewhere; a deploy
    // that fails (no such tag, a failed check) leaves the policy as it was.
    const before = img.watch ? { ...img.watch } : null;
    await this.setPolicy(app, { mode: 'pinned' });
    try {
      await this.d.deployer.deploy(app, { kind: 'image', by, ref: next, force }, out);
    } catch (err) {
      await this.d.store.update((s) => {
        const i = s.apps[app]?.image;
        if (!i) return;
        if (before) i.watch = before;
        else delete i.watch;
      });
      throw err;
    }
  }

  /** watch:reset: follow the newest version again; polls now and deploys it when that is newer. */
  async reset(app: string): Promise<Observation> {
    this.image(app);
    await this.setPolicy(app, { mode: 'semver' });
    return this.d.watcher.poll(app, { explicit: true });
  }

  /** watch:auto: on polls now, so an update published while it was off deploys. */
  async auto(app: string, on: boolean): Promise<Observation | null> {
    this.image(app);
    await this.setPolicy(app, { auto: on });
    return on ? this.d.watcher.poll(app, { explicit: true }) : null;
  }

  /**
   * schedule:set: a daily window (HH:MM-HH:MM, UTC) or one set time (--at); downtime: the app
   * may not run two copies, so its deploys stop the old container first.
   */
  async setSchedule(
    app: string,
    spec: { window?: string; at?: string; downtime?: boolean },
  ): Promise<ScheduleView> {
    this.image(app);
    if ((spec.window === undefined) === (spec.at === undefined)) {
      throw new GokuError('GOKU_ERR_USAGE', 'give a window HH:MM-HH:MM or --at TIME, not both');
    }
    const scale = this.d.store.read().apps[app]?.scale ?? 1;
    if (spec.downtime && scale > 1) {
      throw new GokuError(
        'GOKU_ERR_USAGE',
        `${app} runs ${scale} instances; an app that may not run two copies (--downtime) runs one: ps:scale ${app} 1 first`,
      );
    }
    const schedule: Schedule = {
      ...(spec.window !== undefined
        ? { window: parseWindow(spec.window) }
        : { at: parseAt(spec.at as string, this.d.clock()).toISOString() }),
      ...(spec.downtime ? { downtime: true } : {}),
    };
    await this.d.store.update((s) => {
      const img = s.apps[app]?.image;
      if (img) img.schedule = schedule;
    });
    return this.scheduleView(this.image(app)) as ScheduleView;
  }

  /** schedule:clear: updates deploy at once again (a held one at the next tick). */
  async clearSchedule(app: string): Promise<void> {
    this.image(app);
    await this.d.store.update((s) => {
      const img = s.apps[app]?.image;
      if (img) delete img.schedule;
    });
  }

  scheduleView(img: DeepReadonly<ImageSource>): ScheduleView | null {
    const s = img.schedule;
    if (!s) return null;
    const next = nextDeployTime(s, this.d.clock());
    return {
      window: s.window ? `${formatWindow(s.window)} UTC` : null,
      at: s.at ?? null,
      downtime: s.downtime === true,
      nextDeploy: next ? next.toISOString() : null,
    };
  }

  private async setPolicy(app: string, change: Partial<WatchPolicy>): Promise<void> {
    await this.d.store.update((s) => {
      const img = s.apps[app]?.image;
      if (img) img.watch = { ...policyOf(img), ...change };
    });
  }

  private image(app: string): DeepReadonly<ImageSource> {
    const rec = this.d.store.read().apps[app];
    if (!rec) throw new GokuError('GOKU_ERR_APP_NOT_FOUND', `app ${app} does not exist`);
    if (!rec.image) {
      throw new GokuError(
        'GOKU_ERR_SOURCE_MISMATCH',
        `app ${app} deploys by git push; the registry watcher and schedules are for image apps (goku apps:create APP --image REF)`,
      );
    }
    return rec.image;
  }
}
