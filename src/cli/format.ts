import { styleText as nodeStyleText, stripVTControlCharacters } from 'node:util';

// The caller decides (terminal on the other end, NO_COLOR); the daemon's own stdout does not.
const styleText = (format: Parameters<typeof nodeStyleText>[0], text: string) =>
  nodeStyleText(format, text, { validateStream: false } as never);

/** Aligned plain-text table; the header is bold when colour is allowed. */
export function table(head: string[], rows: string[][], color = false): string {
  // Widths count what shows: colour escapes take no room on the screen.
  const width = (c: string) => stripVTControlCharacters(c).length;
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(Math.max(0, (widths[i] ?? 0) - width(c)))))
      .join('  ')
      .trimEnd();
  const header = color ? styleText('bold', line(head)) : line(head);
  return `${[header, ...rows.map(line)].join('\n')}\n`;
}

/** Colours a container or deployment state when colour is allowed. */
export function state(text: string, color: boolean): string {
  if (!color) return text;
  if (text === 'running' || text === 'succeeded') return styleText('green', text);
  if (text === 'exited' || text === 'dead' || text === 'restarting' || text === 'failed')
    return styleText('red', text);
  return styleText('yellow', text);
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
