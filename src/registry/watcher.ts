import type { Logger } from 'pino';
import { deployAllowed } from '../core/schedule.js';
import { desiredTag, eligibleTags, sortTags } from '../core/tag-policy.js';
import { GokuError, oneLine } from '../errors.js';
import type { DeepReadonly, ImageSource, Store } from '../store/types.js';
import type { RegistryClient } from './client.js';
import { formatImageRef, type ImageRef, parseImageRef } from './reference.js';
import { type ImageUpdates, policyOf } from './updates.js';

/** What the watcher last saw of an app's repository (in memory: the registry is the truth). */
export interface Observation {
  lastPoll: string | null;
  lastError: string | null;
  /** Polls failed in a row; each doubles the wait before the next (backoff). */
  failures: number;
  /** Epoch ms of the next poll. */
  nextPoll: number;
  /** Known tags, versions newest first (capped). */
  tags: string[];
  /** The tag the policy wants and its digest now. */
  desiredTag: string | null;
  desiredDigest: string | null;
  /** The newest version newer than the app's tag, whether or not the policy follows it. */
  newestEligible: string | null;
  /** What the last poll did: deployed, held, left (auto off), nothing, or why not. */
  outcome: string;
  /** The repository's tags at the last listing, and when that was (epoch ms; 0: never). */
  allTags: string[];
  listedAt: number;
  /** The app's tag and policy the derived fields were computed for, and the tag wanted. */
  basis: string;
  wanted: string | null;
  running: boolean;
}

export interface WatcherDeps {
  store: Store;
  registry: RegistryClient;
  updates: ImageUpdates;
  log: Logger;
  /** Seconds between polls of one app (GOKU_WATCH_INTERVAL). */
  interval: number;
  clock: () => Date;
  random?: () => number;
}

/** How long one registry answer serves other apps' polls of the same repository and tag. */
const SHARE_MS = 1000;
/** How often due polls and schedules are looked at: a poll starts at most this late. */
const TICK_MS = 500;
const NEVER_DEPLOYED = 'never deployed: goku deploy deploys it first';
/** A pinned app needs only its tag's digest: its known tags (for `watch`) are listed every this many intervals. */
const PINNED_LISTING_INTERVALS = 10;
/** Polls at once at most; more wait for the next tick. */
const MAX_PARALLEL = 16;
/** The backoff's ceiling: a failing registry is still asked this often. */
const MAX_BACKOFF_S = 600;

/**
 * The registry watcher: every image app's repository is polled (tags list, then a HEAD of the
 * tag its policy wants) every GOKU_WATCH_INTERVAL seconds, less up to 10 % of jitter. It compares what
 * should run with what runs, not the moment of a change: an update published while auto-deploy
 * was off deploys when it is turned on, and one missed across a restart deploys at the next
 * poll. A failing registry backs off for that app only. Apps never deployed are watched but
 * not deployed: the first deploy is `goku deploy`.
 */
export class Watcher {
  private readonly obs = new Map<string, Observation>();
  /** The last full tags listing per repository, with its ETag. */
  private readonly listings = new Map<string, { tags: string[]; etag: string | null; at: number }>();
  private readonly recent: Recent;
  private timer: NodeJS.Timeout | null = null;
  private running = 0;
  /** No poll is due before this (epoch ms); the tick scans anyway (new apps, set times). */
  private quietUntil = 0;

