import type { Readable } from 'node:stream';

/**
 * The seam between the pipeline and whatever runs containers. The pipeline, the reconciler
 * and the app service see only this; today's one implementation is the local Docker engine
 * (src/docker/engine.ts), and a Swarm scheduler can be a second without a mode check in them.
 */
/** Counters of one container at one moment: CPU in nanoseconds, memory and network in bytes. */
export interface StatsSample {
  cpu: number;
  /** The host's CPU time at the same moment (nanoseconds) and its CPUs, to turn cpu into a share. */
  system: number;
  cpus: number;
  memory: number;
  memoryLimit: number;
  rx: number;
  tx: number;
}

export interface ContainerRuntime {
  ping(): Promise<void>;

  /** Builds an image from a tar context; progress lines go to onLine. Returns the image id. */
  buildImage(context: Readable, opts: BuildOptions, onLine: (line: string) => void): Promise<string>;
  imageId(ref: string): Promise<string>;
  imageExists(ref: string): Promise<boolean>;
  /** What goku reads of an image's config: exposed ports, HEALTHCHECK, working directory. */
  imageConfig(image: string): Promise<ImageConfig>;
  /**
   * Pulls `name` (repo@digest) with the registry credentials, if any; each progress event
   * goes to onProgress. Errors the engine reports inside the stream throw GOKU_ERR_PULL_FAILED.
   */
  pullImage(name: string, auth: PullAuth | null, onProgress: (ev: PullProgress) => void): Promise<void>;
  /** Pushes `image` as REPO:TAG (GOKU_REGISTRY) and returns the registry's digest; the local REPO:TAG name goes again. */
  pushImage(image: string, repo: string, tag: string, auth: PullAuth | null): Promise<string>;
  /**
   * Makes a pulled image goku's without running it or building: a created (never started)
   * container carrying the labels is committed as `tag` (so the new image carries them), and
   * the regular files at readPaths are read from it on the way (each null when missing;
   * GOKU_ERR_UNSAFE_FILE when not a regular file or over maxBytes). It resolves once `tag`
   * names the pulled image, so containers can be made from it while the commit runs; the
   * commit then moves `tag` to the labelled image, and `committed` gives that image's id.
   */
  adoptImage(
    image: string,
    opts: { tag: string; labels: Record<string, string>; readPaths: string[]; maxBytes: number },
  ): Promise<{ committed: Promise<string>; files: (string | null)[] }>;
  /** Images of one repository (goku/DEPLOYMENT) carrying all the labels, newest first. */
  listImages(
    repo: string,
    labels: Record<string, string>,
  ): Promise<{ id: string; tags: string[]; created: number }[]>;
  removeImageTag(tag: string): Promise<void>;
  /** Gives an image another name (repo:tag). */
  tagImage(image: string, tag: string): Promise<void>;

  /** Creates and starts one container; returns its id. */
  runContainer(spec: RunSpec): Promise<string>;
  /** A container's state by id or name, or null when it does not exist. */
  inspectContainer(id: string): Promise<ContainerState | null>;
  listContainers(labels: Record<string, string>): Promise<ContainerSummary[]>;
  renameContainer(id: string, name: string): Promise<void>;
  /** From now on Docker restarts the container when it exits (unless-stopped, or the policy given). */
  keepRunning(id: string, policy?: RestartPolicy): Promise<void>;
  /** Stops (SIGTERM, SIGKILL after the grace period) without removing it (a stop-first deploy). */
  stopContainer(id: string, graceSeconds?: number): Promise<void>;
  /** Starts a stopped container again (a stop-first deploy that failed). */
  startContainer(id: string): Promise<void>;
  /** Stops (SIGTERM, SIGKILL after the grace period) and removes; a missing container is fine. */
  ensureContainerStoppedAndRemoved(id: string, graceSeconds?: number): Promise<void>;
  removeContainer(id: string): Promise<void>;

