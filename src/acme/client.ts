import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { join } from 'node:path';
import acme from 'acme-client';
import { refusedNames } from '../core/acme.js';
import { GokuError, oneLine } from '../errors.js';

/** What one issuance produced: the certificate covers `names`; `refused` names got none. */
export interface Issued {
  fullchain: string;
  key: string;
  names: string[];
  refused: { name: string; reason: string }[];
}

export interface AcmeOptions {
  directory: string;
  email: string;
  /** PEM of the root that signs the directory's TLS certificate (a private CA); null: the system's. */
  ca: string | null;
  /** GOKU_HOME/acme: the account key, and the web root the edge serves challenges from. */
  dir: string;
}

const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;
/** The longest one issuance may take before goku gives up on it (and retries later). */
const ISSUE_TIMEOUT_MS = 5 * 60 * 1000;

/**
 * The ACME adapter: acme-client speaks RFC 8555; this proves names with HTTP-01 by writing the
 * key authorization where the edge nginx serves /.well-known/acme-challenge/ for every host
 * (a file per token, so a challenge needs no reload), and asks again without the names a CA
 * refuses, so that one bad domain costs only itself.
 */
export class AcmeClient {
  private client: acme.Client | null = null;

  constructor(private readonly o: AcmeOptions) {}

  /** Where the edge nginx's `root` for challenges points. */
  get webroot(): string {
    return join(this.o.dir, 'webroot');
  }

  private get challenges(): string {
    return join(this.webroot, '.well-known', 'acme-challenge');
  }

  /** The directories: the account key is the root's only (0600); the web root is world-readable. */
  async init(): Promise<void> {
    await mkdir(this.o.dir, { recursive: true, mode: 0o711 });
    await chmod(this.o.dir, 0o711);
    await mkdir(this.challenges, { recursive: true, mode: 0o755 });
    for (const d of [this.webroot, join(this.webroot, '.well-known'), this.challenges]) await chmod(d, 0o755);
  }

  /**
   * Asks for one certificate covering `names` (all of them, or those the CA does not refuse),
   * for `key` (PEM) when given, else for a new P-256 key.
   */
  async issue(names: string[], key: string | null = null): Promise<Issued> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new GokuError('GOKU_ERR_ACME', `the CA did not finish within ${ISSUE_TIMEOUT_MS / 1000} s`)),
        ISSUE_TIMEOUT_MS,
      );
    });
    try {
      return await Promise.race([this.issueAll(names, key), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async issueAll(wanted: string[], reuse: string | null): Promise<Issued> {
    const client = await this.account();
    const refused: Issued['refused'] = [];
    let names = [...wanted];
    // Each round drops at least one name, so this ends.
    while (names.length) {
      const order = await this.order(client, names, refused);
      if (!order) break;
      const failed = await this.prove(client, order.order);
      if (failed.length) {
        refused.push(...failed);
        names = names.filter((n) => !failed.some((f) => f.name === n));
        continue;
      }
      const [key, csr] = await acme.crypto.createCsr(
        { altNames: order.names },
        reuse ?? (await acme.crypto.createPrivateEcdsaKey()),
      );
      const done = await client.finalizeOrder(order.order, csr);
      const fullchain = await client.getCertificate(done);
      return { fullchain, key: key.toString(), names: order.names, refused };
    }
    throw new GokuError(
      'GOKU_ERR_ACME',
      refused.map((r) => `${r.name}: ${r.reason}`).join('; ') || 'the CA issued no certificate',
    );
  }

  /** A new order for the names the CA accepts (the refused ones are moved to `refused`). */
  private async order(
    client: acme.Client,
    names: string[],
    refused: Issued['refused'],
  ): Promise<{ order: acme.Order; names: string[] } | null> {
    let left = [...names];
    while (left.length) {
      try {
        const order = await client.createOrder({
          identifiers: left.map((value) => ({ type: 'dns', value })),
        });
        return { order, names: left };
      } catch (err) {
        const reason = oneLine(err);
        const bad = refusedNames(reason, left);
        if (!bad.length) throw new GokuError('GOKU_ERR_ACME', `the CA refused the order: ${reason}`);
        for (const name of bad) refused.push({ name, reason });
        left = left.filter((n) => !bad.includes(n));
      }
    }
    return null;
  }

  /** Answers every pending authorization over HTTP-01; returns the names whose proof failed. */
  private async prove(client: acme.Client, order: acme.Order): Promise<Issued['refused']> {
    const failed: Issued['refused'] = [];
    const authzs = await client.getAuthorizations(order);
    await Promise.all(
      authzs.map(async (authz) => {
        if (authz.status === 'valid') return;
        const name = authz.identifier.value;
        const challenge = authz.challenges.find((c) => c.type === 'http-01');
        if (!challenge || !TOKEN.test(challenge.token)) {
          failed.push({ name, reason: 'the CA offered no usable http-01 challenge' });
          return;
        }
        const file = join(this.challenges, challenge.token);
        try {
          await writeFile(file, await client.getChallengeKeyAuthorization(challenge), { mode: 0o644 });
          await client.completeChallenge(challenge);
          await client.waitForValidStatus(challenge);
        } catch (err) {
          failed.push({ name, reason: oneLine(err) });
        } finally {
          await rm(file, { force: true });
        }
      }),
    );
    return failed;
  }

  /** The account (its key made once, 0600); registering an existing key returns its account. */
  private async account(): Promise<acme.Client> {
    if (this.client) return this.client;
    const file = join(this.o.dir, 'account.key');
    if (!existsSync(file)) {
      await writeFile(file, await acme.crypto.createPrivateEcdsaKey(), { mode: 0o600, flag: 'wx' });
    }
    if (this.o.ca) acme.axios.defaults.httpsAgent = new Agent({ ca: this.o.ca });
    const client = new acme.Client({
      directoryUrl: this.o.directory,
      accountKey: await readFile(file),
      // Poll every second at first (a CA validates in about one), up to 10 s apart.
      backoffMin: 1000,
      backoffMax: 10_000,
      backoffAttempts: 12,
    });
    try {
      await client.createAccount({ termsOfServiceAgreed: true, contact: [`mailto:${this.o.email}`] });
    } catch (err) {
      throw new GokuError('GOKU_ERR_ACME', `could not register with ${this.o.directory}: ${oneLine(err)}`);
    }
    this.client = client;
    return client;
  }
}
