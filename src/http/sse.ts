import type { ServerResponse } from 'node:http';

/** Past this much unsent data the client is not reading: the stream is closed, not buffered. */
const MAX_BACKLOG = 4 * 1024 * 1024;

/**
 * A Server-Sent Events stream on a response whose head is written at the first event, so a
 * request that fails before any output still gets a plain JSON error and its status.
 */
export class EventStream {
  private started = false;
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(
    private readonly res: ServerResponse,
    private readonly headers: Record<string, string> = {},
  ) {}

  get open(): boolean {
    return !this.res.destroyed && !this.res.writableEnded;
  }

  get begun(): boolean {
    return this.started;
  }

  /** Writes the head now (a stream that may stay silent, such as an app's events). */
  begin(): void {
    if (this.started || !this.open) return;
    this.started = true;
    this.res.writeHead(200, {
      ...this.headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // nginx in front of goku must not buffer the stream.
      'x-accel-buffering': 'no',
    });
    this.res.flushHeaders();
    // A comment every 15 s keeps proxies and browsers from timing an idle stream out.
    this.heartbeat = setInterval(() => this.raw(': keep-alive\n\n'), 15_000);
    this.heartbeat.unref();
    this.res.once('close', () => this.stopHeartbeat());
  }

  /** One event; data is text (each line a data: line) or JSON. */
  send(event: string, data: unknown): void {
    this.begin();
    const text = typeof data === 'string' ? data : JSON.stringify(data);
    this.raw(
      `event: ${event}\n${text
        .split(/\r\n|\r|\n/)
        .map((l) => `data: ${l}`)
        .join('\n')}\n\n`,
    );
  }

  end(): void {
    this.stopHeartbeat();
    if (this.open) this.res.end();
  }

  private raw(text: string): void {
    if (!this.open) return;
    if (this.res.writableLength > MAX_BACKLOG) {
      this.res.destroy();
      return;
    }
    this.res.write(text);
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}
