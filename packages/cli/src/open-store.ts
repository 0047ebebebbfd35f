/**
 * Opens the store a `--db` value names: a `postgres://` or `postgresql://` URL opens the
 * PostgreSQL store (its `schema` search parameter, if any, names the schema to use instead of
 * `public`; `pool_size` sets the connection pool per instance; `max_batch` and
 * `batches_in_flight` tune its group commit), anything else is a SQLite file path.
 */
import type { Store } from '@refresh-grant/server';

/** True when `db` names a PostgreSQL database. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//.test(db);
}

/** Our own parameters of a PostgreSQL URL, as store options. */
export interface PostgresUrlOptions {
  connectionString: string;
  schema?: string;
  poolSize?: number;
  maxBatch?: number;
  maxBatchesInFlight?: number;
}

/** Our whole-number URL parameters: name, option, upper bound. */
const numberParams = [
  ['pool_size', 'poolSize', 9999],
  ['max_batch', 'maxBatch', 9999],
  ['batches_in_flight', 'maxBatchesInFlight', 9999],
] as const;

/**
 * Splits our own search parameters (`schema`, `pool_size`, `max_batch`, `batches_in_flight`)
 * off a PostgreSQL URL; the rest is the driver's.
 *
 * @example
 * ```ts
 * postgresSchemaParam('postgres://db/app?schema=auth&pool_size=20')
 * // { connectionString: 'postgres://db/app', schema: 'auth', poolSize: 20 }
 * ```
 */
export function postgresSchemaParam(db: string): PostgresUrlOptions {
  const url = new URL(db);
  const ours = ['schema', ...numberParams.map(([name]) => name)];
  if (!ours.some((name) => url.searchParams.has(name))) return { connectionString: db };
  const out: PostgresUrlOptions = { connectionString: '' };
  const schema = url.searchParams.get('schema');
  if (schema !== null) {
    if (schema === '') throw new TypeError('the schema parameter of a PostgreSQL URL must not be empty');
    out.schema = schema;
    url.searchParams.delete('schema');
  }
  for (const [name, option, max] of numberParams) {
    const value = url.searchParams.get(name);
    if (value === null) continue;
    if (!/^[1-9]\d{0,3}$/.test(value) || Number(value) > max) throw new TypeError(`${name} must be a whole number from 1 to ${max}`);
    out[option] = Number(value);
    url.searchParams.delete(name);
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
