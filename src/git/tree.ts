import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { GokuError } from '../errors.js';
import { splitter } from '../util/split.js';

/** One file of a pushed tree, as git's tree objects describe it (never a path on disk). */
export interface TreeEntry {
  /** Octal git mode: 100644, 100755, 120000 (symlink), 160000 (submodule). */
  mode: string;
  oid: string;
  size: number;
  path: string;
}

export interface TreeLimits {
  maxFiles: number;
  maxBytes: number;
}

const SYMLINK = '120000';
const SUBMODULE = '160000';

/**
 * A pushed commit read straight from git's objects with the system git (the one receive-pack
 * already needs): nothing is written to disk, symlinks are never followed, and the size of the
 * tree is known from its tree objects and blob headers before any content is read.
 */
export class GitTree {
  private constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly gitdir: string,
    readonly entries: TreeEntry[],
    private readonly byPath: Map<string, TreeEntry>,
  ) {}

  /**
   * Lists the commit's files, refusing trees over the limits as soon as the listing passes them
   * (git is stopped there) and paths that could leave the tree.
   */
  static async open(opts: {
    gitdir: string;
    /** The pre-receive hook's quarantine directory (pushed objects wait there), if any. */
    objectDir: string | null;
    commit: string;
    limits: TreeLimits;
  }): Promise<GitTree> {
    if (!/^[0-9a-f]{40}$/.test(opts.commit)) {
      throw new GokuError(
        'GOKU_ERR_PUSH_REJECTED',
        `not a commit id: ${JSON.stringify(opts.commit.slice(0, 50))}`,
      );
    }
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, GIT_CONFIG_NOSYSTEM: '1', HOME: '/nonexistent' };
    if (opts.objectDir) {
      env.GIT_OBJECT_DIRECTORY = opts.objectDir;
      env.GIT_ALTERNATE_OBJECT_DIRECTORIES = join(opts.gitdir, 'objects');
    }
    const entries: TreeEntry[] = [];
    const byPath = new Map<string, TreeEntry>();
    let bytes = 0;
    const { maxFiles, maxBytes } = opts.limits;
    await gitLines(opts.gitdir, env, ['ls-tree', '-r', '-l', '-z', '--full-tree', opts.commit], (rec) => {
      // "<mode> <type> <oid> <size>\t<path>"
      const tab = rec.indexOf('\t');
      const [mode = '', , oid = '', size = ''] = rec.slice(0, tab).split(/ +/);
      const path = rec.slice(tab + 1);
      assertSafePath(path);
      if (mode === SUBMODULE) return; // a submodule is a commit id, not content
      const entry = { mode, oid, size: Number(size), path };
      entries.push(entry);
      byPath.set(path, entry);
      bytes += entry.size;
      if (entries.length > maxFiles) {
        throw new GokuError(
          'GOKU_ERR_TREE_TOO_LARGE',
          `the pushed tree has more than ${maxFiles} files (GOKU_MAX_TREE_FILES); push fewer files`,
        );
      }
      if (bytes > maxBytes) {
        throw new GokuError(
          'GOKU_ERR_TREE_TOO_LARGE',
          `the pushed tree holds more than ${formatBytes(maxBytes)} (GOKU_MAX_TREE_BYTES); push less, or keep build inputs out of git`,
        );
      }
    });
    return new GitTree(env, opts.gitdir, entries, byPath);
  }

  /** The entry at PATH, or undefined; a directory is not an entry. */
  entry(path: string): TreeEntry | undefined {
    return this.byPath.get(path);
  }

  /**
   * A file goku itself reads (Dockerfile, CNAME, app.json, .dockerignore): null when absent,
   * refused when it is a symlink or larger than maxBytes.
   */
  async readText(path: string, maxBytes: number): Promise<string | null> {
    const e = this.byPath.get(path);
    if (!e) {
      if (this.entries.some((x) => x.path.startsWith(`${path}/`))) {
        throw new GokuError(
          'GOKU_ERR_UNSAFE_FILE',
          `${path} in the pushed tree is a directory; it must be a file`,
        );
      }
      return null;
    }
    if (e.mode === SYMLINK) {
      throw new GokuError(
        'GOKU_ERR_UNSAFE_FILE',
        `${path} in the pushed tree is a symlink; goku reads ${path} only as a regular file: commit its content instead`,
      );
    }
    if (e.size > maxBytes) {
      throw new GokuError(
        'GOKU_ERR_UNSAFE_FILE',
        `${path} in the pushed tree is ${formatBytes(e.size)}, more than the ${formatBytes(maxBytes)} goku reads`,
      );
    }
    const chunks: Buffer[] = [];
    await gitRaw(this.gitdir, this.env, ['cat-file', 'blob', e.oid], (c) => chunks.push(c));
    return Buffer.concat(chunks).toString('utf8');
  }

  /**
   * Streams the given entries' contents in order: git cat-file --batch reads each blob once,
   * with backpressure, so memory stays at one chunk whatever the tree holds.
   */
  contents(list: TreeEntry[], onEntry: (e: TreeEntry, body: Readable) => Promise<void>): Promise<void> {
    return catBatch(this.gitdir, this.env, list, onEntry);
  }
}

