/** One deploy (or route change) per app at a time; different apps run in parallel. */
export class AppLocks {
  private readonly tails = new Map<string, Promise<void>>();

  busy(app: string): boolean {
    return this.tails.has(app);
  }

  async run<T>(app: string, fn: () => Promise<T>, onWait?: () => void): Promise<T> {
    const prev = this.tails.get(app);
    let release!: () => void;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    const tail = (prev ?? Promise.resolve()).then(() => mine);
    this.tails.set(app, tail);
    if (prev) {
      onWait?.();
      await prev;
    }
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(app) === tail) this.tails.delete(app);
    }
  }
}
