import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commandTable } from '../../src/commands/index.js';

// `goku help` and the README describe the same commands.
describe('README documents every command', () => {
  const readme = readFileSync(resolve(import.meta.dirname, '../../README.md'), 'utf8');
  it.each(commandTable().map((c) => [c.name, c.usage]))('%s', (_name, usage) => {
    expect(readme).toContain(`| \`${usage}\``);
  });
});
