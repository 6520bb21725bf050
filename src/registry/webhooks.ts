import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { GokuError, oneLine } from '../errors.js';
import type { Deployer } from '../pipeline/deployer.js';
import type { Settings } from '../settings.js';
import type { Store } from '../store/types.js';
import { type ImageUpdate, parseDeployHook, parseDockerHub, parseRegistryEvents } from './payloads.js';
import { formatImageRef, parseImageRef } from './reference.js';

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
  /** Deploys queued or running per app, by hooks. */
  private readonly inFlight = new Map<string, number>();

  constructor(
    private readonly d: {
      store: Store;
      deployer: Deployer;
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
    const h = (s: string) => createHash('sha256').update(s).digest();
    return this.current.length > 0 && timingSafeEqual(h(candidate), h(this.current));
  }

  /** Image apps that deploy from pending hooks resume after a restart. */
  resume(): void {
    for (const a of Object.values(this.d.store.read().apps)) {
      if (a.image?.pendingSince) {
        this.d.log.info({ app: a.name }, 'resuming a webhook deploy cut off by the last stop');
        this.schedule(a.name, a.image.pendingRef ?? null);
      }
    }
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
    const answer = this.queueUpdates([hook.update], 'Docker Hub push');
    if (hook.callbackUrl) void this.callBack(hook.callbackUrl, answer.body.apps ?? []);
    return answer;
  }

  private deployHook(body: unknown): HookAnswer {
    const { app, tag } = parseDeployHook(body);
    const rec = this.d.store.read().apps[app];
    if (!rec) throw new GokuError('GOKU_ERR_APP_NOT_FOUND', `app ${app} does not exist`);
    if (!rec.image) {
      throw new GokuError('GOKU_ERR_SOURCE_MISMATCH', `app ${app} deploys by git push, not from an image`);
    }
    let ref: string | null = null;
    if (tag !== null) {
      const cur = parseImageRef(rec.image.ref);
      ref = formatImageRef(parseImageRef(`${cur.registry}/${cur.repository}:${tag}`));
    }
    this.schedule(app, ref);
    return { status: 202, body: { message: `deploy of ${app} queued`, apps: [app] } };
  }

  /** Every image app following one of the updates' registry, repository and tag gets a deploy. */
  private queueUpdates(updates: ImageUpdate[], what: string): HookAnswer {
    const apps: string[] = [];
    for (const a of Object.values(this.d.store.read().apps)) {
      if (!a.image) continue;
      let ref: ReturnType<typeof parseImageRef>;
      try {
        ref = parseImageRef(a.image.ref);
      } catch {
        continue;
      }
      const hit = updates.some(
        (u) => u.registry === ref.registry && u.repository === ref.repository && u.tag === ref.tag,
      );
      if (hit) apps.push(a.name);
    }
    for (const app of apps) this.schedule(app, null);
    const message = apps.length
      ? `${what}: deploy of ${apps.join(', ')} queued`
      : updates.length
        ? `${what}: no app follows ${updates.map((u) => `${u.registry}/${u.repository}:${u.tag}`).join(', ')}`
        : `${what}: no tagged manifest push in it; nothing to deploy`;
    return { status: 202, body: { message, apps } };
  }

  /**
   * Queues an image deploy. The deployer's per-app queue keeps one running and one waiting: a
   * newer request replaces the waiting one, which asks the registry for the digest only when
   * it runs, so a burst ends at the newest digest and none is lost.
   */
  private schedule(app: string, ref: string | null): void {
    this.inFlight.set(app, (this.inFlight.get(app) ?? 0) + 1);
    // The mark is written beside the deploy, not before it: a store write (an fsync) is 50 to
    // 300 ms of the way from hook to live here. The store applies updates in call order, so
    // the clearing below never lands before it.
    const marked = this.markPending(app, true, ref).catch((err) =>
      this.d.log.warn({ app, err: oneLine(err) }, 'could not mark the webhook deploy pending'),
    );
    void this.d.deployer
      .deploy(app, { kind: 'image', by: 'webhook', ref }, () => undefined)
      .catch((err) => {
        if (err instanceof GokuError && err.code === 'GOKU_ERR_SUPERSEDED') return;
        this.d.log.warn({ app, err: oneLine(err) }, 'webhook deploy failed (see goku releases)');
      })
      .finally(async () => {
        await marked;
        const left = (this.inFlight.get(app) ?? 1) - 1;
        if (left > 0) {
          this.inFlight.set(app, left);
          return;
        }
        this.inFlight.delete(app);
        await this.markPending(app, false).catch((err) =>
          this.d.log.warn({ app, err: oneLine(err) }, 'could not clear the pending webhook mark'),
        );
      });
  }

  /** The mark a restart resumes from, with the reference a `{"service", "tag"}` hook asked for. */
  private markPending(app: string, on: boolean, ref: string | null = null): Promise<void> {
    return this.d.store.update((s) => {
      const img = s.apps[app]?.image;
      if (!img) return;
      if (on) {
        img.pendingSince ??= new Date().toISOString();
        if (ref) img.pendingRef = ref;
        else delete img.pendingRef;
      } else {
        delete img.pendingSince;
        delete img.pendingRef;
      }
    });
  }

  /** Docker Hub's callback (only ever its own https URL): success once every queued deploy is done. */
  private async callBack(url: string, apps: string[]): Promise<void> {
    const idle = async () => {
      while (apps.some((a) => this.inFlight.has(a))) await new Promise((r) => setTimeout(r, 500));
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
