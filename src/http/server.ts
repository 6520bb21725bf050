import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { WatchService } from '../app/watch.js';
import { errorBody, GokuError, httpStatus, oneLine } from '../errors.js';
import { HOOK_KINDS, type HookKind, type Webhooks } from '../registry/webhooks.js';
import { watcherRoute } from './watcher-api.js';

/** Webhook bodies past this are refused with 413 before they are read whole. */
export const MAX_HOOK_BODY = 1024 * 1024;

/** API bodies past this are refused with 413. */
const MAX_API_BODY = 64 * 1024;

/**
 * The HTTP endpoint: /ping, the registry webhooks (secret in the path) and, behind the admin
 * bearer token, registrywatcher's API; the rest of the API and the dashboard arrive with
 * their issue.
 */
export class HttpServer {
  private server: http.Server | null = null;

  constructor(
    private readonly d: { webhooks: Webhooks; watch: WatchService; adminToken: string; log: Logger },
  ) {}

  async listen(host: string, port: number): Promise<number> {
    const server = http.createServer((req, res) => {
      void this.route(req, res);
    });
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const send = (status: number, body: unknown) => {
      if (res.headersSent) return;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const path = (req.url ?? '/').split('?')[0] as string;
    if (req.method === 'GET' && (path === '/ping' || path === '/ping/'))
      return send(200, { message: 'pong' });
    if (!path.startsWith('/hooks/')) return this.api(req, path, send);
    const hook = /^\/hooks\/([a-z]+)\/([^/]*)$/.exec(path);
    // The secret is part of the path: a wrong one (or an unknown hook) is a plain 404, and
    // neither the path nor the body is logged.
    if (!hook || !HOOK_KINDS.includes(hook[1] as HookKind) || !this.d.webhooks.accepts(hook[2] as string)) {
      req.resume();
      return send(404, { message: 'not found' });
    }
    if (req.method !== 'POST') {
      req.resume();
      return send(405, { message: 'webhooks take POST' });
    }
    try {
      const text = await readBody(req, MAX_HOOK_BODY);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new GokuError('GOKU_ERR_WEBHOOK_PAYLOAD', 'the body is not JSON');
      }
      const answer = await this.d.webhooks.handle(hook[1] as HookKind, body);
      send(answer.status, answer.body);
    } catch (err) {
      const status = httpStatus(err);
      const body = errorBody(err);
      if (status >= 500) this.d.log.warn({ err: body.message }, 'webhook failed');
      if (status === 413) {
        // A body still arriving past the limit: answer, then drop the connection.
        res.setHeader('connection', 'close');
        res.once('finish', () => req.socket.destroy());
      }
      send(status, body);
    }
  }

  /** Everything but /ping and the hooks: the admin token first, then the route. */
  private async api(
    req: http.IncomingMessage,
    path: string,
    send: (status: number, body: unknown) => void,
  ): Promise<void> {
    try {
      if (!this.authorized(req.headers.authorization)) {
        req.resume();
        throw new GokuError(
          'GOKU_ERR_UNAUTHORIZED',
          'send Authorization: Bearer TOKEN (GOKU_HOME/admin-token)',
        );
      }
      const body = async () => {
        const text = await readBody(req, MAX_API_BODY);
        try {
          return text.trim() === '' ? {} : (JSON.parse(text) as unknown);
        } catch {
          throw new GokuError('GOKU_ERR_USAGE', 'the body is not JSON');
        }
      };
      const answer = await watcherRoute(this.d.watch, req.method ?? 'GET', path, body);
      if (!answer) {
        req.resume();
        throw new GokuError('GOKU_ERR_NOT_FOUND', `no route ${req.method} ${path.slice(0, 80)}`);
      }
      send(answer.status, answer.body);
    } catch (err) {
      const status = httpStatus(err);
      if (status >= 500)
        this.d.log.warn({ err: oneLine(err), path: path.slice(0, 80) }, 'API request failed');
      send(status, errorBody(err));
    }
  }

  /** Constant time, as the webhook secret: hashes of both are compared. */
  private authorized(header: string | undefined): boolean {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!m) return false;
    const h = (v: string) => createHash('sha256').update(v).digest();
    return timingSafeEqual(h(m[1] as string), h(this.d.adminToken));
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** Reads a request body up to `max` bytes (GOKU_ERR_BODY_TOO_LARGE past it, by header or by count). */
function readBody(req: http.IncomingMessage, max: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) {
    return Promise.reject(new GokuError('GOKU_ERR_BODY_TOO_LARGE', `the body is over ${max} bytes`));
  }
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.removeAllListeners('data');
        reject(new GokuError('GOKU_ERR_BODY_TOO_LARGE', `the body is over ${max} bytes`));
        return;
      }
      parts.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}
