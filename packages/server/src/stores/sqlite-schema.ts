/**
 * The SQLite schema as an ordered list of migrations. Migration `n` (1-based) takes a file
 * from `PRAGMA user_version = n - 1` to `n`; {@link migrate} applies the missing ones inside
 * `BEGIN IMMEDIATE`, so two processes opening a new file at once cannot both apply them.
 *
 * Only hashes of refresh tokens and opaque access tokens are stored, never the tokens.
 */
import type { DatabaseSync } from 'node:sqlite';

/** Migration scripts, in order; never edit a published one, append a new one. */
export const sqliteMigrations: readonly string[] = [
  `
  CREATE TABLE clients (
    client_id TEXT PRIMARY KEY,
    auth_method TEXT NOT NULL,
    secret_hash TEXT,
    secret_sealed TEXT,
    jwks TEXT,
    jwks_uri TEXT,
    scope TEXT NOT NULL,
    resources TEXT NOT NULL,
    rotation INTEGER NOT NULL,
    retry_window INTEGER NOT NULL,
    idle_ttl INTEGER NOT NULL,
    absolute_ttl INTEGER NOT NULL,
    access_token_ttl INTEGER NOT NULL,
    access_token_format TEXT NOT NULL,
    id_token_ttl INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;

  -- No foreign key to clients: a grant outlives its client as a revoked tombstone.
  CREATE TABLE grants (
    family_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    scope TEXT NOT NULL,
    resources TEXT NOT NULL,
    auth_time INTEGER NOT NULL,
    id_token_claims TEXT,
    dpop_jkt TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    revoked_reason TEXT
  ) STRICT;
  CREATE INDEX grants_by_subject ON grants (subject, created_at);
  CREATE INDEX grants_by_client ON grants (client_id, created_at);
  CREATE INDEX grants_by_expiry ON grants (expires_at);

  CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id TEXT NOT NULL REFERENCES grants (family_id),
    generation INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('active', 'rotated')),
    rotated_at INTEGER,
    successor_hash TEXT,
    successor_sealed TEXT
  ) STRICT;
  -- One token per generation of a family: a second rotation of one parent cannot commit.
  CREATE UNIQUE INDEX refresh_tokens_by_family ON refresh_tokens (family_id, generation);

  CREATE TABLE consumed_keys (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, key)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX consumed_keys_by_expiry ON consumed_keys (expires_at);

  CREATE TABLE opaque_access_tokens (
    token_hash TEXT PRIMARY KEY,
    jti TEXT NOT NULL,
    family_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    scope TEXT NOT NULL,
    audience TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    jkt TEXT
  ) STRICT;
  CREATE INDEX opaque_access_tokens_by_expiry ON opaque_access_tokens (expires_at);

  CREATE TABLE revoked_access_tokens (
    jti TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX revoked_access_tokens_by_expiry ON revoked_access_tokens (expires_at);

  CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    private_sealed TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER,
    remove_after INTEGER
  ) STRICT;
  CREATE INDEX signing_keys_by_created ON signing_keys (created_at);
  `,
  // Refresh-token lifecycle: DPoP binding on proof, replay bookkeeping (shadowing detection),
  // last use of kept tokens, per-client client assertion lifetime.
  `
  ALTER TABLE grants ADD COLUMN dpop_bound_from INTEGER;
  ALTER TABLE grants ADD COLUMN replay_generation INTEGER;
  ALTER TABLE grants ADD COLUMN replayed_at INTEGER;
  ALTER TABLE refresh_tokens ADD COLUMN used_at INTEGER;
  ALTER TABLE clients ADD COLUMN assertion_max_lifetime INTEGER;
  `,
  // 3: the authorization code flow (issue 12): client redirect URIs, grant types and PAR
  // requirement; authorization codes (by hash), pushed authorization requests, consents.
  `
  -- NULL: the field is absent (no redirect URIs, the default grant types, PAR not required).
  ALTER TABLE clients ADD COLUMN redirect_uris TEXT;
  ALTER TABLE clients ADD COLUMN grant_types TEXT;
  ALTER TABLE clients ADD COLUMN require_par INTEGER;
  ALTER TABLE clients ADD COLUMN jwt_bearer_issuers TEXT;

  CREATE TABLE authorization_codes (
    code_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    subject TEXT NOT NULL,
    scope TEXT NOT NULL,
    resources TEXT NOT NULL,
    auth_time INTEGER NOT NULL,
    nonce TEXT,
    id_token_claims TEXT,
    dpop_jkt TEXT,
    family_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
  ) STRICT;
  CREATE INDEX authorization_codes_by_expiry ON authorization_codes (expires_at);

  CREATE TABLE pushed_authorization_requests (
    key TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX pushed_authorization_requests_by_expiry ON pushed_authorization_requests (expires_at);

  CREATE TABLE consents (
    client_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    scope TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, subject)
  ) STRICT, WITHOUT ROWID;
  `,
  // 4: clients registered for token introspection (RFC 7662 section 2.1).
  `
  ALTER TABLE clients ADD COLUMN introspection INTEGER NOT NULL DEFAULT 0;
  `,
];

/**
 * Brings `db` to the latest schema version. Runs inside `BEGIN IMMEDIATE` (the write lock,
 * waiting up to the busy timeout), so concurrent openers serialize and the loser sees the
 * version the winner committed. Throws if the file is newer than this code.
 *
 * @example
 * ```ts
 * const version = migrate(new DatabaseSync('./refresh-grant.db', { timeout: 5000 }))
 * ```
 */
export function migrate(db: DatabaseSync): number {
  db.exec('BEGIN IMMEDIATE');
  try {
    const row = db.prepare('PRAGMA user_version').get() as { user_version: number };
    const current = row.user_version;
    if (current > sqliteMigrations.length) {
      throw new Error(
        `database schema version ${current} is newer than this server supports (${sqliteMigrations.length})`,
      );
    }
    for (let version = current + 1; version <= sqliteMigrations.length; version++) {
      db.exec(sqliteMigrations[version - 1]);
      db.exec(`PRAGMA user_version = ${version}`);
    }
    db.exec('COMMIT');
    return sqliteMigrations.length;
  } catch (error) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw error;
  }
}
