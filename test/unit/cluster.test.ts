import { describe, expect, it } from 'vitest';
import { assertJoinToken, parseAdvertiseAddr, parseManagerAddr } from '../../src/core/cluster.js';

const TOKEN = `SWMTKN-1-${'a1'.repeat(25)}-${'b'.repeat(25)}`;

describe('cluster input', () => {
  it('manager addresses: HOST, HOST:PORT, [IPv6]; the port defaults to 2377', () => {
    expect(parseManagerAddr('10.0.0.1')).toBe('10.0.0.1:2377');
    expect(parseManagerAddr('10.0.0.1:4000')).toBe('10.0.0.1:4000');
    expect(parseManagerAddr('manager.example.com')).toBe('manager.example.com:2377');
    expect(parseManagerAddr('[fd00::1]:2377')).toBe('[fd00::1]:2377');
    for (const bad of [
      '',
      'a b',
      '10.0.0.1:0',
      '10.0.0.1:70000',
      'fd00::1',
      'host:port',
      '-x',
      'x;rm -rf /',
    ]) {
      expect(() => parseManagerAddr(bad), bad).toThrow(/invalid manager address/);
    }
  });

  it('join tokens must look like Docker swarm tokens', () => {
    expect(assertJoinToken(` ${TOKEN} `)).toBe(TOKEN);
    for (const bad of [
      '',
      'SWMTKN-1-abc-def',
      `${TOKEN}x`,
      TOKEN.replace('SWMTKN', 'swmtkn'),
      `--force ${TOKEN}`,
    ]) {
      expect(() => assertJoinToken(bad), bad).toThrow(/invalid join token/);
    }
  });

  it('advertise addresses: an IP (with a port) or an interface name', () => {
    for (const ok of ['10.0.0.2', '10.0.0.2:2377', '[fd00::2]', 'eth0', 'enp0s3'])
      expect(parseAdvertiseAddr(ok)).toBe(ok);
    for (const bad of ['10.0.0.256', '10.1.2.3.4', '10.0.0.2:99999', '', 'a b', '$(id)', 'x'.repeat(40)]) {
      expect(() => parseAdvertiseAddr(bad), bad).toThrow(/invalid --advertise-addr/);
    }
  });
});
