import type { DockerEngine } from '../docker/engine.js';
import { GokuError } from '../errors.js';
import type { Repos } from '../git/repos.js';
import { createApp } from '../store/apps.js';
import type { AppRecord, Store } from '../store/types.js';
import type { Deployer, Out } from './deploy.js';
import type { RouteTable } from './routing.js';

export interface Instance {
  deployment: string;
  name: string;
  state: string;
  status: string;
  release: string;
  commit: string;
  created: string;
}

export interface AppInfo {
  name: string;
  defaultBranch: string | null;
  createdAt: string;
  updatedAt: string;
  domains: string[];
  deployments: {
    name: string;
    branch: string;
    commit: string;
    release: string;
    image: string;
    port: number | null;
    domains: string[];
    instances: number;
    deployedAt: string;
  }[];
}

/** What the app and process commands do, on top of the pipeline and the adapters. */
export class AppOps {
  constructor(
    private readonly d: {
      store: Store;
      docker: DockerEngine;
      repos: Repos;
      routes: RouteTable;
      deployer: Deployer;
      homeLabel: string;
    },
  ) {}

  get(app: string): AppRecord {
    const rec = this.d.store.read().apps[app];
    if (!rec) throw new GokuError('GOKU_ERR_APP_NOT_FOUND', `app ${app} does not exist; see goku apps`);
    return rec;
  }

  async create(app: string): Promise<void> {
    if (this.d.store.read().apps[app])
      throw new GokuError('GOKU_ERR_APP_EXISTS', `app ${app} already exists`);
    await createApp(this.d.store, app);
    await this.d.repos.ensure(app);
  }

  destroy(app: string, out: Out): Promise<void> {
    this.get(app);
    return this.d.deployer.destroy(app, out);
  }

  restart(app: string, out: Out): Promise<void> {
    this.get(app);
    return this.d.deployer.restart(app, out);
  }

  async ps(app: string): Promise<Instance[]> {
    this.get(app);
    const list = await this.d.docker.listContainers({ 'goku.app': app, 'goku.home': this.d.homeLabel });
    return list
      .map((c) => ({
        deployment: c.labels['goku.deployment'] ?? '',
        name: c.name,
        state: c.state,
        status: c.status,
        release: c.labels['goku.release'] ?? '',
        commit: (c.labels['goku.commit'] ?? '').slice(0, 7),
        created: new Date(c.created * 1000).toISOString(),
      }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  async info(app: string): Promise<AppInfo> {
    const rec = this.get(app);
    const instances = await this.ps(app);
    return {
      name: rec.name,
      defaultBranch: rec.defaultBranch,
      createdAt: rec.createdAt,
      updatedAt: rec.updatedAt,
      domains: rec.domains,
      deployments: Object.values(rec.deployments)
        .sort((a, b) => (a.name < b.name ? -1 : 1))
        .map((dep) => ({
          name: dep.name,
          branch: dep.branch,
          commit: dep.commit,
          release: dep.release,
          image: dep.image,
          port: dep.port,
          domains: this.d.routes.get(dep.name)?.domains ?? [],
          instances: instances.filter((i) => i.deployment === dep.name && i.state === 'running').length,
          deployedAt: dep.deployedAt,
        })),
    };
  }

  /** Log lines of the app's containers, prefixed with the instance name when there are several. */
  async logs(
    app: string,
    opts: { tail: number; follow: boolean; signal?: AbortSignal },
    onLine: (line: string) => void,
  ): Promise<void> {
    const running = (await this.ps(app)).filter((i) => i.state === 'running' || i.state === 'restarting');
    if (running.length === 0) {
      throw new GokuError('GOKU_ERR_NOT_DEPLOYED', `app ${app} has no running containers; push it first`);
    }
    const prefix = running.length > 1;
    await Promise.all(
      running.map((i) =>
        this.d.docker.streamLogs(i.name, opts, (line) => onLine(prefix ? `${i.name}: ${line}` : line)),
      ),
    );
  }
}
