import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * Consul cannot be installed on these machines, so the Consul adapter is tested against this:
 * a small HTTP server speaking the subset of Consul's API goku uses, with Consul's semantics
 * (https://developer.hashicorp.com/consul/api-docs/kv, /txn, /agent/service):
 *
 * - GET /v1/kv/KEY[?recurse][&index=N&wait=Ds]: entries with base64 values and Create/Modify
 *   indexes, 404 when none; X-Consul-Index on every answer; a blocking query waits until the
 *   index passes N or the wait ends.
 * - PUT /v1/kv/KEY[?cas=N] (body = raw value) and DELETE /v1/kv/KEY[?recurse][?cas=N]: true or false.
 * - PUT /v1/txn: set, cas, delete, delete-cas, delete-tree; all or nothing, 409 with Errors on
 *   a failed check, 413 beyond 64 operations.
 * - PUT /v1/agent/service/register, PUT /v1/agent/service/deregister/ID, GET /v1/agent/services.
 * - An ACL token, when set, is required in X-Consul-Token (403 otherwise).
 *
 * `failWith` makes every request answer that status (a Consul in trouble).
 */
export class FakeConsul {
  readonly kv = new Map<string, { value: Buffer; create: number; modify: number }>();
  readonly services = new Map<string, Record<string, unknown>>();
  /** Raft index: moves with every KV write (deletes too). */
  index = 1;
  failWith: number | null = null;
  /** Holds the answer of a blocking query this long after it was read (a slow network). */
  answerDelayMs = 0;
  /** Requests seen, "METHOD path?query", for assertions on the protocol use. */
  readonly requests: string[] = [];
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private waiters: (() => void)[] = [];
  port = 0;

  constructor(private readonly token?: string) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(port = 0): Promise<void> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        res.statusCode = 500;
        res.end(String(err));
      });
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((r) => this.server?.listen(port, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Stops answering: the port is closed and open connections are cut, like a dead agent. */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server = null;
    for (const w of this.waiters.splice(0)) w();
  }

  /** What `consul kv put KEY VALUE` does. */
  put(key: string, value: string): void {
    this.write(key, Buffer.from(value));
  }

  get(key: string): string | undefined {
    return this.kv.get(key)?.value.toString('utf8');
  }

  keys(prefix: string): string[] {
    return [...this.kv.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  private write(key: string, value: Buffer): number {
    const i = ++this.index;
    const prev = this.kv.get(key);
    this.kv.set(key, { value, create: prev?.create ?? i, modify: i });
    this.changed();
    return i;
  }

  private remove(keys: string[]): void {
    for (const k of keys) this.kv.delete(k);
    this.index++;
    this.changed();
  }

  private changed(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private entry(key: string) {
    const e = this.kv.get(key);
    if (!e) return null;
    return {
      Key: key,
      Value: e.value.length ? e.value.toString('base64') : null,
      Flags: 0,
      LockIndex: 0,
      CreateIndex: e.create,
      ModifyIndex: e.modify,
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const q = url.searchParams;
    this.requests.push(`${req.method} ${url.pathname}${url.search}`);
    const body = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks)));
    });
    const send = (status: number, data: unknown, type = 'application/json') => {
      res.statusCode = status;
      res.setHeader('Content-Type', type);
      res.setHeader('X-Consul-Index', String(this.index));
      res.end(typeof data === 'string' && type !== 'application/json' ? data : JSON.stringify(data));
    };
    if (this.failWith) return send(this.failWith, 'rpc error: No cluster leader', 'text/plain');
    if (this.token && req.headers['x-consul-token'] !== this.token) {
      return send(403, 'ACL not found', 'text/plain');
    }
    const path = url.pathname;

    if (path.startsWith('/v1/kv/')) {
      const key = decodeURIComponent(path.slice('/v1/kv/'.length));
      if (req.method === 'GET') {
        const wait = q.get('index');
        if (wait !== null && this.index <= Number(wait)) {
          const ms = Number((q.get('wait') ?? '300s').replace(/s$/, '')) * 1000;
          await new Promise<void>((r) => {
            const t = setTimeout(r, ms);
            this.waiters.push(() => {
              clearTimeout(t);
              r();
            });
          });
        }
        const keys = q.has('recurse') ? this.keys(key) : this.kv.has(key) ? [key] : [];
        if (keys.length === 0) return send(404, '', 'text/plain');
        const entries = keys.map((k) => this.entry(k));
        const index = this.index;
        if (wait !== null && this.answerDelayMs) {
          // Read now, delivered later: writes made meanwhile are not in it.
          await new Promise((r) => setTimeout(r, this.answerDelayMs));
          res.setHeader('X-Consul-Index', String(index));
          res.setHeader('Content-Type', 'application/json');
          res.end(JSON.stringify(entries));
          return;
        }
        return send(200, entries);
      }
      if (req.method === 'PUT') {
        const cas = q.get('cas');
        if (cas !== null && (this.kv.get(key)?.modify ?? 0) !== Number(cas)) return send(200, false);
        this.write(key, body);
        return send(200, true);
      }
      if (req.method === 'DELETE') {
        const cas = q.get('cas');
        if (cas !== null && (this.kv.get(key)?.modify ?? 0) !== Number(cas)) return send(200, false);
        this.remove(q.has('recurse') ? this.keys(key) : [key]);
        return send(200, true);
      }
    }

    if (path === '/v1/txn' && req.method === 'PUT') {
      const ops = JSON.parse(body.toString('utf8')) as {
        KV: { Verb: string; Key: string; Value?: string; Index?: number };
      }[];
      if (ops.length > 64)
        return send(413, `Transaction contains too many operations (${ops.length} > 64)`, 'text/plain');
      // Check every operation first: a transaction is all or nothing.
      const errors = ops.flatMap((op, i) => {
        const { Verb, Key, Index } = op.KV;
        if (!['set', 'cas', 'delete', 'delete-cas', 'delete-tree'].includes(Verb)) {
          return [{ OpIndex: i, What: `unknown KV verb "${Verb}"` }];
        }
        if ((Verb === 'cas' || Verb === 'delete-cas') && (this.kv.get(Key)?.modify ?? 0) !== Index) {
          return [
            {
              OpIndex: i,
              What: `failed to ${Verb === 'cas' ? 'set' : 'delete'} key "${Key}", index is stale`,
            },
          ];
        }
        return [];
      });
      if (errors.length) return send(409, { Results: null, Errors: errors });
      // One raft entry: every write in it gets the same index.
      const i = ++this.index;
      const results: unknown[] = [];
      for (const { KV } of ops) {
        if (KV.Verb === 'set' || KV.Verb === 'cas') {
          const prev = this.kv.get(KV.Key);
          this.kv.set(KV.Key, {
            value: Buffer.from(KV.Value ?? '', 'base64'),
            create: prev?.create ?? i,
            modify: i,
          });
          results.push({ KV: { ...this.entry(KV.Key), Value: null } });
        } else if (KV.Verb === 'delete-tree') {
          for (const k of this.keys(KV.Key)) this.kv.delete(k);
        } else {
          this.kv.delete(KV.Key);
        }
      }
      this.changed();
      return send(200, { Results: results, Errors: null });
    }

    if (path === '/v1/agent/services' && req.method === 'GET') {
      return send(200, Object.fromEntries(this.services));
    }
    if (path === '/v1/agent/service/register' && req.method === 'PUT') {
      const s = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      const id = String(s.ID ?? s.Name);
      this.services.set(id, {
        ID: id,
        Service: s.Name,
        Tags: s.Tags ?? [],
        Meta: s.Meta ?? {},
        Address: s.Address ?? '',
        Port: s.Port ?? 0,
      });
      return send(200, '', 'text/plain');
    }
    if (path.startsWith('/v1/agent/service/deregister/') && req.method === 'PUT') {
      const id = decodeURIComponent(path.slice('/v1/agent/service/deregister/'.length));
      if (!this.services.delete(id)) return send(404, `Unknown service ID "${id}"`, 'text/plain');
      return send(200, '', 'text/plain');
    }
    send(404, 'not found', 'text/plain');
  }
}
