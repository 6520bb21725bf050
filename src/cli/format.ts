import { styleText } from 'node:util';

/** Aligned plain-text table; the header is bold when colour is allowed. */
export function table(head: string[], rows: string[][], color = false): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const header = color ? styleText('bold', line(head)) : line(head);
  return `${[header, ...rows.map(line)].join('\n')}\n`;
}

/** Colours a container or deployment state when colour is allowed. */
export function state(text: string, color: boolean): string {
  if (!color) return text;
  if (text === 'running') return styleText('green', text);
  if (text === 'exited' || text === 'dead' || text === 'restarting') return styleText('red', text);
  return styleText('yellow', text);
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