  /**
   * Runs a one-off task to its end (a release phase, predeploy, postdeploy): a container of
   * the image with the env and labels, its cmd after the image's ENTRYPOINT, its output to
   * onLine as it comes. exitCode null: killed after timeoutMs. The container is removed
   * unless `keep` (a predeploy's, to commit).
   */
  runTask(
    spec: TaskSpec,
    onLine: (line: string) => void,
    opts: { timeoutMs: number; keep?: boolean },
  ): Promise<{ id: string; exitCode: number | null }>;
  /**
   * Commits a finished task container's files as `tag`, with the image config of `from`
   * (its CMD, ENTRYPOINT, env and labels: the task's command and config stay out), then
   * removes the container. Returns the new image's id.
   */
  commitTask(id: string, tag: string, from: string): Promise<string>;
  /**
   * A one-off container (`goku run`) attached to a caller: its stdin from io.input, its output
   * to io.out/io.err (one stream with a tty), resized with the caller's terminal; removed when
   * it exits. Resolves with its exit status (null: it was stopped because the caller left).
   */
  runAttached(spec: TaskSpec, io: AttachedIO): Promise<number | null>;
  /** A command in a running container (`goku enter`), attached the same way; its exit status. */
  execAttached(id: string, argv: string[], io: AttachedIO): Promise<number | null>;
  /** A one-off container left running on its own (`goku run --detach`), removed when it exits. */
  runDetached(spec: TaskSpec): Promise<string>;
  containerLogs(id: string, tail: number): Promise<string>;
  /**
   * Runs argv in a running container (docker exec, no shell, no tty): its exit code and the
   * first 64 KiB of its output; exitCode null when it did not finish within timeoutMs.
   */
  execInContainer(
    id: string,
    argv: string[],
    timeoutMs: number,
  ): Promise<{ exitCode: number | null; output: string }>;
  streamLogs(
    id: string,
    opts: { tail: number | 'all'; follow: boolean; signal?: AbortSignal },
    onLine: (line: string) => void,
  ): Promise<void>;
  /** One sample of a container's resource use (Docker's one-shot stats); null when it is gone. */
  containerStats(id: string): Promise<StatsSample | null>;
  /** Creates a bridge network with the labels unless it exists (a compose app's). */
  ensureNetwork(name: string, labels: Record<string, string>): Promise<void>;
  /** Removes a network; a missing one is fine. */
  removeNetwork(name: string): Promise<void>;
  /** Creates a named volume with the labels unless it exists; true when it was made now. */
  ensureVolume(name: string, labels: Record<string, string>): Promise<boolean>;
  /** Names of the volumes carrying all the labels. */
  listVolumes(labels: Record<string, string>): Promise<string[]>;
  /** Removes a volume; a missing one is fine. */
  removeVolume(name: string): Promise<void>;
  /** Names of the networks carrying all the labels. */
  listNetworks(labels: Record<string, string>): Promise<string[]>;
  /** Lifecycle events (start, die, restart, stop, health) of containers with the labels. */
  containerEvents(labels: Record<string, string>): Promise<NodeJS.ReadableStream>;
  /**
   * Runs one of goku's own nginx masters (goku in a container on the host's engine) as a
   * container of goku's image, in the host's network and pid namespaces with GOKU_HOME at the
   * same path, so that it outlives goku's container and its pid file names a pid goku can
   * signal. A stopped one of that name is replaced.
   */
  runNginxMaster(spec: NginxMasterSpec): Promise<void>;
  /** The engine's swarm membership (docker info's Swarm). */
  swarmState(): Promise<SwarmState>;
  /** Makes the engine a swarm's first manager; returns its node id. */
  swarmInit(advertiseAddr: string | null): Promise<string>;
  /** The join tokens (a manager only). */
  swarmJoinTokens(): Promise<{ worker: string; manager: string }>;
  swarmJoin(remote: string, token: string, advertiseAddr: string | null): Promise<void>;
  swarmLeave(force: boolean): Promise<void>;
  /** The swarm's nodes with how many of goku's tasks (label goku.home) run on each (a manager only). */
  swarmNodes(labels: Record<string, string>): Promise<SwarmNode[]>;
  /** Creates an attachable overlay network with the labels unless it exists (Swarm). */
  ensureOverlay(name: string, labels: Record<string, string>): Promise<void>;
  /** A Swarm service's state by name, or null when there is none. */
  inspectService(name: string): Promise<ServiceState | null>;
  /** Creates a Swarm service (a manager only); returns its id. */
  createService(spec: ServiceSpec, auth: PullAuth | null): Promise<string>;
  /** Updates a service to the spec (start-first, rolled back by Swarm when a task fails). */
  updateService(name: string, spec: ServiceSpec, auth: PullAuth | null): Promise<void>;
  /** Sets a service's replicas, nothing else (ps:stop, ps:start). */
  scaleService(name: string, replicas: number): Promise<void>;
  /** Swarm's rollback of a service to its previous spec. */
  rollbackService(name: string): Promise<void>;
  removeService(name: string): Promise<void>;
  /**
   * Waits until this engine has no container of a removed service left (Swarm stops and
   * removes them after the removal returns; until then they hold their volumes and networks).
   */
  serviceGone(name: string, timeoutMs: number): Promise<boolean>;
  /** Services carrying all the labels. */
  listServices(labels: Record<string, string>): Promise<{ name: string; labels: Record<string, string> }[]>;
  /** A service's tasks (every node), with each one's address on `network`. */
  serviceTasks(name: string, network: string): Promise<SwarmTask[]>;
  /** A service's logs from every node (Docker's service logs), each line with its task. */
  serviceLogs(
    name: string,
    opts: { tail: number | 'all'; follow: boolean; signal?: AbortSignal },
    onLine: (line: string) => void,
  ): Promise<void>;
}

