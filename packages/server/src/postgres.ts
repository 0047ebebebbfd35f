/**
 * @refresh-grant/server/postgres: the store for many instances, on PostgreSQL through `pg`
 * (an optional peer dependency: install it beside the server to use this entry).
 *
 * @example
 * ```ts
 * import { openPostgresStore } from '@refresh-grant/server/postgres'
 * const store = await openPostgresStore('postgres://app@db/refresh_grant', { poolSize: 20 })
 * ```
 *
 * @packageDocumentation
 * @module @refresh-grant/server/postgres
 */
export { openPostgresStore, PostgresStore, type PostgresStoreOptions } from './stores/postgres-store.ts';
