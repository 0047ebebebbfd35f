/**
 * The SQLite store's client records in memory. Client records are read on every request, and
 * rarely change: they are kept in memory for as long as `PRAGMA data_version` shows that no
 * other connection (the CLI, another server process) committed anything, and dropped on this
 * connection's own client writes. So a change made anywhere is seen by every request of the
 * next turn of the event loop, exactly as without the cache; the check (a read transaction,
 * 6-8 µs under load) runs once per turn.
 */
import type { ClientRecord } from '../core/types.ts';
import { toClient, type Row } from './sqlite-rows.ts';
import type { Statements } from './sqlite-statements.ts';

/** Most client records kept in memory. */
const maxCachedClients = 1024;

/**
 * Client records of one connection, checked against `data_version` once per turn of the
 * event loop. The store calls {@link clear} before its own client writes.
 *
 * @example
 * ```ts
 * const clients = new SqliteClientCache(statements)
 * const client = clients.get('app') // a copy; undefined if there is no such client
 * ```
 */
export class SqliteClientCache {
  readonly #s: Statements;
  /** Client records (null: no such client) read at `data_version` {@link #clientsVersion}. */
  readonly #clients = new Map<string, ClientRecord | null>();
  #clientsVersion = -1;
  /** True while the current turn of the event loop has checked `data_version`. */
  #clientsChecked = false;

  /** Reads through the prepared statements of the store's connection. */
  constructor(statements: Statements) {
    this.#s = statements;
  }

  /** The client record (a copy the caller may change), read from the file if not held. */
  get(clientId: string): ClientRecord | undefined {
    if (!this.#clientsChecked) {
      // Once per turn of the event loop: the requests that arrived together share one check.
      this.#clientsChecked = true;
      setImmediate(() => (this.#clientsChecked = false));
      const version = (this.#s.dataVersion.get() as { data_version: number }).data_version;
      if (version !== this.#clientsVersion) {
        this.#clients.clear();
        this.#clientsVersion = version;
      }
    }
    let client = this.#clients.get(clientId);
    if (client === undefined) {
      const row = this.#s.getClient.get(clientId) as Row | undefined;
      client = row ? toClient(row) : null;
      if (this.#clients.size >= maxCachedClients) this.#clients.clear();
      this.#clients.set(clientId, client);
    }
    return client === null ? undefined : { ...client };
  }

  /** Drops every record held (before a client write of this connection). */
  clear(): void {
    this.#clients.clear();
  }
}