  constructor(private readonly d: WatcherDeps) {
    // Within a second of another poll's answer, and at most half an interval: an update is
    // still seen within one interval and a second of its push.
    this.recent = new Recent(Math.min(SHARE_MS, d.interval * 500), () => this.d.clock().getTime());
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** What the watcher knows of the app (a fresh app: nothing yet). */
  observation(app: string): Observation {
    return { ...this.entry(app) };
  }

  /** Every tick: held updates the schedule now allows, set times reached, polls due. */
  tick(): void {
    const now = this.d.clock();
    this.d.updates.release(now);
    this.recent.sweep();
    const apps = this.d.store.read().apps;
    for (const name of this.obs.keys()) if (!apps[name]?.image) this.obs.delete(name);
    // A repository no app has listed for ten intervals is followed no more.
    const stale = now.getTime() - this.d.interval * 10_000;
    for (const [key, l] of this.listings) if (l.at < stale) this.listings.delete(key);
    this.quietUntil = 0;
    this.pump(now);
  }

  /**
   * Starts due polls up to MAX_PARALLEL; each poll that ends starts the next due one. A scan
   * that started all that was due notes when the next one is, so the polls ending before then
   * do not scan every app again.
   */
  private pump(now: Date): void {
    if (this.running >= MAX_PARALLEL || now.getTime() < this.quietUntil) return;
    let next = Number.POSITIVE_INFINITY;
    for (const a of Object.values(this.d.store.read().apps)) {
      if (!a.image) continue;
      const o = this.entry(a.name);
      const due = o.nextPoll <= now.getTime() || this.timeReached(a.name, a.image, o, now);
      if (due && !o.running) void this.poll(a.name);
      else if (!o.running) next = Math.min(next, o.nextPoll);
      if (this.running >= MAX_PARALLEL) return;
    }
    this.quietUntil = next;
  }

  /**
   * A schedule's set time has come, nothing is held for it, and no poll has run since: poll
   * now, it deploys what is newest. Once: a failed poll then waits its backoff as any other.
   */
  private timeReached(app: string, img: DeepReadonly<ImageSource>, o: Observation, now: Date): boolean {
    const at = img.schedule?.at;
    if (!at || img.held || this.d.updates.busy(app) || !deployAllowed(img.schedule, now)) return false;
    return o.lastPoll === null || Date.parse(o.lastPoll) < Date.parse(at);
  }

  /**
   * One poll: the tags (304 reuses the last list), the digest of the tag the policy wants, and
   * that offered as an update when it differs from what runs. `explicit` (watch:reset,
   * watch:auto on) offers it even if that digest failed before.
   */
  async poll(app: string, opts: { explicit?: boolean } = {}): Promise<Observation> {
    const o = this.entry(app);
    if (o.running) return { ...o };
    o.running = true;
    this.running++;
    try {
      const img = this.d.store.read().apps[app]?.image;
      if (img) {
        await this.observe(app, img, o, opts.explicit === true);
        await this.endSetTime(app);
      }
    } catch (err) {
      o.failures++;
      o.lastError = oneLine(err);
      o.outcome = 'the registry could not be asked';
      this.d.log.warn({ app, err: o.lastError, failures: o.failures }, 'registry watch failed');
    } finally {
      o.lastPoll = this.d.clock().toISOString();
      o.nextPoll = this.d.clock().getTime() + this.wait(o.failures);
      o.running = false;
      this.running--;
      if (this.timer) this.pump(this.d.clock());
    }
    return { ...o };
  }

  private async observe(
    app: string,
    img: DeepReadonly<ImageSource>,
    o: Observation,
    explicit: boolean,
  ): Promise<void> {
    const ref = parseImageRef(img.ref);
    const policy = policyOf(img);
    const now = this.d.clock().getTime();
    const list =
      policy.mode === 'semver' ||
      explicit ||
      now - o.listedAt >= this.d.interval * 1000 * PINNED_LISTING_INTERVALS;
    const tags = list ? await this.tagsOf(ref, explicit) : o.allTags;
    if (list) o.listedAt = now;
    // The tags are read as versions only when they, the app's tag or its policy changed.
    const basis = `${ref.tag}|${policy.mode}`;
    if (tags !== o.allTags) {
      o.allTags = tags;
      o.basis = '';
    }
    if (o.basis !== basis) {
      o.tags = sortTags(o.allTags);
      o.newestEligible = eligibleTags(o.allTags, ref.tag)[0] ?? null;
      o.wanted = ref.digest ? null : desiredTag(policy, ref.tag, o.allTags);
      o.basis = basis;
    }
    const tag = o.wanted;
    o.failures = 0;
    o.lastError = null;
    if (tag === null) {
      o.desiredTag = null;
      o.desiredDigest = ref.digest;
      o.outcome = 'a reference by digest is not followed';
      return;
    }
    const wanted: ImageRef = { ...ref, tag, digest: null };
    o.desiredTag = tag;
    // Semver follows versions: while the newest is the one that runs (or the app never ran)
    // there is no digest to ask for. A version tag pushed again is followed when pinned.
    if (policy.mode === 'semver' && !explicit && (img.digest === null || tag === ref.tag)) {
      o.desiredDigest = tag === ref.tag ? img.digest : null;
      o.outcome = img.digest === null ? NEVER_DEPLOYED : 'up to date';
      return;
    }
    o.desiredDigest = await this.recent.get(`digest ${formatImageRef(wanted)}`, explicit, () =>
      this.d.registry.resolveDigest(wanted),
    );
    o.outcome = await this.act(app, img, formatImageRef(wanted), o.desiredDigest, explicit);
  }

  /** Offers the wanted image when it is not what runs; says what came of it. */
  private async act(
    app: string,
    img: DeepReadonly<ImageSource>,
    wanted: string,
    digest: string,
    explicit: boolean,
  ): Promise<string> {
    if (img.digest === null) return NEVER_DEPLOYED;
    if (img.digest === digest && img.ref === wanted) return 'up to date';
    const failed = this.d.store
      .read()
      .apps[app]?.releases?.some((r) => r.status === 'failed' && r.digest === digest && r.source === wanted);
    if (failed && !explicit) return `${wanted}@${digest.slice(0, 19)} failed to deploy before; not retried`;
    const offer = await this.d.updates.offer(app, wanted, 'watcher');
    if (offer.status === 'queued') {
      this.d.log.info({ app, ref: wanted, digest }, 'registry watcher deploys an update');
      await offer.done;
      const now = this.d.store.read().apps[app]?.image;
      return now?.digest === digest
        ? `deployed ${wanted}`
        : `deploying ${wanted} failed (see goku releases ${app})`;
    }
    return offer.message;
  }

  /**
   * The repository's tags: one listing serves every app that follows the repository and polls
   * within SHARE_MS of it (an explicit poll asks afresh); the last full listing and its ETag
   * answer a 304. The same array comes back while the tags stay the same.
   */
  private tagsOf(ref: ImageRef, fresh: boolean): Promise<string[]> {
    const key = `${ref.registry}/${ref.repository}`;
    return this.recent.get(`tags ${key}`, fresh, async () => {
      const last = this.listings.get(key);
      const listed = await this.d.registry.listTags(ref, last?.etag ?? null);
      if ('notModified' in listed) {
        if (last) {
          last.at = this.d.clock().getTime();
          return last.tags;
        }
        throw new GokuError('GOKU_ERR_REGISTRY', `${ref.registry} answered 304 to a first tags listing`);
      }
      const same =
        last && last.tags.length === listed.tags.length && last.tags.every((t, i) => t === listed.tags[i]);
      const kept = same ? last.tags : listed.tags;
      this.listings.set(key, { tags: kept, etag: listed.etag, at: this.d.clock().getTime() });
      return kept;
    });
  }

  /** A set time that has come is used up by this poll: it deployed what was newest, or there was nothing newer. */
  private async endSetTime(app: string): Promise<void> {
    const img = this.d.store.read().apps[app]?.image;
    if (!img?.schedule?.at || img.schedule.window || img.held || this.d.updates.busy(app)) return;
    if (!deployAllowed(img.schedule, this.d.clock())) return;
    await this.d.store.update((s) => {
      const i = s.apps[app]?.image;
      if (i?.schedule?.at && !i.schedule.window) delete i.schedule;
    });
  }

  private wait(failures: number): number {
    const base = this.d.interval * 1000;
    const backoff = Math.min(MAX_BACKOFF_S * 1000, base * 2 ** Math.min(failures, 10));
    // Jitter only shortens the wait, so an update is seen within one interval of its push.
    const jitter = 1 - (this.d.random ?? Math.random)() * 0.1;
    return (failures ? backoff : base) * jitter;
  }

  private entry(app: string): Observation {
    let o = this.obs.get(app);
    if (!o) {
      // First polls spread over one interval, so a restart does not ask for every app at once.
      const spread = (this.d.random ?? Math.random)() * this.d.interval * 1000;
      o = {
        lastPoll: null,
        lastError: null,
        failures: 0,
        nextPoll: this.d.clock().getTime() + spread,
        tags: [],
        desiredTag: null,
        desiredDigest: null,
        newestEligible: null,
        outcome: 'not polled yet',
        allTags: [],
        listedAt: 0,
        basis: '',
        wanted: null,
        running: false,
      };
      this.obs.set(app, o);
    }
    return o;
  }
}

/** Registry answers shared by the polls that ask the same within `ttlMs`; a failure is not kept. */
class Recent {
  private readonly map = new Map<string, { at: number; value: Promise<unknown> }>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  get<T>(key: string, fresh: boolean, ask: () => Promise<T>): Promise<T> {
    const t = this.now();
    const hit = this.map.get(key);
    if (!fresh && hit && t - hit.at < this.ttlMs) return hit.value as Promise<T>;
    const value = ask();
    this.map.set(key, { at: t, value });
    value.catch(() => {
      if (this.map.get(key)?.value === value) this.map.delete(key);
    });
    return value;
  }

  sweep(): void {
    const t = this.now();
    for (const [k, v] of this.map) if (t - v.at >= this.ttlMs) this.map.delete(k);
  }
}
