import { EventEmitter } from 'node:events';
import Consul from 'consul';
import type { Logger } from 'pino';
import { GokuError, oneLine } from '../errors.js';
import { Serial } from '../util/serial.js';
import { fromPairs, type KvOp, type Pairs, PREFIX, planOps } from './consul-layout.js';
import {
  nextSnapshot,
  type ServiceRecord,
  type Snapshot,
  type Store,
  type StoreData,
  snapshotOf,
} from './types.js';

/** Consul takes at most this many operations in one transaction. */
export const MAX_TXN_OPS = 64;
/** Conflicting writers (another goku, an operator) make an update retry on fresh data this often. */
const CAS_ATTEMPTS = 8;
const REQUEST_MS = 10_000;
const WAIT_S = 30;

interface KvItem {
  Key: string;
  /** Decoded; null for an empty value. */
  Value: string | null;
  ModifyIndex: number;
}

interface RawResponse {
  headers: Record<string, string | string[] | undefined>;
}

export interface ConsulStoreOptions {
  url: string;
  token?: string;
  log: Logger;
}

/**
 * The store in Consul KV (layout: consul-layout.ts and the README). Reads come from a local
 * copy kept fresh by a blocking query on goku/, so an operator's `consul kv put` reaches goku
 * within moments and a Consul outage never blocks routing. Every update is one transaction of
 * check-and-set operations against the indexes of that copy; when another writer got there
 * first, goku reloads and applies the change again.
 */
export class ConsulStore implements Store {
  readonly shared = true;
  private readonly consul: Consul;
  private pairs = new Map<string, { value: string; index: number }>();
  private data: Snapshot = snapshotOf({ version: 1, keys: [], apps: {} });
  private index = 0;
  private readonly serial = new Serial();
  private closed = false;
  private watchCtx: EventEmitter | null = null;
  private lastProblems = '';

  private constructor(private readonly o: ConsulStoreOptions) {
    const u = new URL(o.url);
    const secure = u.protocol === 'https:';
    this.consul = new Consul({
      host: u.hostname,
      port: Number(u.port || (secure ? 443 : 80)),
      secure,
      defaults: o.token ? { token: o.token } : {},
    });
  }

  /** Connects and loads goku/; a Consul that does not answer is a one-line GOKU_ERR_SETTINGS. */
  static async open(o: ConsulStoreOptions): Promise<ConsulStore> {
    const store = new ConsulStore(o);
    try {
      await store.refresh();
    } catch (err) {
      throw new GokuError('GOKU_ERR_SETTINGS', `GOKU_CONSUL_URL: ${oneLine(err)}`);
    }
    void store.watch();
    return store;
  }

  read(): Snapshot {
    return this.data;
  }

  update<T>(fn: (draft: StoreData) => T): Promise<T> {
    return this.serial.run(() => this.apply(fn));
  }

