/**
 * Opens the store a `--db` value names: a `postgres://` or `postgresql://` URL opens the
 * PostgreSQL store (its `schema` search parameter, if any, names the schema to use instead of
 * `public`; `pool_size` sets the connection pool per instance), anything else is a SQLite file
 * path.
 */
import type { Store } from '@refresh-grant/server';

/** True when `db` names a PostgreSQL database. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//.test(db);
}

/**
 * Splits our own search parameters (`schema`, `pool_size`) off a PostgreSQL URL; the rest is
 * the driver's.
 *
 * @example
 * ```ts
 * postgresSchemaParam('postgres://db/app?schema=auth&pool_size=20')
 * // { connectionString: 'postgres://db/app', schema: 'auth', poolSize: 20 }
 * ```
 */
export function postgresSchemaParam(db: string): { connectionString: string; schema?: string; poolSize?: number } {
  const url = new URL(db);
  const schema = url.searchParams.get('schema');
  const poolSize = url.searchParams.get('pool_size');
  if (schema === null && poolSize === null) return { connectionString: db };
  const out: { connectionString: string; schema?: string; poolSize?: number } = { connectionString: '' };
  if (schema !== null) {
    if (schema === '') throw new TypeError('the schema parameter of a PostgreSQL URL must not be empty');
    out.schema = schema;
    url.searchParams.delete('schema');
  }
  if (poolSize !== null) {
    if (!/^[1-9]\d{0,3}$/.test(poolSize)) throw new TypeError('pool_size must be a whole number from 1 to 9999');
    out.poolSize = Number(poolSize);
    url.searchParams.delete('pool_size');
  }
  out.connectionString = url.href;
  return out;
}

/**
 * Opens a store by its `--db` value; `server: true` for `serve` (background checkpoints and
 * purge), else for a command that runs once.
 *
 * @example
 * ```ts
 * const store = await openStore('./refresh-grant.db')
 * const shared = await openStore('postgres://127.0.0.1:5432/test')
 * const isolated = await openStore('postgres://127.0.0.1:5432/test?schema=tenant_a')
 * ```
 */
export async function openStore(db: string, use: { server?: boolean } = {}): Promise<Store> {
  if (isPostgresUrl(db)) {
    const { openPostgresStore } = await import('@refresh-grant/server/postgres');
    const { connectionString, ...options } = postgresSchemaParam(db);
    // A command that runs once leaves the background purge to the servers.
    return openPostgresStore(connectionString, use.server ? options : { ...options, purgeIntervalMs: 0 });
  }
  const { openSqliteStore } = await import('@refresh-grant/server/sqlite');
  // Only a server checkpoints in the background; a command that runs once starts faster without.
  return openSqliteStore(db, { backgroundCheckpoints: use.server === true });
}

/** The default KEK file for a `--db` value: beside a SQLite file, else in the working directory. */
export function defaultKekFile(db: string): string {
  return isPostgresUrl(db) ? 'refresh-grant.kek' : `${db}.kek`;
}
