import type { Readable } from 'node:stream';
import ignoreFactory from '@balena/dockerignore';
import tar from 'tar-stream';
import type { GitTree, TreeEntry } from '../git/tree.js';

const FIXED_MTIME = new Date(0);
/** A symlink's target is its blob; no real one is longer than PATH_MAX. */
const MAX_LINK = 4096;

/** Which tree entries go into the build context, with Docker's .dockerignore rules. */
export function contextEntries(
  entries: TreeEntry[],
  dockerignore: string | null,
  dockerfile = 'Dockerfile',
): TreeEntry[] {
  const rules = (dockerignore ?? '').split(/\r?\n/);
  const ig = ignoreFactory.default({ ignorecase: false }).add(rules);
  // An ignored directory may still hold an excepted file ("!dir/keep"): only prune without exceptions.
  const hasExceptions = rules.some((r) => r.trim().startsWith('!'));
  const dirIgnored = new Map<string, boolean>();
  const underIgnoredDir = (path: string): boolean => {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      let v = dirIgnored.get(dir);
      if (v === undefined) {
        v = ig.ignores(dir);
        dirIgnored.set(dir, v);
      }
      if (v) return true;
    }
    return false;
  };
  return entries.filter((e) => {
    if (e.path === dockerfile || e.path === '.dockerignore') return true;
    if (ig.ignores(e.path)) return false;
    return hasExceptions || !underIgnoredDir(e.path);
  });
}

/**
 * Streams a pushed tree as a docker build context straight from git's objects, honouring
 * .dockerignore; Dockerfile and .dockerignore are always sent, as the docker CLI does.
 * Symlinks travel as symlinks: Docker resolves them inside the context, never on this host.
 */
export function packContext(
  tree: GitTree,
  opts: {
    dockerignore: string | null;
    rewriteDockerfile?: (text: string) => string;
    /** A directory of the tree to send instead of the whole tree (a compose service's context). */
    root?: string;
    /** The Dockerfile's path in the context, always sent (default Dockerfile). */
    dockerfile?: string;
  },
): Readable {
  const pack = tar.pack();
  const root = !opts.root || opts.root === '.' ? '' : `${opts.root}/`;
  // Entries renamed to their path inside the context; the tree reads them by the same objects.
  const inRoot = root
    ? tree.entries
        .filter((e) => e.path.startsWith(root))
        .map((e) => ({ ...e, path: e.path.slice(root.length) }))
    : tree.entries;
  const list = contextEntries(inRoot, opts.dockerignore, opts.dockerfile);
  const readAll = async (body: Readable, max: number): Promise<Buffer> => {
    const parts: Buffer[] = [];
    let n = 0;
    for await (const c of body) {
      n += (c as Buffer).length;
      if (n <= max) parts.push(c as Buffer);
    }
    return Buffer.concat(parts);
  };
  tree
    .contents(list, async (e, body) => {
      const mode = e.mode === '100755' ? 0o755 : 0o644;
      if (e.mode === '120000') {
        const target = (await readAll(body, MAX_LINK)).toString('utf8');
        pack.entry({ name: e.path, type: 'symlink', linkname: target, mtime: FIXED_MTIME });
      } else if (e.path === 'Dockerfile' && opts.rewriteDockerfile) {
        const text = opts.rewriteDockerfile((await readAll(body, Number.MAX_SAFE_INTEGER)).toString('utf8'));
        pack.entry({ name: e.path, mode, mtime: FIXED_MTIME }, Buffer.from(text));
      } else {
        await new Promise<void>((resolve, reject) => {
          const entry = pack.entry({ name: e.path, size: e.size, mode, mtime: FIXED_MTIME }, (err) =>
            err ? reject(err) : resolve(),
          );
          body.on('error', reject).pipe(entry);
        });
      }
    })
    .then(() => pack.finalize())
    .catch((err: Error) => pack.destroy(err));
  return pack as unknown as Readable;
}