/** One process type of a deployment as a Swarm service. */
export interface ServiceSpec {
  name: string;
  image: string;
  env: Record<string, string>;
  /** The service's own labels (goku's: app, deployment, home, release). */
  labels: Record<string, string>;
  /** Its containers' labels (never goku.home: goku's container listings must not see tasks). */
  containerLabels: Record<string, string>;
  /** The command after the image's ENTRYPOINT; default the image's CMD. */
  cmd?: string[];
  replicas: number;
  /** The overlays it joins, with the names it answers to on each (a compose service's own name). */
  networks: { name: string; aliases: string[] }[];
  /** A compose service's own ENTRYPOINT, directory, user, mounts and container settings. */
  entrypoint?: string[];
  workingDir?: string;
  user?: string;
  mounts?: MountSpec[];
  options?: ContainerOptions;
  /** How a task is replaced: beside the old one (default), or after it stopped (named volumes). */
  order?: 'start-first' | 'stop-first';
  /** When Swarm starts a task again (compose's restart:); default always. */
  restart?: RestartPolicy;
  /** Runs one task to its end (a compose one-shot): a replicated job, no update config. */
  job?: boolean;
  /** Its health check (none: the image's HEALTHCHECK, if any). */
  healthcheck?: HealthcheckSpec;
  /** Seconds a new task must keep running before Swarm counts it updated. */
  monitorSeconds: number;
  stopGraceSeconds: number;
  /** Placement constraints (node.id==ID: no registry every node can pull from). */
  constraints: string[];
  /** Replaces every task even when nothing else changed (a restart). */
  forceUpdate: number;
}

export interface ServiceState {
  id: string;
  labels: Record<string, string>;
  replicas: number;
  image: string;
  forceUpdate: number;
  /** Swarm's UpdateStatus: updating, paused, completed, rollback_started, rollback_paused, rollback_completed. */
  updateState: string | null;
  updateMessage: string | null;
}

export interface SwarmTask {
  id: string;
  nodeId: string;
  slot: number;
  /** running, shutdown, ... */
  desired: string;
  /** new, pending, assigned, preparing, starting, running, complete, failed, rejected, shutdown, orphaned */
  state: string;
  err: string | null;
  /** Its address on the network asked for (null: not yet given one). */
  addr: string | null;
  containerId: string | null;
  /** Its containers' labels as its spec gives them (goku.release). */
  labels: Record<string, string>;
  createdAt: string;
}

export interface SwarmState {
  /** inactive, pending, active, error, locked */
  state: string;
  nodeId: string | null;
  manager: boolean;
  /** The address this node is reached at (its advertise address). */
  nodeAddr: string | null;
  /** Managers' addresses (HOST:PORT) as this node knows them. */
  managers: string[];
  error: string | null;
}

export interface SwarmNode {
  id: string;
  hostname: string;
  addr: string;
  role: 'manager' | 'worker';
  leader: boolean;
  /** ready, down, unknown, disconnected */
  state: string;
  availability: string;
  engine: string;
  tasks: number;
}

export interface NginxMasterSpec {
  name: string;
  image: string;
  cmd: string[];
  home: string;
  /** Value of the goku.nginx label (GOKU_HOME): apps' listings never see these containers. */
  label: string;
  /** A network to join instead of the host's (Swarm: the routes nginx on the apps' overlay). */
  network?: string;
}

