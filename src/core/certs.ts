import { createHash, createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { GokuError } from '../errors.js';

/** A certificate bundle taken apart and checked: what certs:add installs. */
export interface CertBundle {
  /** The leaf first, then its chain, as PEM. */
  fullchain: string;
  /** The private key as PKCS#8 PEM. */
  key: string;
  /** The leaf's names (subjectAltName DNS entries, else its CN). */
  names: string[];
  issuer: string;
  notBefore: string;
  notAfter: string;
  /** sha256 fingerprint of the leaf. */
  fingerprint: string;
}

/** More than any real chain holds; a bigger paste is not a certificate bundle. */
export const MAX_BUNDLE_BYTES = 64 * 1024;

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[\s\S]*?\r?\n-----END \1-----/g;

/**
 * Reads a PEM bundle (certificate, its chain and its private key, in any order) and checks it:
 * every certificate parses, the key is the leaf's, each certificate is signed by the next, and
 * the leaf is valid now. Every refusal is one GOKU_ERR_CERT line.
 */
export function parseBundle(text: string, now: Date): CertBundle {
  const bad = (msg: string) => new GokuError('GOKU_ERR_CERT', msg);
  if (Buffer.byteLength(text) > MAX_BUNDLE_BYTES)
    throw bad(
      `the bundle is over ${MAX_BUNDLE_BYTES / 1024} KiB; send the certificate, its chain and its key only`,
    );
  const blocks = [...text.matchAll(BLOCK)].map((m) => ({ kind: m[1] as string, pem: m[0] }));
  const certs = blocks.filter((b) => b.kind === 'CERTIFICATE');
  const keys = blocks.filter((b) => /PRIVATE KEY$/.test(b.kind));
  if (certs.length === 0 && keys.length === 0)
    throw bad('no PEM certificate or key in the input; send fullchain.pem and the key, concatenated');
  if (certs.length === 0)
    throw bad('a private key but no certificate; send the certificate (and its chain) with it');
  if (keys.length === 0) throw bad('no private key; send the certificate with its key, concatenated');
  if (keys.length > 1) throw bad(`${keys.length} private keys; send exactly one, the certificate's`);
  const parsed = certs.map((c, i) => {
    try {
      return new X509Certificate(c.pem);
    } catch (err) {
      throw bad(`certificate ${i + 1} of the bundle does not parse: ${(err as Error).message}`);
    }
  });
  let key: KeyObject;
  try {
    key = createPrivateKey((keys[0] as { pem: string }).pem);
  } catch (err) {
    throw bad(`the private key does not parse (an encrypted key is not taken): ${(err as Error).message}`);
  }
  const leafIndex = parsed.findIndex((c) => c.checkPrivateKey(key));
  if (leafIndex < 0) throw bad('the private key belongs to none of the certificates');
  const leaf = parsed[leafIndex] as X509Certificate;
  const chain = [leaf, ...parsed.filter((_, i) => i !== leafIndex)];
  for (let i = 0; i + 1 < chain.length; i++) {
    const [c, up] = [chain[i] as X509Certificate, chain[i + 1] as X509Certificate];
    if (!c.checkIssued(up) || !c.verify(up.publicKey))
      throw bad(
        `certificate ${i + 1} of the chain is not signed by the one after it; send the chain in order`,
      );
  }
  // A certificate made a moment ago starts at its second, and clocks differ a little: 5 minutes' grace.
  if (new Date(leaf.validFrom).getTime() > now.getTime() + 5 * 60_000)
    throw bad(`the certificate is not valid before ${isoOf(leaf.validFrom)}`);
  if (new Date(leaf.validTo) <= now) throw bad(`the certificate expired at ${isoOf(leaf.validTo)}`);
  return {
    fullchain: `${chain.map((c) => c.toString().trim()).join('\n')}\n`,
    key: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    names: namesOf(leaf),
    issuer: leaf.issuer.replace(/\n/g, ', '),
    notBefore: isoOf(leaf.validFrom),
    notAfter: isoOf(leaf.validTo),
    fingerprint: leaf.fingerprint256,
  };
}

/** The certificate's DNS names: its subjectAltName's, else its CN. */
function namesOf(c: X509Certificate): string[] {
  const alt = (c.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((e) => e.startsWith('DNS:'))
    .map((e) => e.slice(4).toLowerCase());
  if (alt.length) return alt;
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(c.subject)?.[1];
  return cn ? [cn.toLowerCase()] : [];
}

/** Whether a certificate name (possibly *.example.com) covers a host name, as TLS clients match. */
export function covers(name: string, host: string): boolean {
  const n = name.toLowerCase();
  const h = host.toLowerCase();
  if (!n.startsWith('*.')) return n === h;
  const rest = h.slice(h.indexOf('.') + 1);
  return h.indexOf('.') > 0 && rest === n.slice(2);
}

function isoOf(d: string): string {
  return new Date(d).toISOString();
}

/** A certificate version's id: its bundle's (key, then chain) content, so equal bundles share one. */
export function bundleId(bundle: string): string {
  return createHash('sha256').update(bundle).digest('hex').slice(0, 16);
}
