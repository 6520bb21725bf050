import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppRepo, eventually, GokuServer, httpdApp, type SshKey, uniquePrefix } from '../helpers/goku.js';

// The whole push path as a user drives it: real git over OpenSSH, real Docker, goku's managed nginx.
describe('git push deploys a Dockerfile app behind nginx', () => {
  // Keep the images of two releases per deployment, so pruning shows at the third push.
  const server = new GokuServer({ env: { GOKU_KEEP_RELEASES: '2' } });
  const p = uniquePrefix();
  let key: SshKey;

  beforeAll(async () => {
    key = await server.startWithKey();
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it('first push builds, runs, routes; the next push replaces it; a branch gets its own deployment', async () => {
    const app = `${p}-web`;
    const repo = new AppRepo(server.tmp, app, server, key);
    repo.write(httpdApp('hello v1'));
    const sha1 = repo.commit('v1');
    const first = await repo.push();
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain(`-----> Building ${app} (master ${sha1.slice(0, 7)})`);
    expect(first.stderr).toMatch(/remote: +Step 1\/\d+ : FROM goku-test\/busybox:1/);
    expect(first.stderr).toContain('-----> Starting');
    expect(first.stderr).toContain('-----> Routing');
    expect(first.stderr).toContain(
      `=====> ${app} deployed: http://${app}.${server.domain}:${server.proxyPort}/`,
    );

    const r1 = await server.get(`${app}.${server.domain}`);
    expect(r1.status).toBe(200);
    expect(r1.body).toBe('hello v1\n');
    // The default branch is also served at APP-SLUG(branch).
    expect((await server.get(`${app}-master.${server.domain}`)).body).toBe('hello v1\n');
    // The push returns once the app is live; the rename to exactly APP follows at once.
    const named = (names: string[]) =>
      eventually(
        async () => server.containers(app),
        (cs) => JSON.stringify(cs.map((c) => c.name).sort()) === JSON.stringify(names),
        10000,
      );
    const c1 = await named([app]);

    repo.write(httpdApp('hello v2'));
    repo.commit('v2');
    const second = await repo.push();
    expect(second.code, second.stderr).toBe(0);
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('hello v2\n');
    const c2 = await named([app]);
    expect(c2[0]?.id).not.toBe(c1[0]?.id);
    // Images of releases beyond GOKU_KEEP_RELEASES (2) are pruned; the running and previous stay.
    const own = () => server.images(app).filter((i) => i.startsWith(`goku/${app}:`));
    const inspect = (format: string, ref: string) =>
      execFileSync('docker', ['inspect', '-f', format, ref]).toString().trim();
    const v2Image = inspect('{{.Image}}', c2[0]?.id as string);
    await repo.deploy(httpdApp('hello v3'), 'v3');
    const c3 = await named([app]);
    await eventually(
      async () => own(),
      (imgs) => imgs.length === 2,
      10000,
    );
    expect(
      own()
        .map((t) => inspect('{{.Id}}', t))
        .sort(),
    ).toEqual([inspect('{{.Image}}', c3[0]?.id as string), v2Image].sort());
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('hello v3\n');

    // A branch deploys as APP-SLUG(branch) at its own domain, beside the default deployment.
    repo.write(httpdApp('feature'));
    repo.commit('feature');
    const br = await repo.push('HEAD:refs/heads/Feature/New_UI');
    expect(br.code, br.stderr).toBe(0);
    expect((await server.get(`${app}-feature-new-ui.${server.domain}`)).body).toBe('feature\n');
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('hello v3\n');
    // The new container takes its final name in the push's tail, just after git is answered.
    await server.settled(app, [app, `${app}-feature-new-ui`]);

    // Deleting the branch removes its deployment and routes; the default one keeps serving.
    const del = await repo.push(':refs/heads/Feature/New_UI');
    expect(del.code, del.stderr).toBe(0);
    expect((await server.get(`${app}-feature-new-ui.${server.domain}`)).status).toBe(404);
    expect(server.containers(app).map((c) => c.name)).toEqual([app]);
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('hello v3\n');

    // Containers carry goku's labels, so `docker ps --filter label=goku.app=APP` finds them.
    const apps = await server.cli(['apps', '--json']);
    const list = JSON.parse(apps.stdout) as { name: string; deployments: { name: string }[] }[];
    expect(list.find((a) => a.name === app)?.deployments.map((d) => d.name)).toEqual([app]);
  });

  it('serves the domains of a CNAME file, and unknown hosts get goku 404 page', async () => {
    const app = `${p}-cname`;
    const repo = new AppRepo(server.tmp, app, server, key);
    repo.write({
      ...httpdApp('cname app'),
      CNAME: `# my domains\n\nwww.${p}.example.com\n${p}.Example.com\n`,
    });
    repo.commit('cname');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    expect((await server.get(`www.${p}.example.com`)).body).toBe('cname app\n');
    expect((await server.get(`${p}.example.com`)).body).toBe('cname app\n');
    // A branch carries the same CNAME file: it deploys at its own name only, and says so.
    const branch = await repo.push('master:feature');
    expect(branch.code, branch.stderr).toBe(0);
    expect(branch.stderr).toContain(
      `Skipping the CNAME file: its domains belong to ${app} (the default branch)`,
    );
    expect((await server.get(`${app}-feature.${server.domain}`)).body).toBe('cname app\n');
    const doms = JSON.parse((await server.cli(['domains', app, '--json'])).stdout);
    expect(doms.deployments[`${app}-feature`]).toEqual([`${app}-feature.${server.domain}`]);
    expect(doms.deployments[app]).toContain(`www.${p}.example.com`);
    const unknown = await server.get('nobody.example.org');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toContain('no app is served at this address');
  });

  it('accepts a push without a Dockerfile and says there is nothing to run', async () => {
    const app = `${p}-static`;
    const repo = new AppRepo(server.tmp, app, server, key);
    repo.write({ 'README.md': 'just text\n' });
    const sha = repo.commit('docs');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('No Dockerfile');
    expect(r.stderr).toContain('nothing to run');
    expect(await repo.remoteRef('master')).toBe(sha);
    expect(server.containers(app)).toHaveLength(0);
  });

  it("turns a Dockerfile app into a compose app when a compose file arrives (Compose's lookup order), the Dockerfile built by the service that names it", async () => {
    const app = `${p}-compose`;
    const repo = new AppRepo(server.tmp, app, server, key);
    await repo.deploy(httpdApp('dockerfile alone'), 'dockerfile');
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('dockerfile alone\n');
    repo.write({
      ...httpdApp('built by compose'),
      'compose.yaml':
        'services:\n  web:\n    build: .\n    ports: ["8000"]\n  api:\n    build: .\n    ports: ["8000"]\n',
      // compose.yaml comes first in Compose's order: this one is not read.
      'docker-compose.yml': 'services:\n  web:\n    privileged: true\n',
    });
    repo.commit('compose');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      `compose.yaml found: deploying ${app} as a compose app (the Dockerfile is used only by services that build it)`,
    );
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('built by compose\n');
    expect((await server.get(`api.${app}.${server.domain}`)).body).toBe('built by compose\n');
    await server.settled(app, [`${app}-api`, `${app}-web`]);
    // And back: without the compose file the Dockerfile deploys alone; the api's route goes.
    execFileSync('git', ['rm', '-q', 'compose.yaml', 'docker-compose.yml'], { cwd: repo.dir });
    await repo.deploy(httpdApp('dockerfile again'), 'no compose');
    expect((await server.get(`${app}.${server.domain}`)).body).toBe('dockerfile again\n');
    expect((await server.get(`api.${app}.${server.domain}`)).status).toBe(404);
    await server.settled(app, [app]);
  });

  it('runs an app whose Procfile has no web unrouted, reading ARG and line continuations for EXPOSE', async () => {
    const worker = `${p}-worker`;
    const repo = new AppRepo(server.tmp, worker, server, key);
    repo.write({
      Dockerfile: 'FROM goku-test/busybox:1\nCMD ["sleep", "3600"]\n',
      Procfile: 'worker: sleep 3600\n',
      'app.json': '{ "formation": { "worker": { "quantity": 1 } } }',
    });
    repo.commit('worker');
    const r = await repo.push();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('has no web process (its Procfile names none): nothing is routed');
    expect(r.stderr).toContain(`${worker} deployed as ${worker}`);
    expect(r.stderr).not.toContain('http://');
    await server.settled(worker, [`${worker}-worker`]);
    expect(server.containers(worker).map((c) => c.state)).toEqual(['running']);
    expect((await server.get(`${worker}.${server.domain}`)).status).toBe(404);

    const argApp = `${p}-argport`;
    const repo2 = new AppRepo(server.tmp, argApp, server, key);
    repo2.write({
      Dockerfile:
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a Dockerfile ARG reference, not JS
        'FROM goku-test/busybox:1\nARG PORT=9090\nRUN mkdir /www && echo arg > /www/index.html\nEXPOSE 53/udp \\\n  ${PORT}/tcp\nCMD httpd -f -p 9090 -h /www\n',
    });
    repo2.commit('arg');
    const r2 = await repo2.push();
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stderr).toContain('(port 9090)');
    expect((await server.get(`${argApp}.${server.domain}`)).body).toBe('arg\n');
  });

  it('follows Docker when a crashed container is restarted', async () => {
    const app = `${p}-crash`;
    const repo = new AppRepo(server.tmp, app, server, key);
    await repo.deploy(httpdApp('still here'), 'v1');
    const [c] = server.containers(app);
    const { execFileSync } = await import('node:child_process');
    const pid = Number(
      execFileSync('docker', ['inspect', '-f', '{{.State.Pid}}', c?.id as string])
        .toString()
        .trim(),
    );
    process.kill(pid, 'SIGKILL');
    const r = await eventually(
      () => server.get(`${app}.${server.domain}`),
      (x) => x.status === 200 && x.body === 'still here\n',
      20000,
    );
    expect(r.status).toBe(200);
  });
});
