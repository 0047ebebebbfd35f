/**
 * Databases for end-to-end tests, named the way `serve --db` takes them, with a way to look
 * under the store's interface (how many refresh tokens each family holds) and to clean up.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { adminQuery, pgUrl, randomSchemaName } from '../../support/postgres.ts';

/** A database a `serve` process and the test can both open. */
export interface TestDatabase {
  /** The `--db` value. */
  db: string;
  /** Refresh token rows per family id, read straight from the tables. */
  tokensPerFamily(): Promise<Map<string, number>>;
  /** Removes what the database created (the caller removes the temp directory). */
  drop(): Promise<void>;
}

/** A SQLite file in `dir`. */
export function sqliteDatabase(dir: string): TestDatabase {
  const db = join(dir, 'refresh-grant.db');
  return {
    db,
    async tokensPerFamily() {
      const sqlite = new DatabaseSync(db, { readOnly: true });
      try {
        const rows = sqlite.prepare('SELECT family_id, count(*) AS n FROM refresh_tokens GROUP BY family_id').all();
        return new Map(rows.map((row) => [String(row.family_id), Number(row.n)]));
      } finally {
        sqlite.close();
      }
    },
    async drop() {},
  };
}

/**
 * A fresh schema in the test PostgreSQL database, named by the `schema` parameter of the
 * `--db` URL, so that test files running at once never see each other's rows.
 * Call after `pgTestOptions()` said PostgreSQL answers.
 */
export function postgresDatabase(): TestDatabase {
  const schema = randomSchemaName();
  const url = new URL(pgUrl);
  url.searchParams.set('schema', schema);
  return {
    db: url.href,
    async tokensPerFamily() {
      const rows = await adminQuery<{ family_id: string; n: string }>(
        `SELECT family_id, count(*) AS n FROM "${schema}".refresh_tokens GROUP BY family_id`,
      );
      return new Map(rows.map((row) => [row.family_id, Number(row.n)]));
    },
    async drop() {
      await adminQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    },
  };
}

/**
 * Writes a fresh key-encryption key file (0600), as an operator distributes one KEK to every
 * instance before starting them.
 */
export function writeKekFile(dir: string): string {
  const file = join(dir, 'refresh-grant.kek');
  writeFileSync(file, randomBytes(32).toString('base64url') + '\n', { mode: 0o600 });
  return file;
}
