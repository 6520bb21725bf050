import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Serial } from '../util/serial.js';
import type { ServiceRecord, Store, StoreData } from './types.js';

const EMPTY: StoreData = { version: 1, keys: [], apps: {} };

/**
 * One JSON file under GOKU_HOME, written beside and renamed over (fsync first), so a kill at
 * any moment leaves the old or the new state. Only the daemon writes it; the CLI goes through
 * the daemon. Updates run one at a time on a private copy and are discarded if they throw.
 */
export class EmbeddedStore implements Store {
  private data: StoreData;
  private readonly file: string;
  private readonly serial = new Serial();

  constructor(home: string) {
    this.file = join(home, 'store.json');
    this.data = EmbeddedStore.load(this.file);
  }

  private static load(file: string): StoreData {
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as StoreData;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return structuredClone(EMPTY);
      throw err;
    }
  }

  read(): StoreData {
    return structuredClone(this.data);
  }

  update<T>(fn: (draft: StoreData) => T): Promise<T> {
    return this.serial.run(() => {
      const draft = structuredClone(this.data);
      const result = fn(draft);
      this.persist(draft);
      this.data = draft;
      return result;
    });
  }

  async services(app?: string): Promise<ServiceRecord[]> {
    return structuredClone((this.data.services ?? []).filter((r) => app === undefined || r.app === app));
  }

  async syncServices(app: string, records: ServiceRecord[]): Promise<void> {
    const mine = (s: StoreData) => (s.services ?? []).filter((r) => r.app === app);
    // Called on every reconcile sweep: write only when something changed.
    if (JSON.stringify(mine(this.data)) === JSON.stringify(records)) return;
    await this.update((s) => {
      s.services = [...(s.services ?? []).filter((r) => r.app !== app), ...records];
    });
  }

  close(): void {}

  private persist(data: StoreData): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(data, null, 1));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }
}
