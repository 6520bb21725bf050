import http from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HealthPlan, HttpCheck } from '../core/checks.js';
import { GokuError, oneLine } from '../errors.js';
import type { ContainerRuntime } from '../runtime/types.js';

export interface HealthDeps {
  runtime: ContainerRuntime;
  /** Seconds the container has to come up (GOKU_DEPLOY_TIMEOUT). */
  timeout: number;
  /** Seconds the default check keeps watching after the first good answer (GOKU_CHECK_UPTIME). */
  uptime: number;
}

/** A container that passed its check; `watch` is what remains of it (the uptime watch). */
export interface Healthy {
  ip: string | null;
  /**
   * The default check's uptime watch (GOKU_CHECK_UPTIME), run by the caller: before routing,
   * or while nginx already routes to the container (with the old release as its backup).
   * Resolves at once for the other plans.
   */
  watch: () => Promise<void>;
}

/**
 * Waits until a new container is fit to take traffic, by its plan: the default (its port
 * answers HTTP below 500, then keeps doing so for the uptime), Docker's own HEALTHCHECK, or
 * the app.json checks. Returns the container's address and its watch; throws a GokuError
 * saying what failed.
 */
export async function awaitHealthy(
  d: HealthDeps,
  id: string,
  port: number | null,
  plan: HealthPlan,
  out: (line: string) => void,
  /** The old release stays in nginx as backup during the watch (only changes what is said). */
  opts: { backup?: boolean } = {},
): Promise<Healthy> {
  // One check's state: the start time first seen (a later one means Docker restarted it).
  const c: Check = { ...d, firstStart: null };
  const ip = await checkHealthy(c, id, port, plan, out, opts.backup === true);
  const watch =
    plan.kind === 'default' && port && d.uptime > 0 ? () => watchUptime(c, id, ip, port) : async () => {};
  return { ip, watch };
}

type Check = HealthDeps & { firstStart: string | null };

async function checkHealthy(
  d: Check,
  id: string,
  port: number | null,
  plan: HealthPlan,
  out: (line: string) => void,
  backup: boolean,
): Promise<string | null> {
  const deadline = Date.now() + d.timeout * 1000;
  const ip = await running(d, id);
  if (plan.kind === 'docker') return dockerHealthy(d, id, deadline, out).then(() => ip);
  if (plan.kind === 'checks') {
    // One deadline bounds all the checks, whatever their delays, attempts and waits add up to.
    for (const c of plan.checks) await runCheck(d, id, ip, c.port ?? port, c, deadline, out);
    return ip;
  }
  if (!port) {
    // Nothing to ask: the container must simply stay up for a moment.
    await sleep(1000);
    await running(d, id);
    return ip;
  }
  let said = false;
  for (;;) {
    const r = answer(await get(ip, port, '/', 1000));
    if (r && r.status < 500) {
      const then =
        d.uptime <= 0
          ? ''
          : backup
            ? `; it takes traffic now, with the old release as backup while it is watched for ${d.uptime}s`
            : `; it takes traffic now and is watched for ${d.uptime}s`;
      out(`-----> Healthy: GET / answered ${r.status}${then}`);
      return ip;
    }
    await running(d, id);
    if (Date.now() > deadline) {
      throw new GokuError(
        'GOKU_ERR_HEALTH_TIMEOUT',
        r
          ? `the container answered ${r.status} on port ${port} for ${d.timeout}s; it needs a status below 500`
          : `the container did not answer HTTP on port ${port} within ${d.timeout}s (set GOKU_DEPLOY_TIMEOUT to wait longer)`,
      );
    }
    if (!said) {
      out(`-----> Waiting for ${port}/tcp to answer HTTP`);
      said = true;
    }
    await sleep(10);
  }
}

