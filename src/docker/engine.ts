import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import Docker from 'dockerode';
import tar from 'tar-stream';
import { swarmLiteral } from '../core/swarm.js';
import { GokuError } from '../errors.js';
import type {
  AttachedIO,
  BuildOptions,
  ContainerOptions,
  ContainerRuntime,
  ContainerState,
  ContainerSummary,
  HealthcheckSpec,
  ImageConfig,
  MountSpec,
  NginxMasterSpec,
  PullAuth,
  PullProgress,
  RestartPolicy,
  RunSpec,
  ServiceSpec,
  ServiceState,
  StatsSample,
  SwarmNode,
  SwarmState,
  SwarmTask,
  TaskSpec,
} from '../runtime/types.js';
import { splitter } from '../util/split.js';

/** Docker's HEALTHCHECK config: durations in nanoseconds. */
function healthcheckConfig(h: HealthcheckSpec) {
  // Undefined fields are left out of the request: the image's (or Docker's) defaults apply.
  const ns = (ms: number | undefined) => (ms === undefined ? undefined : ms * 1_000_000);
  return {
    Test: h.test,
    Interval: ns(h.intervalMs),
    Timeout: ns(h.timeoutMs),
    StartPeriod: ns(h.startPeriodMs),
    Retries: h.retries,
  };
}

/** A compose service's container settings (Config). */
function containerOptions(o: ContainerOptions | undefined) {
  if (!o) return {};
  return {
    ...(o.stopSignal ? { StopSignal: o.stopSignal } : {}),
    ...(o.stopTimeoutSeconds !== undefined ? { StopTimeout: o.stopTimeoutSeconds } : {}),
    ...(o.tty ? { Tty: true } : {}),
    ...(o.openStdin ? { OpenStdin: true } : {}),
    ...(o.hostname ? { Hostname: o.hostname } : {}),
  };
}

/** A compose service's container settings (HostConfig). */
function hostOptions(o: ContainerOptions | undefined) {
  if (!o) return {};
  return {
    ...(o.extraHosts?.length ? { ExtraHosts: o.extraHosts } : {}),
    ...(o.memoryBytes ? { Memory: o.memoryBytes } : {}),
    ...(o.nanoCpus ? { NanoCpus: o.nanoCpus } : {}),
    ...(o.tmpfs?.length ? { Tmpfs: Object.fromEntries(o.tmpfs.map((t) => [t, ''])) } : {}),
    ...(o.shmBytes ? { ShmSize: o.shmBytes } : {}),
  };
}

/** Every container goku makes keeps at most 30 MB of logs. */
const LOGS = { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } };

/** A one-off container of a task spec (a release task, run, run --detach): name, image, command, env, labels. */
function oneOff(spec: TaskSpec) {
  return {
    name: spec.name,
    Image: spec.image,
    Cmd: spec.cmd,
    Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
    Labels: spec.labels,
    ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
    ...(spec.workingDir ? { WorkingDir: spec.workingDir } : {}),
    ...(spec.user ? { User: spec.user } : {}),
  };
}

/** A one-off's network and mounts (a compose service's `goku run`), for its HostConfig. */
function oneOffHost(spec: TaskSpec) {
  return {
    ...(spec.network ? { NetworkMode: spec.network } : {}),
    ...(spec.mounts?.length ? { Mounts: spec.mounts.map(mountConfig) } : {}),
  };
}

function mountConfig(m: MountSpec) {
  // Source '': an anonymous volume.
  return { Type: m.type, Source: m.source ?? '', Target: m.target, ReadOnly: m.readOnly };
}

/**
 * Resizes one after another: two sent at once can reach dockerd in either order, and a
 * terminal resized twice in a row (stty cols, then rows) must end at its last size.
 */
function inOrder(
  resize: (cols: number, rows: number) => Promise<unknown>,
): (cols: number, rows: number) => void {
  let last: Promise<unknown> = Promise.resolve();
  return (cols, rows) => {
    last = last.then(() => resize(cols, rows)).catch(() => undefined);
  };
}

/** The only module that talks to Docker; methods are named for what goku wants done. */
export class DockerEngine implements ContainerRuntime {
  readonly docker: Docker;
  constructor(docker?: Docker) {
    // API 1.41: Debian's engine answers 400 to anything newer.
    this.docker = docker ?? new Docker({ version: 'v1.41' });
  }

  async ping(): Promise<void> {
    await this.docker.ping();
  }

