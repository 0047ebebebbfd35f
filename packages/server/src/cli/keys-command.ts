/**
 * `refresh-grant keys rotate|list`: signing key rotation without downtime. Running servers
 * pick up the new key when they reload their key ring (on SIGHUP, or every minute).
 */
import { parseArgs } from 'node:util';
import { commonOptions, openServer, table, UsageError, type CliIo } from './common.ts';

export const keysUsage = `Usage:
  refresh-grant keys rotate [--db FILE|URL] [--json]
  refresh-grant keys list [--db FILE|URL] [--json]
`;

/** Runs `keys <sub>`; returns the exit code. */
export async function keysCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  const { values } = parseArgs({ args: rest, options: commonOptions });
  if (values.help) return io.stdout(keysUsage), 0;
  if (sub !== 'rotate' && sub !== 'list') throw new UsageError(`unknown keys command: ${sub ?? '(none)'}`);
  const { store, server } = await openServer(values);
  try {
    if (sub === 'rotate') {
      const { kid } = await server.rotateKeys();
      io.stdout(values.json ? JSON.stringify({ kid }) + '\n' : `new signing key: ${kid}\n`);
      return 0;
    }
    const rows = (await store.listSigningKeys()).map((k) => ({ kid: k.kid, alg: k.alg, created_at: k.createdAt, retired_at: k.retiredAt, remove_after: k.removeAfter }));
    io.stdout(values.json ? JSON.stringify(rows) + '\n' : table(rows));
    return 0;
  } finally {
    await store.close();
  }
}
