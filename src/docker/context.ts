import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import ignoreFactory from '@balena/dockerignore';
import tar from 'tar-stream';

const FIXED_MTIME = new Date(0);

/**
 * Streams a directory as a docker build context, honouring .dockerignore with Docker's own
 * matching rules. Dockerfile and .dockerignore are always sent, as the docker CLI does.
 */
export async function packContext(
  dir: string,
  opts: { rewriteDockerfile?: (text: string) => string } = {},
): Promise<Readable> {
  let rules: string[] = [];
  try {
    rules = (await readFile(join(dir, '.dockerignore'), 'utf8')).split(/\r?\n/);
  } catch {
    // no .dockerignore
  }
  const ig = ignoreFactory.default({ ignorecase: false }).add(rules);
  const hasExceptions = rules.some((r) => r.trim().startsWith('!'));
  const pack = tar.pack();

  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(join(dir, rel), { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      const relPath = rel ? `${rel}/${e.name}` : e.name;
      const always = relPath === 'Dockerfile' || relPath === '.dockerignore';
      const ignored = !always && ig.ignores(relPath);
      const abs = join(dir, relPath);
      const st = await lstat(abs);
      if (st.isDirectory()) {
        // An ignored directory may still hold an excepted file ("!dir/keep"): only prune without exceptions.
        if (ignored && !hasExceptions) continue;
        if (!ignored)
          pack.entry({ name: `${relPath}/`, type: 'directory', mode: st.mode & 0o7777, mtime: FIXED_MTIME });
        await walk(relPath);
      } else if (ignored) {
      } else if (st.isSymbolicLink()) {
        pack.entry({ name: relPath, type: 'symlink', linkname: await readlink(abs), mtime: FIXED_MTIME });
      } else if (relPath === 'Dockerfile' && opts.rewriteDockerfile) {
        const text = opts.rewriteDockerfile(await readFile(abs, 'utf8'));
        pack.entry({ name: relPath, mode: st.mode & 0o7777, mtime: FIXED_MTIME }, Buffer.from(text));
      } else if (st.isFile()) {
        await new Promise<void>((resolve, reject) => {
          const entry = pack.entry(
            { name: relPath, size: st.size, mode: st.mode & 0o7777, mtime: FIXED_MTIME },
            (err) => (err ? reject(err) : resolve()),
          );
          createReadStream(abs).on('error', reject).pipe(entry);
        });
      }
    }
  };

  walk('')
    .then(() => pack.finalize())
    .catch((err: Error) => pack.destroy(err));
  return pack as unknown as Readable;
}
