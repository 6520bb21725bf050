/**
 * The local socket between the daemon and the CLI:
 * one JSON request line, then JSON frames back: {o} stdout, {e} stderr, {x} exit status.
 */
export type ControlRequest = { op: 'command'; argv: string[]; stdin: string; color: boolean };

export type Frame = { o: string } | { e: string } | { x: number };

export function frame(f: Frame): string {
  return `${JSON.stringify(f)}\n`;
}

/** Splits a byte stream into JSON lines. */
export function lineReader(onLine: (line: string) => void): (chunk: Buffer) => void {
  let buf = '';
  return (chunk) => {
    buf += chunk.toString('utf8');
    let i = buf.indexOf('\n');
    while (i >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.trim()) onLine(line);
      i = buf.indexOf('\n');
    }
  };
}
