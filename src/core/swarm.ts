import type { HealthcheckSpec } from '../runtime/types.js';
import type { HealthPlan, HttpCheck } from './checks.js';

/** The Swarm service of one process type of a deployment (web's is the deployment's own name). */
export function serviceName(prefix: string, deployment: string, type: string): string {
  return `${prefix}${type === 'web' ? deployment : `${deployment}-${type}`}`;
}

/** The attachable overlay every task and the routes nginx join. */
export function overlayName(prefix: string): string {
  return `${prefix}goku`;
}

/** A word for a shell script, quoted so that nothing in it is interpreted. */
function sh(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * One check as a shell command run inside the task: Swarm runs the service's health check in
 * the container, so an HTTP check asks with the image's wget or curl (busybox and most base
 * images have one); an image with neither fails the check, and the deploy says why.
 */
function checkCommand(c: HttpCheck, port: number): string {
  const p = c.port ?? port;
  switch (c.kind) {
    case 'command':
      return (c.command ?? []).map(sh).join(' ');
    case 'uptime':
      return 'true'; // Swarm's update monitor watches that the task keeps running
    case 'listening':
      return `{ command -v nc >/dev/null && nc -z 127.0.0.1 ${p}; } || (exec 3<>/dev/tcp/127.0.0.1/${p}) 2>/dev/null`;
    default: {
      const url = sh(`http://127.0.0.1:${p}${c.path}`);
      const host = c.host ? ` --header ${sh(`Host: ${c.host}`)}` : '';
      const chost = c.host ? ` -H ${sh(`Host: ${c.host}`)}` : '';
      // No wget -T: Debian's busybox 1.35 wget crashes with it; Docker's check timeout bounds it.
      const get = `{ if command -v wget >/dev/null; then wget -q -O -${host} ${url}; elif command -v curl >/dev/null; then curl -fsS${chost} -m ${c.timeout} ${url}; else echo 'no wget or curl in the image for the health check' >&2; exit 1; fi; }`;
      return c.content ? `${get} | grep -qF -- ${sh(c.content)}` : `${get} >/dev/null`;
    }
  }
}

/**
 * The service's health check from the app's checks (app.json, CHECKS): every check in one
 * command, retried as the most patient check says. None for the default check and the image's
 * own HEALTHCHECK (Swarm uses the image's).
 */
export function serviceHealthcheck(plan: HealthPlan, port: number | null): HealthcheckSpec | undefined {
  if (plan.kind !== 'checks' || plan.checks.length === 0) return undefined;
  const checks = plan.checks;
  const script = checks.map((c) => `( ${checkCommand(c, port ?? 5000)} )`).join(' && ');
  const max = (f: (c: HttpCheck) => number) => Math.max(...checks.map(f));
  return {
    test: ['CMD-SHELL', script],
    intervalMs:
      Math.max(
        1,
        max((c) => c.wait),
      ) * 1000,
    timeoutMs:
      Math.max(
        1,
        max((c) => c.timeout),
      ) * 1000,
    retries: Math.max(
      1,
      max((c) => c.attempts),
    ),
    startPeriodMs: max((c) => c.initialDelay) * 1000,
  };
}

/** The addresses nginx may send requests to: tasks Swarm wants running that run (and are healthy). */
export function routableAddrs(
  tasks: readonly { desired: string; state: string; addr: string | null; labels: Record<string, string> }[],
  release?: string,
): string[] {
  return tasks
    .filter((t) => t.desired === 'running' && t.state === 'running' && t.addr)
    .filter((t) => release === undefined || t.labels['goku.release'] === release)
    .map((t) => t.addr as string)
    .sort();
}

/**
 * A compose network as an overlay: its own name with -swarm, so that a bridge of the compose
 * name left by the app's containers from before GOKU_SCHEDULER=swarm does not stand in the way.
 */
export function composeOverlay(network: string): string {
  return `${network}-swarm`;
}

/**
 * A value Swarm must take literally: it expands Go templates in a service's env, hostname and
 * mounts (`{{.Node.Hostname}}`), so a config value with `{{` would be expanded, or fail the
 * task. `{{"{{"}}` is the template for a literal `{{` (a lone `}}` is already literal).
 */
export function swarmLiteral(value: string): string {
  return value.replaceAll('{{', '{{"{{"}}');
}
