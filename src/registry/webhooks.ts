import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { eligibleTags } from '../core/tag-policy.js';
import { GokuError, oneLine } from '../errors.js';
import type { Settings } from '../settings.js';
import type { DeepReadonly, ImageSource, Store } from '../store/types.js';
import { sameSecret } from '../util/secret.js';
import { type ImageUpdate, parseDeployHook, parseDockerHub, parseRegistryEvents } from './payloads.js';
import { formatImageRef, parseImageRef, withTag } from './reference.js';
import { type ImageUpdates, policyOf } from './updates.js';

export type HookKind = 'dockerhub' | 'registry' | 'deploy';
export const HOOK_KINDS: readonly HookKind[] = ['dockerhub', 'registry', 'deploy'];

export interface HookAnswer {
  status: number;
  body: { message: string; apps?: string[] };
}

/**
 * The registry webhooks: a secret in the URL (256 random bits in a 0600 file, compared in
 * constant time, never logged), a payload that only says where to look, and a deploy queued
 * per app. The answer comes once the work is queued; the deploy runs after. An app with a
 * hook-triggered deploy pending is marked in the store, so a restart resumes it.
 */
export class Webhooks {
  private current: string;

  constructor(
    private readonly d: {
      store: Store;
      updates: ImageUpdates;
      settings: Settings;
      log: Logger;
      secretFile: string;
    },
  ) {
    this.current = existsSync(d.secretFile) ? readFileSync(d.secretFile, 'utf8').trim() : '';
  }

  /** Makes the secret on first start. */
  async init(): Promise<void> {
    if (!/^[a-f0-9]{64}$/.test(this.current)) await this.rotate();
  }

  secret(): string {
    return this.current;
  }

  /** A new secret; the old URLs stop working at once. */
  async rotate(): Promise<string> {
    const next = randomBytes(32).toString('hex');
    const tmp = `${this.d.secretFile}.${process.pid}.tmp`;
    await writeFile(tmp, `${next}\n`, { mode: 0o600 });
    await rename(tmp, this.d.secretFile);
    this.current = next;
    return next;
  }

  /** Constant time: compares hashes of both, so neither length nor content leaks. */
  accepts(candidate: string): boolean {
    return this.current.length > 0 && sameSecret(candidate, this.current);
  }

  async handle(kind: HookKind, body: unknown): Promise<HookAnswer> {
    switch (kind) {
      case 'dockerhub':
        return this.dockerHub(body);
      case 'registry':
        return this.queueUpdates(parseRegistryEvents(body), 'registry notification');
      case 'deploy':
        return this.deployHook(body);
    }
  }

  private async dockerHub(body: unknown): Promise<HookAnswer> {
    const hook = parseDockerHub(body);
    const owners = this.d.settings.GOKU_WEBHOOK_OWNERS;
    if (
      owners &&
      !owners
        .split(',')
        .map((o) => o.trim())
        .includes(hook.namespace)
    ) {
      throw new GokuError(
        'GOKU_ERR_WEBHOOK_OWNER',
        `Docker Hub namespace ${hook.namespace} is not in GOKU_WEBHOOK_OWNERS; nothing was pulled`,
      );
    }
    const answer = await this.queueUpdates([hook.update], 'Docker Hub push');
    if (hook.callbackUrl) void this.callBack(hook.callbackUrl, answer.body.apps ?? []);
    return answer;
  }

  private async deployHook(body: unknown): Promise<HookAnswer> {
    const { app, tag } = parseDeployHook(body);
    const rec = this.d.store.read().apps[app];
    if (!rec) throw new GokuError('GOKU_ERR_APP_NOT_FOUND', `app ${app} does not exist`);
    if (!rec.image) {
      throw new GokuError('GOKU_ERR_SOURCE_MISMATCH', `app ${app} deploys by git push, not from an image`);
    }
    const ref = tag === null ? null : withTag(rec.image.ref, tag);
    const offer = await this.d.updates.offer(app, ref, 'webhook');
    return { status: 202, body: { message: offer.message, apps: offer.status === 'queued' ? [app] : [] } };
  }

  /**
   * Every image app following one of the updates' registry and repository is offered what
   * its policy takes of them: its own tag (pinned), or a newer version (semver).
   */
  private async queueUpdates(updates: ImageUpdate[], what: string): Promise<HookAnswer> {
    const apps: string[] = [];
    const notes: string[] = [];
    for (const a of Object.values(this.d.store.read().apps)) {
      if (!a.image) continue;
      const wanted = wantedRef(a.image, updates);
      if (wanted === undefined) continue;
      const offer = await this.d.updates.offer(
        a.name,
        wanted,
        'webhook',
        pushedDigest(a.image, wanted, updates),
      );
      if (offer.status === 'queued') apps.push(a.name);
      else notes.push(offer.message);
    }
    const message = apps.length
      ? `${what}: deploy of ${apps.join(', ')} queued${notes.length ? `; ${notes.join('; ')}` : ''}`
      : notes.length
        ? `${what}: ${notes.join('; ')}`
        : updates.length
          ? `${what}: no app follows ${updates.map((u) => `${u.registry}/${u.repository}:${u.tag}`).join(', ')}`
          : `${what}: no tagged manifest push in it; nothing to deploy`;
    return { status: 202, body: { message, apps } };
  }

  /** Docker Hub's callback (only ever its own https URL): success once every queued deploy is done. */
  private async callBack(url: string, apps: string[]): Promise<void> {
    const idle = async () => {
      while (apps.some((a) => this.d.updates.busy(a))) await new Promise((r) => setTimeout(r, 500));
    };
    await idle();
    const failed = apps.some((a) => {
      const last = this.d.store.read().apps[a]?.releases?.at(-1);
      return last?.status === 'failed';
    });
    await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ state: failed ? 'failure' : 'success', description: 'goku', context: 'goku' }),
      redirect: 'error',
      signal: AbortSignal.timeout(10_000),
    }).catch((err) => this.d.log.warn({ err: oneLine(err) }, 'Docker Hub callback failed'));
  }
}

/** The digest the updates say was pushed to the tag the app deploys (a hint; see ImageUpdate). */
function pushedDigest(
  img: DeepReadonly<ImageSource>,
  wanted: string | null,
  updates: ImageUpdate[],
): string | undefined {
  const ref = parseImageRef(wanted ?? img.ref);
  return updates.find(
    (u) => u.registry === ref.registry && u.repository === ref.repository && u.tag === ref.tag,
  )?.digest;
}

/**
 * What an app takes of pushed tags: undefined when none concerns it; null (its own reference)
 * when its own tag was pushed; a newer version's reference when it follows semver.
 */
export function wantedRef(img: DeepReadonly<ImageSource>, updates: ImageUpdate[]): string | null | undefined {
  let ref: ReturnType<typeof parseImageRef>;
  try {
    ref = parseImageRef(img.ref);
  } catch {
    return undefined;
  }
  const pushed = updates
    .filter((u) => u.registry === ref.registry && u.repository === ref.repository)
    .map((u) => u.tag);
  if (pushed.length === 0) return undefined;
  if (policyOf(img).mode === 'semver') {
    const newest = eligibleTags(pushed, ref.tag)[0];
    if (newest !== undefined) return formatImageRef({ ...ref, tag: newest, digest: null });
  }
  return ref.tag !== null && pushed.includes(ref.tag) && !ref.digest ? null : undefined;
}
