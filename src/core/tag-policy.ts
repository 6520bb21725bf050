import semver from 'semver';

/**
 * How an image app follows its registry (registrywatcher's policy):
 * - `semver`: the newest tag that reads as a version (`1.2.3`, `v1.2.3`) and is greater than
 *   the deployed one; pre-releases only while the app runs a pre-release.
 * - `pinned`: the app's own tag, redeployed whenever its digest changes (it was overwritten).
 */
export type WatchMode = 'semver' | 'pinned';

export interface WatchPolicy {
  mode: WatchMode;
  /** Updates deploy by themselves (watch:auto). */
  auto: boolean;
}

/** A tag as a version, or null: `v` (or `=`) prefix allowed, otherwise strict x.y.z[-pre]. */
export function versionOf(tag: string): semver.SemVer | null {
  if (!/^[vV=]?\d/.test(tag)) return null;
  return semver.parse(tag.replace(/^[vV=]/, '')) ?? null;
}

/**
 * The policy of an app that never set one: a version tag follows semver; anything else
 * (`latest`, `main`, a digest) is pinned to what it names, as watchtower follows `latest`.
 */
export function defaultPolicy(tag: string | null): WatchPolicy {
  return { mode: tag !== null && versionOf(tag) ? 'semver' : 'pinned', auto: true };
}

/** The policy in force: the one set (watch:*), else the default for the reference's tag. */
export function policyFor(set: Readonly<WatchPolicy> | undefined, tag: string | null): WatchPolicy {
  return set ? { mode: set.mode, auto: set.auto } : defaultPolicy(tag);
}

/**
 * The tags that semver mode may move to from `current`, newest first: versions, greater
 * than `current` when that is one, pre-releases only when `current` is a pre-release.
 */
export function eligibleTags(tags: readonly string[], current: string | null): string[] {
  const now = current === null ? null : versionOf(current);
  const pre = now !== null && now.prerelease.length > 0;
  const seen = new Map<string, { tag: string; v: semver.SemVer }>();
  for (const tag of tags) {
    const v = versionOf(tag);
    if (!v || (v.prerelease.length > 0 && !pre)) continue;
    if (now && semver.lte(v, now)) continue;
    // `v1.2.0` and `1.2.0` are one version: the first listed stands for it.
    if (!seen.has(v.version)) seen.set(v.version, { tag, v });
  }
  return [...seen.values()].sort((a, b) => semver.rcompare(a.v, b.v)).map((x) => x.tag);
}

/** The tag the app should run now: the newest eligible one, else its own tag. */
export function desiredTag(
  policy: WatchPolicy,
  current: string | null,
  tags: readonly string[],
): string | null {
  if (policy.mode === 'pinned') return current;
  return eligibleTags(tags, current)[0] ?? current;
}

/** Known tags for display: versions newest first, then the rest by name, at most `cap`. */
export function sortTags(tags: readonly string[], cap = 20): string[] {
  const versions = tags
    .map((tag) => ({ tag, v: versionOf(tag) }))
    .filter((x): x is { tag: string; v: semver.SemVer } => x.v !== null)
    .sort((a, b) => semver.rcompare(a.v, b.v))
    .map((x) => x.tag);
  const others = tags.filter((t) => !versionOf(t)).sort();
  return [...versions, ...others].slice(0, cap);
}
