import { isIP } from 'node:net';
import { GokuError } from '../errors.js';

// Swarm membership input, checked before anything reaches the engine.

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
/** Docker's join token: SWMTKN-1-<cluster CA digest>-<secret>. */
const TOKEN = /^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$/;

const bad = (msg: string) => new GokuError('GOKU_ERR_USAGE', msg);

/** A manager's address: HOST, HOST:PORT, [IPv6] or [IPv6]:PORT; the port defaults to 2377. */
export function parseManagerAddr(input: string): string {
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i.exec(input.trim());
  const host = m?.[1] ?? '';
  const port = m?.[2] === undefined ? 2377 : Number(m[2]);
  const bare = host.startsWith('[') ? host.slice(1, -1) : host;
  const hostOk = host.startsWith('[') ? isIP(bare) === 6 : isIP(bare) === 4 || HOSTNAME.test(bare);
  if (!m || !hostOk || port < 1 || port > 65535)
    throw bad(`invalid manager address "${input}": give HOST or HOST:PORT (the port defaults to 2377)`);
  return `${host}:${port}`;
}

export function assertJoinToken(input: string): string {
  const t = input.trim();
  if (!TOKEN.test(t))
    throw bad(
      'invalid join token: it looks like SWMTKN-1-…; print one on the manager with goku cluster:join-token',
    );
  return t;
}

/** The address other nodes reach this one at: an IP (optionally :PORT) or an interface name. */
export function parseAdvertiseAddr(input: string): string {
  const v = input.trim();
  const m = /^([0-9.]+|\[[0-9a-f:.]+\])(?::(\d{1,5}))?$/i.exec(v);
  if (m) {
    const host = m[1] as string;
    const ip = host.startsWith('[') ? host.slice(1, -1) : host;
    const port = m[2] === undefined ? null : Number(m[2]);
    if (isIP(ip) && (port === null || (port >= 1 && port <= 65535))) return v;
  } else if (/^[a-z][a-z0-9_.-]{0,14}$/i.test(v)) {
    return v; // an interface name (eth0), as docker swarm init takes it
  }
  throw bad(
    `invalid --advertise-addr "${input}": give this node's IP address (or an interface name such as eth0)`,
  );
}
