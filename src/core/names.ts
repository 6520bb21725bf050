import { GokuError } from '../errors.js';

/** App names (README, Commands): lowercase letters, digits, dashes; starts with a letter; ≤ 40 chars. */
const APP_NAME = /^[a-z][a-z0-9-]{0,39}$/;

export function isValidAppName(name: string): boolean {
  return APP_NAME.test(name);
}

export function assertAppName(name: string): string {
  if (!isValidAppName(name)) {
    throw new GokuError(
      'GOKU_ERR_INVALID_APP_NAME',
      `invalid app name ${JSON.stringify(name.slice(0, 80))}: use lowercase letters, digits and dashes, start with a letter, at most 40 characters`,
    );
  }
  return name;
}

/** Branch slug: lowercased, runs outside [a-z0-9] become one '-', trimmed, cut so APP-SLUG fits a DNS label. */
export function branchSlug(app: string, branch: string): string {
  const slug = branch
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  const room = 63 - app.length - 1;
  return slug.slice(0, Math.max(room, 0)).replace(/-+$/g, '');
}

/** The branch that deploys as APP: the one recorded, else the first master or main pushed. */
export function defaultBranchOf(recorded: string | null, pushed: string): string {
  return recorded ?? (pushed === 'master' || pushed === 'main' ? pushed : 'master');
}

/** The deployment a branch deploys as: APP for the default branch, APP-SLUG otherwise. */
export function deploymentName(app: string, branch: string, defaultBranch: string): string {
  if (branch === defaultBranch) return app;
  const slug = branchSlug(app, branch);
  return slug ? `${app}-${slug}` : `${app}-branch`;
}

/**
 * Git clients send the repo path in several forms: '/app', 'app', '~/app', 'app.git', 'app/'.
 * Strip those, then the rest must be a bare app name: no slashes, dots or anything else survive.
 */
export function appFromRepoPath(raw: string): string {
  let p = raw;
  if (p.startsWith('~/')) p = p.slice(2);
  else if (p.startsWith('/')) p = p.slice(1);
  if (p.endsWith('/')) p = p.slice(0, -1);
  if (p.endsWith('.git')) p = p.slice(0, -4);
  if (!isValidAppName(p)) {
    throw new GokuError(
      'GOKU_ERR_INVALID_REPO_PATH',
      `invalid repository ${JSON.stringify(raw.slice(0, 80))}: the path must be an app name (lowercase letters, digits, dashes, starting with a letter, at most 40 characters)`,
    );
  }
  return p;
}

/** RFC 1123 host name, lowercased; no wildcards, no ports, no trailing dot. */
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function normalizeDomain(raw: string): string {
  const d = raw.trim().toLowerCase();
  const labels = d.split('.');
  if (d.length === 0 || d.length > 253 || labels.length < 2 || !labels.every((l) => LABEL.test(l))) {
    throw new GokuError(
      'GOKU_ERR_INVALID_DOMAIN',
      `invalid domain ${JSON.stringify(raw.slice(0, 80))}: expected a plain host name like app.example.com`,
    );
  }
  // No top-level domain is all digits (RFC 3696): such a name is an IP address, and claiming
  // one would take over every request made to the server's bare address.
  if (/^\d+$/.test(labels[labels.length - 1] as string)) {
    throw new GokuError(
      'GOKU_ERR_INVALID_DOMAIN',
      `invalid domain ${JSON.stringify(raw.slice(0, 80))}: an IP address is not a domain; use a host name`,
    );
  }
  return d;
}

/**
 * Names under GOKU_DOMAIN belong to the apps and deployments they name (APP.GOKU_DOMAIN,
 * APP-SLUG.GOKU_DOMAIN), and goku gives them out itself: a CNAME file or domains:add may not
 * claim one, nor GOKU_DOMAIN itself, or one app could take another's name before it is pushed.
 */
export function assertOwnDomain(domain: string, baseDomain: string, app: string): void {
  if (domain === baseDomain || domain.endsWith(`.${baseDomain}`)) {
    throw new GokuError(
      'GOKU_ERR_DOMAIN_TAKEN',
      `domain ${domain} is under GOKU_DOMAIN (${baseDomain}), whose names goku gives out itself (${app} is served at ${app}.${baseDomain}); add a domain of your own`,
    );
  }
}

/** CNAME file: every non-empty, non-comment line is a domain. */
export function parseCnameFile(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const d = normalizeDomain(t);
    if (!out.includes(d)) out.push(d);
  }
  return out;
}

/** Branch name from a full ref, or null for anything that is not a branch (tags, notes...). */
export function branchFromRef(ref: string): string | null {
  return ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : null;
}

export const ZERO_SHA = '0000000000000000000000000000000000000000';