  /** Builds from a tar stream; output lines go to onLine. Errors hidden inside the stream become GokuErrors. */
  async buildImage(context: Readable, opts: BuildOptions, onLine: (line: string) => void): Promise<string> {
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.docker.buildImage(context, {
        t: opts.tag,
        forcerm: true,
        rm: true,
        ...(opts.dockerfile ? { dockerfile: opts.dockerfile } : {}),
        ...(opts.buildargs ? { buildargs: opts.buildargs } : {}),
        ...(opts.target ? { target: opts.target } : {}),
        ...(opts.labels ? { labels: opts.labels } : {}),
      });
    } catch (err) {
      // A Dockerfile that does not parse is an HTTP 400 before any step runs.
      const msg = engineMessage(err);
      throw new GokuError('GOKU_ERR_DOCKERFILE', `Dockerfile rejected by docker: ${msg}`);
    }
    let imageId: string | null = null;
    let failure: string | null = null;
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(
        stream,
        (err: Error | null) => (err ? reject(err) : resolve()),
        (ev: { stream?: string; error?: string; aux?: { ID?: string } }) => {
          if (ev.stream) {
            for (const l of ev.stream.split('\n')) if (l.trim()) onLine(l);
          }
          if (ev.error) failure = ev.error.trim();
          if (ev.aux?.ID) imageId = ev.aux.ID;
        },
      );
    });
    if (failure) throw new GokuError('GOKU_ERR_BUILD_FAILED', `docker build failed: ${failure}`);
    if (!imageId) {
      const info = await this.docker.getImage(opts.tag).inspect();
      imageId = info.Id;
    }
    return imageId as string;
  }

  async imageId(ref: string): Promise<string> {
    return (await this.docker.getImage(ref).inspect()).Id;
  }

  async imageExists(ref: string): Promise<boolean> {
    try {
      await this.docker.getImage(ref).inspect();
      return true;
    } catch {
      return false;
    }
  }

  async imageConfig(image: string): Promise<ImageConfig> {
    const info = await this.docker.getImage(image).inspect();
    const cfg = info.Config ?? {};
    const test = (cfg as { Healthcheck?: { Test?: string[] } }).Healthcheck?.Test;
    return {
      exposedPorts: Object.keys(cfg.ExposedPorts ?? {}),
      entrypoint: ([] as string[]).concat(cfg.Entrypoint ?? []),
      healthcheck: !!test && test.length > 0 && test[0] !== 'NONE',
      workingDir: cfg.WorkingDir || '/',
    };
  }

  async pullImage(
    name: string,
    auth: PullAuth | null,
    onProgress: (ev: PullProgress) => void,
  ): Promise<void> {
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.docker.pull(name, auth ? { authconfig: auth } : {});
    } catch (err) {
      const msg = engineMessage(err);
      throw new GokuError('GOKU_ERR_PULL_FAILED', `docker pull ${name} failed: ${msg}`);
    }
    const failure = await followStream<PullProgress & { error?: string }>(
      this.docker.modem,
      stream,
      onProgress,
    );
    if (failure) throw new GokuError('GOKU_ERR_PULL_FAILED', `docker pull ${name} failed: ${failure}`);
  }

  async pushImage(image: string, repo: string, tag: string, auth: PullAuth | null): Promise<string> {
    const target = `${repo}:${tag}`;
    const fail = (why: string) =>
      new GokuError('GOKU_ERR_PUSH_FAILED', `docker push ${target} failed: ${why}`);
    await this.docker.getImage(image).tag({ repo, tag });
    try {
      let stream: NodeJS.ReadableStream;
      try {
        stream = await this.docker.getImage(target).push({ tag, ...(auth ? { authconfig: auth } : {}) });
      } catch (err) {
        throw fail(engineMessage(err));
      }
      // The digest is in the last `aux` line.
      let digest: string | null = null;
      const failure = await followStream<{ error?: string; aux?: { Digest?: string } }>(
        this.docker.modem,
        stream,
        (ev) => {
          if (ev.aux?.Digest) digest = ev.aux.Digest;
        },
      );
      if (failure) throw fail(failure);
      if (!digest) throw fail('the engine reported no digest');
      return digest;
    } finally {
      // The registry's name must not keep the image alive past goku's own pruning.
      await this.removeImageTag(target).catch(() => undefined);
    }
  }

  async adoptImage(
    image: string,
    opts: { tag: string; labels: Record<string, string>; readPaths: string[]; maxBytes: number },
  ): Promise<{ committed: Promise<string>; files: (string | null)[] }> {
    // The image's own command is kept (a commit records the container's config); it never runs.
    let c: Docker.Container;
    try {
      c = await this.docker.createContainer({
        Image: image,
        name: `goku-adopt-${randomBytes(6).toString('hex')}`,
        Labels: opts.labels,
      });
    } catch (err) {
      const msg = engineMessage(err);
      throw new GokuError('GOKU_ERR_CONTAINER_EXITED', `the image cannot run: ${msg}`);
    }
    const [repo, tag] = splitTag(opts.tag);
    let files: (string | null)[] = [];
    try {
      files = await Promise.all(
        opts.readPaths.map(async (path) => {
          try {
            return await firstFileOf(await c.getArchive({ path }), path, opts.maxBytes);
          } catch (err) {
            if ((err as { statusCode?: number }).statusCode !== 404) throw err;
            return null;
          }
        }),
      );
      await this.docker.getImage(image).tag({ repo, tag });
    } catch (err) {
      await c.remove({ force: true }).catch(() => undefined);
      throw err;
    }
    // A commit takes ~45 ms here, a container start ~170 ms: it runs while the caller starts.
    const committed = (async () => {
      try {
        const made = (await c.commit({ repo, tag, pause: false })) as { Id?: string; id?: string };
        return (made.Id ?? made.id) as string;
      } finally {
        await c.remove({ force: true }).catch(() => undefined);
      }
    })();
    // Handled here so a caller that fails before awaiting it is no unhandled rejection.
    committed.catch(() => undefined);
    return { committed, files };
  }

  /** Creates and starts a container with goku's defaults: an init process (fast SIGTERM), restart policy, bounded logs. */
  async runContainer(spec: RunSpec): Promise<string> {
    const [first, ...more] = spec.networks ?? [];
    let c: Docker.Container;
    try {
      c = await this.docker.createContainer({
        name: spec.name,
        Image: spec.image,
        ...(spec.cmd ? { Cmd: spec.cmd } : {}),
        ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
        ...(spec.workingDir ? { WorkingDir: spec.workingDir } : {}),
        ...(spec.user ? { User: spec.user } : {}),
        ...(spec.healthcheck ? { Healthcheck: healthcheckConfig(spec.healthcheck) } : {}),
        ...containerOptions(spec.options),
        Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
        Labels: spec.labels,
        HostConfig: {
          Init: spec.options?.init ?? true,
          ...hostOptions(spec.options),
          RestartPolicy: { Name: spec.restart === false ? 'no' : 'unless-stopped' },
          LogConfig: LOGS,
          ...(first ? { NetworkMode: first.name } : {}),
          ...(spec.mounts?.length ? { Mounts: spec.mounts.map(mountConfig) } : {}),
        },
        ...(first
          ? { NetworkingConfig: { EndpointsConfig: { [first.name]: { Aliases: first.aliases } } } }
          : {}),
      });
    } catch (err) {
      const msg = engineMessage(err);
      throw new GokuError('GOKU_ERR_CONTAINER_EXITED', `container could not be created: ${msg}`);
    }
    try {
      // API 1.41 takes one network at creation; the others are joined before the start.
      for (const n of more)
        await this.docker
          .getNetwork(n.name)
          .connect({ Container: c.id, EndpointConfig: { Aliases: n.aliases } });
      await c.start();
    } catch (err) {
      // The start's own error is what the caller needs; a container that will not go is swept later.
      await this.removeContainer(c.id).catch(() => undefined);
      throw new GokuError('GOKU_ERR_CONTAINER_EXITED', `container did not start: ${(err as Error).message}`);
    }
    return c.id;
  }

  async inspectContainer(id: string): Promise<ContainerState | null> {
    try {
      const i = await bounded(
        this.docker.getContainer(id).inspect(),
        15_000,
        `inspecting container ${id.slice(0, 12)}`,
      );
      const nets = Object.values(i.NetworkSettings.Networks ?? {});
      const ip =
        (i.NetworkSettings as { IPAddress?: string }).IPAddress ||
        nets.find((n) => n.IPAddress)?.IPAddress ||
        null;
      return {
        id: i.Id,
        name: i.Name.replace(/^\//, ''),
        running: i.State.Running && !i.State.Restarting,
        restarting: i.State.Restarting,
        exitCode: i.State.ExitCode,
        ip: ip || null,
        labels: i.Config.Labels ?? {},
        health: i.State.Health?.Status ?? null,
        startedAt: i.State.StartedAt,
        networks: Object.keys(i.NetworkSettings.Networks ?? {}),
      };
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return null;
      throw err;
    }
  }

  /** The last lines a container wrote (stdout and stderr), or '' when it has none or is gone. */
  async containerLogs(id: string, tail: number): Promise<string> {
    const lines: string[] = [];
    const read = this.streamLogs(id, { tail, follow: false }, (l) => lines.push(l));
    await bounded(read, 15_000, `reading the log of container ${id.slice(0, 12)}`).catch((err) => {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    });
    return lines.length ? `${lines.join('\n')}\n` : '';
  }

  /**
   * Sends a container's log lines (stdout and stderr, timestamps off) to onLine. With follow,
   * keeps streaming until the signal aborts or the container goes away.
   */
  async streamLogs(
    id: string,
    opts: { tail: number | 'all'; follow: boolean; signal?: AbortSignal },
    onLine: (line: string) => void,
  ): Promise<void> {
    const c = this.docker.getContainer(id);
    // The engine takes "all" for tail; the types know only numbers.
    const base = { stdout: true, stderr: true, tail: opts.tail as number };
    // Without follow the engine answers with a buffer, with follow a stream: the same frames.
    const raw = opts.follow
      ? ((await c.logs({ ...base, follow: true })) as unknown as Readable)
      : Readable.from([(await c.logs({ ...base, follow: false })) as unknown as Buffer]);
    // A container with a tty (a compose service's `tty: true`) logs one plain stream with
    // CRLF line ends, not frames.
    const tty = (await c.inspect().catch(() => null))?.Config?.Tty === true;
    await this.logLines(raw, tty, opts.signal, onLine);
  }

  /** Log frames (or a tty's plain stream) as lines, to the stream's end or the signal. */
  private async logLines(
    raw: Readable,
    tty: boolean,
    signal: AbortSignal | undefined,
    onLine: (line: string) => void,
  ): Promise<void> {
    const lines = new PassThrough();
    const split = splitter('\n', tty ? (l) => onLine(l.replace(/\r$/, '')) : onLine);
    lines.on('data', split);
    if (tty) raw.pipe(lines);
    else this.docker.modem.demuxStream(raw, lines, lines);
    await new Promise<void>((resolve) => {
      const done = () => {
        const last = split.rest();
        if (last) onLine(last);
        resolve();
      };
      raw.on('end', done);
      raw.on('close', done);
      raw.on('error', done);
      const stop = () => {
        raw.destroy();
        resolve();
      };
      if (signal?.aborted) stop();
      else signal?.addEventListener('abort', stop);
    });
  }

  async containerStats(id: string): Promise<StatsSample | null> {
    let s: Docker.ContainerStats;
    try {
      // one-shot: the engine answers at once instead of waiting a second for a second sample.
      s = await bounded(
        this.docker.getContainer(id).stats({ stream: false, 'one-shot': true } as { stream: false }),
        10_000,
        `reading the stats of container ${id.slice(0, 12)}`,
      );
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return null;
      throw err;
    }
    const mem = s.memory_stats ?? ({} as Docker.ContainerStats['memory_stats']);
    // What docker stats shows: usage less the page cache that could be dropped.
    const cache = mem.stats?.inactive_file ?? mem.stats?.total_inactive_file ?? mem.stats?.cache ?? 0;
    const nets = Object.values(s.networks ?? {});
    return {
      cpu: s.cpu_stats?.cpu_usage?.total_usage ?? 0,
      system: s.cpu_stats?.system_cpu_usage ?? 0,
      cpus: s.cpu_stats?.online_cpus || s.cpu_stats?.cpu_usage?.percpu_usage?.length || 1,
      memory: Math.max(0, (mem.usage ?? 0) - cache),
      memoryLimit: mem.limit ?? 0,
      rx: nets.reduce((n, x) => n + (x.rx_bytes ?? 0), 0),
      tx: nets.reduce((n, x) => n + (x.tx_bytes ?? 0), 0),
    };
  }

  async listContainers(labels: Record<string, string>): Promise<ContainerSummary[]> {
    const list = await this.docker.listContainers({
      all: true,
      filters: JSON.stringify({ label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) }),
    });
    // Swarm tasks' containers carry their image's labels (goku's), but Swarm owns them: never
    // listed as goku's own containers, so nothing retires, renames or restarts one.
    return list
      .filter((c) => !c.Labels?.['com.docker.swarm.task.id'])
      .map((c) => ({
        id: c.Id,
        name: (c.Names[0] ?? '').replace(/^\//, ''),
        labels: c.Labels,
        state: c.State,
        status: c.Status,
        created: c.Created,
        ip: Object.values(c.NetworkSettings?.Networks ?? {}).find((n) => n.IPAddress)?.IPAddress || null,
      }));
  }

  async keepRunning(id: string, policy: RestartPolicy = 'unless-stopped'): Promise<void> {
    await this.docker.getContainer(id).update({ RestartPolicy: { Name: policy } });
  }

  async ensureNetwork(name: string, labels: Record<string, string>): Promise<void> {
    try {
      await this.docker.getNetwork(name).inspect();
      return;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    }
    await this.docker.createNetwork({ Name: name, Driver: 'bridge', CheckDuplicate: true, Labels: labels });
  }

  async removeNetwork(name: string): Promise<void> {
    const net = this.docker.getNetwork(name);
    for (let attempt = 1; ; attempt++) {
      try {
        await net.remove();
        return;
      } catch (err) {
        const code = (err as { statusCode?: number }).statusCode;
        if (code === 404) return;
        // "has active endpoints": the engine may release a removed container's endpoint a
        // moment after the removal returns; any endpoint still there is cut, then it is retried.
        if (code !== 403 || attempt >= 10) throw err;
        const info = (await net.inspect().catch(() => null)) as {
          Containers?: Record<string, unknown>;
        } | null;
        for (const id of Object.keys(info?.Containers ?? {}))
          await net.disconnect({ Container: id, Force: true }).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  async listNetworks(labels: Record<string, string>): Promise<string[]> {
    const list = await this.docker.listNetworks({
      filters: JSON.stringify({ label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) }),
    });
    return list.map((n) => n.Name).sort();
  }

  async ensureVolume(name: string, labels: Record<string, string>): Promise<boolean> {
    try {
      await this.docker.getVolume(name).inspect();
      return false;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    }
    await this.docker.createVolume({ Name: name, Labels: labels });
    return true;
  }

  async listVolumes(labels: Record<string, string>): Promise<string[]> {
    const r = await this.docker.listVolumes({
      filters: JSON.stringify({ label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) }),
    });
    return (r.Volumes ?? []).map((v) => v.Name).sort();
  }

  async removeVolume(name: string): Promise<void> {
    try {
      await this.docker.getVolume(name).remove();
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    }
  }

  async renameContainer(id: string, name: string): Promise<void> {
    await this.docker.getContainer(id).rename({ name });
  }

  async execInContainer(
    id: string,
    argv: string[],
    timeoutMs: number,
  ): Promise<{ exitCode: number | null; output: string }> {
    const exec = await this.docker
      .getContainer(id)
      .exec({ Cmd: argv, AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: false });
    let output = '';
    const sink = new PassThrough();
    sink.on('data', (d: Buffer) => {
      if (output.length < 65536) output += d.toString('utf8');
    });
    this.docker.modem.demuxStream(stream, sink, sink);
    const finished = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        stream.destroy();
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      stream.on('end', done);
      stream.on('close', done);
      stream.on('error', done);
    });
    if (!finished) return { exitCode: null, output };
    const info = await exec.inspect();
    return { exitCode: info.ExitCode ?? null, output };
  }

  async runTask(
    spec: TaskSpec,
    onLine: (line: string) => void,
    opts: { timeoutMs: number; keep?: boolean },
  ): Promise<{ id: string; exitCode: number | null }> {
    const { Config } = await this.docker.getImage(spec.image).inspect();
    // An image with an ENTRYPOINT and no CMD: the task's words go after the ENTRYPOINT in the
    // entrypoint itself, so that a commit (which keeps the container's CMD when the image has
    // none) does not make the task the image's command.
    const entry = Config?.Entrypoint ?? [];
    const noCmd = !Config?.Cmd?.length && (Array.isArray(entry) ? entry.length > 0 : !!entry);
    const c = await this.docker.createContainer({
      ...oneOff(spec),
      ...(noCmd ? { Entrypoint: [...(Array.isArray(entry) ? entry : [entry]), ...spec.cmd], Cmd: [] } : {}),
      HostConfig: {
        Init: true,
        LogConfig: LOGS,
      },
    });
    let exitCode: number | null = null;
    try {
      await c.start();
      const logs = this.streamLogs(c.id, { tail: 'all', follow: true }, onLine);
      let killed = false;
      const timer = setTimeout(() => {
        killed = true;
        void c.kill().catch(() => undefined);
      }, opts.timeoutMs);
      const waited = (await c.wait().finally(() => clearTimeout(timer))) as { StatusCode?: number };
      await logs;
      // Killed by the timer: no exit status of its own.
      exitCode = killed ? null : (waited.StatusCode ?? null);
    } catch (err) {
      await c.remove({ force: true }).catch(() => undefined);
      throw new GokuError('GOKU_ERR_CONTAINER_EXITED', `the task did not start: ${(err as Error).message}`);
    }
    if (!opts.keep) await c.remove({ force: true }).catch(() => undefined);
    return { id: c.id, exitCode };
  }

  async runAttached(spec: TaskSpec, io: AttachedIO): Promise<number | null> {
    const tty = io.tty !== null;
    const c = await this.docker.createContainer({
      ...oneOff(spec),
      Tty: tty,
      OpenStdin: true,
      StdinOnce: true,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      HostConfig: {
        Init: true,
        LogConfig: LOGS,
        ...oneOffHost(spec),
      },
    });
    try {
      const stream = (await c.attach({
        stream: true,
        stdin: true,
        stdout: true,
        stderr: true,
        hijack: true,
      })) as unknown as NodeJS.ReadWriteStream;
      const output = this.relay(stream, tty, io);
      await c.start();
      if (io.tty) await c.resize({ h: io.tty.rows, w: io.tty.cols }).catch(() => undefined);
      this.feed(stream, io);
      io.onResize(inOrder((cols, rows) => c.resize({ h: rows, w: cols })));
      const left = () => void c.kill().catch(() => undefined);
      io.signal.addEventListener('abort', left);
      const waited = (await c.wait()) as { StatusCode?: number };
      io.signal.removeEventListener('abort', left);
      await output;
      return io.signal.aborted ? null : (waited.StatusCode ?? null);
    } finally {
      await c.remove({ force: true }).catch(() => undefined);
    }
  }

  async execAttached(id: string, argv: string[], io: AttachedIO): Promise<number | null> {
    const tty = io.tty !== null;
    const exec = await this.docker.getContainer(id).exec({
      Cmd: argv,
      Tty: tty,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = (await exec.start({
      hijack: true,
      stdin: true,
      Tty: tty,
    })) as unknown as NodeJS.ReadWriteStream;
    const output = this.relay(stream, tty, io);
    if (io.tty) await exec.resize({ h: io.tty.rows, w: io.tty.cols }).catch(() => undefined);
    this.feed(stream, io);
    io.onResize(inOrder((cols, rows) => exec.resize({ h: rows, w: cols })));
    const left = () => (stream as unknown as { destroy(): void }).destroy();
    io.signal.addEventListener('abort', left);
    await output;
    io.signal.removeEventListener('abort', left);
    if (io.signal.aborted) return null;
    return ((await exec.inspect()).ExitCode as number | null) ?? null;
  }

  /**
   * The caller's input into the stream. Only once the tty has the caller's size: typed input
   * that reached a shell first ran `stty size` on a 0x0 terminal (a CI run saw it).
   */
  private feed(stream: NodeJS.ReadWriteStream, io: AttachedIO): void {
    if (io.input) {
      io.input.on('data', (d: Buffer) => stream.write(d));
      // End of the caller's input closes the container's stdin (half-close of the hijacked socket).
      io.input.on('end', () => (stream as unknown as { end(): void }).end());
    } else (stream as unknown as { end(): void }).end();
  }

  /** The stream's output to the caller (demuxed without a tty). */
  private relay(stream: NodeJS.ReadWriteStream, tty: boolean, io: AttachedIO): Promise<void> {
    if (tty) stream.on('data', (d: Buffer) => io.out(d));
    else {
      const out = new PassThrough();
      const err = new PassThrough();
      out.on('data', (d: Buffer) => io.out(d));
      err.on('data', (d: Buffer) => io.err(d));
      this.docker.modem.demuxStream(stream, out, err);
    }
    return new Promise<void>((resolve) => {
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', resolve);
    });
  }

  async runDetached(spec: TaskSpec): Promise<string> {
    const c = await this.docker.createContainer({
      ...oneOff(spec),
      HostConfig: {
        Init: true,
        AutoRemove: true,
        LogConfig: LOGS,
        ...oneOffHost(spec),
      },
    });
    try {
      await c.start();
    } catch (err) {
      await c.remove({ force: true }).catch(() => undefined);
      throw new GokuError('GOKU_ERR_CONTAINER_EXITED', `container did not start: ${(err as Error).message}`);
    }
    return c.id;
  }

  async commitTask(id: string, tag: string, from: string): Promise<string> {
    const c = this.docker.getContainer(id);
    try {
      const image = (await this.docker.getImage(from).inspect()).Config;
      const container = (await c.inspect()).Config;
      // Docker's commit adds every env key of the container the given config lacks: the app's
      // config keys are named with empty values so that no value is written into the image.
      const own = new Set((image.Env ?? []).map((e) => e.slice(0, e.indexOf('='))));
      const env = [
        ...(image.Env ?? []),
        ...(container.Env ?? [])
          .map((e) => e.slice(0, e.indexOf('=')))
          .filter((k) => !own.has(k))
          .map((k) => `${k}=`),
      ];
      const [repo, t] = splitTag(tag);
      const made = (await c.commit({
        _query: { container: id, repo, tag: t, pause: false },
        _body: { ...image, Env: env },
      })) as { Id?: string; id?: string };
      return (made.Id ?? made.id) as string;
    } finally {
      await c.remove({ force: true }).catch(() => undefined);
    }
  }

  async tagImage(image: string, tag: string): Promise<void> {
    const [repo, t] = splitTag(tag);
    await this.docker.getImage(image).tag({ repo, tag: t });
  }

  /** Graceful stop (SIGTERM, then kill after the grace period); an already stopped one is fine. */
  async stopContainer(id: string, graceSeconds = 10): Promise<void> {
    try {
      await this.docker.getContainer(id).stop({ t: graceSeconds });
    } catch (err) {
      // 304: already stopped.
      if ((err as { statusCode?: number }).statusCode !== 304) throw err;
    }
  }

  /** Starts a stopped container again; a running one is fine. */
  async startContainer(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).start();
    } catch (err) {
      // 304: already running.
      if ((err as { statusCode?: number }).statusCode !== 304) throw err;
    }
  }

  /** Graceful stop (SIGTERM, then kill after the grace period), then removal; a missing container is fine. */
  async ensureContainerStoppedAndRemoved(id: string, graceSeconds = 10): Promise<void> {
    const c = this.docker.getContainer(id);
    try {
      await c.stop({ t: graceSeconds });
    } catch (err) {
      const code = (err as { statusCode?: number }).statusCode;
      if (code === 404) return;
      // 304: already stopped.
    }
    await this.removeContainer(id);
  }

  async runNginxMaster(spec: NginxMasterSpec): Promise<void> {
    await this.removeContainer(spec.name);
    const create = () =>
      this.docker.createContainer({
        name: spec.name,
        Image: spec.image,
        Entrypoint: [spec.cmd[0] as string],
        Cmd: spec.cmd.slice(1),
        Labels: { 'goku.nginx': spec.label },
        HostConfig: {
          NetworkMode: spec.network ?? 'host',
          PidMode: 'host',
          Binds: [`${spec.home}:${spec.home}`],
          // goku starts it again when it dies; a dead one must not hold the name.
          AutoRemove: true,
          LogConfig: { Type: 'none', Config: {} },
        },
      });
    // A master that just died may still be being removed (AutoRemove): its name frees shortly.
    for (let i = 0; ; i++) {
      try {
        await (await create()).start();
        return;
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode !== 409 || i >= 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async swarmState(): Promise<SwarmState> {
    const info = (await this.docker.info()) as {
      Swarm?: {
        LocalNodeState?: string;
        NodeID?: string;
        NodeAddr?: string;
        ControlAvailable?: boolean;
        RemoteManagers?: { Addr: string }[] | null;
        Error?: string;
      };
    };
    const sw = info.Swarm ?? {};
    return {
      state: sw.LocalNodeState || 'inactive',
      nodeId: sw.NodeID || null,
      manager: sw.ControlAvailable === true,
      nodeAddr: sw.NodeAddr || null,
      managers: (sw.RemoteManagers ?? []).map((m) => m.Addr),
      error: sw.Error || null,
    };
  }

  async swarmInit(advertiseAddr: string | null): Promise<string> {
    return swarmCall(async () =>
      String(
        await this.docker.swarmInit({
          ListenAddr: '0.0.0.0:2377',
          ...(advertiseAddr ? { AdvertiseAddr: advertiseAddr } : {}),
        }),
      ).replace(/"/g, ''),
    );
  }

  async swarmJoinTokens(): Promise<{ worker: string; manager: string }> {
    return swarmCall(async () => {
      const sw = (await this.docker.swarmInspect()) as { JoinTokens: { Worker: string; Manager: string } };
      return { worker: sw.JoinTokens.Worker, manager: sw.JoinTokens.Manager };
    });
  }

  async swarmJoin(remote: string, token: string, advertiseAddr: string | null): Promise<void> {
    await swarmCall(() =>
      this.docker.swarmJoin({
        ListenAddr: '0.0.0.0:2377',
        RemoteAddrs: [remote],
        JoinToken: token,
        ...(advertiseAddr ? { AdvertiseAddr: advertiseAddr } : {}),
      }),
    );
  }

  async swarmLeave(force: boolean): Promise<void> {
    await swarmCall(() => this.docker.swarmLeave({ force }));
  }

  async swarmNodes(labels: Record<string, string>): Promise<SwarmNode[]> {
    return swarmCall(async () => {
      const nodes = (await this.docker.listNodes()) as NodeInfo[];
      // goku's labels are on its services; their tasks are counted by service.
      const services = (await this.listServices(labels)).map((s) => s.name);
      const tasks = services.length
        ? ((await this.docker.listTasks({
            filters: JSON.stringify({ 'desired-state': ['running'], service: services }),
          })) as { NodeID?: string }[])
        : [];
      return nodes.map((n) => ({
        id: n.ID,
        hostname: n.Description?.Hostname ?? '',
        addr: n.Status?.Addr ?? '',
        role: n.Spec?.Role === 'manager' ? 'manager' : 'worker',
        leader: n.ManagerStatus?.Leader === true,
        state: n.Status?.State ?? 'unknown',
        availability: n.Spec?.Availability ?? 'active',
        engine: n.Description?.Engine?.EngineVersion ?? '',
        tasks: tasks.filter((t) => t.NodeID === n.ID).length,
      }));
    });
  }

  async removeContainer(id: string): Promise<void> {
    try {
      const removal = this.docker.getContainer(id).remove({ force: true, v: true });
      await bounded(removal, 60_000, `removing container ${id.slice(0, 12)}`);
    } catch (err) {
      const code = (err as { statusCode?: number }).statusCode;
      if (code !== 404 && code !== 409) throw err;
    }
  }

  /** Images of one repository (goku/DEPLOYMENT) that carry all the labels, newest first. */
  async listImages(
    repo: string,
    labels: Record<string, string>,
  ): Promise<{ id: string; tags: string[]; created: number }[]> {
    const list = await this.docker.listImages({
      filters: JSON.stringify({
        reference: [`${repo}:*`],
        label: Object.entries(labels).map(([k, v]) => `${k}=${v}`),
      }),
    });
    return list
      .map((i) => ({
        id: i.Id,
        tags: (i.RepoTags ?? []).filter((t) => t.startsWith(`${repo}:`)),
        created: i.Created,
      }))
      .sort((a, b) => b.created - a.created);
  }

  /** Removes one tag (and the image when nothing else holds it); images in use are left alone. */
  async removeImageTag(tag: string): Promise<void> {
    try {
      await this.docker.getImage(tag).remove({ noprune: false });
    } catch (err) {
      const code = (err as { statusCode?: number }).statusCode;
      if (code !== 404 && code !== 409) throw err;
    }
  }

  /** Container lifecycle events of goku's containers; the stream ends when dockerd goes away. */
  async containerEvents(labels: Record<string, string>): Promise<NodeJS.ReadableStream> {
    return this.docker.getEvents({
      filters: JSON.stringify({
        type: ['container'],
        event: ['start', 'die', 'restart', 'stop', 'health_status'],
        label: Object.entries(labels).map(([k, v]) => `${k}=${v}`),
      }),
    }) as Promise<NodeJS.ReadableStream>;
  }

  async ensureOverlay(name: string, labels: Record<string, string>): Promise<void> {
    const found = (await this.docker.listNetworks({ filters: JSON.stringify({ name: [name] }) })) as {
      Name: string;
      Driver: string;
    }[];
    const same = found.find((n) => n.Name === name);
    if (same) {
      if (same.Driver !== 'overlay')
        throw new GokuError(
          'GOKU_ERR_CLUSTER',
          `network ${name} exists and is not an overlay (${same.Driver}); remove it or choose another GOKU_CONTAINER_PREFIX`,
        );
      return;
    }
    await swarmCall(() =>
      this.docker.createNetwork({ Name: name, Driver: 'overlay', Attachable: true, Labels: labels }),
    ).catch(async (err) => {
      // Another goku (or a retry) made it meanwhile.
      const again = (await this.docker.listNetworks({ filters: JSON.stringify({ name: [name] }) })) as {
        Name: string;
      }[];
      if (!again.some((n) => n.Name === name)) throw err;
    });
  }

  async inspectService(name: string): Promise<ServiceState | null> {
    let s: SwarmService;
    try {
      s = (await this.docker.getService(name).inspect()) as SwarmService;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return null;
      throw swarmError(err);
    }
    return {
      id: s.ID,
      labels: s.Spec.Labels ?? {},
      replicas: s.Spec.Mode?.Replicated?.Replicas ?? 0,
      image: s.Spec.TaskTemplate?.ContainerSpec?.Image ?? '',
      forceUpdate: s.Spec.TaskTemplate?.ForceUpdate ?? 0,
      updateState: s.UpdateStatus?.State ?? null,
      updateMessage: s.UpdateStatus?.Message ?? null,
    };
  }

  async createService(spec: ServiceSpec, auth: PullAuth | null): Promise<string> {
    const r = (await this.postService('/services/create', { _body: serviceBody(spec) }, auth)) as {
      ID: string;
    };
    return r.ID;
  }

  async updateService(name: string, spec: ServiceSpec, auth: PullAuth | null): Promise<void> {
    const s = (await swarmCall(() => this.docker.getService(name).inspect())) as SwarmService;
    await this.postUpdate(s, serviceBody(spec), {}, auth);
  }

  async scaleService(name: string, replicas: number): Promise<void> {
    const s = (await swarmCall(() => this.docker.getService(name).inspect())) as SwarmService;
    const spec = { ...s.Spec, Mode: { Replicated: { Replicas: replicas } } };
    await this.postUpdate(s, spec, {});
  }

  /** POST /services/ID/update at the service's version (the spec in the body: env must not be in a URL). */
  private async postUpdate(
    s: SwarmService,
    body: unknown,
    query: Record<string, string>,
    auth: PullAuth | null = null,
  ): Promise<void> {
    await this.postService(
      `/services/${s.ID}/update?`,
      { _query: { version: s.Version.Index, ...query }, _body: body },
      auth,
    );
  }

  /** A POST of the services API, with the registry credentials the nodes pull with. */
  private postService(path: string, options: object, auth: PullAuth | null): Promise<unknown> {
    return swarmCall(
      () =>
        new Promise<unknown>((resolve, reject) =>
          this.docker.modem.dial(
            {
              path,
              method: 'POST',
              options,
              ...(auth ? { authconfig: auth } : {}),
              statusCodes: {
                200: true,
                201: true,
                400: 'bad parameter',
                404: 'no such service',
                409: 'name conflicts',
                500: 'server error',
                503: 'node is not part of a swarm',
              },
            },
            (err: unknown, data: unknown) => (err ? reject(err) : resolve(data)),
          ),
        ),
    );
  }

  async rollbackService(name: string): Promise<void> {
    const s = (await swarmCall(() => this.docker.getService(name).inspect())) as SwarmService;
    if (!s.PreviousSpec) return;
    await this.postUpdate(s, s.Spec, { rollback: 'previous' });
  }

  async removeService(name: string): Promise<void> {
    try {
      await this.docker.getService(name).remove();
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return;
      throw swarmError(err);
    }
  }

  async serviceGone(name: string, timeoutMs: number): Promise<boolean> {
    const filters = JSON.stringify({ label: [`com.docker.swarm.service.name=${name}`] });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = await this.docker.listContainers({ all: true, filters });
      if (left.length === 0) return true;
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async listServices(
    labels: Record<string, string>,
  ): Promise<{ name: string; labels: Record<string, string> }[]> {
    const list = (await swarmCall(() =>
      this.docker.listServices({
        filters: JSON.stringify({ label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) }),
      }),
    )) as SwarmService[];
    return list.map((s) => ({ name: s.Spec.Name, labels: s.Spec.Labels ?? {} }));
  }

  async serviceTasks(name: string, network: string): Promise<SwarmTask[]> {
    const tasks = (await swarmCall(() =>
      this.docker.listTasks({ filters: JSON.stringify({ service: [name] }) }),
    )) as TaskInfo[];
    return tasks.map((t) => {
      const att = (t.NetworksAttachments ?? []).find((a) => a.Network?.Spec?.Name === network);
      const addr = att?.Addresses?.[0]?.split('/')[0] ?? null;
      return {
        id: t.ID,
        nodeId: t.NodeID ?? '',
        slot: t.Slot ?? 0,
        desired: t.DesiredState ?? '',
        state: t.Status?.State ?? '',
        err: t.Status?.Err || null,
        addr,
        containerId: t.Status?.ContainerStatus?.ContainerID || null,
        labels: t.Spec?.ContainerSpec?.Labels ?? {},
        createdAt: t.CreatedAt ?? '',
      };
    });
  }

  async serviceLogs(
    name: string,
    opts: { tail: number | 'all'; follow: boolean; signal?: AbortSignal },
    onLine: (line: string) => void,
  ): Promise<void> {
    const svc = this.docker.getService(name);
    const base = { stdout: true, stderr: true, tail: opts.tail as number, details: false };
    const raw = opts.follow
      ? ((await svc.logs({ ...base, follow: true })) as unknown as Readable)
      : Readable.from([(await svc.logs({ ...base, follow: false })) as unknown as Buffer]);
    await this.logLines(raw, false, opts.signal, onLine);
  }
}

/** The Docker API's ServiceSpec of goku's service spec. */
function serviceBody(spec: ServiceSpec) {
  const seconds = (n: number) => n * 1_000_000_000;
  const update = {
    // Every task at once, each new one beside the old (start-first): the same as a local switch.
    Parallelism: 0,
    Order: spec.order ?? 'start-first',
    FailureAction: 'rollback',
    Monitor: seconds(spec.monitorSeconds),
    MaxFailureRatio: 0,
  };
  const o = spec.options;
  const mounts = [
    ...(spec.mounts ?? []).map((m) => ({
      Type: m.type,
      // No source: an anonymous volume, new with each task.
      ...(m.source ? { Source: swarmLiteral(m.source) } : {}),
      Target: swarmLiteral(m.target),
      ReadOnly: m.readOnly,
    })),
    ...(o?.tmpfs ?? []).map((t) => ({ Type: 'tmpfs', Target: t })),
    ...(o?.shmBytes ? [{ Type: 'tmpfs', Target: '/dev/shm', TmpfsOptions: { SizeBytes: o.shmBytes } }] : []),
  ];
  const limits = {
    ...(o?.memoryBytes ? { MemoryBytes: o.memoryBytes } : {}),
    ...(o?.nanoCpus ? { NanoCPUs: o.nanoCpus } : {}),
  };
  return {
    Name: spec.name,
    Labels: spec.labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: spec.image,
        Env: Object.entries(spec.env).map(([k, v]) => swarmLiteral(`${k}=${v}`)),
        Labels: spec.containerLabels,
        // Swarm's Command is the ENTRYPOINT, its Args the CMD.
        ...(spec.entrypoint ? { Command: spec.entrypoint } : {}),
        ...(spec.cmd ? { Args: spec.cmd } : {}),
        ...(spec.workingDir ? { Dir: spec.workingDir } : {}),
        ...(spec.user ? { User: spec.user } : {}),
        // goku's own apps run under an init; a compose service as its file says.
        Init: o ? !!o.init : true,
        ...(o?.stopSignal ? { StopSignal: o.stopSignal } : {}),
        ...(o?.tty ? { TTY: true } : {}),
        ...(o?.openStdin ? { OpenStdin: true } : {}),
        ...(o?.hostname ? { Hostname: swarmLiteral(o.hostname) } : {}),
        ...(o?.extraHosts?.length ? { Hosts: o.extraHosts.map(swarmHost) } : {}),
        ...(mounts.length ? { Mounts: mounts } : {}),
        StopGracePeriod: seconds(spec.stopGraceSeconds),
        ...(spec.healthcheck ? { Healthcheck: healthcheckConfig(spec.healthcheck) } : {}),
      },
      ...(Object.keys(limits).length ? { Resources: { Limits: limits } } : {}),
      RestartPolicy: spec.job
        ? { Condition: 'none' }
        : { Condition: restartCondition(spec.restart), Delay: seconds(1) },
      Placement: { Constraints: spec.constraints },
      Networks: spec.networks.map((n) => ({
        Target: n.name,
        ...(n.aliases.length ? { Aliases: n.aliases } : {}),
      })),
      LogDriver: LOGS_SWARM,
      ForceUpdate: spec.forceUpdate,
    },
    ...(spec.job
      ? { Mode: { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } } }
      : {
          Mode: { Replicated: { Replicas: spec.replicas } },
          UpdateConfig: update,
          RollbackConfig: { ...update, FailureAction: 'pause' },
        }),
    // No virtual IP: this kernel has no IPVS, and goku's nginx routes to each task's address.
    EndpointSpec: { Mode: 'dnsrr' },
  };
}

