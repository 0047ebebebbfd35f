/**
 * The `refresh-grant` command line: `serve`, `clients`, `grants`, `keys`, `refresh`.
 * Errors go to stderr with a non-zero exit code: 2 for usage errors, 1 otherwise.
 */
import { clientsCommand, clientsUsage } from './clients-command.ts';
import { UsageError, type CliIo } from './common.ts';
import { grantsCommand, grantsUsage } from './grants-command.ts';
import { keysCommand, keysUsage } from './keys-command.ts';
import { serveCommand, serveUsage } from './serve-command.ts';

const usage = `refresh-grant: the OAuth 2.0 refresh token grant, server and client.

${serveUsage}
${clientsUsage}
${grantsUsage}
${keysUsage}
Usage:
  refresh-grant refresh --issuer URL --client-id ID [--client-secret S | --private-key FILE] [--auth-method M]
      --refresh-token RT [--scope "..."] [--resource URI]... [--json]
`;

const commands: Record<string, (args: string[], io: CliIo) => Promise<number>> = {
  serve: serveCommand,
  clients: clientsCommand,
  grants: grantsCommand,
  keys: keysCommand,
  // Loaded on use: only `refresh` needs the client library.
  refresh: async (args, io) => (await import('./refresh-command.ts')).refreshCommand(args, io),
};

/** Runs the CLI with `argv` (without node and script); resolves with the exit code. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(usage);
    return name === undefined ? 2 : 0;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  try {
    if (!command) throw new UsageError(`unknown command: ${name}`);
    return await command(rest, io);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`refresh-grant: ${(err as Error).message}\n\n${usage}`);
      return 2;
    }
    io.stderr(`refresh-grant: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

/** Runs the CLI on this process's arguments and sets its exit code (what the `refresh-grant` bin calls). */
export async function run(): Promise<void> {
  const io: CliIo = { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) };
  process.exitCode = await main(process.argv.slice(2), io);
}
