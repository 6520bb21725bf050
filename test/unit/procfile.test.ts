import { describe, expect, it } from 'vitest';
import { appJsonFormation } from '../../src/core/checks.js';
import {
  commandArgv,
  formationOf,
  parseProcfile,
  parseScaleArgs,
  processTypes,
} from '../../src/core/procfile.js';

describe('Procfile', () => {
  it('reads type: command lines, comments and blank lines, CRLF too', () => {
    const pf = parseProcfile(
      '# processes\r\n\r\nweb: node server.js --port $PORT\r\nworker:bundle exec sidekiq\nrelease: ./migrate\n',
    );
    expect(pf).toEqual({
      web: 'node server.js --port $PORT',
      worker: 'bundle exec sidekiq',
      release: './migrate',
    });
    expect(processTypes(pf)).toEqual(['web', 'worker']);
    expect(processTypes(null)).toEqual(['web']);
  });

  it('refuses what it cannot run, naming the line', () => {
    expect(() => parseProcfile('web: a\nnonsense')).toThrow(
      'Procfile line 2: "nonsense" is not "type: command"',
    );
    expect(() => parseProcfile('web: a\nweb: b')).toThrow(
      'Procfile line 2: process type web is defined twice',
    );
    expect(() => parseProcfile('web:   ')).toThrow('process type web has no command');
    expect(() => parseProcfile('we b: x')).toThrow('is not "type: command"');
    expect(() => parseProcfile('WEB: x')).toThrow('must be lowercase');
    expect(() => parseProcfile('web: a; b')).toThrow('Procfile line 1: ";" needs a shell');
    expect(() => parseProcfile('web: a > log')).toThrow('">" needs a shell');
    expect(() => parseProcfile('web: echo ${')).toThrow('does not parse');
    expect(() => parseProcfile('\n# only a comment\n')).toThrow('the Procfile defines no process type');
  });

  it('splits a command as a shell splits words, with the env expanded, and no shell', () => {
    const env = { PORT: '5000', NAME: 'a b' };
    expect(commandArgv(`sh -c 'echo $PORT && exit 0'`, env)).toEqual(['sh', '-c', 'echo $PORT && exit 0']);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell variable, not JS
    expect(commandArgv('httpd -p $PORT -h "/w w" ${NAME} "$NAME" # c', env)).toEqual([
      'httpd',
      '-p',
      '5000',
      '-h',
      '/w w',
      'a b',
      'a b',
    ]);
    expect(commandArgv('ls *.js', env)).toEqual(['ls', '*.js']);
    expect(commandArgv('echo $UNSET.', env)).toEqual(['echo', '.']);
    // Heroku's Procfiles: defaults, and a variable that expands to nothing is no argument.
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell variables, not JS
    const defaults = 'gunicorn -b 0.0.0.0:${PORT:-9} ${UNSET:-a} ${EMPTY:-b} ${EMPTY-c} ${UNSET-d} app:app';
    expect(commandArgv(defaults, { ...env, EMPTY: '' })).toEqual([
      'gunicorn',
      '-b',
      '0.0.0.0:5000',
      'a',
      'b',
      'd',
      'app:app',
    ]);
    expect(commandArgv('node $NODE_OPTIONS server.js', env)).toEqual(['node', 'server.js']);
    // Single quotes keep a variable for the shell the command starts.
    expect(commandArgv(`sh -c 'echo $HOME'`, env)).toEqual(['sh', '-c', 'echo $HOME']);
  });

  it('counts as Dokku: web 1, others 0 until scaled; app.json formation sets all; a branch runs at most one', () => {
    const procfile = { web: 'a', worker: 'b', clock: 'c', release: 'd' };
    const base = { procfile, appFormation: null, scale: undefined, formation: undefined, isDefault: true };
    expect(formationOf(base)).toEqual({ web: 1, worker: 0, clock: 0 });
    expect(formationOf({ ...base, scale: 3, formation: { worker: 2 } })).toEqual({
      web: 3,
      worker: 2,
      clock: 0,
    });
    expect(formationOf({ ...base, formation: { worker: 2 }, asked: { web: 0, clock: 1 } })).toEqual({
      web: 0,
      worker: 2,
      clock: 1,
    });
    expect(formationOf({ ...base, appFormation: { worker: 4 }, scale: 3 })).toEqual({
      web: 0,
      worker: 4,
      clock: 0,
    });
    expect(formationOf({ ...base, scale: 3, formation: { worker: 2 }, isDefault: false })).toEqual({
      web: 1,
      worker: 1,
      clock: 0,
    });
    expect(formationOf({ ...base, procfile: null, scale: 2 })).toEqual({ web: 2 });
  });

  it('ps:scale arguments: N is web, TYPE=N for each type', () => {
    expect(parseScaleArgs(['3'], 20)).toEqual({ web: 3 });
    expect(parseScaleArgs(['web=2', 'worker=0'], 20)).toEqual({ web: 2, worker: 0 });
    expect(() => parseScaleArgs(['21'], 20)).toThrow('invalid instance count "21"');
    expect(() => parseScaleArgs(['worker=-1'], 20)).toThrow('invalid instance count "-1" for worker');
    expect(() => parseScaleArgs(['=1'], 20)).toThrow('is not TYPE=N');
  });

  it("app.json's formation: counts only when a quantity is given", () => {
    expect(appJsonFormation('{"formation": {"web": {"quantity": 2}, "worker": {}}}')).toEqual({
      web: 2,
      worker: 0,
    });
    expect(appJsonFormation('{"formation": {"web": {"size": "free"}}}')).toBeNull();
    expect(appJsonFormation('{}')).toBeNull();
    expect(() => appJsonFormation('{"formation": {"web": {"quantity": -1}}}')).toThrow(
      'formation.web.quantity',
    );
    expect(() => appJsonFormation('{"formation": {"web": {"count": 1}}}')).toThrow('app.json: formation.web');
    expect(() => appJsonFormation('{"formation": {"Web": {"quantity": 1}}}')).toThrow(
      'is not a process type',
    );
  });
});
