/** A CA of a test's own (openssl), and leaf certificates it signs. */
export class TestCa {
  readonly dir: string;
  /** The CA's certificate, PEM. */
  readonly cert: string;
  constructor(parent: string, name?: string);
  path(f: string): string;
  /** A leaf for the names (days < 0: already expired), signed by this CA: its PEM and key; `reuse`: for that key. */
  leaf(names: string[], days?: number, reuse?: string | null): { cert: string; key: string };
}
