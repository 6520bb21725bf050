import type { StatsSample } from '../runtime/types.js';

/** One instance's use as the dashboard shows it. */
export interface InstanceStats {
  name: string;
  process: string;
  /** Docker's state (running, exited, restarting ...); the numbers are of running ones only. */
  state: string;
  /** The release it runs (vN), or - when unknown. */
  release: string;
  /** Share of one CPU, in percent (200 = two CPUs busy); null on the first sample. */
  cpu: number | null;
  memory: number | null;
  memoryLimit: number | null;
  /** Bytes per second since the previous sample; null on the first. */
  rxRate: number | null;
  txRate: number | null;
  rx: number | null;
  tx: number | null;
}

/**
 * CPU as docker stats computes it: the container's CPU time over the host's in the same
 * interval, times the CPUs. Rates need two samples `seconds` apart.
 */
export function instanceStats(
  who: { name: string; process: string; release: string },
  cur: StatsSample,
  prev: StatsSample | undefined,
  seconds: number,
): InstanceStats {
  let cpu: number | null = null;
  let rxRate: number | null = null;
  let txRate: number | null = null;
  if (prev) {
    const dc = cur.cpu - prev.cpu;
    const ds = cur.system - prev.system;
    cpu = ds > 0 && dc >= 0 ? Math.round((dc / ds) * cur.cpus * 1000) / 10 : 0;
    if (seconds > 0) {
      rxRate = Math.max(0, Math.round((cur.rx - prev.rx) / seconds));
      txRate = Math.max(0, Math.round((cur.tx - prev.tx) / seconds));
    }
  }
  return {
    ...who,
    state: 'running',
    cpu,
    memory: cur.memory,
    memoryLimit: cur.memoryLimit,
    rxRate,
    txRate,
    rx: cur.rx,
    tx: cur.tx,
  };
}

/** An instance that is not running: its state, no numbers. */
export function idleStats(
  who: { name: string; process: string; release: string },
  state: string,
): InstanceStats {
  return {
    ...who,
    state,
    cpu: null,
    memory: null,
    memoryLimit: null,
    rxRate: null,
    txRate: null,
    rx: null,
    tx: null,
  };
}
