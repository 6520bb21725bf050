import { type ParseArgsConfig, parseArgs } from 'node:util';
import { closest, distance } from 'fastest-levenshtein';
import { errorBody, exitStatus, GokuError, oneLine } from '../errors.js';
import { apps } from './apps.js';
import { appsCreate } from './apps-create.js';
import { appsDestroy } from './apps-destroy.js';
import { appsInfo } from './apps-info.js';
import { appsRename } from './apps-rename.js';
import { certs } from './certs.js';
import { certsAdd } from './certs-add.js';
import { certsAuto } from './certs-auto.js';
import { certsRedirect } from './certs-redirect.js';
import { certsRemove } from './certs-remove.js';
import { checksDisable, checksEnable, checksReport, checksSkip } from './checks.js';
import { cluster } from './cluster.js';
import { clusterInit } from './cluster-init.js';
import { clusterJoin } from './cluster-join.js';
import { clusterJoinToken } from './cluster-join-token.js';
import { clusterLeave } from './cluster-leave.js';
import { config } from './config.js';
import { configExport } from './config-export.js';
import { configGet } from './config-get.js';
import { configKeys } from './config-keys.js';
import { configSet } from './config-set.js';
import { configUnset } from './config-unset.js';
import { deploy } from './deploy.js';
import { domains } from './domains.js';
import { domainsAdd } from './domains-add.js';
import { domainsRemove } from './domains-remove.js';
import { enter } from './enter.js';
import { helpCommand } from './help.js';
import { keysAdd } from './keys-add.js';
import { keysList } from './keys-list.js';
import { keysRemove } from './keys-remove.js';
import { logs } from './logs.js';
import { ports } from './ports.js';
import { portsAdd } from './ports-add.js';
import { portsRemove } from './ports-remove.js';
import { proxyPorts, proxyPortsAdd, proxyPortsRemove } from './proxy-ports.js';
import { ps } from './ps.js';
import { psRebuild } from './ps-rebuild.js';
import { psReport } from './ps-report.js';
import { psRestart } from './ps-restart.js';
import { psScale } from './ps-scale.js';
import { psStart } from './ps-start.js';
import { psStop } from './ps-stop.js';
import { registries } from './registries.js';
import { registriesLogin } from './registries-login.js';
import { registriesLogout } from './registries-logout.js';
import { releases } from './releases.js';
import { releasesInfo } from './releases-info.js';
import { rollback } from './rollback.js';
import { run } from './run.js';
import { schedule } from './schedule.js';
import { scheduleClear } from './schedule-clear.js';
import { scheduleSet } from './schedule-set.js';
import { serverCommand } from './server.js';
import type { Caller, Command, CommandIO, Services } from './types.js';
import { url } from './url.js';
import { watch } from './watch.js';
import { watchAuto } from './watch-auto.js';
import { watchPin } from './watch-pin.js';
import { watchReset } from './watch-reset.js';
import { webhooks, webhooksRotate } from './webhooks.js';

/** The command table shared by the local CLI and ssh. One module per command. */
export function commandTable(): Command[] {
  const list: Command[] = [];
  list.push(
    serverCommand,
    keysAdd,
    keysList,
    keysRemove,
    apps,
    appsCreate,
    appsInfo,
    appsDestroy,
    appsRename,
    deploy,
    url,
    config,
    configGet,
    configSet,
    configUnset,
    configKeys,
    configExport,
    certs,
    certsAdd,
    certsRemove,
    certsAuto,
    certsRedirect,
    domains,
    domainsAdd,
    domainsRemove,
    ps,
    psRestart,
    psScale,
    psStop,
    psStart,
    psRebuild,
    psReport,
    checksReport,
    checksEnable,
    checksDisable,
    checksSkip,
    logs,
    run,
    enter,
    ports,
    portsAdd,
    portsRemove,
    proxyPorts,
    proxyPortsAdd,
    proxyPortsRemove,
    releases,
    releasesInfo,
    rollback,
    registries,
    registriesLogin,
    registriesLogout,
    webhooks,
    webhooksRotate,
    watch,
    watchPin,
    watchReset,
    watchAuto,
    schedule,
    scheduleSet,
    scheduleClear,
    cluster,
    clusterInit,
    clusterJoinToken,
    clusterJoin,
    clusterLeave,
    helpCommand(
      () => list,
      (name) => unknownCommand(list, name),
    ),
  );
  return list;
}

export function findCommand(table: Command[], name: string): Command | undefined {
  return table.find((c) => c.name === name || c.aliases?.includes(name));
}

/**
 * "did you mean" when a known command is a few edits away. A name whose noun (the part before
 * the colon) is a known one is only matched within that noun (ps:creat is not apps:create);
 * with none near, the noun's commands are listed.
 */
