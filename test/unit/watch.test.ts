import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  deployAllowed,
  nextDeployTime,
  nextOpening,
  parseAt,
  parseWindow,
  windowOpen,
} from '../../src/core/schedule.js';
import { defaultPolicy, desiredTag, eligibleTags, sortTags, versionOf } from '../../src/core/tag-policy.js';
import { ERROR_CODES, GokuError } from '../../src/errors.js';
import { nextPage } from '../../src/registry/client.js';
import { wantedRef } from '../../src/registry/webhooks.js';
import { fromPairs } from '../../src/store/consul-layout.js';

const at = (iso: string) => new Date(iso);

describe('tag policy (registrywatcher semantics)', () => {
  it('reads versions with an optional v, strictly x.y.z', () => {
    expect(versionOf('1.2.3')?.version).toBe('1.2.3');
    expect(versionOf('v1.2.3')?.version).toBe('1.2.3');
    expect(versionOf('v2.0.0-rc.1')?.prerelease).toEqual(['rc', 1]);
    for (const t of ['latest', 'v1', '1.2', 'main', '1.2.3.4', 'vv1.2.3', ''])
      expect(versionOf(t)).toBeNull();
  });

  it('follows semver by default for a version tag, pins anything else', () => {
    expect(defaultPolicy('v1.0.0')).toEqual({ mode: 'semver', auto: true });
    expect(defaultPolicy('latest')).toEqual({ mode: 'pinned', auto: true });
    expect(defaultPolicy(null)).toEqual({ mode: 'pinned', auto: true });
  });

  it('moves to the newest greater version; pre-releases only from a pre-release', () => {
    const tags = ['v1.0.0', 'v1.1.0', 'v2.0.0-rc.1', 'latest', 'v0.9.0', '1.1.0'];
    expect(eligibleTags(tags, 'v1.0.0')).toEqual(['v1.1.0']);
    expect(desiredTag({ mode: 'semver', auto: true }, 'v1.0.0', tags)).toBe('v1.1.0');
    expect(desiredTag({ mode: 'semver', auto: true }, 'v1.1.0', tags)).toBe('v1.1.0');
    expect(eligibleTags(tags, 'v2.0.0-rc.0')).toEqual(['v2.0.0-rc.1']);
    expect(eligibleTags([...tags, 'v2.0.0'], 'v2.0.0-rc.1')).toEqual(['v2.0.0']);
    // Never back: an older newest tag changes nothing.
    expect(desiredTag({ mode: 'semver', auto: true }, 'v3.0.0', tags)).toBe('v3.0.0');
    // A tag that is no version follows the newest version once it is told to follow semver.
    expect(desiredTag({ mode: 'semver', auto: true }, 'latest', tags)).toBe('v1.1.0');
    expect(desiredTag({ mode: 'pinned', auto: true }, 'v1.0.0', tags)).toBe('v1.0.0');
  });

  it('lists versions newest first, then the rest, capped', () => {
    expect(sortTags(['latest', 'v1.0.0', 'v1.10.0', 'v1.9.0', 'edge'])).toEqual([
      'v1.10.0',
      'v1.9.0',
      'v1.0.0',
      'edge',
      'latest',
    ]);
    expect(
      sortTags(
        Array.from({ length: 50 }, (_, i) => `1.0.${i}`),
        3,
      ),
    ).toEqual(['1.0.49', '1.0.48', '1.0.47']);
  });

  it('takes from pushed tags only what the policy follows', () => {
    const img = (ref: string, mode?: 'semver' | 'pinned') => ({
      ref,
      digest: 'sha256:x',
      pulledAt: null,
      ...(mode ? { watch: { mode, auto: true } } : {}),
    });
    const push = (tag: string, repository = 'team/web') => [{ registry: 'r.example', repository, tag }];
    expect(wantedRef(img('r.example/team/web:v1.0.0'), push('v1.1.0'))).toBe('r.example/team/web:v1.1.0');
    expect(wantedRef(img('r.example/team/web:v1.0.0'), push('v0.9.0'))).toBeUndefined();
    expect(wantedRef(img('r.example/team/web:v1.0.0'), push('v1.0.0'))).toBeNull();
    expect(wantedRef(img('r.example/team/web:latest'), push('latest'))).toBeNull();
    expect(wantedRef(img('r.example/team/web:latest'), push('v1.1.0'))).toBeUndefined();
    expect(wantedRef(img('r.example/team/web:v1.0.0', 'pinned'), push('v1.1.0'))).toBeUndefined();
    expect(wantedRef(img('r.example/team/web:v1.0.0'), push('v1.1.0', 'team/other'))).toBeUndefined();
  });
});