export interface ContainerState {
  id: string;
  name: string;
  running: boolean;
  restarting: boolean;
  exitCode: number;
  ip: string | null;
  labels: Record<string, string>;
  health: string | null;
  startedAt: string;
  /** The networks it is attached to, by name (host: "host"). */
  networks: string[];
}

export interface RunSpec {
  name: string;
  image: string;
  env: Record<string, string>;
  labels: Record<string, string>;
  /** The command, after the image's ENTRYPOINT (a Procfile's); default the image's CMD. */
  cmd?: string[];
  /**
   * Docker restarts it when it exits (unless-stopped). False while a new container is being
   * checked: one that exits then has failed, and is removed, not restarted under the removal.
   */
  restart?: boolean;
  /** Replaces the image's ENTRYPOINT (a compose service's). */
  entrypoint?: string[];
  workingDir?: string;
  user?: string;
  /** Networks it joins (the first at creation), with the names it answers to on each. */
  networks?: { name: string; aliases: string[] }[];
  mounts?: MountSpec[];
  /** Its own health check, replacing the image's (none: the image's HEALTHCHECK, if any). */
  healthcheck?: HealthcheckSpec;
  /** A compose service's settings; absent: goku's defaults (an init, no limits). */
  options?: ContainerOptions;
}

/** What a compose service may set of how its containers run. */
export interface ContainerOptions {
  init?: boolean;
  stopSignal?: string;
  stopTimeoutSeconds?: number;
  tty?: boolean;
  openStdin?: boolean;
  hostname?: string;
  /** HOST:IP lines for /etc/hosts. */
  extraHosts?: string[];
  memoryBytes?: number;
  nanoCpus?: number;
  /** tmpfs mounts (absolute paths). */
  tmpfs?: string[];
  shmBytes?: number;
}

export type RestartPolicy = 'no' | 'always' | 'on-failure' | 'unless-stopped';

export interface MountSpec {
  type: 'volume' | 'bind';
  /** The volume's name or the host path; null: an anonymous volume. */
  source: string | null;
  target: string;
  readOnly: boolean;
}

/** Docker's HEALTHCHECK: test ["NONE"] turns the image's off; durations in milliseconds. */
export interface HealthcheckSpec {
  test: string[];
  intervalMs?: number;
  timeoutMs?: number;
  retries?: number;
  startPeriodMs?: number;
}

export interface BuildOptions {
  tag: string;
  /** The Dockerfile's path inside the context (default Dockerfile). */
  dockerfile?: string;
  buildargs?: Record<string, string>;
  /** The stage to build (a multi-stage Dockerfile's). */
  target?: string;
  labels?: Record<string, string>;
}

export interface TaskSpec {
  name: string;
  image: string;
  env: Record<string, string>;
  labels: Record<string, string>;
  cmd: string[];
  /** A compose service's: its entrypoint, directory, user, first network and mounts. */
  entrypoint?: string[];
  workingDir?: string;
  user?: string;
  network?: string;
  mounts?: MountSpec[];
}

/** A caller's end of an attached session: its input, output, terminal and when it leaves. */
export interface AttachedIO {
  input: NodeJS.ReadableStream | null;
  out: (data: Buffer) => void;
  err: (data: Buffer) => void;
  /** The caller's terminal size when it has one (a tty is allocated then). */
  tty: { cols: number; rows: number } | null;
  onResize: (cb: (cols: number, rows: number) => void) => void;
  /** Aborts when the caller goes away: the container (or exec) is stopped. */
  signal: AbortSignal;
}

export interface ContainerSummary {
  id: string;
  name: string;
  labels: Record<string, string>;
  state: string;
  /** The runtime's human status, e.g. "Up 3 minutes". */
  status: string;
  created: number;
  /** Its address on its network, when it has one. */
  ip: string | null;
}

export interface ImageConfig {
  exposedPorts: string[];
  /** Its ENTRYPOINT (empty: none). */
  entrypoint: string[];
  healthcheck: boolean;
  workingDir: string;
}

export interface PullAuth {
  username: string;
  password: string;
  serveraddress: string;
}

/** One line of the engine's pull progress (layer id, status such as "Pull complete"). */
export interface PullProgress {
  id?: string;
  status?: string;
}
