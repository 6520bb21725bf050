import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** The HTTP endpoint: /ping for now; the API, webhooks and dashboard arrive with their issues. */
export class HttpServer {
  private server: http.Server | null = null;

  async listen(host: string, port: number): Promise<number> {
    const server = http.createServer((req, res) => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method === 'GET' && req.url === '/ping') return send(200, { message: 'pong' });
      send(404, { message: 'not found' });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
