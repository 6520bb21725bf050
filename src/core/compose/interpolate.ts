import { GokuError } from '../../errors.js';

const NAME = /[_A-Za-z][_A-Za-z0-9]*/y;

/**
 * Compose's variable interpolation of one string: `$VAR`, `${VAR}`, `${VAR:-default}` (unset or
 * empty), `${VAR-default}` (unset), `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`,
 * `${VAR+alt}`, and `$$` for a literal `$`. Defaults and alternatives are interpolated too
 * (`${A:-${B}}`, as Compose v2). `where` names the place for errors ("services.web.image").
 */
export function interpolate(text: string, vars: Readonly<Record<string, string>>, where: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const at = text.indexOf('$', i);
    if (at < 0) return out + text.slice(i);
    out += text.slice(i, at);
    const next = text[at + 1];
    if (next === '$') {
      out += '$';
      i = at + 2;
    } else if (next === '{') {
      const end = closingBrace(text, at + 2, where);
      out += braced(text.slice(at + 2, end), vars, where);
      i = end + 1;
    } else {
      NAME.lastIndex = at + 1;
      const m = NAME.exec(text);
      if (!m) throw bad(where, text);
      out += vars[m[0]] ?? '';
      i = at + 1 + m[0].length;
    }
  }
  return out;
}

/** The index of the `}` that closes a `${` whose body starts at `from` (nested `${}` allowed). */
function closingBrace(text: string, from: number, where: string): number {
  let depth = 1;
  for (let i = from; i < text.length; i++) {
    if (text[i] === '$' && text[i + 1] === '{') {
      depth++;
      i++;
    } else if (text[i] === '}' && --depth === 0) return i;
  }
  throw bad(where, text);
}

/** The value of one `${...}` body. */
function braced(body: string, vars: Readonly<Record<string, string>>, where: string): string {
  const m = /^([_A-Za-z][_A-Za-z0-9]*)(?:(:?)([-?+])([\s\S]*))?$/.exec(body);
  if (!m) throw bad(where, `\${${body}}`);
  const [, name, colon, op, rest = ''] = m as unknown as [string, string, string, string | undefined, string];
  const value = vars[name];
  const set = value !== undefined && (colon !== ':' || value !== '');
  if (!op) return value ?? '';
  if (op === '-') return set ? (value as string) : interpolate(rest, vars, where);
  if (op === '+') return set ? interpolate(rest, vars, where) : '';
  if (set) return value as string;
  const why = interpolate(rest, vars, where);
  throw new GokuError(
    'GOKU_ERR_COMPOSE',
    `${where}: required variable ${name} is ${value === undefined ? 'missing' : 'empty'}${why ? `: ${why}` : ''} (goku config:set APP ${name}=... or .env)`,
  );
}

function bad(where: string, text: string): GokuError {
  return new GokuError(
    'GOKU_ERR_COMPOSE',
    `${where}: invalid interpolation in ${JSON.stringify(text.slice(0, 80))}; write $$ for a literal $`,
  );
}
