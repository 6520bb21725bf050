import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { AppEvents } from '../app/events.js';
import type { Monitor } from '../app/monitor.js';
import { findCommand, invokeCommand } from '../commands/index.js';
import type { Caller, Command, CommandIO, Services, Terminal } from '../commands/types.js';
import { assertAppName } from '../core/names.js';
import { errorBody, GokuError, httpStatus } from '../errors.js';
import { type ApiRoute, apiRoutes } from './api-routes.js';
import { EventStream } from './sse.js';

/** A buffered answer keeps at most this much output; past it the text says it was cut. */
const MAX_OUTPUT = 8 * 1024 * 1024;

export interface ApiDeps {
  table: Command[];
  services: Services;
  events: AppEvents;
  monitor: Monitor;
  log: Logger;
  /** Who is calling (set by the auth hook: the bearer token or a dashboard session). */
  caller(req: FastifyRequest): Caller;
}

/** Registers every route of apiRoutes() and the two streams that are not commands. */
export function registerApi(app: FastifyInstance, d: ApiDeps): void {
  // Behind the auth hook, each route asks again who calls: none may act for nobody.
  const preHandler = async (req: FastifyRequest) => void d.caller(req);
  for (const r of apiRoutes()) {
    const command = findCommand(d.table, r.command);
    if (!command) throw new Error(`API route ${r.method} ${r.url} names no command ${r.command}`);
    app.route({
      method: r.method,
      url: r.url,
      schema: {
        summary: `goku ${command.usage}`,
        description: command.summary,
        tags: [r.url.startsWith('/api/apps/:app') ? 'app' : (r.url.split('/')[2] ?? 'api')],
        ...(r.params ? { params: r.params } : {}),
        ...(r.query ? { querystring: r.query } : {}),
        ...(r.body ? { body: r.body } : {}),
      },
      preHandler,
      handler: (req, reply) => handle(d, r, command, req, reply),
    });
  }
  const appParams = z.object({ app: z.string().max(200) });
  app.get('/api/apps/:app/events', {
    schema: {
      summary: "An app's deploys as they happen (Server-Sent Events: start, progress, done, failed)",
      description: 'Whatever started them: a git push, a webhook, the registry watcher, a command.',
      tags: ['app'],
      params: appParams,
    },
    preHandler,
    handler: (req, reply) => streamEvents(d, (req.params as { app: string }).app, reply),
  });
  app.get('/api/apps/:app/stats', {
    schema: {
      summary: "CPU, memory and network of the app's running instances",
      description:
        'Server-Sent Events: a stats event every 2 s (CPU and rates from the second on); ?once=true answers one JSON sample.',
      tags: ['app'],
      params: appParams,
      querystring: z.object({ once: z.enum(['true', 'false']).optional() }),
    },
    preHandler,
    handler: (req, reply) => streamStats(d, req, reply),
  });
  app.get('/api/apps/:app/live', {
    schema: {
      summary: "What the dashboard's app page follows, on one connection (Server-Sent Events)",
      description:
        'Deploy events (start, progress, done, failed), log lines (log), and stats every 2 s (stats).',
      tags: ['app'],
      params: appParams,
      querystring: z.object({
        lines: z.string().max(5).optional().describe('past log lines first (default 100)'),
      }),
    },
    preHandler,
    handler: (req, reply) => streamLive(d, req, reply),
  });
}

/**
 * GET /api/apps/APP/live: what an app's page follows, on one connection (a browser opens at
 * most six per server, so three streams per tab would hang the third tab): its deploys
 * (start, progress, done, failed), its log lines (log; the last ?lines=N first) and its
 * instances' stats every 2 s (stats).
 */
function streamLive(d: ApiDeps, req: FastifyRequest, reply: FastifyReply): void {
  const app = assertAppName((req.params as { app: string }).app);
  d.services.ops.get(app);
  const lines = Math.min(1000, Math.max(0, Number((req.query as { lines?: string }).lines ?? 100) || 0));
  const { stream, signal } = openStream(reply);
  forwardEvents(d, app, stream, signal);
  void followLogs(d, app, lines, stream, signal);
  void sampleStats(d, app, stream, signal);
}

