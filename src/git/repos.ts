import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rename as fsRename, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Bare repositories under GOKU_HOME/repos, one per app; hooks come from goku's own hooks/ directory. */
export class Repos {
  constructor(
    private readonly root: string,
    private readonly hooksDir: string,
    private readonly maxPushBytes: number,
  ) {}

  path(app: string): string {
    return join(this.root, `${app}.git`);
  }

  exists(app: string): boolean {
    return existsSync(join(this.path(app), 'HEAD'));
  }

  async ensure(app: string): Promise<string> {
    const dir = this.path(app);
    if (this.exists(app)) return dir;
    await mkdir(this.root, { recursive: true });
    await run('git', ['init', '--bare', '--quiet', dir]);
    const set = (k: string, v: string) => run('git', ['--git-dir', dir, 'config', k, v]);
    // hooksPath points at goku's hooks/, so upgrading goku upgrades every repo's hook.
    await set('core.hooksPath', this.hooksDir);
    await set('receive.denyDeleteCurrent', 'false');
    await set('receive.denyNonFastForwards', 'false');
    return dir;
  }

  /** apps:rename: the bare repository moves to the new name (an image app has none). */
  async rename(from: string, to: string): Promise<void> {
    if (existsSync(this.path(from))) await fsRename(this.path(from), this.path(to));
  }

  async remove(app: string): Promise<void> {
    await rm(this.path(app), { recursive: true, force: true });
  }

  /** Where a ref points now, or the zero id when it does not exist. */
  async refValue(app: string, ref: string): Promise<string> {
    try {
      const { stdout } = await run('git', ['--git-dir', this.path(app), 'rev-parse', '--verify', '-q', ref]);
      return stdout.trim();
    } catch (err) {
      if ((err as { code?: number }).code === 1) return '0'.repeat(40);
      throw err;
    }
  }

  /** Whether any ref landed in the app's repo. */
  async hasRefs(app: string): Promise<boolean> {
    const { stdout } = await run('git', ['--git-dir', this.path(app), 'for-each-ref', '--count=1']);
    return stdout.trim() !== '';
  }

  async setHead(app: string, branch: string): Promise<void> {
    await run('git', ['--git-dir', this.path(app), 'symbolic-ref', 'HEAD', `refs/heads/${branch}`]);
  }

  /**
   * The system git does the wire protocol. receive-pack gets a socket on fd 3, which git hands
   * down to hooks/pre-receive (see git/hook.ts), and a bound on the pack a push may send.
   */
  spawn(kind: 'receive-pack' | 'upload-pack', app: string, env: Record<string, string>): ChildProcess {
    const hook = kind === 'receive-pack';
    const limit = hook ? ['-c', `receive.maxInputSize=${this.maxPushBytes}`] : [];
    return spawn('git', [...limit, kind, this.path(app)], {
      env: { ...process.env, ...env, ...(hook ? { GOKU_HOOK_FD: '3' } : {}) },
      stdio: hook ? ['pipe', 'pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe'],
    });
  }
}
