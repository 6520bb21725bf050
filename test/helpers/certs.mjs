// A CA of a test's (or a benchmark's) own, made with openssl, and leaf certificates it signs.
// Plain JavaScript so that the benchmarks can use it too; types in certs.d.mts.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
const ssl = (args) => execFileSync('openssl', args, { stdio: 'pipe' });

export class TestCa {
  constructor(parent, name = 'goku test CA') {
    this.dir = mkdtempSync(join(parent, 'ca-'));
    ssl([
      'req',
      '-x509',
      ...EC,
      '-nodes',
      '-days',
      '30',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      this.path('ca.key'),
      '-out',
      this.path('ca.pem'),
    ]);
    this.cert = readFileSync(this.path('ca.pem'), 'utf8');
  }

  path(f) {
    return join(this.dir, f);
  }

  /**
   * A leaf for the names (days < 0: already expired), signed by this CA: its PEM and key. With
   * `reuse` (a key's PEM), for that key: a renewal that keeps its key.
   */
  leaf(names, days = 30, reuse = null) {
    const id = Math.random().toString(36).slice(2);
    const [key, csr, crt, ext] = ['key', 'csr', 'pem', 'ext'].map((x) => this.path(`${id}.${x}`));
    writeFileSync(ext, `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\n`);
    if (reuse) {
      writeFileSync(key, reuse);
      ssl(['req', '-new', '-key', key, '-subj', `/CN=${names[0]}`, '-out', csr]);
    } else {
      ssl(['req', '-new', ...EC, '-nodes', '-subj', `/CN=${names[0]}`, '-keyout', key, '-out', csr]);
    }
    ssl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      this.path('ca.pem'),
      '-CAkey',
      this.path('ca.key'),
      '-CAcreateserial',
      '-days',
      String(days),
      '-extfile',
      ext,
      '-out',
      crt,
    ]);
    return { cert: readFileSync(crt, 'utf8'), key: readFileSync(key, 'utf8') };
  }
}
