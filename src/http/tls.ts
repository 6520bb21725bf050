import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Server as TlsServer } from 'node:tls';
import type { Logger } from 'pino';
import type { AcmeTarget } from '../app/acme.js';
import type { AcmeState } from '../core/acme.js';
import { type CertBundle, parseBundle } from '../core/certs.js';
import { GokuError, oneLine } from '../errors.js';
import { type CertFiles, keyOf } from '../proxy/certs.js';
import type { Settings } from '../settings.js';
import type { AcmeRecord } from '../store/types.js';

/** What the HTTP server presents. */
export interface TlsPair {
  key: string;
  cert: string;
}

/** How often the files of GOKU_HTTP_TLS_CERT/_KEY are looked at for a renewal made elsewhere. */
const FILE_CHECK_MS = 5000;

/**
 * TLS of goku's own HTTP API and dashboard: from GOKU_HTTP_TLS_CERT/_KEY (re-read when they
 * change, so certbot or any other tool can renew them), or an ACME certificate for
 * GOKU_HTTP_TLS_DOMAIN kept by the same manager as the apps'. A new certificate goes into the
 * running server (setSecureContext): no restart, no cut connection.
 */
export class ApiTls {
  private server: TlsServer | null = null;
  private timer: NodeJS.Timeout | null = null;
  private seen = '';

  constructor(
    private readonly d: {
      settings: Pick<Settings, 'GOKU_HTTP_TLS_CERT' | 'GOKU_HTTP_TLS_KEY' | 'GOKU_HTTP_TLS_DOMAIN'>;
      files: CertFiles;
      clock: () => Date;
      log: Logger;
    },
  ) {}

  /** What the server starts with; null: plain HTTP. */
  initial(): TlsPair | null {
    const s = this.d.settings;
    if (s.GOKU_HTTP_TLS_CERT && s.GOKU_HTTP_TLS_KEY) {
      this.seen = this.fileStamp();
      return pair(this.readFiles());
    }
    if (!s.GOKU_HTTP_TLS_DOMAIN) return null;
    // goku's own ACME certificate when it has a good one, its self-signed default until then.
    const own = join(this.d.files.ownDir, 'bundle.pem');
    try {
      if (existsSync(own)) return pair(parseBundle(readFileSync(own, 'utf8'), this.d.clock()));
    } catch (err) {
      this.d.log.warn(
        { err: oneLine(err) },
        'HTTP API: its ACME certificate is not usable; the default serves until a new one',
      );
    }
    const def = readFileSync(join(this.d.files.dir, 'default', 'bundle.pem'), 'utf8');
    return pair(parseBundle(def, this.d.clock()));
  }

  /** Starts following renewals into `server`. */
  attach(server: TlsServer): void {
    this.server = server;
    if (!this.d.settings.GOKU_HTTP_TLS_CERT) return;
    this.timer = setInterval(() => this.reloadFiles(), FILE_CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** goku's own domain as an ACME target (null without GOKU_HTTP_TLS_DOMAIN). */
  target(): AcmeTarget | null {
    const domain = this.d.settings.GOKU_HTTP_TLS_DOMAIN;
    if (!domain) return null;
    const stateFile = join(this.d.files.ownDir, 'state.json');
    let state: AcmeRecord | undefined;
    try {
      state = JSON.parse(readFileSync(stateFile, 'utf8')) as AcmeRecord;
    } catch {
      state = undefined;
    }
    return {
      id: 'goku',
      names: [domain],
      state,
      key: () => keyOf(join(this.d.files.ownDir, 'bundle.pem')),
      save: async (issued, next: AcmeState) => {
        if (issued) {
          await this.d.files.installOwn(issued.fullchain, issued.key);
          this.use({ key: issued.key, cert: issued.fullchain });
        }
        const cert = issued?.meta ?? state?.cert;
        mkdirSync(this.d.files.ownDir, { recursive: true, mode: 0o700 });
        writeFileSync(stateFile, JSON.stringify({ ...next, ...(cert ? { cert } : {}) }), { mode: 0o600 });
      },
    };
  }

  private use(p: TlsPair): void {
    this.server?.setSecureContext(p);
  }

  private readFiles(): CertBundle {
    const s = this.d.settings;
    const read = (setting: string, file: string) => {
      try {
        return readFileSync(file, 'utf8');
      } catch (err) {
        throw new GokuError('GOKU_ERR_SETTINGS', `${setting}: cannot read ${file}: ${oneLine(err)}`);
      }
    };
    const text = `${read('GOKU_HTTP_TLS_CERT', s.GOKU_HTTP_TLS_CERT as string)}\n${read('GOKU_HTTP_TLS_KEY', s.GOKU_HTTP_TLS_KEY as string)}`;
    try {
      return parseBundle(text, this.d.clock());
    } catch (err) {
      throw new GokuError('GOKU_ERR_SETTINGS', `GOKU_HTTP_TLS_CERT/_KEY: ${oneLine(err)}`);
    }
  }

  private fileStamp(): string {
    const s = this.d.settings;
    return [s.GOKU_HTTP_TLS_CERT, s.GOKU_HTTP_TLS_KEY]
      .map((f) => {
        try {
          const st = statSync(f as string);
          return `${st.ino}:${st.size}:${st.mtimeMs}`;
        } catch {
          return '-';
        }
      })
      .join('/');
  }

  /** A renewal made elsewhere: taken when it checks out; otherwise the current pair keeps serving. */
  private reloadFiles(): void {
    const stamp = this.fileStamp();
    if (stamp === this.seen) return;
    this.seen = stamp;
    try {
      this.use(pair(this.readFiles()));
      this.d.log.info('HTTP API: new TLS certificate from GOKU_HTTP_TLS_CERT/_KEY');
    } catch (err) {
      this.d.log.error(
        { err: oneLine(err) },
        'HTTP API: the new TLS files are not usable; the current ones serve',
      );
    }
  }
}

function pair(b: CertBundle): TlsPair {
  return { key: b.key, cert: b.fullchain };
}
