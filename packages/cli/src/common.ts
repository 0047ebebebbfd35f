/**
 * What every CLI command shares: the `--db`/`--kek-file`/`--issuer` options, opening the
 * store and the server, and output in readable or `--json` form.
 */
import type { ParseArgsConfig } from 'node:util';
import { createAuthorizationServer, type AuthorizationServer, type Store } from '@refresh-grant/server';
import { defaultKekFile, openStore } from './open-store.ts';

/** Where a command writes. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** A CLI usage error: printed with the usage text, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Options every command accepts. */
export const commonOptions = {
  db: { type: 'string' },
  'kek-file': { type: 'string' },
  issuer: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} satisfies ParseArgsConfig['options'];

/** Default database: `REFRESH_GRANT_DB` or `./refresh-grant.db`. */
export function dbOption(value: string | undefined): string {
  return value ?? process.env.REFRESH_GRANT_DB ?? './refresh-grant.db';
}

/** Default issuer: `REFRESH_GRANT_ISSUER` or the default listen address. */
export function issuerOption(value: string | undefined): string {
  return value ?? process.env.REFRESH_GRANT_ISSUER ?? 'http://127.0.0.1:8080';
}

/** Opens the store and a server over it; the caller closes the store. */
export async function openServer(values: { db?: string; 'kek-file'?: string; issuer?: string }, log = false): Promise<{ store: Store; server: AuthorizationServer }> {
  const db = dbOption(values.db);
  const store = await openStore(db);
  try {
    const server = await createAuthorizationServer({
      issuer: issuerOption(values.issuer),
      store,
      kek: { file: values['kek-file'] ?? defaultKekFile(db) },
      log: log ? undefined : false,
    });
    return { store, server };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** Parses a whole number of seconds. */
export function seconds(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} must be a whole number of seconds`);
  return Number(value);
}

/** Parses on/off. */
export function onOff(name: string, value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (value !== 'on' && value !== 'off') throw new UsageError(`--${name} must be on or off`);
  return value === 'on';
}

/** Prints a table of rows as aligned columns. */
export function table(rows: Array<Record<string, string | number | undefined>>): string {
  if (rows.length === 0) return '(none)\n';
  const keys = Object.keys(rows[0]);
  const widths = keys.map((k) => Math.max(k.length, ...rows.map((r) => String(r[k] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd() + '\n';
  return line(keys) + rows.map((r) => line(keys.map((k) => String(r[k] ?? '')))).join('');
}
