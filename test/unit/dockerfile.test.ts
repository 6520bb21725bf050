import { describe, expect, it } from 'vitest';
import {
  dockerfileFacts,
  insertAfterFinalFrom,
  parsePortSpec,
  portFromImageConfig,
} from '../../src/core/dockerfile.js';

describe('Dockerfile facts', () => {
  it('takes the first TCP port of the final stage', () => {
    expect(dockerfileFacts('FROM a AS build\nEXPOSE 1111\nFROM b\nEXPOSE 53/udp 8080/tcp 9090\n').port).toBe(
      8080,
    );
  });
  it('expands ARG and ENV and follows line continuations', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a Dockerfile ARG reference, not JS
    expect(dockerfileFacts('FROM a\nARG P=3000\nEXPOSE \\\n  ${P}\n').port).toBe(3000);
    expect(dockerfileFacts('FROM a\nENV PORT=4000\nEXPOSE $PORT\n').port).toBe(4000);
  });
  it('has no port without EXPOSE, and sees HEALTHCHECK', () => {
    expect(dockerfileFacts('FROM a\nCMD x\n')).toEqual({ port: null, healthcheck: false });
    expect(dockerfileFacts('FROM a\nHEALTHCHECK CMD true\n').healthcheck).toBe(true);
    expect(dockerfileFacts('FROM a\nHEALTHCHECK NONE\n').healthcheck).toBe(false);
  });
  it('parses port specs and image config fallbacks', () => {
    expect(parsePortSpec('80')).toBe(80);
    expect(parsePortSpec('80/TCP')).toBe(80);
    expect(parsePortSpec('53/udp')).toBeNull();
    expect(parsePortSpec('70000')).toBeNull();
    expect(parsePortSpec('8000-8010')).toBeNull();
    expect(portFromImageConfig(['9000/tcp', '53/udp', '8080/tcp'])).toBe(8080);
    expect(portFromImageConfig([])).toBeNull();
  });
  it('inserts goku labels right after the final FROM, continuation lines included', () => {
    expect(insertAfterFinalFrom('# c\nFROM a AS b\nRUN x\nFROM c \\\n  AS d\nRUN y\n', 'LABEL q=1')).toBe(
      '# c\nFROM a AS b\nRUN x\nFROM c \\\n  AS d\nLABEL q=1\nRUN y\n',
    );
    expect(insertAfterFinalFrom('RUN x', 'LABEL q=1')).toBe('RUN x\nLABEL q=1\n');
  });
});
