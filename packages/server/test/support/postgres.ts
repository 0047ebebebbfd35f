/**
 * PostgreSQL for tests: where the server is, whether it answers, and a throwaway schema per
 * test file (or per store) so that test files can run in parallel against one database.
 *
 * Policy: the URL comes from `PG_URL` (default `postgres://root@127.0.0.1:5432/test`, trust
 * auth; without `PG_URL` the `postgres` user is tried when `root` is refused). When the server
 * is unreachable, tests are skipped with a clear message, unless `CI=true` or `REQUIRE_PG=1`,
 * where they fail.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { QueryResultRow } from 'pg';
import type { Store } from '../../src/core/store.ts';
import type { GrantRecord } from '../../src/core/types.ts';

const defaultUrl = 'postgres://root@127.0.0.1:5432/test';

/** The PostgreSQL URL tests use; after {@link pgAvailable} it is the candidate that answered. */
export let pgUrl: string = process.env.PG_URL ?? defaultUrl;

/** True when an unreachable PostgreSQL must fail the tests rather than skip them. */
export const pgRequired: boolean = process.env.CI === 'true' || process.env.REQUIRE_PG === '1';

function candidates(): string[] {
  if (process.env.PG_URL) return [process.env.PG_URL];
  return [defaultUrl, 'postgres://postgres@127.0.0.1:5432/test'];
}

let probe: Promise<boolean> | undefined;
let lastError = '';

/** Whether PostgreSQL answers at one of the candidate URLs (checked once per process). */
export function pgAvailable(): Promise<boolean> {
  probe ??= (async () => {
    for (const url of candidates()) {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
      try {
        await client.connect();
        await client.query('SELECT 1');
        pgUrl = url;
        return true;
      } catch (error) {
        lastError = (error as Error).message;
      } finally {
        await client.end().catch(() => {});
      }
    }
    return false;
  })();
  return probe;
}

/**
 * The `node:test` options for PostgreSQL tests: `{}` when it answers, `{ skip }` when it does
 * not; throws instead when it is required (`CI=true` or `REQUIRE_PG=1`).
 *
 * @example
 * ```ts
 * const pgOptions = await pgTestOptions()
 * describe('postgres store', pgOptions, () => { ... })
 * ```
 */
export async function pgTestOptions(): Promise<{ skip?: string }> {
  if (await pgAvailable()) return {};
  const where = candidates().join(' or ');
  if (pgRequired) {
    throw new Error(`PostgreSQL not reachable at ${where} (${lastError}); required because CI=true or REQUIRE_PG=1`);
  }
  return { skip: `PostgreSQL not reachable at ${where} (set REQUIRE_PG=1 to fail instead)` };
}

/** A random schema name for one test file or one store. */
export function randomSchemaName(): string {
  return 'rg_test_' + randomBytes(6).toString('hex');
}

/**
 * Creates a fresh, empty schema; `drop()` removes it with everything in it.
 *
 * @example
 * ```ts
 * const { schema, drop } = await freshSchema()
 * const store = await openPostgresStore(pgUrl, { schema })
 * after(async () => { await store.close(); await drop() })
 * ```
 */
export async function freshSchema(): Promise<{ schema: string; drop(): Promise<void> }> {
  await pgAvailable();
  const schema = randomSchemaName();
  await adminQuery(`CREATE SCHEMA "${schema}"`);
  return {
    schema,
    drop: async () => {
      await adminQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    },
  };
}

/** Runs one statement on a short-lived connection (schema set-up and tear-down, inspection). */
export async function adminQuery<R extends QueryResultRow = QueryResultRow>(
  sql: string,
  params: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/**
 * A new family of client `app` for `alice` on `store`, with its first refresh token (a random
 * hash, live for 600 s): what the PostgreSQL store's own tests rotate.
 */
export async function seedFamily(store: Store): Promise<{ grant: GrantRecord; tokenHash: string }> {
  const t = Math.floor(Date.now() / 1000);
  const grant: GrantRecord = {
    familyId: randomBytes(16).toString('base64url'), clientId: 'app', subject: 'alice', scope: 'openid',
    resources: [], authTime: t, createdAt: t, expiresAt: t + 3600,
  };
  const tokenHash = randomBytes(32).toString('base64url');
  await store.createGrant(grant, { tokenHash, expiresAt: t + 600 });
  return { grant, tokenHash };
}
