import { splitter } from '../util/split.js';

/**
 * The local socket between the daemon and the CLI:
 * one JSON request line, then JSON frames back: {o} stdout, {e} stderr, {x} exit status.
 */
export type ControlRequest = { op: 'command'; argv: string[]; stdin: string; color: boolean };

export type Frame = { o: string } | { e: string } | { x: number };

export function frame(f: Frame): string {
  return `${JSON.stringify(f)}\n`;
}

/** Splits a byte stream into JSON lines (blank ones skipped). */
export function lineReader(onLine: (line: string) => void): (chunk: Buffer) => void {
  return splitter('\n', (line) => {
    if (line.trim()) onLine(line);
  });
}
