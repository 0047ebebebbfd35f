/**
 * What the store commands share: opening the store (and, for commands that sign or seal, a
 * server over it) from `--db` and `--kek-file`, and printing tables and times readably.
 */
import type { AuthorizationServer, Store } from '@refresh-grant/server';
import { defaultKekFile, openStore } from './open-store.ts';
import type { Options } from './options.ts';

/** The default issuer of the commands that are not `serve`: the default listen address. */
export const defaultIssuer = 'http://127.0.0.1:8080';

/** Runs `work` with the store `--db` names, and closes it. */
export async function withStore<T>(options: Options, work: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(options.required('db'));
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/**
 * Runs `work` with a server over the store (for what needs the key-encryption key or the signing
 * keys: secrets, grants, keys), and closes both. The server logs nothing.
 */
export async function withServer<T>(options: Options, work: (server: AuthorizationServer, store: Store) => Promise<T>): Promise<T> {
  const db = options.required('db');
  const { createAuthorizationServer } = await import('@refresh-grant/server');
  return withStore(options, async (store) => {
    const server = await createAuthorizationServer({
      issuer: options.string('issuer') ?? defaultIssuer,
      store,
      kek: { file: options.string('kek-file') ?? defaultKekFile(db) },
      log: false,
    });
    try {
      return await work(server, store);
    } finally {
      await server.close();
    }
  });
}

/** A time (seconds since the epoch) for people: `2026-11-28 03:21:45 UTC`; '' when absent. */
export function time(seconds: number | undefined): string {
  if (seconds === undefined || seconds === null) return '';
  return new Date(seconds * 1000).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC');
}

/** A duration in seconds for people: `90 days`, `14 days`, `15 min`, `30 s`. */
export function duration(seconds: number): string {
  if (seconds !== 0 && seconds % 86_400 === 0) return `${seconds / 86_400} day${seconds === 86_400 ? '' : 's'}`;
  if (seconds !== 0 && seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds !== 0 && seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** Rows as aligned columns under a header line; `(none)` for no rows. */
export function table(rows: Array<Record<string, string | number | undefined>>): string {
  if (rows.length === 0) return '(none)\n';
  const keys = Object.keys(rows[0]);
  const widths = keys.map((k) => Math.max(k.length, ...rows.map((r) => String(r[k] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd() + '\n';
  return line(keys) + rows.map((r) => line(keys.map((k) => String(r[k] ?? '')))).join('');
}

/** `name: value` lines, aligned. */
export function fields(entries: Array<[string, string | number | undefined]>): string {
  const shown = entries.filter(([, v]) => v !== undefined && v !== '');
  const width = Math.max(...shown.map(([k]) => k.length)) + 2;
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}\n`).join('');
}
