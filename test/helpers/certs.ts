import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A CA of the test's own (openssl), and leaf certificates it signs. */
export class TestCa {
  readonly dir: string;
  readonly cert: string;

  constructor(parent: string, name = 'goku test CA') {
    this.dir = mkdtempSync(join(parent, 'ca-'));
    ssl([
      'req',
      '-x509',
      ...ec(),
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

  path(f: string): string {
    return join(this.dir, f);
  }

  /** A leaf for the names (days < 0: already expired), signed by this CA: its PEM and key. */
  leaf(names: string[], days = 30): { cert: string; key: string } {
    const id = Math.random().toString(36).slice(2);
    const [key, csr, crt, ext] = ['key', 'csr', 'pem', 'ext'].map((x) => this.path(`${id}.${x}`)) as [
      string,
      string,
      string,
      string,
    ];
    writeFileSync(ext, `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\n`);
    ssl(['req', '-new', ...ec(), '-nodes', '-subj', `/CN=${names[0]}`, '-keyout', key, '-out', csr]);
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

function ec(): string[] {
  return ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
}

function ssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' });
}