/** Compose's restart: as Swarm's restart condition (unless-stopped has no Swarm twin: always). */
function restartCondition(r: RestartPolicy | undefined): string {
  return r === 'no' ? 'none' : r === 'on-failure' ? 'on-failure' : 'any';
}

/** A HOST:IP line (compose's extra_hosts) as Swarm's "IP HOST" (an IPv6 address keeps its colons). */
function swarmHost(line: string): string {
  const sep = line.search(/[:=]/);
  return sep < 0 ? line : `${line.slice(sep + 1)} ${line.slice(0, sep)}`;
}

/** Every task keeps at most 30 MB of logs, as goku's containers. */
const LOGS_SWARM = { Name: 'json-file', Options: { 'max-size': '10m', 'max-file': '3' } };

interface SwarmService {
  ID: string;
  Version: { Index: number };
  Spec: {
    Name: string;
    Labels?: Record<string, string>;
    Mode?: { Replicated?: { Replicas?: number } };
    TaskTemplate?: { ContainerSpec?: { Image?: string }; ForceUpdate?: number };
  };
  PreviousSpec?: unknown;
  UpdateStatus?: { State?: string; Message?: string };
}

interface TaskInfo {
  ID: string;
  NodeID?: string;
  Slot?: number;
  DesiredState?: string;
  CreatedAt?: string;
  Status?: { State?: string; Err?: string; ContainerStatus?: { ContainerID?: string } };
  Spec?: { ContainerSpec?: { Labels?: Record<string, string> } };
  NetworksAttachments?: { Network?: { Spec?: { Name?: string } }; Addresses?: string[] }[];
}

