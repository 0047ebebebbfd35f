/**
 * The SQL of the PostgreSQL store: its table names, qualified with the quoted schema, and the
 * text of every statement {@link PostgresStore} runs, built once when the store opens. Every
 * statement is unnamed (no session state), so that a pooler in transaction mode (PgBouncer)
 * may hand each transaction another server connection. The schema itself is in
 * `postgres-schema.ts`; the group commit's statements are in `postgres-group-commit.ts`.
 */

/** Table names, qualified with the quoted schema. */
export interface PostgresTables {
  clients: string;
  grants: string;
  tokens: string;
  spent: string;
  opaque: string;
  revoked: string;
  keys: string;
}

/** The store's tables in `s`, a quoted schema name (`quoteIdent`). */
export function tablesIn(s: string): PostgresTables {
  return {
    clients: `${s}.clients`,
    grants: `${s}.grants`,
    tokens: `${s}.refresh_tokens`,
    spent: `${s}.spent`,
    opaque: `${s}.opaque_access_tokens`,
    revoked: `${s}.revoked_access_tokens`,
    keys: `${s}.signing_keys`,
  };
}

/** Every statement of the store on the tables `t`; the parameters are listed where each runs. */
export function postgresStatements(t: PostgresTables) {
  return {
    getClients: `SELECT * FROM ${t.clients} WHERE client_id = ANY($1)`,
    saveClient: `INSERT INTO ${t.clients} (client_id, auth_method, secret_hash, secret_sealed, jwks, jwks_uri, scope,
         resources, rotation, retry_window, idle_ttl, absolute_ttl, access_token_ttl, access_token_format,
         id_token_ttl, created_at, assertion_max_lifetime, redirect_uris, grant_types, require_par, jwt_bearer_issuers,
         introspection)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
       ON CONFLICT (client_id) DO UPDATE SET
         auth_method = EXCLUDED.auth_method, secret_hash = EXCLUDED.secret_hash,
         secret_sealed = EXCLUDED.secret_sealed, jwks = EXCLUDED.jwks, jwks_uri = EXCLUDED.jwks_uri,
         scope = EXCLUDED.scope, resources = EXCLUDED.resources, rotation = EXCLUDED.rotation,
         retry_window = EXCLUDED.retry_window, idle_ttl = EXCLUDED.idle_ttl,
         absolute_ttl = EXCLUDED.absolute_ttl, access_token_ttl = EXCLUDED.access_token_ttl,
         access_token_format = EXCLUDED.access_token_format, id_token_ttl = EXCLUDED.id_token_ttl,
         created_at = EXCLUDED.created_at, assertion_max_lifetime = EXCLUDED.assertion_max_lifetime,
         redirect_uris = EXCLUDED.redirect_uris, grant_types = EXCLUDED.grant_types, require_par = EXCLUDED.require_par,
         jwt_bearer_issuers = EXCLUDED.jwt_bearer_issuers,
         introspection = EXCLUDED.introspection`,
    // COLLATE "C": byte order, the same as every other backend, whatever the database locale.
    listClients: `SELECT * FROM ${t.clients} ORDER BY client_id COLLATE "C"`,
    deleteClient: `DELETE FROM ${t.clients} WHERE client_id = $1`,
    revokeClientGrants: `UPDATE ${t.grants} SET revoked_at = $2, revoked_reason = 'admin'
         WHERE client_id = $1 AND revoked_at IS NULL`,

    insertGrant: `INSERT INTO ${t.grants} (family_id, client_id, subject, scope, resources, auth_time,
         id_token_claims, dpop_jkt, created_at, expires_at, revoked_at, revoked_reason, dpop_bound_from,
         replay_generation, replayed_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
    insertFirstToken: `INSERT INTO ${t.tokens} (token_hash, family_id, generation, created_at, expires_at, state)
       VALUES ($1, $2, 1, $3, $4, 'active')`,
    getGrant: `SELECT * FROM ${t.grants} WHERE family_id = $1`,
    listGrants: `SELECT * FROM ${t.grants}
       WHERE ($1::text IS NULL OR subject = $1) AND ($2::text IS NULL OR client_id = $2)
       ORDER BY created_at DESC, seq DESC`,
    listSessions: `SELECT g.*, t.generation AS t_generation, t.created_at AS t_created_at, t.used_at AS t_used_at
       FROM ${t.grants} g
       LEFT JOIN ${t.tokens} t ON t.family_id = g.family_id
         AND t.generation = (SELECT max(generation) FROM ${t.tokens} WHERE family_id = g.family_id)
       WHERE ($1::text IS NULL OR g.subject = $1) AND ($2::text IS NULL OR g.client_id = $2)
       ORDER BY g.created_at DESC, g.seq DESC`,
    revokeGrants: `UPDATE ${t.grants} SET revoked_at = $3, revoked_reason = $4
       WHERE ($1::text IS NULL OR subject = $1) AND ($2::text IS NULL OR client_id = $2) AND revoked_at IS NULL
       RETURNING family_id`,
    revokeGrant: `UPDATE ${t.grants} SET revoked_at = $3, revoked_reason = $2
       WHERE family_id = $1 AND revoked_at IS NULL`,
    snapshot: `SELECT row_to_json(t) AS token, row_to_json(g) AS "grant", row_to_json(s) AS successor
       FROM ${t.tokens} t
       JOIN ${t.grants} g ON g.family_id = t.family_id
       LEFT JOIN ${t.tokens} s ON s.token_hash = t.successor_hash
       WHERE t.token_hash = $1`,

    consumeOnce: `INSERT INTO ${t.spent} AS spent (namespace, key, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (namespace, key) DO UPDATE SET expires_at = EXCLUDED.expires_at
       WHERE spent.expires_at < $4
       RETURNING 1`,

    saveOpaque: `INSERT INTO ${t.opaque} (token_hash, jti, family_id, client_id, subject, scope, audience,
         issued_at, expires_at, jkt)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    findOpaque: `SELECT * FROM ${t.opaque} WHERE token_hash = $1`,
    revokeAccessToken: `INSERT INTO ${t.revoked} AS r (jti, expires_at) VALUES ($1, $2)
       ON CONFLICT (jti) DO UPDATE SET expires_at = GREATEST(r.expires_at, EXCLUDED.expires_at)`,
    isAccessTokenRevoked: `SELECT 1 FROM ${t.revoked} WHERE jti = $1`,

    listSigningKeys: `SELECT * FROM ${t.keys} ORDER BY created_at, seq`,
    retireSigningKeys: `UPDATE ${t.keys} SET retired_at = $1, remove_after = $2 WHERE retired_at IS NULL`,
    insertSigningKey: `INSERT INTO ${t.keys} (kid, alg, public_jwk, private_sealed, created_at, retired_at, remove_after)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,

    // Each statement deletes by key from a LIMITed subquery, so the total never passes `limit`.
    // Tokens go before their grants so that the cascade never deletes uncounted rows.
    purge: [
      `DELETE FROM ${t.tokens} WHERE token_hash IN (
         SELECT r.token_hash FROM ${t.tokens} r JOIN ${t.grants} g ON g.family_id = r.family_id
         WHERE g.expires_at < $1 LIMIT $2)`,
      `DELETE FROM ${t.grants} WHERE family_id IN (
         SELECT g.family_id FROM ${t.grants} g
         WHERE g.expires_at < $1 AND NOT EXISTS (SELECT 1 FROM ${t.tokens} r WHERE r.family_id = g.family_id)
         LIMIT $2)`,
      `DELETE FROM ${t.spent} WHERE (namespace, key) IN (
         SELECT namespace, key FROM ${t.spent} WHERE expires_at < $1 LIMIT $2)`,
      `DELETE FROM ${t.revoked} WHERE jti IN (SELECT jti FROM ${t.revoked} WHERE expires_at < $1 LIMIT $2)`,
      `DELETE FROM ${t.opaque} WHERE token_hash IN (
         SELECT token_hash FROM ${t.opaque} WHERE expires_at < $1 LIMIT $2)`,
      `DELETE FROM ${t.keys} WHERE kid IN (SELECT kid FROM ${t.keys} WHERE remove_after < $1 LIMIT $2)`,
    ],
  };
}

/** The statements of one store (see {@link postgresStatements}). */
export type PostgresStatements = ReturnType<typeof postgresStatements>;
