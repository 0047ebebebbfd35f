/**
 * The PostgreSQL schema as versioned migrations, applied on open by {@link migrate}.
 *
 * Every migration runs in one transaction that first takes a transaction-scoped advisory
 * lock, so several server instances starting together against a fresh database apply each
 * migration exactly once; the others wait, then find nothing left to do.
 */
import type { PoolClient } from 'pg';

/** One schema change; `sql` receives the quoted schema name to qualify every object with. */
export interface Migration {
  version: number;
  name: string;
  sql(schema: string): string;
}

/** First key of the advisory lock held while migrating ("rgmg"); the second is the schema's hash. */
export const migrationLockKey = 0x72676d67;

/** Name of the table recording applied migrations. */
export const migrationsTable = 'refresh_grant_migrations';

/** Every migration, in order. Append only: never edit one that has shipped. */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'initial',
    sql: (s) => `
      CREATE TABLE ${s}.clients (
        client_id text PRIMARY KEY,
        auth_method text NOT NULL,
        secret_hash text,
        secret_sealed text,
        jwks jsonb,
        jwks_uri text,
        scope text NOT NULL,
        resources jsonb NOT NULL,
        rotation boolean NOT NULL,
        retry_window integer NOT NULL,
        idle_ttl bigint NOT NULL,
        absolute_ttl bigint NOT NULL,
        access_token_ttl bigint NOT NULL,
        access_token_format text NOT NULL,
        id_token_ttl bigint NOT NULL,
        created_at bigint NOT NULL
      );

      CREATE TABLE ${s}.grants (
        family_id text PRIMARY KEY,
        seq bigserial NOT NULL,
        client_id text NOT NULL,
        subject text NOT NULL,
        scope text NOT NULL,
        resources jsonb NOT NULL,
        auth_time bigint NOT NULL,
        id_token_claims jsonb,
        dpop_jkt text,
        created_at bigint NOT NULL,
        expires_at bigint NOT NULL,
        revoked_at bigint,
        revoked_reason text
      );
      CREATE INDEX grants_subject ON ${s}.grants (subject);
      CREATE INDEX grants_client_id ON ${s}.grants (client_id);
      CREATE INDEX grants_expires_at ON ${s}.grants (expires_at);

      CREATE TABLE ${s}.refresh_tokens (
        token_hash text PRIMARY KEY,
        family_id text NOT NULL REFERENCES ${s}.grants (family_id) ON DELETE CASCADE,
        generation integer NOT NULL,
        created_at bigint NOT NULL,
        expires_at bigint NOT NULL,
        state text NOT NULL CHECK (state IN ('active', 'rotated')),
        rotated_at bigint,
        successor_hash text,
        successor_sealed text,
        -- One token per generation: a family can never fork, whatever the callers do.
        UNIQUE (family_id, generation)
      );

      CREATE TABLE ${s}.spent (
        namespace text NOT NULL,
        key text NOT NULL,
        expires_at bigint NOT NULL,
        PRIMARY KEY (namespace, key)
      );
      CREATE INDEX spent_expires_at ON ${s}.spent (expires_at);

      CREATE TABLE ${s}.opaque_access_tokens (
        token_hash text PRIMARY KEY,
        jti text NOT NULL,
        family_id text NOT NULL,
        client_id text NOT NULL,
        subject text NOT NULL,
        scope text NOT NULL,
        audience jsonb NOT NULL,
        issued_at bigint NOT NULL,
        expires_at bigint NOT NULL,
        jkt text
      );
      CREATE INDEX opaque_access_tokens_expires_at ON ${s}.opaque_access_tokens (expires_at);

      CREATE TABLE ${s}.revoked_access_tokens (
        jti text PRIMARY KEY,
        expires_at bigint NOT NULL
      );
      CREATE INDEX revoked_access_tokens_expires_at ON ${s}.revoked_access_tokens (expires_at);

      CREATE TABLE ${s}.signing_keys (
        kid text PRIMARY KEY,
        seq bigserial NOT NULL,
        alg text NOT NULL,
        public_jwk jsonb NOT NULL,
        private_sealed text NOT NULL,
        created_at bigint NOT NULL,
        retired_at bigint,
        remove_after bigint
      );
    `,
  },
  {
    version: 2,
    name: 'refresh token lifecycle',
    // DPoP binding on proof, replay bookkeeping (shadowing detection), last use of kept tokens,
    // per-client client assertion lifetime.
    sql: (s) => `
      ALTER TABLE ${s}.grants ADD COLUMN dpop_bound_from integer,
        ADD COLUMN replay_generation integer, ADD COLUMN replayed_at bigint;
      ALTER TABLE ${s}.refresh_tokens ADD COLUMN used_at bigint;
      ALTER TABLE ${s}.clients ADD COLUMN assertion_max_lifetime integer;
    `,
  },
  {
    version: 3,
    name: 'authorization code flow',
    // NULL client columns: the field is absent (no redirect URIs, default grant types, no PAR rule).
    sql: (s) => `
      ALTER TABLE ${s}.clients
        ADD COLUMN redirect_uris jsonb,
        ADD COLUMN grant_types jsonb,
        ADD COLUMN require_par boolean,
        ADD COLUMN jwt_bearer_issuers jsonb;

      CREATE TABLE ${s}.authorization_codes (
        code_hash text PRIMARY KEY,
        client_id text NOT NULL,
        redirect_uri text NOT NULL,
        code_challenge text NOT NULL,
        subject text NOT NULL,
        scope text NOT NULL,
        resources jsonb NOT NULL,
        auth_time bigint NOT NULL,
        nonce text,
        id_token_claims jsonb,
        dpop_jkt text,
        family_id text NOT NULL,
        created_at bigint NOT NULL,
        expires_at bigint NOT NULL,
        used_at bigint
      );
      CREATE INDEX authorization_codes_expires_at ON ${s}.authorization_codes (expires_at);

      CREATE TABLE ${s}.pushed_authorization_requests (
        key text PRIMARY KEY,
        request jsonb NOT NULL,
        expires_at bigint NOT NULL
      );
      CREATE INDEX pushed_authorization_requests_expires_at ON ${s}.pushed_authorization_requests (expires_at);

      CREATE TABLE ${s}.consents (
        client_id text NOT NULL,
        subject text NOT NULL,
        scope text NOT NULL,
        granted_at bigint NOT NULL,
        PRIMARY KEY (client_id, subject)
      );
    `,
  },
  {
    version: 4,
    name: 'client introspection permission',
    sql: (s) => `ALTER TABLE ${s}.clients ADD COLUMN introspection boolean NOT NULL DEFAULT false;`,
  },
];

/** Quotes an SQL identifier. */
export function quoteIdent(name: string): string {
  return '"' + name.replaceAll('"', '""') + '"';
}

/**
 * Brings `schema` up to date on `client` (which must not be in a transaction): creates the
 * schema if missing and applies every pending migration, under an advisory lock.
 * Returns the versions this call applied (empty when another instance already did).
 *
 * @example
 * ```ts
 * const client = await pool.connect()
 * try { await migrate(client, 'public') } finally { client.release() }
 * ```
 */
export async function migrate(client: PoolClient, schema: string): Promise<number[]> {
  const s = quoteIdent(schema);
  const applied: number[] = [];
  await client.query('BEGIN');
  try {
    // Serializes concurrent starters per schema; released at COMMIT or ROLLBACK.
    await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [migrationLockKey, schema]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${s}.${migrationsTable} (
         version integer PRIMARY KEY,
         name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${s}.${migrationsTable}`);
    const done = new Set(rows.map((row) => row.version));
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      await client.query(migration.sql(s));
      await client.query(`INSERT INTO ${s}.${migrationsTable} (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
      applied.push(migration.version);
    }
    await client.query('COMMIT');
    return applied;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}