/**
 * An engine call that must not hold a deploy for ever: a dockerd that stops answering one
 * request fails the deploy (and its release) instead of leaving the pusher waiting.
 */
function bounded<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new GokuError(
            'GOKU_ERR_DOCKER_TIMEOUT',
            `the Docker engine did not finish ${what} within ${ms / 1000}s`,
          ),
        ),
      ms,
    );
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** `goku/app:id` → [`goku/app`, `id`]. */
function splitTag(ref: string): [string, string] {
  const i = ref.lastIndexOf(':');
  return i > ref.lastIndexOf('/') ? [ref.slice(0, i), ref.slice(i + 1)] : [ref, 'latest'];
}

/** The one entry of a `docker cp` archive, as text, if it is a regular file within maxBytes. */
function firstFileOf(archive: NodeJS.ReadableStream, path: string, maxBytes: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const extract = tar.extract();
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      extract.destroy();
      reject(new GokuError('GOKU_ERR_UNSAFE_FILE', `${path} in the image ${why}`));
    };
    extract.on('entry', (header, stream, next) => {
      if (settled) return stream.resume();
      if (header.type !== 'file') return fail('is not a regular file (a link or a directory)');
      if ((header.size ?? 0) > maxBytes) return fail(`is over ${maxBytes} bytes`);
      const parts: Buffer[] = [];
      stream.on('data', (d) => parts.push(d as Buffer));
      stream.on('end', () => {
        settled = true;
        resolve(Buffer.concat(parts).toString('utf8'));
        next();
      });
    });
    extract.on('finish', () => fail('was not found in the archive'));
    extract.on('error', (err) => fail(`could not be read (${err.message})`));
    (archive as Readable).pipe(extract);
  });
}

