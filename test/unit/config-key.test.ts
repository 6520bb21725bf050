import { describe, expect, it } from 'vitest';
import { parseAssignments } from '../../src/core/config.js';

describe('config keys', () => {
  it('refuses __proto__, which a plain object would drop without a word', () => {
    expect(() => parseAssignments(['__proto__=x'])).toThrow(/__proto__ is reserved/);
    expect(parseAssignments(['PROTO=x', '_proto_=y'])).toEqual({ PROTO: 'x', _proto_: 'y' });
  });
});