describe('deploy windows (UTC)', () => {
  it('parses HH:MM-HH:MM and refuses anything else with one line', () => {
    expect(parseWindow('02:00-04:30')).toEqual({ start: 120, end: 270 });
    expect(parseWindow('23:00-01:00')).toEqual({ start: 1380, end: 60 });
    for (const bad of ['2:00-4:00', '24:00-01:00', '02:00', '02:00-02:00', '02:00-03:00-04:00', 'x']) {
      expect(() => parseWindow(bad)).toThrow(GokuError);
    }
  });

  it('is open inside, closed outside, and wraps midnight', () => {
    const day = parseWindow('02:00-04:00');
    expect(windowOpen(day, at('2026-12-04T02:00:00Z'))).toBe(true);
    expect(windowOpen(day, at('2026-12-04T03:59:59Z'))).toBe(true);
    expect(windowOpen(day, at('2026-12-04T04:00:00Z'))).toBe(false);
    const night = parseWindow('23:00-01:00');
    expect(windowOpen(night, at('2026-12-04T23:30:00Z'))).toBe(true);
    expect(windowOpen(night, at('2026-12-05T00:59:00Z'))).toBe(true);
    expect(windowOpen(night, at('2026-12-05T12:00:00Z'))).toBe(false);
    expect(nextOpening(day, at('2026-12-04T05:00:00Z')).toISOString()).toBe('2026-12-05T02:00:00.000Z');
    expect(nextOpening(day, at('2026-12-04T01:00:00Z')).toISOString()).toBe('2026-12-04T02:00:00.000Z');
  });

  it('a set time allows updates from then on', () => {
    const now = at('2026-12-04T10:00:00Z');
    const when = parseAt('2026-12-04T11:00:00Z', now);
    expect(parseAt(String(when.getTime() / 1000), now).toISOString()).toBe(when.toISOString());
    const s = { at: when.toISOString() };
    expect(deployAllowed(s, now)).toBe(false);
    expect(nextDeployTime(s, now)?.toISOString()).toBe(when.toISOString());
    expect(deployAllowed(s, at('2026-12-04T11:00:00Z'))).toBe(true);
    expect(deployAllowed(undefined, now)).toBe(true);
    expect(() => parseAt('2026-12-04T09:00:00Z', now)).toThrow(/has passed/);
    expect(() => parseAt('tomorrow', now)).toThrow(/ISO 8601/);
    expect(() => parseAt('2026-12-04 11:00', now)).toThrow(/ISO 8601/);
  });

  it('fuzz: windows and times either parse or give a coded one-line error', () => {
    const now = at('2026-12-04T10:00:00Z');
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('00:00-23:59', '9999999999')),
        (text) => {
          for (const f of [() => parseWindow(text), () => parseAt(text, now)]) {
            try {
              f();
            } catch (err) {
              expect(err).toBeInstanceOf(GokuError);
              expect(Object.keys(ERROR_CODES)).toContain((err as GokuError).code);
              expect((err as GokuError).message).not.toMatch(/\n/);
            }
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('registry listing pages and the stored policy', () => {
  it("follows a Link to the registry's own origin only", () => {
    const api = 'http://127.0.0.1:5000';
    expect(nextPage(api, '</v2/a/tags/list?last=x&n=1000>; rel="next"')).toBe(
      'http://127.0.0.1:5000/v2/a/tags/list?last=x&n=1000',
    );
    expect(nextPage(api, '<http://evil.example/v2/a/tags/list>; rel="next"')).toBeNull();
    expect(nextPage(api, null)).toBeNull();
    expect(nextPage(api, '<::bad>; rel="prev"')).toBeNull();
  });

  it('keeps a hand-edited policy, schedule or hold in Consul only when it has its shape', () => {
    const meta = (image: unknown) =>
      new Map([['goku/apps/web/app', JSON.stringify({ createdAt: 'x', updatedAt: 'x', image })]]);
    const good = fromPairs(
      meta({
        ref: 'r/x:v1',
        digest: null,
        watch: { mode: 'semver', auto: false },
        schedule: { window: { start: 60, end: 120 } },
        held: { ref: 'r/x:v2', since: 'now', by: 'watcher' },
      }),
    );
    expect(good.apps.web?.image).toMatchObject({
      watch: { mode: 'semver', auto: false },
      schedule: { window: { start: 60, end: 120 } },
      held: { ref: 'r/x:v2' },
    });
    const problems: string[] = [];
    const bad = fromPairs(
      meta({ ref: 'r/x:v1', watch: { mode: 'yolo' }, schedule: { window: { start: 5, end: 5 } }, held: 3 }),
      problems,
    );
    expect(bad.apps.web?.image?.watch).toBeUndefined();
    expect(bad.apps.web?.image?.schedule).toBeUndefined();
    expect(bad.apps.web?.image?.held).toBeUndefined();
    expect(problems).toHaveLength(3);
  });
});
