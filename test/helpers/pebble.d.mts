/** Debian's pebble ACME CA and its DNS (every name is 127.0.0.1), on free ports. */
export class Pebble {
  constructor(o: { parent: string; httpPort: number; validity?: number; blocklist?: string[] });
  readonly dir: string;
  /** The ACME directory URL. */
  directory: string;
  /** The file and PEM of the root of pebble's own listener certificate (GOKU_ACME_CA). */
  caFile: string;
  ca: string;
  /** The root pebble issues certificates under. */
  root: string;
  log: string;
  start(): Promise<Pebble>;
  /** Makes pebble's DNS answer `address` for `host` (a name that then does not lead to goku). */
  pointAt(host: string, address: string): Promise<void>;
  /** GOKU_ACME_EMAIL, GOKU_ACME_DIRECTORY and GOKU_ACME_CA for this CA. */
  env(): Record<string, string>;
  stop(): Promise<void>;
}
