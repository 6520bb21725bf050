/**
 * The Compose keys goku runs, level by level. A key outside these is refused with its line,
 * never ignored; a key that would give a container the host is refused as such.
 */
export const TOP_KEYS = ['services', 'volumes', 'networks', 'version', 'name'] as const;

export const SERVICE_KEYS = [
  'build',
  'image',
  'command',
  'entrypoint',
  'environment',
  'env_file',
  'ports',
  'expose',
  'volumes',
  'depends_on',
  'healthcheck',
  'restart',
  'labels',
  'working_dir',
  'user',
  'deploy',
  'networks',
  'container_name',
  'init',
  'stop_grace_period',
  'stop_signal',
  'tty',
  'stdin_open',
  'hostname',
  'extra_hosts',
  'mem_limit',
  'cpus',
  'tmpfs',
  'shm_size',
  'profiles',
] as const;

/** Keys of the nested maps, by the path of the map (`*` for a service or an entry). */
export const NESTED_KEYS: Record<string, readonly string[]> = {
  'services.*.build': ['context', 'dockerfile', 'args', 'target'],
  'services.*.healthcheck': ['test', 'interval', 'timeout', 'retries', 'start_period', 'disable'],
  'services.*.deploy': ['replicas', 'resources'],
  'services.*.deploy.resources': ['limits'],
  'services.*.deploy.resources.limits': ['cpus', 'memory'],
  'services.*.depends_on.*': ['condition', 'restart', 'required'],
  'services.*.ports.*': ['target', 'published', 'protocol', 'mode'],
  'services.*.volumes.*': ['type', 'source', 'target', 'read_only', 'volume', 'bind'],
  'services.*.volumes.*.volume': ['nocopy'],
  'services.*.volumes.*.bind': ['create_host_path'],
  'volumes.*': ['name', 'labels', 'driver', 'external'],
  'networks.*': ['name', 'labels', 'driver', 'external'],
};

/** Keys that hand a container the host: refused with that reason. */
export const HOST_KEYS: Record<string, string> = {
  privileged: 'runs the container with every privilege of the host',
  cap_add: 'adds kernel capabilities',
  devices: "hands the host's devices to the container",
  network_mode: "puts the container on another network namespace (the host's, another container's)",
  pid: "shares the host's (or another container's) processes",
  ipc: "shares the host's (or another container's) IPC",
  security_opt: 'changes the confinement (seccomp, AppArmor)',
  userns_mode: 'turns off user namespace remapping',
  cgroup_parent: 'places the container in a cgroup of the host',
  volumes_from: "mounts another container's volumes",
  sysctls: 'changes kernel parameters',
  uts: "shares the host's hostname namespace",
};

/** Compose's own conditions of depends_on. */
export const CONDITIONS = ['service_started', 'service_healthy', 'service_completed_successfully'] as const;
