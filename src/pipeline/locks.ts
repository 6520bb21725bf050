import { GokuError } from '../errors.js';

/**
 * One deploy (or route change) per app at a time; different apps run in parallel. A waiting
 * request may be replaced by a newer one of the same kind (CapRover's "a newer source replaces
 * the queued build"): the one running is never touched.
 */
export class AppLocks {
  private readonly tails = new Map<string, Promise<void>>();
  /** Per app and kind, how to cancel the request of that kind still waiting for the lock. */
  private readonly waiting = new Map<string, () => void>();
  /** Holders (running or queued) that a user would call a deploy; quiet ones are route refreshes. */
  private readonly deploys = new Map<string, number>();

  /**
   * Runs fn once every earlier holder of the app's lock is done. onWait is called when the
   * caller has to wait for a deploy; a quiet holder (a quick route refresh) is not worth saying.
   */
  async run<T>(
    app: string,
    fn: () => Promise<T>,
    onWait?: () => void,
    opts: { quiet?: boolean; replaces?: string } = {},
  ): Promise<T> {
    const prev = this.tails.get(app);
    let release!: () => void;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    const tail = (prev ?? Promise.resolve()).then(() => mine);
    this.tails.set(app, tail);
    if (prev && (this.deploys.get(app) ?? 0) > 0) onWait?.();
    if (!opts.quiet) this.deploys.set(app, (this.deploys.get(app) ?? 0) + 1);
    const kind = opts.replaces ? `${app}\u0000${opts.replaces}` : null;
    let cancelled: () => void = () => undefined;
    const superseded = new Promise<never>((_, reject) => {
      cancelled = () =>
        reject(
          new GokuError(
            'GOKU_ERR_SUPERSEDED',
            `a newer ${opts.replaces} of ${app} arrived while this one waited; it runs instead`,
          ),
        );
    });
    superseded.catch(() => undefined);
    if (kind) {
      this.waiting.get(kind)?.();
      this.waiting.set(kind, cancelled);
    }
    try {
      if (prev) await (kind ? Promise.race([prev, superseded]) : prev);
      if (kind && this.waiting.get(kind) === cancelled) this.waiting.delete(kind);
      return await fn();
    } finally {
      if (!opts.quiet) {
        const n = (this.deploys.get(app) ?? 1) - 1;
        if (n > 0) this.deploys.set(app, n);
        else this.deploys.delete(app);
      }
      release();
      if (this.tails.get(app) === tail) this.tails.delete(app);
    }
  }
}
