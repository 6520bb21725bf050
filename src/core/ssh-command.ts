import { parse } from 'shell-quote';
import { GokuError } from '../errors.js';
import { appFromRepoPath } from './names.js';

export type SshRequest =
  | { kind: 'git'; service: 'receive-pack' | 'upload-pack'; app: string }
  | { kind: 'command'; argv: string[] };

/**
 * Splits an ssh exec string into words without any shell: operators, globs and substitutions
 * are refused, never interpreted. Git's two services are recognized in every form clients send.
 */
export function parseSshCommand(command: string): SshRequest {
  if (command.length > 4096) throw new GokuError('GOKU_ERR_USAGE', 'command is too long');
  let words: ReturnType<typeof parse>;
  try {
    words = parse(command, (key) => `$${key}`);
  } catch {
    // shell-quote throws on what a shell could not parse either ("${", unbalanced quotes).
    throw new GokuError(
      'GOKU_ERR_USAGE',
      'the command line does not parse (an unclosed quote or ${); quote the argument',
    );
  }
  const argv: string[] = [];
  for (const w of words) {
    if (typeof w !== 'string') {
      throw new GokuError(
        'GOKU_ERR_USAGE',
        'shell operators are not allowed in goku commands (nothing runs in a shell); quote the argument',
      );
    }
    argv.push(w);
  }
  let service: string | undefined;
  let rest: string[] = [];
  if (argv[0] === 'git-receive-pack' || argv[0] === 'git-upload-pack') {
    service = argv[0].slice(4);
    rest = argv.slice(1);
  } else if (argv[0] === 'git' && (argv[1] === 'receive-pack' || argv[1] === 'upload-pack')) {
    service = argv[1];
    rest = argv.slice(2);
  }
  if (service) {
    if (rest.length !== 1)
      throw new GokuError('GOKU_ERR_INVALID_REPO_PATH', 'git needs exactly one repository path');
    return {
      kind: 'git',
      service: service as 'receive-pack' | 'upload-pack',
      app: appFromRepoPath(rest[0] as string),
    };
  }
  return { kind: 'command', argv };
}