/** Uptime: a container that answers once and then dies or breaks never takes traffic. */
async function watchUptime(d: Check, id: string, ip: string | null, port: number): Promise<void> {
  const until = Date.now() + d.uptime * 1000;
  while (Date.now() < until) {
    await sleep(Math.min(100, Math.max(0, until - Date.now())));
    await running(d, id);
    const r = await get(ip ?? '', port, '/', 1000);
    if ('failed' in r || r.status >= 500) {
      throw new GokuError(
        'GOKU_ERR_UNHEALTHY',
        `the container stopped answering on port ${port} during its first ${d.uptime}s (${'failed' in r ? r.failed : `status ${r.status}`})`,
      );
    }
  }
}

/**
 * The container's address once it runs; throws if it exited, is restarting, or was restarted
 * since the check began (the restart policy can hide a crash between two polls).
 */
async function running(d: Check, id: string): Promise<string> {
  const st = await d.runtime.inspectContainer(id);
  if (!st?.running) {
    throw new GokuError(
      'GOKU_ERR_CONTAINER_EXITED',
      `the container exited during start (exit code ${st?.exitCode ?? 'unknown'})`,
    );
  }
  if (d.firstStart === null) d.firstStart = st.startedAt;
  else if (d.firstStart !== st.startedAt) {
    throw new GokuError(
      'GOKU_ERR_CONTAINER_EXITED',
      'the container exited during start and was restarted by Docker',
    );
  }
  return st.ip ?? '';
}

async function dockerHealthy(
  d: HealthDeps,
  id: string,
  deadline: number,
  out: (l: string) => void,
): Promise<void> {
  let last = '';
  for (;;) {
    const st = await d.runtime.inspectContainer(id);
    if (!st?.running) {
      throw new GokuError(
        'GOKU_ERR_CONTAINER_EXITED',
        `the container exited during start (exit code ${st?.exitCode ?? 'unknown'})`,
      );
    }
    if (st.health !== last) {
      out(`-----> Docker HEALTHCHECK: ${st.health ?? 'no status yet'}`);
      last = st.health ?? '';
    }
    if (st.health === 'healthy') return;
    if (st.health === 'unhealthy')
      throw new GokuError('GOKU_ERR_UNHEALTHY', "the container's HEALTHCHECK reported unhealthy");
    if (Date.now() > deadline) {
      throw new GokuError(
        'GOKU_ERR_HEALTH_TIMEOUT',
        `the container's HEALTHCHECK did not report healthy in time (${st.health ?? 'no status'})`,
      );
    }
    await sleep(100);
  }
}

/**
 * One check of a plan, by its kind. A check with `warn` that fails is reported and passes;
 * a container that exits fails the deploy whatever the check says.
 */
async function runCheck(
  d: Check,
  id: string,
  ip: string,
  port: number | null,
  c: HttpCheck,
  deadline: number,
  out: (l: string) => void,
): Promise<void> {
  try {
    await attempts(d, id, c, deadline, out, describe(c, port), (timeoutMs) =>
      once(d, id, ip, port, c, timeoutMs, deadline),
    );
  } catch (err) {
    if (!c.warn || (err instanceof GokuError && err.code === 'GOKU_ERR_CONTAINER_EXITED')) throw err;
    out(
      `-----> Health check ${c.name} failed, but it has warn: true, so the deploy goes on (${oneLine(err)})`,
    );
  }
}

/** What a check asks, for its lines: GET /path, port 8000 listening, command [...], uptime 5s. */
function describe(c: HttpCheck, port: number | null): string {
  switch (c.kind ?? 'path') {
    case 'listening':
      return `port ${port ?? '?'} listening`;
    case 'command':
      return `command ${JSON.stringify(c.command ?? [])}`;
    case 'uptime':
      return `up ${c.uptime ?? 0}s without a restart`;
    default:
      return `GET ${c.path}`;
  }
}

