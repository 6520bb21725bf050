import type { PortMapping } from '../core/routes.js';

export interface KeyRecord {
  name: string;
  type: string;
  blob: string;
  fingerprint: string;
  admin: boolean;
  addedAt: string;
}

export interface DeploymentRecord {
  name: string;
  branch: string;
  commit: string;
  image: string;
  /** HTTP port inside the container, null when the Dockerfile exposes none (no routing). */
  port: number | null;
  /** Domains from the CNAME file of the deployed commit. */
  cnameDomains: string[];
  containerId: string;
  /** Names this deployment's routing, sent back by nginx in X-Goku-Release to confirm a switch. */
  release: string;
  deployedAt: string;
}

export interface AppRecord {
  name: string;
  createdAt: string;
  updatedAt: string;
  /** master or main; fixed by the first push of either unless set. */
  defaultBranch: string | null;
  env: Record<string, string>;
  /** Extra domains of the default deployment (domains:add). */
  domains: string[];
  deployments: Record<string, DeploymentRecord>;
  /** Host ports published for the default deployment (ports:add); absent in older stores. */
  ports?: PortMapping[];
}

export interface StoreData {
  version: 1;
  keys: KeyRecord[];
  apps: Record<string, AppRecord>;
}

/** The store port: a snapshot to read, and serialized updates that land whole or not at all. */
export interface Store {
  read(): StoreData;
  update<T>(fn: (draft: StoreData) => T): Promise<T>;
}
