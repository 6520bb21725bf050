import { describe, expect, it } from 'vitest';
import { commandTable } from '../../src/commands/index.js';
import { apiRoutes } from '../../src/http/api-routes.js';

// The API is generated from the command table: none may be missing, none may name a command
// that does not exist, and no two routes may share a method and path.
describe('API routes', () => {
  const table = commandTable();
  const routes = apiRoutes();

  it('give every command but server a route', () => {
    const routed = new Set(routes.map((r) => r.command));
    const missing = table.map((c) => c.name).filter((n) => !routed.has(n) && n !== 'server');
    expect(missing).toEqual([]);
  });

  it('name only commands of the table, each route once', () => {
    const names = new Set(table.map((c) => c.name));
    expect(routes.filter((r) => !names.has(r.command))).toEqual([]);
    const keys = routes.map((r) => `${r.method} ${r.url}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('ask --json only of commands that print it, and stream only long work', () => {
    for (const r of routes) {
      const c = table.find((x) => x.name === r.command);
      if (r.json) expect(c?.options?.json, r.url).toBeDefined();
      if (r.stream) expect(r.method, r.url).not.toBe('GET' === r.method && r.command !== 'logs' ? 'GET' : '');
    }
  });
});
