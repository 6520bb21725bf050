import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import type { GokuServer } from './goku.js';

export interface SseEvent {
  event: string;
  data: string;
}

/** The admin token a test server wrote into its GOKU_HOME. */
export function adminToken(server: GokuServer): string {
  return readFileSync(join(server.home, 'admin-token'), 'utf8').trim();
}

/** Server-Sent Events of a text (complete events only). */
export function parseSse(text: string): SseEvent[] {
  const out: SseEvent[] = [];
  for (const block of text.split('\n\n')) {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (data.length) out.push({ event, data: data.join('\n') });
  }
  return out;
}

/** A client of goku's HTTP API (the admin token unless told otherwise). */
export class Api {
  constructor(
    private readonly server: GokuServer,
    readonly token: string | null = adminToken(server),
  ) {}

  /** One request; the body is JSON unless a string is given. */
  async request(
    method: string,
    path: string,
    opts: { body?: unknown; accept?: string; headers?: Record<string, string> } = {},
    // biome-ignore lint/suspicious/noExplicitAny: tests read whatever each route answers
  ): Promise<{ status: number; json: any; text: string; type: string }> {
    const headers: Record<string, string> = { ...opts.headers };
    if (this.token !== null) headers.authorization = `Bearer ${this.token}`;
    if (opts.accept) headers.accept = opts.accept;
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(`http://127.0.0.1:${this.server.httpPort}${path}`, { method, headers, body });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON (an event stream)
    }
    return { status: res.status, json, text, type: res.headers.get('content-type') ?? '' };
  }

  /** JSON answer (Accept: application/json), long work included. */
  json(method: string, path: string, body?: unknown) {
    return this.request(method, path, {
      ...(body !== undefined ? { body } : {}),
      accept: 'application/json',
    });
  }

  /** A streamed request read to its end: its events. */
  async events(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; events: SseEvent[] }> {
    const r = await this.request(method, path, {
      ...(body !== undefined ? { body } : {}),
      accept: 'text/event-stream',
    });
    return { status: r.status, events: r.type.startsWith('text/event-stream') ? parseSse(r.text) : [] };
  }

  /** An event stream left open: the events so far, and a way to hang up. */
  open(method: string, path: string, body?: unknown): OpenStream {
    return new OpenStream(this.server.httpPort, method, path, this.token, body);
  }
}

export class OpenStream {
  text = '';
  status = 0;
  ended = false;
  private readonly req: http.ClientRequest;
  readonly ready: Promise<void>;

  constructor(port: number, method: string, path: string, token: string | null, body?: unknown) {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let ready: () => void = () => undefined;
    this.ready = new Promise((r) => {
      ready = r;
    });
    this.req = http.request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      this.status = res.statusCode ?? 0;
      ready();
      res.on('data', (d: Buffer) => {
        this.text += d.toString();
      });
      res.on('end', () => {
        this.ended = true;
      });
      res.on('error', () => undefined);
    });
    this.req.on('error', () => undefined);
    this.req.end(body !== undefined ? JSON.stringify(body) : undefined);
  }

  get events(): SseEvent[] {
    return parseSse(this.text.slice(0, this.text.lastIndexOf('\n\n') + 2));
  }

  close(): void {
    this.req.destroy();
  }
}