interface NodeInfo {
  ID: string;
  Description?: { Hostname?: string; Engine?: { EngineVersion?: string } };
  Status?: { State?: string; Addr?: string };
  Spec?: { Role?: string; Availability?: string };
  ManagerStatus?: { Leader?: boolean };
}

/** The engine's answer to a swarm request, as one line the user can act on. */
async function swarmCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw swarmError(err);
  }
}

/** The engine's refusal of a swarm request as a coded error. */
function swarmError(err: unknown): GokuError {
  return new GokuError('GOKU_ERR_CLUSTER', `the Docker engine refused: ${engineMessage(err).split('\n')[0]}`);
}

/** What the engine said in an error it answered (its JSON message), else the error's own. */
function engineMessage(err: unknown): string {
  return String((err as { json?: { message?: string } }).json?.message ?? (err as Error).message).trim();
}

/**
 * Follows a pull or push progress stream to its end. A failure the engine reports is a line in a
 * stream that ends normally; it is returned (null: none), and every other line goes to onEvent.
 */
async function followStream<E extends { error?: string }>(
  modem: Docker['modem'],
  stream: NodeJS.ReadableStream,
  onEvent: (ev: E) => void,
): Promise<string | null> {
  let failure: string | null = null;
  await new Promise<void>((resolve, reject) => {
    modem.followProgress(
      stream,
      (err: Error | null) => (err ? reject(err) : resolve()),
      (ev: E) => {
        if (ev.error) failure = ev.error.trim();
        else onEvent(ev);
      },
    );
  }).catch((err: Error) => {
    failure ??= err.message;
  });
  return failure;
}
