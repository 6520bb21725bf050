import { splitter } from '../util/split.js';

/**
 * The local socket between the daemon and the CLI:
 * one JSON request line, then JSON frames back: {o} stdout, {e} stderr, {x} exit status.
 * A session (run, enter) streams both ways: the CLI sends {i} input (base64), {eof} and {r}
 * its terminal's new size; the daemon sends output as {ob}/{eb} (base64: bytes, not text).
 */
export type ControlRequest = {
  op: 'command';
  argv: string[];
  stdin: string;
  color: boolean;
  /** An interactive command: the CLI's terminal size (null: no terminal), input follows as frames. */
  session?: { tty: { cols: number; rows: number } | null };
};

export type Frame = { o: string } | { e: string } | { x: number } | { ob: string } | { eb: string };

/** What the CLI sends during a session. */
export type ClientFrame = { i: string } | { eof: true } | { r: [number, number] };

export function frame(f: Frame): string {
  return `${JSON.stringify(f)}\n`;
}

/** Splits a byte stream into JSON lines (blank ones skipped). */
export function lineReader(onLine: (line: string) => void): (chunk: Buffer) => void {
  return splitter('\n', (line) => {
    if (line.trim()) onLine(line);
  });
}