/** One attempt of the check: what it found when it passed (ok), else why not. */
async function once(
  d: Check,
  id: string,
  ip: string,
  port: number | null,
  c: HttpCheck,
  timeoutMs: number,
  deadline: number,
): Promise<{ ok: string } | { why: string }> {
  const kind = c.kind ?? 'path';
  if (kind === 'uptime') {
    // Running since its first start (running() throws on an exit or a restart) for long enough.
    const st = await d.runtime.inspectContainer(id);
    const since = st ? Date.parse(st.startedAt) : Date.now();
    const left = since + (c.uptime ?? 0) * 1000 - Date.now();
    if (Date.now() + left > deadline)
      return { why: `it cannot be up ${c.uptime}s within GOKU_DEPLOY_TIMEOUT (${d.timeout}s)` };
    if (left > 0) await sleep(left);
    await running(d, id);
    return { ok: 'running' };
  }
  if (kind === 'command') {
    const r = await d.runtime.execInContainer(id, c.command ?? [], timeoutMs);
    const tail = r.output.trim().split('\n').slice(-1)[0]?.slice(0, 200) ?? '';
    if (r.exitCode === 0) return { ok: 'exited 0' };
    return {
      why:
        r.exitCode === null
          ? `did not finish within ${(timeoutMs / 1000).toFixed(1).replace(/\.0$/, '')}s`
          : `exited ${r.exitCode}${tail ? ` (${JSON.stringify(tail)})` : ''}`,
    };
  }
  if (!port) {
    throw new GokuError('GOKU_ERR_UNHEALTHY', `health check ${c.name} has no port: EXPOSE one or set "port"`);
  }
  if (kind === 'listening') {
    const why = await connects(ip, port, timeoutMs);
    return why === null ? { ok: 'accepts connections' } : { why };
  }
  const r = await askOnce(ip, port, c, timeoutMs);
  if ('failed' in r) return { why: r.failed };
  if (r.status >= 400) return { why: `status ${r.status}` };
  if (c.content !== null && !r.body.includes(c.content))
    return { why: `the body does not contain ${JSON.stringify(c.content)}` };
  return { ok: `answered ${r.status}` };
}

/**
 * One liveness probe of a running container: null when it passed, else why not. An uptime
 * check passes (the container runs; a restart is Docker's to see).
 */
export async function probe(
  runtime: ContainerRuntime,
  id: string,
  ip: string,
  port: number | null,
  c: HttpCheck,
): Promise<string | null> {
  if ((c.kind ?? 'path') === 'uptime') return null;
  const d: Check = { runtime, timeout: c.timeout, uptime: 0, firstStart: null };
  try {
    const r = await once(d, id, ip, port, c, c.timeout * 1000, Date.now() + c.timeout * 1000);
    return 'ok' in r ? null : r.why;
  } catch (err) {
    return oneLine(err);
  }
}

/** A TCP connection to ip:port within the time; null when it was accepted, else why not. */
async function connects(ip: string, port: number, timeoutMs: number): Promise<string | null> {
  const until = Date.now() + timeoutMs;
  const r = await whileRefused(
    until,
    () =>
      new Promise<{ why: string | null; refused?: boolean }>((resolve) => {
        const sock = net.connect({ host: ip, port, timeout: Math.max(1, until - Date.now()) });
        sock.once('connect', () => {
          sock.destroy();
          resolve({ why: null });
        });
        sock.once('timeout', () => {
          sock.destroy();
          resolve({ why: 'no connection within the timeout' });
        });
        sock.once('error', (err: NodeJS.ErrnoException) =>
          resolve(err.code === 'ECONNREFUSED' ? { why: 'refused', refused: true } : { why: `${err.code}` }),
        );
      }),
  );
  return r.refused
    ? `connection refused on port ${port} (nothing listening on the container's address)`
    : r.why;
}

/**
 * Asks again (every 0.1 s) while nobody listens on the port yet, until `until`: one attempt
 * of a check waits for the app to open its port. The last answer comes back.
 */
async function whileRefused<T extends { refused?: boolean }>(
  until: number,
  ask: () => Promise<T>,
): Promise<T> {
  for (;;) {
    const r = await ask();
    if (!r.refused || Date.now() + 100 >= until) return r;
    await sleep(100);
  }
}

/**
 * A check's attempts within one deadline: its initial delay, then up to `attempts` tries,
 * `wait` seconds apart, each line saying what the attempt found.
 */
