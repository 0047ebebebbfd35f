/**
 * Opens the store a `--db` value names: a `postgres://` or `postgresql://` URL opens the
 * PostgreSQL store (its `schema` search parameter, if any, names the schema to use instead of
 * `public`), anything else is a SQLite file path.
 */
import type { Store } from '../core/store.ts';

/** True when `db` names a PostgreSQL database. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//.test(db);
}

/**
 * Splits the `schema` search parameter off a PostgreSQL URL: it is ours, not the driver's.
 *
 * @example
 * ```ts
 * postgresSchemaParam('postgres://db/app?schema=auth') // { connectionString: 'postgres://db/app', schema: 'auth' }
 * ```
 */
export function postgresSchemaParam(db: string): { connectionString: string; schema?: string } {
  const url = new URL(db);
  const schema = url.searchParams.get('schema');
  if (schema === null) return { connectionString: db };
  if (schema === '') throw new TypeError('the schema parameter of a PostgreSQL URL must not be empty');
  url.searchParams.delete('schema');
  return { connectionString: url.href, schema };
}

/**
 * Opens a store by its `--db` value.
 *
 * @example
 * ```ts
 * const store = await openStore('./refresh-grant.db')
 * const shared = await openStore('postgres://127.0.0.1:5432/test')
 * const isolated = await openStore('postgres://127.0.0.1:5432/test?schema=tenant_a')
 * ```
 */
export async function openStore(db: string): Promise<Store> {
  if (isPostgresUrl(db)) {
    const { openPostgresStore } = await import('./postgres-store.ts');
    const { connectionString, schema } = postgresSchemaParam(db);
    return openPostgresStore(connectionString, schema === undefined ? {} : { schema });
  }
  const { openSqliteStore } = await import('./sqlite-store.ts');
  return openSqliteStore(db);
}

/** The default KEK file for a `--db` value: beside a SQLite file, else in the working directory. */
export function defaultKekFile(db: string): string {
  return isPostgresUrl(db) ? 'refresh-grant.kek' : `${db}.kek`;
}
