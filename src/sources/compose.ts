import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { parse as parseDotenv } from 'dotenv';
import {
  type ComposeProject,
  type ComposeService,
  MAX_COMPOSE_BYTES,
  parseCompose,
} from '../core/compose/parse.js';
import { activeServices } from '../core/compose/plan.js';
import { composeVars } from '../core/compose/vars.js';
import { packContext } from '../docker/context.js';
import { GokuError } from '../errors.js';
import type { GitTree, TreeEntry } from '../git/tree.js';
import { labels, type Out, type PipelineDeps } from '../pipeline/context.js';
import { familiarImageRef, formatImageRef, parseImageRef } from '../registry/reference.js';
import type { ComposeSources, ServiceImage } from '../store/types.js';
import { pullFromRegistry, pushToRegistry } from './image.js';

/** The names Compose looks for, in its order. */
export const COMPOSE_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml'];

/** .env and each env_file are read whole; together they stay under this. */
const MAX_ENV_BYTES = 256 * 1024;

/** A pushed compose app, ready for the compose switch. */
export interface ComposeCandidate {
  sources: ComposeSources;
  project: ComposeProject;
  images: Record<string, ServiceImage>;
}

/** The compose file of a tree, by Compose's lookup order; null when there is none. */
export function composeFileOf(tree: GitTree): string | null {
  return COMPOSE_FILES.find((f) => tree.entry(f) !== undefined) ?? null;
}

/** Parses the sources with the app's config (and .env) as Compose interpolates them. */
export function parseSources(
  sources: ComposeSources,
  config: Readonly<Record<string, string>>,
): ComposeProject {
  // COMPOSE_PROFILES may come from .env too, as Compose reads it.
  const vars = composeVars(config, sources.dotenv);
  return activeServices(parseCompose(sources.text, { file: sources.file, vars }), vars);
}

/** Each env_file's variables, by path (dotenv's syntax, as Compose reads them). */
export function envFileVars(sources: ComposeSources): Record<string, Record<string, string>> {
  return Object.fromEntries(Object.entries(sources.envFiles).map(([p, text]) => [p, parseDotenv(text)]));
}

/**
 * The compose source: reads the file, .env and env_files from git's objects, parses them with
 * the app's config, copies bind-mounted parts of the tree to disk, builds what the file builds
 * and pulls the images it names that are not here yet.
 */
export async function composeCandidate(
  d: PipelineDeps,
  p: {
    app: string;
    deployment: string;
    release: string;
    tree: GitTree;
    file: string;
    config: Record<string, string>;
  },
  out: Out,
): Promise<ComposeCandidate> {
  const { tree, file } = p;
  const text = (await tree.readText(file, MAX_COMPOSE_BYTES)) as string;
  const dotenv = await tree.readText('.env', MAX_ENV_BYTES);
  const draft: ComposeSources = { file, text, dotenv, envFiles: {}, binds: {} };
  const project = parseSources(draft, p.config);
  // Before anything is built: the containers the file asks for must fit GOKU_MAX_SCALE.
  const total = project.services.reduce((a, s) => a + s.replicas, 0);
  if (total > d.settings.GOKU_MAX_SCALE) {
    throw new GokuError(
      'GOKU_ERR_COMPOSE',
      `${file} asks for ${total} containers in all, above GOKU_MAX_SCALE (${d.settings.GOKU_MAX_SCALE}); lower some deploy.replicas`,
    );
  }
  draft.envFiles = await readEnvFiles(tree, file, project);
  for (const path of new Set(
    project.services.flatMap((s) =>
      s.volumes.filter((v) => v.type === 'bind').map((v) => v.source as string),
    ),
  )) {
    draft.binds[path] = await materialize(d, p.app, tree, path);
  }
  for (const n of project.notes) out(`       ${n}`);
  const images: Record<string, ServiceImage> = {};
  for (const s of project.services) {
    images[s.name] = s.build
      ? await buildService(d, { ...p, service: s.name, build: s.build }, out)
      : await namedImage(d, s.name, s.image as string, out);
  }
  return { sources: draft, project, images };
}

/** Each env_file's text, by path, read from git's objects: regular files of the tree only, 256 KiB in all. */
async function readEnvFiles(
  tree: GitTree,
  file: string,
  project: ComposeProject,
): Promise<Record<string, string>> {
  const texts: Record<string, string> = {};
  let bytes = 0;
  for (const f of new Set(project.services.flatMap((s) => s.envFiles))) {
    const body = await tree.readText(f, MAX_ENV_BYTES);
    if (body === null)
      throw new GokuError('GOKU_ERR_COMPOSE', `${file}: env_file ${f} is not in the repository`);
    bytes += Buffer.byteLength(body);
    if (bytes > MAX_ENV_BYTES)
      throw new GokuError(
        'GOKU_ERR_COMPOSE',
        `${file}: the env_files hold more than ${MAX_ENV_BYTES / 1024} KiB`,
      );
    texts[f] = body;
  }
  return texts;
}

/**
 * Builds a service's `build:` from its context directory of the tree (streamed from git's
 * objects, honouring that directory's .dockerignore) as goku/DEPLOYMENT.SERVICE:RELEASE.
 */
