/**
 * Opens the store a `--db` value names: a `postgres://` or `postgresql://` URL opens the
 * PostgreSQL store, anything else is a SQLite file path.
 */
import type { Store } from '../core/store.ts';

/** True when `db` names a PostgreSQL database. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//.test(db);
}

/**
 * Opens a store by its `--db` value.
 *
 * @example
 * ```ts
 * const store = await openStore('./refresh-grant.db')
 * const shared = await openStore('postgres://127.0.0.1:5432/test')
 * ```
 */
export async function openStore(db: string): Promise<Store> {
  if (isPostgresUrl(db)) {
    const { openPostgresStore } = await import('./postgres-store.ts');
    return openPostgresStore(db);
  }
  const { openSqliteStore } = await import('./sqlite-store.ts');
  return openSqliteStore(db);
}

/** The default KEK file for a `--db` value: beside a SQLite file, else in the working directory. */
export function defaultKekFile(db: string): string {
  return isPostgresUrl(db) ? 'refresh-grant.kek' : `${db}.kek`;
}