  private async apply<T>(fn: (draft: StoreData) => T): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const before = this.data;
      const { next, result } = nextSnapshot(before, fn);
      const ops = planOps(before, next, (key) => this.pairs.get(key)?.index ?? 0);
      if (ops.length === 0) return result;
      if (ops.length > MAX_TXN_OPS) {
        throw new GokuError(
          'GOKU_ERR_STORE_LIMIT',
          `this change writes ${ops.length} Consul keys, more than one transaction takes (${MAX_TXN_OPS}); make it in smaller steps`,
        );
      }
      const done = await this.txn(ops);
      if (done) {
        this.data = snapshotOf(fromPairs(this.valueMap()));
        return result;
      }
      if (attempt >= CAS_ATTEMPTS) {
        throw new GokuError(
          'GOKU_ERR_STORE_UNAVAILABLE',
          `Consul at ${this.o.url}: goku/ kept changing under this update (${CAS_ATTEMPTS} tries); try again`,
        );
      }
      await this.refresh();
    }
  }

  /** Runs one transaction; false when a check-and-set failed (someone else wrote first). */
  private async txn(ops: KvOp[]): Promise<boolean> {
    const body = ops.map((op) => ({
      KV: {
        Verb: op.verb,
        Key: op.key,
        ...(op.verb === 'cas' ? { Value: Buffer.from(op.value).toString('base64') } : {}),
        ...(op.verb !== 'delete-tree' ? { Index: op.index } : {}),
      },
    }));
    let res: { Results?: { KV?: KvItem }[] | null };
    try {
      res = (await this.consul.transaction.create(
        body as never,
        { timeout: REQUEST_MS } as never,
      )) as typeof res;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 409) return false;
      throw this.unavailable(err);
    }
    // Move the local copy forward by exactly what the transaction did.
    for (const op of ops) {
      if (op.verb === 'delete-tree') {
        for (const k of [...this.pairs.keys()]) if (k.startsWith(op.key)) this.pairs.delete(k);
      } else if (op.verb === 'delete-cas') {
        this.pairs.delete(op.key);
      }
    }
    const written = new Map((res.Results ?? []).flatMap((r) => (r.KV ? [[r.KV.Key, r.KV.ModifyIndex]] : [])));
    for (const op of ops) {
      if (op.verb !== 'cas') continue;
      const index = written.get(op.key) ?? 0;
      this.pairs.set(op.key, { value: op.value, index });
      this.index = Math.max(this.index, index);
    }
    return true;
  }

  private valueMap(): Pairs {
    return new Map([...this.pairs].map(([k, v]) => [k, v.value]));
  }

  /** Reloads goku/ whole. */
  private async refresh(): Promise<void> {
    const { index, items } = await this.get(undefined);
    this.load(index, items);
  }

  private load(index: number, items: KvItem[]): void {
    this.pairs = new Map(items.map((i) => [i.Key, { value: i.Value ?? '', index: i.ModifyIndex }]));
    this.index = index;
    const problems: string[] = [];
    this.data = snapshotOf(fromPairs(this.valueMap(), problems));
    const text = problems.join('; ');
    // Said once per new set of problems, not at every reload.
    if (text && text !== this.lastProblems) this.o.log.warn({ problems }, 'Consul keys goku cannot use');
    this.lastProblems = text;
  }

  /** GET goku/?recurse, blocking until the index moves past `waitIndex` when it is given. */
  private async get(waitIndex: number | undefined): Promise<{ index: number; items: KvItem[] }> {
    const ctx = Object.assign(new EventEmitter(), { includeResponse: true });
    if (waitIndex !== undefined) this.watchCtx = ctx;
    try {
      const [res, body] = (await this.consul.kv.get({
        key: PREFIX,
        recurse: true,
        ctx,
        ...(waitIndex !== undefined
          ? { index: String(waitIndex), wait: `${WAIT_S}s`, timeout: (WAIT_S + 15) * 1000 }
          : { timeout: REQUEST_MS }),
      } as never)) as unknown as [RawResponse, KvItem[] | undefined];
      // The client has decoded the values (base64 on the wire) to UTF-8 strings.
      return { index: Number(res.headers['x-consul-index'] ?? 0), items: body ?? [] };
    } catch (err) {
      throw this.unavailable(err);
    } finally {
      if (this.watchCtx === ctx) this.watchCtx = null;
    }
  }

  /** Follows goku/ with blocking queries, so hand edits reach read() within moments. */
  private async watch(): Promise<void> {
    let failing = false;
    while (!this.closed) {
      try {
        const asked = this.index;
        const { index, items } = await this.get(asked);
        failing = false;
        await this.serial.run(async () => {
          // Below what was asked: Consul's state was reset, take it whole.
          if (index < asked || index >= this.index) this.load(index, items);
          // Older than a write of this goku's made while it travelled: loaded, it would undo that
          // write here; skipped, what it brought would wait for the next change. Read afresh.
          else await this.refresh();
        });
      } catch (err) {
        if (this.closed) return;
        if (!failing) this.o.log.warn({ err: oneLine(err) }, 'Consul watch failed; retrying');
        failing = true;
        await new Promise((r) => setTimeout(r, 1000).unref());
      }
    }
  }

  async services(app?: string): Promise<ServiceRecord[]> {
    let list: Record<string, ConsulService>;
    try {
      list = (await this.consul.agent.service.list({ timeout: REQUEST_MS } as never)) as Record<
        string,
        ConsulService
      >;
    } catch (err) {
      throw this.unavailable(err);
    }
    return Object.values(list)
      .filter((s) => s.Meta?.['goku-app'] && (app === undefined || s.Meta['goku-app'] === app))
      .map((s) => ({
        id: s.ID,
        name: s.Service,
        app: s.Meta?.['goku-app'] as string,
        address: s.Address,
        port: s.Port,
        tags: s.Tags ?? [],
      }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async syncServices(app: string, records: ServiceRecord[]): Promise<void> {
    const current = await this.services(app);
    const same = (a: ServiceRecord, b: ServiceRecord) => JSON.stringify(a) === JSON.stringify(b);
    try {
      for (const r of records) {
        if (current.some((c) => same(c, r))) continue;
        await this.consul.agent.service.register({
          id: r.id,
          name: r.name,
          address: r.address,
          port: r.port,
          tags: r.tags,
          meta: { 'goku-app': app },
          timeout: REQUEST_MS,
        } as never);
      }
      for (const c of current) {
        if (!records.some((r) => r.id === c.id)) await this.consul.agent.service.deregister(c.id);
      }
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  close(): void {
    this.closed = true;
    this.watchCtx?.emit('cancel');
  }

  /** Every Consul failure becomes one line that says which Consul and what it said. */
  private unavailable(err: unknown): GokuError {
    if (err instanceof GokuError) return err;
    const e = err as { statusCode?: number; code?: string; message?: string };
    const what =
      e.statusCode === 403
        ? 'refused the token (ACL); check GOKU_CONSUL_TOKEN'
        : e.statusCode
          ? `answered ${e.statusCode} (${oneLine(e.message ?? '')})`
          : `is unreachable (${e.code ?? oneLine(err)})`;
    return new GokuError('GOKU_ERR_STORE_UNAVAILABLE', `Consul at ${this.o.url} ${what}`);
  }
}

interface ConsulService {
  ID: string;
  Service: string;
  Address: string;
  Port: number;
  Tags?: string[];
  Meta?: Record<string, string>;
}
