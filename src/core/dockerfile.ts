import { DockerfileParser } from 'dockerfile-ast';

export interface DockerfileFacts {
  /** First TCP port of the final stage's EXPOSE, after ARG/ENV expansion; null when none. */
  port: number | null;
  /** The final stage declares a HEALTHCHECK (other than NONE). */
  healthcheck: boolean;
}

/** Reads what goku needs from a Dockerfile. Pure: the text in, facts out. */
export function dockerfileFacts(text: string): DockerfileFacts {
  const df = DockerfileParser.parse(text);
  const froms = df.getFROMs();
  const lastFrom = froms[froms.length - 1];
  const startLine = lastFrom ? lastFrom.getRange().start.line : -1;
  let port: number | null = null;
  let healthcheck = false;
  for (const ins of df.getInstructions()) {
    if (ins.getRange().start.line < startLine) continue;
    const kw = ins.getKeyword();
    if (kw === 'EXPOSE' && port === null) {
      for (const arg of ins.getExpandedArguments()) {
        const p = parsePortSpec(arg.getValue());
        if (p !== null) {
          port = p;
          break;
        }
      }
    } else if (kw === 'HEALTHCHECK') {
      const first = ins.getArguments()[0]?.getValue().toUpperCase();
      healthcheck = first !== 'NONE';
    }
  }
  return { port, healthcheck };
}

/** "8080", "8080/tcp" → 8080; "53/udp", ranges and junk → null. */
export function parsePortSpec(spec: string): number | null {
  const m = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(spec.trim());
  if (!m) return null;
  if (m[2] && m[2].toLowerCase() !== 'tcp') return null;
  const n = Number(m[1]);
  return n >= 1 && n <= 65535 ? n : null;
}

/** Fallback when the Dockerfile gives no port: the image config's ExposedPorts (from a base image). */
export function portFromImageConfig(exposed: readonly string[]): number | null {
  const ports = exposed
    .map(parsePortSpec)
    .filter((p): p is number => p !== null)
    .sort((a, b) => a - b);
  return ports[0] ?? null;
}

/**
 * Inserts one line right after the final stage's FROM. Placed there (not at the end, where
 * the builder's `labels` option puts one step per label) the constant goku labels become a
 * cached layer: a rebuild after a code change pays nothing for them.
 */
export function insertAfterFinalFrom(text: string, line: string): string {
  const froms = DockerfileParser.parse(text).getFROMs();
  const last = froms[froms.length - 1];
  const lines = text.split('\n');
  if (!last) return `${text}\n${line}\n`;
  const at = last.getRange().end.line + 1;
  lines.splice(at, 0, line);
  return lines.join('\n');
}
