import { StringDecoder } from 'node:string_decoder';

/**
 * Splits a byte stream into records ended by `sep` (lines, NUL-ended git records). A UTF-8
 * character cut between two chunks stays whole. `rest()` hands back what followed the last
 * separator, when the stream ends.
 */
export function splitter(sep: string, onRecord: (record: string) => void) {
  const decoder = new StringDecoder('utf8');
  let buf = '';
  const push = (chunk: Buffer | string): void => {
    buf += typeof chunk === 'string' ? chunk : decoder.write(chunk);
    let i = buf.indexOf(sep);
    while (i >= 0) {
      onRecord(buf.slice(0, i));
      buf = buf.slice(i + sep.length);
      i = buf.indexOf(sep);
    }
  };
  return Object.assign(push, {
    rest(): string {
      const r = buf + decoder.end();
      buf = '';
      return r;
    },
  });
}
