import type { Logger } from 'pino';
import { deployAllowed, nextDeployTime } from '../core/schedule.js';
import { policyFor, versionOf, type WatchPolicy } from '../core/tag-policy.js';
import { GokuError, oneLine } from '../errors.js';
import type { Deployer } from '../pipeline/deployer.js';
import type { DeepReadonly, ImageSource, Store } from '../store/types.js';
import { parseImageRef } from './reference.js';

/** What became of an update: deploying, held for the app's schedule, or left (auto-deploy off). */
export interface Offer {
  status: 'queued' | 'held' | 'off';
  message: string;
  /** Settles when the deploy is over (at once when nothing was queued). */
  done: Promise<void>;
}

/** The app's watch policy: the one set by watch:*, else the default for its reference's tag. */
export function policyOf(img: DeepReadonly<ImageSource>): WatchPolicy {
  return policyFor(img.watch, parseImageRef(img.ref).tag);
}

/**
 * The gate every update of an image app passes that nobody typed (a webhook, the registry
 * watcher, a window opening): auto-deploy off leaves it, a schedule that does not allow it
 * now holds it (a newer one replaces the held one), else it deploys. A deploy started here is
 * marked in the store until it is over, so a restart resumes it.
 */
export class ImageUpdates {
  /** Deploys queued or running per app, from here. */
  private readonly inFlight = new Map<string, number>();

  constructor(private readonly d: { store: Store; deployer: Deployer; log: Logger; clock: () => Date }) {}

  /** An update to `ref` (null: the app's own reference, at its current digest). */
  async offer(app: string, ref: string | null, by: string, pushed?: string): Promise<Offer> {
    const img = this.d.store.read().apps[app]?.image;
    if (!img) throw new GokuError('GOKU_ERR_APP_NOT_FOUND', `image app ${app} does not exist`);
    if (!policyOf(img).auto) {
      return { status: 'off', message: `auto-deploy is off for ${app}`, done: Promise.resolve() };
    }
    const now = this.d.clock();
    if (!deployAllowed(img.schedule, now)) {
      await this.hold(app, ref, by);
      const when = nextDeployTime(img.schedule, now);
      return {
        status: 'held',
        message: `${app} holds it until ${when ? when.toISOString() : 'its schedule allows'}`,
        done: Promise.resolve(),
      };
    }
    return {
      status: 'queued',
      message: `deploy of ${app} queued`,
      done: this.deploy(app, ref, by, pushed),
    };
  }

  /** Any update deploying or queued for the app from here. */
  busy(app: string): boolean {
    return this.inFlight.has(app);
  }

  /** Deploys a restart cut off resume; held updates wait for their schedule as before. */
  resume(): void {
    for (const a of Object.values(this.d.store.read().apps)) {
      if (a.image?.pendingSince) {
        this.d.log.info({ app: a.name }, 'resuming an image deploy cut off by the last stop');
        void this.deploy(a.name, a.image.pendingRef ?? null, 'resume');
      }
    }
  }

  /** Held updates whose schedule allows them now deploy (the newest digest of what is held). */
  release(now: Date): void {
    for (const a of Object.values(this.d.store.read().apps)) {
      const img = a.image;
      if (!img?.held || this.busy(a.name) || !policyOf(img).auto || !deployAllowed(img.schedule, now))
        continue;
      const { ref, by } = img.held;
      this.d.log.info({ app: a.name, ref }, 'the schedule allows the held update now');
      void this.deploy(a.name, ref, by);
    }
  }

  /**
   * Holds an update for the schedule: one slot per app, taken by the newer update (the app's
   * own reference, null, never displaces a held one; a lower version never a higher one).
   */
  private hold(app: string, ref: string | null, by: string): Promise<void> {
    return this.d.store.update((s) => {
      const img = s.apps[app]?.image;
      if (!img) return;
      const held = img.held;
      if (held && (ref === null || olderVersion(ref, held.ref))) return;
      img.held = { ref: ref ?? img.ref, since: held?.since ?? this.d.clock().toISOString(), by };
    });
  }

  /**
   * Queues an image deploy. The deployer's per-app queue keeps one running and one waiting: a
   * newer request replaces the waiting one, which asks the registry for the digest only when
   * it runs, so a burst ends at the newest digest and none is lost.
   */
  private deploy(app: string, ref: string | null, by: string, pushed?: string): Promise<void> {
    this.inFlight.set(app, (this.inFlight.get(app) ?? 0) + 1);
    // The mark is written beside the deploy, not before it: a store write (an fsync) is 50 to
    // 300 ms of the way from hook to live here. The store applies updates in call order, so
    // the clearing below never lands before it.
    const marked = this.mark(app, true, ref).catch((err) =>
      this.d.log.warn({ app, err: oneLine(err) }, 'could not mark the image deploy pending'),
    );
    return (
      this.d.deployer
        // Forced: the schedule allowed this update (or a restart resumes one it allowed).
        .deploy(app, { kind: 'image', by, ref, force: true, ...(pushed ? { pushed } : {}) }, () => undefined)
        .catch((err) => {
          if (err instanceof GokuError && err.code === 'GOKU_ERR_SUPERSEDED') return;
          this.d.log.warn({ app, by, err: oneLine(err) }, 'image deploy failed (see goku releases)');
        })
        .finally(async () => {
          await marked;
          const left = (this.inFlight.get(app) ?? 1) - 1;
          if (left > 0) {
            this.inFlight.set(app, left);
            return;
          }
          this.inFlight.delete(app);
          await this.mark(app, false).catch((err) =>
            this.d.log.warn({ app, err: oneLine(err) }, 'could not clear the pending image deploy mark'),
          );
        })
    );
  }

  /** The mark a restart resumes from, with the reference asked for; clearing it also ends a hold. */
  private mark(app: string, on: boolean, ref: string | null = null): Promise<void> {
    return this.d.store.update((s) => {
      const img = s.apps[app]?.image;
      if (!img) return;
      if (on) {
        img.pendingSince ??= new Date().toISOString();
        if (ref) img.pendingRef = ref;
        else delete img.pendingRef;
        delete img.held;
        return;
      }
      delete img.pendingSince;
      delete img.pendingRef;
      // A one-time schedule is used up by the deploy it allowed.
      if (img.schedule?.at && !img.schedule.window && deployAllowed(img.schedule, this.d.clock()))
        delete img.schedule;
    });
  }
}

/** Both references name versions and `a`'s is lower than `b`'s. */
function olderVersion(a: string, b: string): boolean {
  const va = versionOf(parseImageRef(a).tag ?? '');
  const vb = versionOf(parseImageRef(b).tag ?? '');
  return va !== null && vb !== null && va.compare(vb) < 0;
}