export function unknownCommand(table: Command[], name: string): GokuError {
  const names = table.flatMap((c) => [c.name, ...(c.aliases ?? [])]);
  const near = (among: string[]) => {
    if (among.length === 0) return null;
    const n = closest(name, among);
    return distance(name, n) <= Math.max(2, Math.floor(n.length / 3)) ? n : null;
  };
  const noun = name.includes(':') ? name.slice(0, name.indexOf(':')) : null;
  const same = noun ? names.filter((n) => n === noun || n.startsWith(`${noun}:`)) : [];
  let hint = '';
  if (same.length > 0) {
    const guess = near(same);
    hint = guess ? `; did you mean ${guess}?` : `; ${noun} commands: ${same.join(', ')}`;
  } else {
    const guess = near(names);
    if (guess) hint = `; did you mean ${guess}?`;
  }
  return new GokuError(
    'GOKU_ERR_UNKNOWN_COMMAND',
    `unknown command ${JSON.stringify(name.slice(0, 80))}${hint} (see goku help)`,
  );
}

/** Parses argv against the command's options; errors are usage errors. */
export function parseCommand(
  table: Command[],
  argv: string[],
): { command: Command; args: string[]; flags: Record<string, string | boolean | undefined> } {
  const [name, ...rest] = argv;
  if (!name) return { command: findCommand(table, 'help') as Command, args: [], flags: {} };
  const command = findCommand(table, name);
  if (!command) throw unknownCommand(table, name);
  // A command that runs another (run, enter) takes its options before APP; every word after
  // APP is the other command's, verbatim (a leading -- is dropped).
  let own = rest;
  let tail: string[] = [];
  if (command.passThrough) {
    const at = rest.findIndex((w) => !w.startsWith('-'));
    if (at >= 0) {
      own = rest.slice(0, at + 1);
      tail = rest.slice(at + 1);
      if (tail[0] === '--') tail = tail.slice(1);
    }
  }
  let parsed: ReturnType<typeof parseArgs<ParseArgsConfig>>;
  try {
    parsed = parseArgs({ args: own, options: command.options ?? {}, allowPositionals: true, strict: true });
  } catch (err) {
    throw new GokuError(
      'GOKU_ERR_USAGE',
      `${oneLine(err).replace(/\. To specify.*$/, '')}; usage: goku ${command.usage}`,
    );
  }
  const args = [...parsed.positionals, ...tail];
  assertArity(command, args);
  return { command, args, flags: parsed.values as Record<string, string | boolean | undefined> };
}

function assertArity(command: Command, args: string[]): void {
  if (args.length < command.args.min || args.length > command.args.max) {
    const what = args.length < command.args.min ? 'missing argument' : 'too many arguments';
    throw new GokuError('GOKU_ERR_USAGE', `${what}; usage: goku ${command.usage}`);
  }
}

/**
 * Runs a command from arguments and flags that are already apart (the HTTP API builds them
 * from a JSON body, so no value can be read as an option); errors are thrown, not printed.
 */
export async function invokeCommand(
  command: Command,
  args: string[],
  flags: Record<string, string | boolean | undefined>,
  io: CommandIO,
  caller: Caller,
  services: Services,
): Promise<number> {
  assertArity(command, args);
  return (await command.run({ args, flags, io, caller, services })) ?? 0;
}

/** Runs one command; every error becomes one `error:` line and a non-zero status. */
export async function runCommand(
  table: Command[],
  argv: string[],
  io: CommandIO,
  caller: Caller,
  services: Services,
): Promise<number> {
  try {
    if (argv[0] === '--version' || argv[0] === 'version') {
      io.out(`goku ${services.version}\n`);
      return 0;
    }
    const { command, args, flags } = parseCommand(table, argv);
    if (caller.via === 'ssh' && !caller.admin) {
      throw new GokuError(
        'GOKU_ERR_COMMAND_NOT_ALLOWED',
        `key ${caller.keyName} is a deploy key: it may git push and fetch only; commands need an admin key`,
      );
    }
    if (caller.via === 'ssh' && command.name === 'server') {
      throw new GokuError('GOKU_ERR_COMMAND_NOT_ALLOWED', 'server cannot be started over ssh');
    }
    return (await command.run({ args, flags, io, caller, services })) ?? 0;
  } catch (err) {
    // With --json the error is JSON too, with its stable code, so scripts need not parse text.
    io.err(argv.includes('--json') ? `${JSON.stringify(errorBody(err))}\n` : `error: ${oneLine(err)}\n`);
    return exitStatus(err);
  }
}