/** A hijacked reply as an event stream already begun, and a signal that aborts when the client leaves. */
function openStream(reply: FastifyReply): { stream: EventStream; signal: AbortSignal } {
  reply.hijack();
  const stream = new EventStream(reply.raw);
  stream.begin();
  const stop = new AbortController();
  reply.raw.once('close', () => stop.abort());
  return { stream, signal: stop.signal };
}

/** The app's deploy events onto the stream (start, progress, done, failed) until the signal aborts. */
function forwardEvents(d: ApiDeps, app: string, stream: EventStream, signal: AbortSignal): void {
  const off = d.events.subscribe(app, (e) => {
    const { type, ...data } = e;
    stream.send(type, data);
  });
  signal.addEventListener('abort', off, { once: true });
}

/** An app's log lines until the client leaves; opened again when its containers change. */
async function followLogs(d: ApiDeps, app: string, lines: number, stream: EventStream, signal: AbortSignal) {
  let tail = lines;
  let told = '';
  while (!signal.aborted && stream.open) {
    try {
      await d.services.ops.logs(app, { tail, follow: true, signal }, (l) => stream.send('log', l));
      told = '';
    } catch (err) {
      const { message, code } = errorBody(err);
      if (message !== told) stream.send('log-error', { message });
      told = message;
      // The app is gone (destroyed, renamed): nothing more will come.
      if (code === 'GOKU_ERR_APP_NOT_FOUND') return stream.end();
    }
    // Lines written before the stream opens again are not sent twice: only new ones from now.
    tail = 0;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function sampleStats(d: ApiDeps, app: string, stream: EventStream, signal: AbortSignal) {
  while (!signal.aborted && stream.open) {
    try {
      stream.send('stats', { at: new Date().toISOString(), instances: await d.monitor.stats(app) });
    } catch (err) {
      stream.send('stats-error', errorBody(err));
    }
    await new Promise((r) => setTimeout(r, STATS_INTERVAL_MS));
  }
}

/** Stats samples this often; Docker's one-shot stats take a few ms per container. */
const STATS_INTERVAL_MS = 2000;

async function streamStats(d: ApiDeps, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const app = assertAppName((req.params as { app: string }).app);
  d.services.ops.get(app);
  if ((req.query as { once?: string }).once === 'true') {
    await reply.send({ at: new Date().toISOString(), instances: await d.monitor.stats(app) });
    return;
  }
  const { stream, signal } = openStream(reply);
  await sampleStats(d, app, stream, signal);
}

/** Server-Sent Events unless the client asks for JSON only. */
function wantsEvents(accept: string | undefined): boolean {
  if (!accept) return true;
  return accept.includes('text/event-stream') || !accept.includes('application/json');
}

async function handle(
  d: ApiDeps,
  r: ApiRoute,
  command: Command,
  req: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  const input = {
    params: (req.params ?? {}) as Record<string, string>,
    query: (req.query ?? {}) as Record<string, unknown>,
    body: (req.body ?? {}) as Record<string, unknown>,
  };
  const inv = r.call(input);
  const streaming = typeof r.stream === 'function' ? r.stream(input) : r.stream === true;
  const flags = { ...inv.flags, ...(r.json ? { json: true } : {}) };
  // Flags bypass the option parser: only the command's own may be set.
  const unknown = Object.keys(flags).find((f) => !command.options?.[f]);
  if (unknown)
    throw new GokuError('GOKU_ERR_INTERNAL', `route ${r.url} sets --${unknown}, which ${command.name} lacks`);
  const stream = streaming && wantsEvents(req.headers.accept) ? new EventStream(reply.raw) : null;
  if (stream) reply.hijack();
  const sink = new Sink(stream);
  const aborted = new AbortController();
  // A client that goes away stops what follows (logs -t, an attached run); a deploy it
  // started does not look at the signal and runs to its end.
  reply.raw.once('close', () => aborted.abort());
  const io: CommandIO = {
    stdin: inv.stdin ?? '',
    out: (t) => sink.out(t),
    err: (t) => sink.err(t),
    color: false,
    signal: aborted.signal,
    ...(r.terminal ? { terminal: terminalOf(inv.stdin ?? '', sink) } : {}),
  };
  let exitCode: number;
  try {
    exitCode = await invokeCommand(command, [...inv.args], flags, io, d.caller(req), d.services);
  } catch (err) {
    if (httpStatus(err) >= 500)
      d.log.warn({ err: errorBody(err).message, route: r.url }, 'API request failed');
    if (!stream) throw err;
    if (stream.begun) stream.send('error', errorBody(err));
    else sendJson(reply, httpStatus(err), errorBody(err));
    stream.end();
    return;
  }
  const result = r.json ? parseJson(sink.text) : sink.result(exitCode);
  if (!stream) {
    await reply.code(200).send(result);
    return;
  }
  stream.send('result', r.json ? result : { exitCode });
  stream.end();
}

/** A reply whose head fastify no longer writes (hijacked): a JSON body by hand. */
function sendJson(reply: FastifyReply, status: number, body: unknown): void {
  if (reply.raw.headersSent || reply.raw.destroyed) return;
  reply.raw.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  reply.raw.end(JSON.stringify(body));
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new GokuError('GOKU_ERR_INTERNAL', 'the command did not print JSON');
  }
}

/**
 * Where a command's output goes: progress events line by line on a stream, otherwise a
 * buffer (bounded) for the JSON answer.
 */
class Sink {
  private buf = '';
  private errBuf = '';
  private partial = '';
  private cut = false;
  private readonly decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };

  constructor(private readonly stream: EventStream | null) {}

  get text(): string {
    return this.buf;
  }

  out(t: string): void {
    if (!this.stream) {
      this.buf = this.append(this.buf, t);
      return;
    }
    const lines = (this.partial + t).split('\n');
    this.partial = lines.pop() ?? '';
    for (const l of lines) this.stream.send('progress', l);
  }

  err(t: string): void {
    if (this.stream) this.stream.send('stderr', t.replace(/\n$/, ''));
    else this.errBuf = this.append(this.errBuf, t);
  }

  /** Raw terminal output of run/enter (not line based; a character split across chunks is kept whole). */
  raw(kind: 'stdout' | 'stderr', data: Buffer): void {
    const t = this.decoders[kind].write(data);
    if (!t) return;
    if (this.stream) this.stream.send(kind, t);
    else if (kind === 'stdout') this.buf = this.append(this.buf, t);
    else this.errBuf = this.append(this.errBuf, t);
  }

  result(exitCode: number): Record<string, unknown> {
    if (this.partial && this.stream) this.stream.send('progress', this.partial);
    return { output: this.buf, ...(this.errBuf ? { stderr: this.errBuf } : {}), exitCode };
  }

  private append(to: string, t: string): string {
    if (to.length + t.length <= MAX_OUTPUT) return to + t;
    if (!this.cut) {
      this.cut = true;
      return `${to}\n[output cut at ${MAX_OUTPUT} bytes]\n`;
    }
    return to;
  }
}

/** run and enter over HTTP: no tty, stdin from the body, output as it comes. */
function terminalOf(stdin: string, sink: Sink): Terminal {
  return {
    input: Readable.from(stdin ? [Buffer.from(stdin)] : []),
    write: (data) => sink.raw('stdout', data),
    writeErr: (data) => sink.raw('stderr', data),
    tty: null,
    onResize: () => undefined,
  };
}

/** GET /api/apps/APP/events: the app's deploys from now on, until the client leaves. */
function streamEvents(d: ApiDeps, app: string, reply: FastifyReply): void {
  d.services.ops.get(assertAppName(app));
  const { stream, signal } = openStream(reply);
  forwardEvents(d, app, stream, signal);
}
