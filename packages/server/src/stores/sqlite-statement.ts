/**
 * Statements of the SQLite store, prepared when first run. Preparing the store's sixty-odd
 * statements when it opens took milliseconds that a command which runs once pays in its
 * start-up (`refresh-grant clients list` runs one of them); a server prepares each on its first
 * call instead, and reuses it from then on as before.
 */
import type { DatabaseSync, SQLInputValue, SQLOutputValue, StatementResultingChanges, StatementSync } from 'node:sqlite';

/** What the store runs on a statement: `StatementSync`'s methods with positional parameters. */
export interface Statement {
  run(...parameters: SQLInputValue[]): StatementResultingChanges;
  get(...parameters: SQLInputValue[]): Record<string, SQLOutputValue> | undefined;
  all(...parameters: SQLInputValue[]): Array<Record<string, SQLOutputValue>>;
}

class LazyStatement implements Statement {
  readonly #db: DatabaseSync;
  readonly #sql: string;
  #statement: StatementSync | undefined;

  constructor(db: DatabaseSync, sql: string) {
    this.#db = db;
    this.#sql = sql;
  }

  #prepared(): StatementSync {
    return (this.#statement ??= this.#db.prepare(this.#sql));
  }

  run(...parameters: SQLInputValue[]): StatementResultingChanges {
    return this.#prepared().run(...parameters);
  }

  get(...parameters: SQLInputValue[]): Record<string, SQLOutputValue> | undefined {
    return this.#prepared().get(...parameters);
  }

  all(...parameters: SQLInputValue[]): Array<Record<string, SQLOutputValue>> {
    return this.#prepared().all(...parameters);
  }
}

/**
 * `sql` on `db`, prepared on its first run and reused after.
 *
 * @example
 * ```ts
 * const listClients = lazyStatement(db, 'SELECT client_id FROM clients') // nothing prepared yet
 * listClients.all() // prepares, then runs
 * ```
 */
export function lazyStatement(db: DatabaseSync, sql: string): Statement {
  return new LazyStatement(db, sql);
}
