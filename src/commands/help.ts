import type { Command } from './types.js';

/** help needs the table it describes; the table is passed in to avoid an import cycle. */
export function helpCommand(all: () => Command[], unknown: (name: string) => Error): Command {
  return {
    name: 'help',
    usage: 'help [COMMAND]',
    summary: 'Show the commands, or the help of one command',
    help: 'Without an argument lists every command; with one shows its usage and description.',
    args: { min: 0, max: 1 },
    local: true,
    run({ args, io }) {
      const list = all();
      if (args[0]) {
        const c = list.find((x) => x.name === args[0] || x.aliases?.includes(args[0] as string));
        if (!c) throw unknown(args[0]);
        const also = c.aliases?.length ? `\nAlso: ${c.aliases.map((a) => `goku ${a}`).join(', ')}\n` : '';
        io.out(`Usage: goku ${c.usage}\n\n${c.summary}.\n${c.help}\n${also}`);
        return 0;
      }
      const width = Math.max(...list.map((c) => c.usage.length));
      io.out(
        [
          'Usage: goku COMMAND [ARGS]   (on the server, or: ssh -p 2222 git@HOST COMMAND [ARGS] with an admin key)',
          '',
          'Commands:',
          ...list.map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`),
          `  ${'--version'.padEnd(width)}  Print goku's version`,
          '',
          'Deploy: git remote add goku ssh://git@HOST:2222/APP && git push goku master',
          '',
        ].join('\n'),
      );
      return 0;
    },
  };
}