/**
 * git refuses such paths on checkout, but receive-pack takes any tree unless fsck is on:
 * a crafted tree could name "..", "." or absolute parts, which no build context may hold.
 */
function assertSafePath(path: string): void {
  const parts = path.split('/');
  if (path.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..' || p === '.git')) {
    throw new GokuError(
      'GOKU_ERR_UNSAFE_FILE',
      `the pushed tree holds an unsafe path ${JSON.stringify(path.slice(0, 80))}; git itself refuses to check it out`,
    );
  }
}

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${+(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${+(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}

/** Runs git, handing each NUL-terminated record to onRecord; a throw stops git and rejects. */
function gitLines(
  gitdir: string,
  env: NodeJS.ProcessEnv,
  args: string[],
  onRecord: (rec: string) => void,
): Promise<void> {
  return gitRaw(gitdir, env, args, splitter('\0', onRecord));
}

function gitRaw(
  gitdir: string,
  env: NodeJS.ProcessEnv,
  args: string[],
  onChunk: (chunk: Buffer) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['--git-dir', gitdir, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let failed: unknown = null;
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 2000) stderr += d.toString();
    });
    child.stdout.on('data', (c: Buffer) => {
      if (failed) return;
      try {
        onChunk(c);
      } catch (err) {
        failed = err;
        child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (failed) reject(failed);
      else if (code !== 0)
        reject(
          new GokuError(
            'GOKU_ERR_PUSH_REJECTED',
            `git ${args[0]} failed: ${stderr.trim().split('\n')[0] ?? `exit ${code}`}`,
          ),
        );
      else resolve();
    });
  });
}

/**
 * Reads `git cat-file --batch` output: per object a header line, SIZE bytes, a newline. Chunks
 * are pulled through the stream's async iterator (paused mode): Node resumes a child's stdout
 * that has no 'readable' listener when the child exits, and in flowing mode the chunks nobody
 * listened for would be lost.
 */
class BatchReader {
  private buf: Buffer = Buffer.alloc(0);
  private readonly chunks: AsyncIterator<Buffer>;

  constructor(out: Readable) {
    this.chunks = out[Symbol.asyncIterator]();
  }

  private async more(): Promise<void> {
    const { value, done } = await this.chunks.next();
    if (done) throw new GokuError('GOKU_ERR_PUSH_REJECTED', 'git cat-file ended early');
    this.buf = this.buf.length ? Buffer.concat([this.buf, value]) : value;
  }

  /** The next header line: "<oid> <type> <size>" (or "<oid> missing"). */
  async header(): Promise<{ type: string; size: number }> {
    let nl = this.buf.indexOf(10);
    while (nl < 0) {
      await this.more();
      nl = this.buf.indexOf(10);
    }
    const [, type = '', size = ''] = this.buf.subarray(0, nl).toString().split(' ');
    this.buf = this.buf.subarray(nl + 1);
    return { type, size: Number(size) };
  }

  /** The next `size` bytes as a stream; `left()` says how many its reader has not taken. */
  body(size: number): { stream: Readable; left: () => number } {
    let left = size;
    const take = (stream: Readable) => {
      const n = Math.min(left, this.buf.length);
      stream.push(this.buf.subarray(0, n));
      this.buf = this.buf.subarray(n);
      left -= n;
      if (left === 0) stream.push(null);
    };
    const reader = this;
    const stream = new Readable({
      read() {
        if (left === 0) return;
        if (reader.buf.length > 0) take(this);
        else
          reader.more().then(
            () => take(this),
            (err) => this.destroy(err),
          );
      },
    });
    if (size === 0) stream.push(null);
    return { stream, left: () => left };
  }

  /** The newline after an object's content. */
  async endOfObject(): Promise<void> {
    while (this.buf.length < 1) await this.more();
    this.buf = this.buf.subarray(1);
  }
}

/** `git cat-file --batch` for the listed blobs, each handed to onEntry as a stream, in order. */
async function catBatch(
  gitdir: string,
  env: NodeJS.ProcessEnv,
  list: TreeEntry[],
  onEntry: (e: TreeEntry, body: Readable) => Promise<void>,
): Promise<void> {
  const child = spawn('git', ['--git-dir', gitdir, 'cat-file', '--batch'], {
    env,
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  const failed = new Promise<never>((_, reject) => child.on('error', reject));
  failed.catch(() => undefined);
  child.stdin.on('error', () => undefined);
  for (const e of list) child.stdin.write(`${e.oid}\n`);
  child.stdin.end();
  const reader = new BatchReader(child.stdout);
  try {
    for (const e of list) {
      const h = await Promise.race([reader.header(), failed]);
      if (h.type !== 'blob' || h.size !== e.size) {
        throw new GokuError('GOKU_ERR_PUSH_REJECTED', `git object ${e.oid} of ${e.path} is missing`);
      }
      const body = reader.body(e.size);
      await onEntry(e, body.stream);
      if (body.left() > 0) throw new GokuError('GOKU_ERR_INTERNAL', `content of ${e.path} was not read`);
      await reader.endOfObject();
    }
  } finally {
    child.kill('SIGKILL');
  }
}
