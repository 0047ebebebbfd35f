/**
 * The `refresh-grant` command line: finds the command in the table (`commands.ts`), parses its
 * options, loads its implementation and runs it.
 *
 * Errors go to stderr as one line: a usage error (exit 2) adds where to read more
 * (`see: refresh-grant clients add --help`); a failure (exit 1) is just what went wrong.
 */
import { commands, exitCodesHelp, groups } from './commands.ts';
import { commandHelp, parseOptions, UsageError, type CliIo, type CommandSpec } from './options.ts';

// Not `import { readFileSync } from 'node:fs'`: building fs's ES module namespace loads its
// streams, promises and watchers (read by its lazy members), which no command needs at start.
const { readFileSync } = process.getBuiltinModule('node:fs');

/** The version of this package. */
export function version(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

const isHelp = (arg: string | undefined) => arg === '--help' || arg === '-h';

/** The top-level help: every command with its summary. */
export function topHelp(): string {
  const rows: Array<[string, string]> = [];
  for (const spec of commands) rows.push([spec.path.join(' '), spec.summary]);
  const width = Math.max(...rows.map(([name]) => name.length));
  return `refresh-grant: an OAuth 2.0 refresh token server (SQLite or PostgreSQL) and client.

Usage: refresh-grant COMMAND [options]

Commands:
${rows.map(([name, summary]) => `  ${name.padEnd(width)}  ${summary}`).join('\n')}

  refresh-grant COMMAND --help    the options of a command
  refresh-grant --version         the version

Every option of serve can also be set with an environment variable (REFRESH_GRANT_*, see serve --help).
${exitCodesHelp} refresh has its own (see refresh --help).
`;
}

/** The help of a group (`clients`, `grants`, `keys`): its subcommands. */
function groupHelp(group: string): string {
  const subs = commands.filter((c) => c.path[0] === group && c.path.length > 1);
  const width = Math.max(...subs.map((c) => c.path[1].length));
  return `Usage: refresh-grant ${group} ${subs.map((c) => c.path[1]).join('|')} [options]

${groups[group]}

Commands:
${subs.map((c) => `  ${c.path[1].padEnd(width)}  ${c.summary}`).join('\n')}

  refresh-grant ${group} COMMAND --help    the options of a command
`;
}

/** Finds the command `argv` names; the rest are its arguments. */
function resolve(argv: string[]): { spec: CommandSpec; args: string[] } | { help: string; code: number } {
  const [first, second, ...rest] = argv;
  if (first === undefined) return { help: topHelp(), code: 2 };
  if (isHelp(first)) return { help: topHelp(), code: 0 };
  if (first === 'help') {
    const named = resolve([...argv.slice(1), '--help']);
    return 'spec' in named ? { help: commandHelp(named.spec), code: 0 } : named.code === 2 ? { help: topHelp(), code: 0 } : named;
  }
  if (Object.hasOwn(groups, first)) {
    if (second === undefined) throw new UsageError(`${first} needs a command`, [first]);
    if (isHelp(second)) return { help: groupHelp(first), code: 0 };
    const spec = commands.find((c) => c.path[0] === first && c.path[1] === second);
    if (!spec) throw new UsageError(`unknown ${first} command: ${second}`, [first]);
    return { spec, args: rest };
  }
  const spec = commands.find((c) => c.path.length === 1 && c.path[0] === first);
  if (!spec) throw new UsageError(`unknown command: ${first}`, []);
  return { spec, args: argv.slice(1) };
}

/**
 * Runs the CLI with `argv` (without node and script); resolves with the exit code.
 *
 * @example
 * ```ts
 * const code = await main(['clients', 'list', '--json'], { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) })
 * ```
 */
export async function main(argv: string[], io: CliIo, env: Record<string, string | undefined> = process.env): Promise<number> {
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V' || argv[0] === 'version')) {
    io.stdout(`${version()}\n`);
    return 0;
  }
  let path: string[] = [];
  try {
    const found = resolve(argv);
    if ('help' in found) {
      (found.code === 0 ? io.stdout : io.stderr)(found.help);
      return found.code;
    }
    path = found.spec.path;
    const options = parseOptions(found.spec, found.args, env);
    if (options === 'help') {
      io.stdout(commandHelp(found.spec));
      return 0;
    }
    const run = await found.spec.load();
    return await run(options, io);
  } catch (error) {
    if (error instanceof UsageError) {
      const where = error.command ?? path;
      io.stderr(`refresh-grant: ${error.message}\nsee: ${['refresh-grant', ...where, '--help'].join(' ')}\n`);
      return 2;
    }
    io.stderr(`refresh-grant: ${oneLine(error)}\n`);
    return 1;
  }
}

/** A failure as one line: its message, and its cause's when that says more. */
function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : undefined;
  return (cause && !message.includes(cause) ? `${message} (${cause})` : message).replace(/\s*\n\s*/g, ' ');
}

/** Runs the CLI on this process's arguments and sets its exit code (what the `refresh-grant` bin calls). */
export async function run(): Promise<void> {
  const io: CliIo = { stdout: (s) => void process.stdout.write(s), stderr: (s) => void process.stderr.write(s) };
  process.exitCode = await main(process.argv.slice(2), io);
}
