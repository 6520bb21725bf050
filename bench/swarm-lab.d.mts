export interface LabNode {
  /** The network namespace (/run/netns/NAME). */
  ns: string;
  /** Its address on the lab's link. */
  addr: string;
  /** DOCKER_HOST of its engine. */
  host: string;
  dir: string;
}

export class SwarmLab {
  readonly nodes: LabNode[];
  /** HOST:PORT of the lab's registry, when start was asked for one. */
  registry: string | null;
  start(opts?: { registry?: boolean }): Promise<void>;
  /** The lab's registry as 127.0.0.1:PORT, here and on the first node (start({ registry: true }) first). */
  hostRegistry(): Promise<string>;
  initSwarm(): Promise<void>;
  loadImage(node: LabNode, image: string): void;
  docker(node: LabNode, ...args: string[]): string;
  killEngine(node: LabNode): Promise<void>;
  restartEngine(node: LabNode): Promise<void>;
  log(node: LabNode): string;
  cleanup(): Promise<void>;
}