async function attempts(
  d: Check,
  id: string,
  c: HttpCheck,
  deadline: number,
  out: (l: string) => void,
  what: string,
  tryOnce: (timeoutMs: number) => Promise<{ ok: string } | { why: string }>,
): Promise<void> {
  const left = () => deadline - Date.now();
  let why = 'it never ran';
  const overtime = () =>
    new GokuError(
      'GOKU_ERR_HEALTH_TIMEOUT',
      `health check ${c.name} did not pass within GOKU_DEPLOY_TIMEOUT (${d.timeout}s; last: ${why}); shorten its initialDelay, attempts or wait, or raise GOKU_DEPLOY_TIMEOUT`,
    );
  if (c.initialDelay > 0) {
    if (c.initialDelay * 1000 >= left()) {
      why = `initialDelay ${c.initialDelay}s`;
      throw overtime();
    }
    await sleep(c.initialDelay * 1000);
  }
  for (let attempt = 1; attempt <= c.attempts; attempt++) {
    if (left() <= 0) throw overtime();
    await running(d, id);
    const r = await tryOnce(Math.min(c.timeout * 1000, left()));
    if ('ok' in r) {
      out(`-----> Health check ${c.name}: ${what} ${r.ok} (attempt ${attempt}/${c.attempts})`);
      return;
    }
    why = r.why;
    out(`-----> Health check ${c.name}: ${what}: ${why} (attempt ${attempt}/${c.attempts})`);
    if (attempt < c.attempts) {
      if (c.wait * 1000 >= left()) throw overtime();
      await sleep(c.wait * 1000);
    }
  }
  throw new GokuError(
    'GOKU_ERR_UNHEALTHY',
    `health check ${c.name} failed: ${what}: ${why} after ${c.attempts} attempts`,
  );
}

/** An answer, or why there was none: "connection refused" is not "no answer within 5s". */
type Got = { status: number; body: string } | { failed: string };

function answer(r: Got): { status: number; body: string } | null {
  return 'failed' in r ? null : r;
}

/**
 * One attempt of a check: a GET within `timeoutMs`. A port nobody listens on yet is asked
 * again until the attempt's time is up, so one attempt waits for the app to open its port.
 */
async function askOnce(ip: string, port: number, c: HttpCheck, timeoutMs: number): Promise<Got> {
  const until = Date.now() + timeoutMs;
  const r = await whileRefused(until, () =>
    get(ip, port, c.path, Math.max(1, until - Date.now()), c.host, c.headers),
  );
  if (!('failed' in r) || !r.refused) return r;
  const secs = (timeoutMs / 1000).toFixed(1).replace(/\.0$/, '');
  return { failed: `connection refused on port ${port} for ${secs}s (nothing listening)` };
}

/** One GET; why it failed when nothing answered. The body is read up to 64 KiB. */
function get(
  ip: string,
  port: number,
  path: string,
  timeoutMs: number,
  host?: string,
  extra: { name: string; value: string }[] = [],
): Promise<Got & { refused?: boolean }> {
  return new Promise((resolve) => {
    // Lenient like nginx (bare LF line ends, as many small servers and CGI scripts send):
    // the check asks whether the app answers, not whether it is RFC-perfect.
    const req = http.get(
      {
        host: ip,
        port,
        path,
        agent: false,
        timeout: timeoutMs,
        insecureHTTPParser: true,
        headers: {
          ...Object.fromEntries(extra.map((h) => [h.name, h.value])),
          ...(host ? { Host: host } : {}),
        },
      },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => {
          if (body.length < 65536) body += chunk.toString('utf8');
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', () => resolve({ failed: 'the answer was cut off' }));
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => {
      const secs = (timeoutMs / 1000).toFixed(1).replace(/\.0$/, '');
      if (err.code === 'ECONNREFUSED') resolve({ failed: 'connection refused', refused: true });
      else if (err.code === 'ETIMEDOUT') resolve({ failed: `no answer within ${secs}s` });
      else if (err.code === 'ECONNRESET') resolve({ failed: 'the connection was reset before an answer' });
      else resolve({ failed: `${err.code ?? err.message}` });
    });
  });
}
