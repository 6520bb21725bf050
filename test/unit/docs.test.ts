import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commandTable } from '../../src/commands/index.js';
import { ERROR_CODES } from '../../src/errors.js';

// `goku help` and the README describe the same commands.
describe('README documents every command', () => {
  const readme = readFileSync(resolve(import.meta.dirname, '../../README.md'), 'utf8');
  it.each(commandTable().map((c) => [c.name, c.usage]))('%s', (_name, usage) => {
    // A | inside a Markdown table cell is written \|.
    expect(readme).toContain(`| \`${usage.replaceAll('|', '\\|')}\``);
  });
});

// The error codes users match on are documented, each with its meaning and HTTP status.
describe('README documents every error code', () => {
  const readme = readFileSync(resolve(import.meta.dirname, '../../README.md'), 'utf8');
  it.each(Object.entries(ERROR_CODES))('%s', (code, { text, status }) => {
    expect(readme).toContain(`| \`${code}\` | ${text} | ${status} |`);
  });
});
