/**
 * `refresh-grant keys rotate|list`: signing key rotation without downtime. The new key is
 * published at once and signs after `--activate-after` seconds (default 120): running servers
 * reload their key ring on SIGHUP or every minute, so all of them publish it before it signs.
 */
import { parseArgs } from 'node:util';
import { commonOptions, openServer, seconds, table, UsageError, type CliIo } from './common.ts';

export const keysUsage = `Usage:
  refresh-grant keys rotate [--activate-after SECONDS] [--db FILE|URL] [--json]
  refresh-grant keys list [--db FILE|URL] [--json]
`;

/** Runs `keys <sub>`; returns the exit code. */
export async function keysCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  const { values } = parseArgs({ args: rest, options: { ...commonOptions, 'activate-after': { type: 'string' } } });
  if (values.help) return io.stdout(keysUsage), 0;
  if (sub !== 'rotate' && sub !== 'list') throw new UsageError(`unknown keys command: ${sub ?? '(none)'}`);
  const { store, server } = await openServer(values);
  try {
    if (sub === 'rotate') {
      const { kid, activatesAt } = await server.rotateKeys({ activateAfter: seconds('activate-after', values['activate-after']) });
      const when = new Date(activatesAt * 1000).toISOString();
      io.stdout(values.json ? JSON.stringify({ kid, activates_at: activatesAt }) + '\n' : `new signing key: ${kid} (published now, signs from ${when})\n`);
      return 0;
    }
    const rows = (await store.listSigningKeys()).map((k) => ({ kid: k.kid, alg: k.alg, created_at: k.createdAt, retired_at: k.retiredAt, remove_after: k.removeAfter }));
    io.stdout(values.json ? JSON.stringify(rows) + '\n' : table(rows));
    return 0;
  } finally {
    await store.close();
  }
}
