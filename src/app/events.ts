/** One thing that happened to an app's deploys, as `GET /api/apps/APP/events` streams it. */
export type DeployEvent =
  | { type: 'start'; app: string; kind: string; by: string; at: string }
  | { type: 'progress'; app: string; line: string }
  | { type: 'done'; app: string; kind: string; at: string }
  | { type: 'failed'; app: string; kind: string; at: string; message: string; code: string };

type Listener = (e: DeployEvent) => void;

/**
 * Deploys as they happen, per app, whatever started them (a push, a webhook, the watcher, a
 * command): the Deployer publishes, HTTP event streams and the dashboard subscribe. Nothing is
 * kept: a subscriber sees what happens after it subscribed.
 */
export class AppEvents {
  private readonly listeners = new Map<string, Set<Listener>>();
  /** Deploys under way, by app (the dashboard shows such an app as deploying). */
  private readonly running = new Map<string, { kind: string; by: string; at: string; count: number }>();

  subscribe(app: string, fn: Listener): () => void {
    let set = this.listeners.get(app);
    if (!set) {
      set = new Set();
      this.listeners.set(app, set);
    }
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0 && this.listeners.get(app) === set) this.listeners.delete(app);
    };
  }

  publish(e: DeployEvent): void {
    this.track(e);
    for (const fn of this.listeners.get(e.app) ?? []) {
      // A subscriber that throws (a closed stream) must not break the deploy that publishes.
      try {
        fn(e);
      } catch {
        // ignored
      }
    }
  }

  /** The deploy under way for an app (the first, when several wait in turn), or null. */
  active(app: string): { kind: string; by: string; at: string } | null {
    return this.running.get(app) ?? null;
  }

  private track(e: DeployEvent): void {
    const now = this.running.get(e.app);
    if (e.type === 'start') {
      if (now) now.count++;
      else this.running.set(e.app, { kind: e.kind, by: e.by, at: e.at, count: 1 });
    } else if ((e.type === 'done' || e.type === 'failed') && now) {
      now.count--;
      if (now.count <= 0) this.running.delete(e.app);
    }
  }

  /** How many subscribers an app has (tests, the RSS benchmark). */
  count(app: string): number {
    return this.listeners.get(app)?.size ?? 0;
  }
}
