import * as nodeFs from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { normalize } from 'node:path';
import git from 'isomorphic-git';

const fsp = nodeFs.promises;

export interface Quarantine {
  /** GIT_QUARANTINE_PATH / GIT_OBJECT_DIRECTORY of the pre-receive hook: where the pushed objects wait. */
  objectDir: string | null;
}

/**
 * isomorphic-git reads objects only from GITDIR/objects and ignores git's quarantine during
 * pre-receive, so it gets an fs that looks in the quarantine directory first. Its index is
 * redirected to a per-deployment file so the bare repo never gets one.
 */
function quarantineFs(gitdir: string, indexFile: string, q: Quarantine) {
  const objects = `${normalize(gitdir)}/objects`;
  const index = `${normalize(gitdir)}/index`;
  const redirect = (p: string): string => (normalize(p) === index ? indexFile : p);
  const inQuarantine = (p: string): string | null => {
    const n = normalize(p);
    if (!q.objectDir || !n.startsWith(`${objects}/`)) return null;
    return `${q.objectDir}/${n.slice(objects.length + 1)}`;
  };
  const firstOf = async <T>(p: string, op: (path: string) => Promise<T>): Promise<T> => {
    const alt = inQuarantine(p);
    if (alt) {
      try {
        return await op(alt);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return op(redirect(p));
  };
  const promises = {
    readFile: (p: string, opts?: unknown) =>
      firstOf(p, (x) => fsp.readFile(x, opts as nodeFs.ObjectEncodingOptions) as Promise<Buffer | string>),
    writeFile: (p: string, data: unknown, opts?: unknown) =>
      fsp.writeFile(redirect(p), data as string, opts as nodeFs.WriteFileOptions),
    unlink: (p: string) => fsp.unlink(redirect(p)),
    readdir: async (p: string) => {
      const alt = inQuarantine(p);
      const own = await fsp.readdir(p).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' && alt) return [] as string[];
        throw err;
      });
      if (!alt) return own;
      const extra = await fsp.readdir(alt).catch(() => [] as string[]);
      return [...new Set([...extra, ...own])];
    },
    mkdir: (p: string, opts?: unknown) => fsp.mkdir(p, opts as nodeFs.MakeDirectoryOptions),
    rmdir: (p: string) => fsp.rmdir(p),
    stat: (p: string) => firstOf(p, (x) => fsp.stat(x)),
    lstat: (p: string) => firstOf(p, (x) => fsp.lstat(x)),
    readlink: (p: string) => fsp.readlink(p),
    symlink: (target: string, p: string) => fsp.symlink(target, p),
    chmod: (p: string, mode: number) => fsp.chmod(p, mode),
  };
  return { promises };
}

/**
 * Checks a commit out into a work tree kept per deployment: only files that changed since the
 * last checkout are rewritten.
 */
export async function checkoutCommit(opts: {
  gitdir: string;
  workTree: string;
  indexFile: string;
  commit: string;
  quarantine: Quarantine;
}): Promise<void> {
  await mkdir(opts.workTree, { recursive: true });
  const fs = quarantineFs(opts.gitdir, opts.indexFile, opts.quarantine);
  await git.checkout({
    fs,
    dir: opts.workTree,
    gitdir: opts.gitdir,
    ref: opts.commit,
    force: true,
    noUpdateHead: true,
    cache: {},
  });
}