async function buildService(
  d: PipelineDeps,
  p: {
    app: string;
    deployment: string;
    release: string;
    tree: GitTree;
    service: string;
    build: NonNullable<ComposeService['build']>;
  },
  out: Out,
): Promise<ServiceImage> {
  const { build, service } = p;
  out(`-----> Building ${service} (${build.context === '.' ? '' : `${build.context}/`}${build.dockerfile})`);
  const image = `goku/${p.deployment}.${service}:${p.release}`;
  const context = packContext(p.tree, {
    root: build.context,
    dockerfile: build.dockerfile,
    dockerignore: await p.tree.readText(posix.join(build.context, '.dockerignore'), MAX_ENV_BYTES),
  });
  const imageId = await d.runtime.buildImage(
    context,
    {
      tag: image,
      dockerfile: build.dockerfile,
      buildargs: build.args,
      ...(build.target ? { target: build.target } : {}),
      labels: { ...labels(d, p.app, p.deployment), 'goku.service': service },
    },
    (l) => out(`       ${l}`),
  );
  const pushed = await pushToRegistry(
    d,
    { image, deployment: `${p.deployment}.${service}`, release: p.release },
    out,
  );
  return { image, imageId, built: true, ...(pushed ? { registry: pushed.repo, digest: pushed.digest } : {}) };
}

/** A service's `image:`, pulled (with stored credentials) only when the engine does not have it, as Compose does. */
export async function namedImage(
  d: PipelineDeps,
  service: string,
  name: string,
  out: Out,
): Promise<ServiceImage> {
  if (await d.runtime.imageExists(name))
    return { image: name, imageId: await d.runtime.imageId(name), built: false };
  const ref = parseImageRef(name);
  out(`-----> Pulling ${familiarImageRef(ref)} for ${service}`);
  const full = await pullFromRegistry(d, ref, (host) => formatImageRef(ref).replace(/^[^/]+/, host), out);
  // Pulled by the registry's address; the file's name is what runs (and what is recorded).
  if (full !== name) await d.runtime.tagImage(full, name).catch(() => undefined);
  const image = (await d.runtime.imageExists(name)) ? name : full;
  return { image, imageId: await d.runtime.imageId(image), built: false };
}

/**
 * A bind mount's part of the tree as files on disk, under GOKU_HOME/binds/APP/HASH (the same
 * content is the same directory, so an unchanged mount keeps its service unchanged). Only real
 * directories and files of the tree are mounted: a source that is, or passes through, a symlink
 * is refused (Docker would follow it on this host). Links inside are written last, as links:
 * the container resolves them in its own filesystem.
 */
async function materialize(d: PipelineDeps, app: string, tree: GitTree, path: string): Promise<string> {
  const parts = path === '.' ? [] : path.split('/');
  for (let i = 1; i <= parts.length; i++) {
    const e = tree.entry(parts.slice(0, i).join('/'));
    if (e?.mode === '120000') {
      throw new GokuError(
        'GOKU_ERR_COMPOSE',
        `bind mount ./${path} ${i === parts.length ? 'is' : 'passes through'} a symlink in the repository; goku mounts only real directories and files of the tree`,
      );
    }
  }
  const file = path === '.' ? undefined : tree.entry(path);
  const prefix = path === '.' ? '' : `${path}/`;
  const under: TreeEntry[] = file ? [file] : tree.entries.filter((e) => e.path.startsWith(prefix));
  const hash = createHash('sha256');
  for (const e of under) hash.update(`${e.mode} ${e.oid} ${e.path.slice(prefix.length)}\n`);
  hash.update(file ? `file ${posix.basename(path)}` : 'dir');
  const home = join(d.settings.GOKU_HOME, 'binds', app);
  const dir = join(home, hash.digest('hex').slice(0, 24));
  const target = file ? join(dir, posix.basename(path)) : dir;
  if (await exists(dir)) return target;
  const tmp = join(home, `.tmp-${randomBytes(6).toString('hex')}`);
  await mkdir(tmp, { recursive: true, mode: 0o755 });
  try {
    const rel = (e: TreeEntry) => (file ? posix.basename(path) : e.path.slice(prefix.length));
    const links: { at: string; to: string }[] = [];
    await tree.contents(under, async (e, body) => {
      const at = join(tmp, rel(e));
      const data = await readAll(body);
      if (e.mode === '120000') links.push({ at, to: data.toString('utf8') });
      else {
        await mkdir(dirname(at), { recursive: true, mode: 0o755 });
        await writeFile(at, data, { flag: 'wx' });
        await chmod(at, e.mode === '100755' ? 0o755 : 0o644);
      }
    });
    for (const l of links) {
      await mkdir(dirname(l.at), { recursive: true, mode: 0o755 });
      await symlink(l.to, l.at);
    }
    await rename(tmp, dir).catch(async (err: NodeJS.ErrnoException) => {
      // Another deploy made the same directory meanwhile: same content, keep theirs.
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
      await rm(tmp, { recursive: true, force: true });
    });
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return target;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

async function readAll(body: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(c as Buffer);
  return Buffer.concat(parts);
}
