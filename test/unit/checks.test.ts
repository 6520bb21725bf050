import { describe, expect, it } from 'vitest';
import { checksFileChecks, healthPlan } from '../../src/core/checks.js';

describe("a CHECKS file (Dokku's older check format)", () => {
  it('reads settings, comments, paths with content and //HOST/PATH checks', () => {
    const checks = checksFileChecks(
      [
        '# a comment',
        'WAIT=2     # before the first check',
        'TIMEOUT=3',
        'ATTEMPTS=4',
        '',
        '/                     My Amazing App',
        '/health',
        '//admin.example.com/  Admin Dashboard',
      ].join('\n'),
    );
    expect(checks).toEqual([
      {
        name: 'CHECKS line 6',
        path: '/',
        content: 'My Amazing App',
        attempts: 4,
        timeout: 3,
        wait: 1,
        initialDelay: 2,
        port: null,
      },
      {
        name: 'CHECKS line 7',
        path: '/health',
        content: null,
        attempts: 4,
        timeout: 3,
        wait: 1,
        initialDelay: 0,
        port: null,
      },
      {
        name: 'CHECKS line 8',
        path: '/',
        host: 'admin.example.com',
        content: 'Admin Dashboard',
        attempts: 4,
        timeout: 3,
        wait: 1,
        initialDelay: 0,
        port: null,
      },
    ]);
  });

  it("uses Dokku's defaults (WAIT 5, TIMEOUT 30, ATTEMPTS 5); no check line is no plan", () => {
    expect(checksFileChecks('/')?.[0]).toMatchObject({ initialDelay: 5, timeout: 30, attempts: 5 });
    expect(checksFileChecks('# nothing\nWAIT=3\n')).toBeNull();
  });

  it('refuses what it cannot read, naming the line', () => {
    expect(() => checksFileChecks('/\nhealth ok')).toThrow(/CHECKS line 2: "health ok" is not a check/);
    expect(() => checksFileChecks('RETRIES=3\n/')).toThrow(/CHECKS line 1: unknown setting RETRIES/);
    expect(() => checksFileChecks('ATTEMPTS=0\n/')).toThrow(
      /CHECKS line 1: ATTEMPTS must be a whole number from 1 to 100/,
    );
    expect(() => checksFileChecks('TIMEOUT=abc\n/')).toThrow(/TIMEOUT must be a whole number/);
    expect(() => checksFileChecks('https://example.com/')).toThrow(/is not a check/);
    expect(() => checksFileChecks(Array.from({ length: 21 }, () => '/').join('\n'))).toThrow(/at most 20/);
  });

  it('comes after app.json checks and before the image HEALTHCHECK', () => {
    const appJson = JSON.stringify({ healthchecks: { web: [{ path: '/a' }] } });
    expect(healthPlan(appJson, true, '/b')).toMatchObject({ kind: 'checks', checks: [{ path: '/a' }] });
    expect(healthPlan(null, true, '/b')).toMatchObject({ kind: 'checks', checks: [{ path: '/b' }] });
    expect(healthPlan('{}', true, '# none')).toEqual({ kind: 'docker' });
    expect(healthPlan(null, false, null)).toEqual({ kind: 'default' });
  });
});
