/**
 * @refresh-grant/server/sqlite: the embedded store on Node's built-in `node:sqlite`, one file
 * in WAL mode. The default store of `refresh-grant serve`.
 *
 * @example
 * ```ts
 * import { openSqliteStore } from '@refresh-grant/server/sqlite'
 * const store = await openSqliteStore('./refresh-grant.db')
 * ```
 *
 * @packageDocumentation
 * @module @refresh-grant/server/sqlite
 */
export { openSqliteStore, SqliteStore, type SqliteStoreOptions } from './stores/sqlite-store.ts';
