import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import {
  nextSnapshot,
  type ServiceRecord,
  type Snapshot,
  type Store,
  type StoreData,
  snapshotOf,
  thaw,
} from './types.js';

interface Pending {
  fn: (draft: StoreData) => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

const EMPTY: StoreData = { version: 1, keys: [], apps: {} };

/**
 * One JSON file under GOKU_HOME, written beside and renamed over (fsync first), so a kill at
 * any moment leaves the old or the new state. Only the daemon writes it; the CLI goes through
 * the daemon. Updates run one at a time, in order, each on the state the one before left, and
 * one that throws changes nothing.
 */
export class EmbeddedStore implements Store {
  readonly shared = false;
  private data: Snapshot;
  private readonly file: string;
  private pending: Pending[] = [];
  private scheduled = false;

  constructor(home: string) {
    this.file = join(home, 'store.json');
    this.data = snapshotOf(EmbeddedStore.load(this.file));
  }

  private static load(file: string): StoreData {
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as StoreData;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return structuredClone(EMPTY);
      throw err;
    }
  }

  read(): Snapshot {
    return this.data;
  }

  update<T>(fn: (draft: StoreData) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => this.commit());
    });
  }

  /**
   * Group commit: the updates queued since the last write land in one write. A burst (a
   * thousand apps' service records after a start) costs one write of the file, not a thousand;
   * each caller still hears back only once its change is on disk.
   */
  private commit(): void {
    this.scheduled = false;
    const batch = this.pending.splice(0);
    let data = this.data;
    const applied: { u: Pending; result: unknown }[] = [];
    for (const u of batch) {
      try {
        const step = nextSnapshot(data, u.fn);
        data = step.next;
        applied.push({ u, result: step.result });
      } catch (err) {
        u.reject(err);
      }
    }
    if (data !== this.data) {
      try {
        this.persist(data);
      } catch (err) {
        for (const { u } of applied) u.reject(err);
        return;
      }
      this.data = data;
    }
    for (const { u, result } of applied) u.resolve(result);
  }

  async services(app?: string): Promise<ServiceRecord[]> {
    return thaw<ServiceRecord[]>(
      (this.data.services ?? []).filter((r) => app === undefined || r.app === app),
    );
  }

  async syncServices(app: string, records: ServiceRecord[]): Promise<void> {
    const mine = (s: Snapshot) => (s.services ?? []).filter((r) => r.app === app);
    // Called on every reconcile sweep: write only when something changed.
    if (JSON.stringify(mine(this.data)) === JSON.stringify(records)) return;
    await this.update((s) => {
      s.services = [...(s.services ?? []).filter((r) => r.app !== app), ...records];
    });
  }

  close(): void {}

  private persist(data: Snapshot): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      // Compact, not indented: the file is rewritten whole on every change.
      writeSync(fd, JSON.stringify(data));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }
}
