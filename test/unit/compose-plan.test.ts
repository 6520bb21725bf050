import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCompose } from '../../src/core/compose/parse.js';
import {
  changedServices,
  composeLabels,
  planServices,
  serviceDigest,
  startOrder,
  webService,
} from '../../src/core/compose/plan.js';

const twoTier = () =>
  parseCompose(
    readFileSync(
      join(import.meta.dirname, '..', 'fixtures', 'compose', 'two-tier', 'docker-compose.yml'),
      'utf8',
    ),
    {
      file: 'docker-compose.yml',
      vars: { DB_PASSWORD: 'x' },
    },
  );
const parse = (text: string) => parseCompose(text, { file: 'c.yml', vars: {} });

describe('compose plans', () => {
  it('starts each service after what it depends on, else in file order', () => {
    expect(startOrder(twoTier())).toEqual(['db', 'cache', 'web', 'worker']);
    const p = parse(
      'services:\n  a:\n    image: x\n    depends_on: [c]\n  b:\n    image: x\n  c:\n    image: x\n',
    );
    expect(startOrder(p)).toEqual(['c', 'a', 'b']);
  });

  it('routes web at the app, other services with ports at SERVICE.APP; stateful ones are replaced in place', () => {
    const p = parse(
      'services:\n  api:\n    image: x\n    ports: ["3000"]\n  web:\n    image: x\n    ports: ["8080:80"]\n  db:\n    image: x\n    volumes: ["data:/d"]\n    ports: ["5432"]\n  worker:\n    image: x\n    deploy:\n      replicas: 3\nvolumes:\n  data:\n',
    );
    expect(webService(p)?.name).toBe('web');
    expect(planServices(p, { app: 'shop', domain: 'example.test', prefix: '' })).toEqual([
      {
        service: 'api',
        containers: ['shop-api'],
        route: { domain: 'api.shop.example.test', port: 3000 },
        replacement: 'zero-downtime',
      },
      {
        service: 'web',
        containers: ['shop-web'],
        route: { domain: 'shop.example.test', port: 80 },
        replacement: 'zero-downtime',
      },
      {
        service: 'db',
        containers: ['shop-db'],
        route: { domain: 'db.shop.example.test', port: 5432 },
        replacement: 'in-place',
      },
      {
        service: 'worker',
        containers: ['shop-worker', 'shop-worker.2', 'shop-worker.3'],
        route: null,
        replacement: 'in-place',
      },
    ]);
    // Without a service named web, the first with ports is served at the app's domain.
    expect(
      webService(parse('services:\n  a:\n    image: x\n  b:\n    image: x\n    ports: ["80"]\n'))?.name,
    ).toBe('b');
  });

  it('keeps a service whose definition, image and env are unchanged; a scale alone changes nothing', () => {
    const p = twoTier();
    const db = p.services.find((s) => s.name === 'db');
    if (!db) throw new Error('no db');
    const base = serviceDigest(db, 'sha256:aaa', { A: '1' });
    expect(serviceDigest({ ...db }, 'sha256:aaa', { A: '1' })).toBe(base);
    expect(serviceDigest({ ...db, replicas: 5 }, 'sha256:aaa', { A: '1' })).toBe(base);
    expect(serviceDigest(db, 'sha256:bbb', { A: '1' })).not.toBe(base);
    expect(serviceDigest(db, 'sha256:aaa', { A: '2' })).not.toBe(base);
    expect(serviceDigest({ ...db, command: ['postgres', '-c', 'x'] }, 'sha256:aaa', { A: '1' })).not.toBe(
      base,
    );
    // Key order in the file does not matter.
    expect(
      serviceDigest({ ...db, environment: { POSTGRES_DB: 'app', POSTGRES_PASSWORD: 'x' } }, 'i', {}),
    ).toBe(serviceDigest({ ...db, environment: { POSTGRES_PASSWORD: 'x', POSTGRES_DB: 'app' } }, 'i', {}));
    expect(changedServices({ web: 'a', db: 'b' }, { web: 'c', db: 'b', cache: 'd' })).toEqual([
      'web',
      'cache',
    ]);
  });

  it('labels containers as Compose does', () => {
    expect(composeLabels('shop', 'db', 1, 'abc')).toMatchObject({
      'com.docker.compose.project': 'shop',
      'com.docker.compose.service': 'db',
      'com.docker.compose.container-number': '1',
      'goku.service': 'db',
    });
  });
});
