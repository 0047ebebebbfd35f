/**
 * The PostgreSQL store: for several server processes sharing one database. Rotation holds
 * across them because {@link PostgresStore.useRefreshToken} locks the token's row
 * (`SELECT ... FOR UPDATE`) for the whole read-decide-write, and single-use keys hold because
 * {@link PostgresStore.consumeOnce} is one `INSERT ... ON CONFLICT` statement.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Pool, PoolClient, QueryResult, QueryResultRow } from 'pg';
import {
  lastUse,
  type GrantFilter,
  type GrantSession,
  type CodeRedemption,
  type RefreshDecision,
  type RefreshSnapshot,
  type RefreshUse,
  type Store,
  type StoreCapabilities,
} from '../core/store.ts';
import type {
  AccessTokenFormat,
  AuthorizationCodeRecord,
  ClientRecord,
  ConsentRecord,
  GrantRecord,
  GrantType,
  Jwk,
  JwtBearerIssuer,
  NewRefreshToken,
  OpaqueAccessTokenRecord,
  PushedAuthorizationRequestRecord,
  RefreshTokenRecord,
  RefreshTokenState,
  SigningAlg,
  SigningKeyRecord,
  TokenEndpointAuthMethod,
} from '../core/types.ts';
import { PostgresAuthorizationTables } from './postgres-authorization.ts';
import { migrate, quoteIdent } from './postgres-schema.ts';

/** Options of {@link openPostgresStore}. */
export interface PostgresStoreOptions {
  /** Schema holding the tables; created if missing. Default `public`. */
  schema?: string;
  /** Maximum connections in the pool. Default 10. */
  poolSize?: number;
  /** How often the background purge runs, in milliseconds; 0 turns it off. Default 60000. */
  purgeIntervalMs?: number;
  /** Rows the background purge deletes per statement batch. Default 500. */
  purgeBatch?: number;
}

/** SQLSTATEs of transient contention: serialization_failure, deadlock_detected. */
const retryableCodes = new Set(['40001', '40P01']);
const maxAttempts = 8;

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/**
 * Opens (and migrates) a PostgreSQL store.
 *
 * @example
 * ```ts
 * const store = await openPostgresStore('postgres://app@db/refresh_grant', { poolSize: 20 })
 * const client = await store.getClient('app')
 * await store.close()
 * ```
 */
export async function openPostgresStore(
  connectionString: string,
  options: PostgresStoreOptions = {},
): Promise<PostgresStore> {
  const schema = options.schema ?? 'public';
  const pool = new pg.Pool({ connectionString, max: options.poolSize ?? 10 });
  // An idle client's error (server restart) must not crash the process; the pool drops it.
  pool.on('error', (error) => process.stderr.write(`refresh-grant postgres: idle client error: ${error.message}\n`));
  try {
    const client = await pool.connect();
    try {
      await migrate(client, schema);
    } finally {
      client.release();
    }
  } catch (error) {
    await pool.end().catch(() => {});
    throw error;
  }
  return new PostgresStore(pool, schema, options);
}

/**
 * A {@link Store} on PostgreSQL. Create it with {@link openPostgresStore}, which applies the
 * migrations first.
 */
export class PostgresStore implements Store {
  readonly capabilities: StoreCapabilities;

  readonly #pool: Pool;
  /** Table names, qualified with the quoted schema. */
  readonly #t: {
    clients: string;
    grants: string;
    tokens: string;
    spent: string;
    opaque: string;
    revoked: string;
    keys: string;
  };
  readonly #purgeBatch: number;
  #purgeTimer: NodeJS.Timeout | undefined;
  #purging: Promise<void> | undefined;
  #closed: Promise<void> | undefined;
  /** Pooled connections that hold the prepared read of {@link PostgresStore.useRefreshToken}. */
  readonly #prepared = new WeakSet<PoolClient>();
  /** That statement's name, one per schema (a pool might serve stores of several schemas). */
  readonly #readName: string;
  /** Authorization codes, pushed requests, consents. */
  readonly #auth: PostgresAuthorizationTables;

  /** @internal Use {@link openPostgresStore}. */
  constructor(pool: Pool, schema: string, options: PostgresStoreOptions = {}) {
    this.#pool = pool;
    const s = quoteIdent(schema);
    this.#t = {
      clients: `${s}.clients`,
      grants: `${s}.grants`,
      tokens: `${s}.refresh_tokens`,
      spent: `${s}.spent`,
      opaque: `${s}.opaque_access_tokens`,
      revoked: `${s}.revoked_access_tokens`,
      keys: `${s}.signing_keys`,
    };
    this.#auth = new PostgresAuthorizationTables({
      pool,
      schema: s,
      transaction: (work) => this.#transaction(work),
      insertGrant: (db, grant, firstToken) => this.#insertGrant(db, grant, firstToken),
    });
    this.#readName = `rg_use_refresh_token_${createHash('sha256').update(schema).digest('hex').slice(0, 16)}`;
    this.#purgeBatch = options.purgeBatch ?? 500;
    const interval = options.purgeIntervalMs ?? 60_000;
    this.capabilities = { sharedAcrossProcesses: true, purgesInBackground: interval > 0 };
    if (interval > 0) {
      this.#purgeTimer = setInterval(() => this.#backgroundPurge(), interval);
      this.#purgeTimer.unref();
    }
  }

  // --- clients -----------------------------------------------------------------------

  async getClient(clientId: string): Promise<ClientRecord | undefined> {
    const { rows } = await this.#pool.query(`SELECT * FROM ${this.#t.clients} WHERE client_id = $1`, [clientId]);
    return rows[0] ? toClient(rows[0]) : undefined;
  }

  async saveClient(client: ClientRecord): Promise<void> {
    await this.#pool.query(
      `INSERT INTO ${this.#t.clients} (client_id, auth_method, secret_hash, secret_sealed, jwks, jwks_uri, scope,
         resources, rotation, retry_window, idle_ttl, absolute_ttl, access_token_ttl, access_token_format,
         id_token_ttl, created_at, assertion_max_lifetime, redirect_uris, grant_types, require_par, jwt_bearer_issuers)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
       ON CONFLICT (client_id) DO UPDATE SET
         auth_method = EXCLUDED.auth_method, secret_hash = EXCLUDED.secret_hash,
         secret_sealed = EXCLUDED.secret_sealed, jwks = EXCLUDED.jwks, jwks_uri = EXCLUDED.jwks_uri,
         scope = EXCLUDED.scope, resources = EXCLUDED.resources, rotation = EXCLUDED.rotation,
         retry_window = EXCLUDED.retry_window, idle_ttl = EXCLUDED.idle_ttl,
         absolute_ttl = EXCLUDED.absolute_ttl, access_token_ttl = EXCLUDED.access_token_ttl,
         access_token_format = EXCLUDED.access_token_format, id_token_ttl = EXCLUDED.id_token_ttl,
         created_at = EXCLUDED.created_at, assertion_max_lifetime = EXCLUDED.assertion_max_lifetime,
         redirect_uris = EXCLUDED.redirect_uris, grant_types = EXCLUDED.grant_types, require_par = EXCLUDED.require_par,
         jwt_bearer_issuers = EXCLUDED.jwt_bearer_issuers`,
      [
        client.clientId,
        client.authMethod,
        client.secretHash ?? null,
        client.secretSealed ?? null,
        json(client.jwks),
        client.jwksUri ?? null,
        client.scope,
        JSON.stringify(client.resources),
        client.rotation,
        client.retryWindow,
        client.idleTtl,
        client.absoluteTtl,
        client.accessTokenTtl,
        client.accessTokenFormat,
        client.idTokenTtl,
        client.createdAt,
        client.assertionMaxLifetime ?? null,
        json(client.redirectUris),
        json(client.grantTypes),
        client.requirePushedAuthorizationRequests ?? null,
        json(client.jwtBearerIssuers),
      ],
    );
  }

  async listClients(): Promise<ClientRecord[]> {
    // COLLATE "C": byte order, the same as every other backend, whatever the database locale.
    const { rows } = await this.#pool.query(`SELECT * FROM ${this.#t.clients} ORDER BY client_id COLLATE "C"`);
    return rows.map(toClient);
  }

  async deleteClient(clientId: string, now: number): Promise<boolean> {
    return this.#transaction(async (db) => {
      const deleted = await db.query(`DELETE FROM ${this.#t.clients} WHERE client_id = $1`, [clientId]);
      await db.query(
        `UPDATE ${this.#t.grants} SET revoked_at = $2, revoked_reason = 'admin'
         WHERE client_id = $1 AND revoked_at IS NULL`,
        [clientId, now],
      );
      await this.#auth.deleteConsents(db, clientId);
      return (deleted.rowCount ?? 0) > 0;
    });
  }

  // --- grants and refresh token families ---------------------------------------------

  async createGrant(grant: GrantRecord, firstToken: NewRefreshToken): Promise<void> {
    await this.#transaction((db) => this.#insertGrant(db, grant, firstToken));
  }

  /** The grant and its first token, on `db` inside the caller's transaction. */
  async #insertGrant(db: PoolClient, grant: GrantRecord, firstToken: NewRefreshToken): Promise<void> {
    await db.query(
      `INSERT INTO ${this.#t.grants} (family_id, client_id, subject, scope, resources, auth_time,
         id_token_claims, dpop_jkt, created_at, expires_at, revoked_at, revoked_reason, dpop_bound_from,
         replay_generation, replayed_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
      [
        grant.familyId,
        grant.clientId,
        grant.subject,
        grant.scope,
        JSON.stringify(grant.resources),
        grant.authTime,
        json(grant.idTokenClaims),
        grant.dpopJkt ?? null,
        grant.createdAt,
        grant.expiresAt,
        grant.revokedAt ?? null,
        grant.revokedReason ?? null,
        grant.dpopBoundFrom ?? null,
        grant.replayGeneration ?? null,
        grant.replayedAt ?? null,
      ],
    );
    await db.query(
      `INSERT INTO ${this.#t.tokens} (token_hash, family_id, generation, created_at, expires_at, state)
       VALUES ($1, $2, 1, $3, $4, 'active')`,
      [firstToken.tokenHash, grant.familyId, grant.createdAt, firstToken.expiresAt],
    );
  }

  // --- authorization codes, pushed requests, consents (postgres-authorization.ts) ------

  saveAuthorizationCode(code: AuthorizationCodeRecord): Promise<void> {
    return this.#auth.saveCode(code);
  }

  findAuthorizationCode(codeHash: string): Promise<AuthorizationCodeRecord | undefined> {
    return this.#auth.findCode(codeHash);
  }

  redeemAuthorizationCode(codeHash: string, redemption: { grant: GrantRecord; firstToken: NewRefreshToken; now: number }): Promise<CodeRedemption> {
    return this.#auth.redeem(codeHash, redemption);
  }

  savePushedAuthorizationRequest(request: PushedAuthorizationRequestRecord): Promise<void> {
    return this.#auth.savePushedRequest(request);
  }

  takePushedAuthorizationRequest(key: string, now: number): Promise<PushedAuthorizationRequestRecord | undefined> {
    return this.#auth.takePushedRequest(key, now);
  }

  getConsent(clientId: string, subject: string): Promise<ConsentRecord | undefined> {
    return this.#auth.getConsent(clientId, subject);
  }

  saveConsent(consent: ConsentRecord): Promise<void> {
    return this.#auth.saveConsent(consent);
  }

  async getGrant(familyId: string): Promise<GrantRecord | undefined> {
    const { rows } = await this.#pool.query(`SELECT * FROM ${this.#t.grants} WHERE family_id = $1`, [familyId]);
    return rows[0] ? toGrant(rows[0]) : undefined;
  }

  async listGrants(filter: { subject?: string; clientId?: string }): Promise<GrantRecord[]> {
    const { rows } = await this.#pool.query(
      `SELECT * FROM ${this.#t.grants}
       WHERE ($1::text IS NULL OR subject = $1) AND ($2::text IS NULL OR client_id = $2)
       ORDER BY created_at DESC, seq DESC`,
      [filter.subject ?? null, filter.clientId ?? null],
    );
    return rows.map(toGrant);
  }

  async listSessions(filter: GrantFilter): Promise<GrantSession[]> {
    const { rows } = await this.#pool.query(
      `SELECT g.*, t.generation AS t_generation, t.created_at AS t_created_at, t.used_at AS t_used_at
       FROM ${this.#t.grants} g
       LEFT JOIN ${this.#t.tokens} t ON t.family_id = g.family_id
         AND t.generation = (SELECT max(generation) FROM ${this.#t.tokens} WHERE family_id = g.family_id)
       WHERE ($1::text IS NULL OR g.subject = $1) AND ($2::text IS NULL OR g.client_id = $2)
       ORDER BY g.created_at DESC, g.seq DESC`,
      [filter.subject ?? null, filter.clientId ?? null],
    );
    return rows.map((row) => {
      const grant = toGrant(row);
      if (row.t_generation === null) return { grant, generation: 0 };
      const newest = withOptional<{ generation: number; createdAt: number; usedAt?: number }>(
        { generation: Number(row.t_generation), createdAt: Number(row.t_created_at) },
        { usedAt: num(row.t_used_at) },
      );
      const lastUsedAt = lastUse(grant, newest);
      return lastUsedAt === undefined ? { grant, generation: newest.generation } : { grant, generation: newest.generation, lastUsedAt };
    });
  }

  async revokeGrants(filter: GrantFilter, reason: string, now: number): Promise<string[]> {
    if (filter.subject === undefined && filter.clientId === undefined) throw new TypeError('revokeGrants needs a subject or a clientId');
    const { rows } = await this.#pool.query(
      `UPDATE ${this.#t.grants} SET revoked_at = $3, revoked_reason = $4
       WHERE ($1::text IS NULL OR subject = $1) AND ($2::text IS NULL OR client_id = $2) AND revoked_at IS NULL
       RETURNING family_id`,
      [filter.subject ?? null, filter.clientId ?? null, now, reason],
    );
    return rows.map((row) => row.family_id as string);
  }

  async revokeGrant(familyId: string, reason: string, now: number): Promise<boolean> {
    const result = await this.#pool.query(
      `UPDATE ${this.#t.grants} SET revoked_at = $3, revoked_reason = $2
       WHERE family_id = $1 AND revoked_at IS NULL`,
      [familyId, reason, now],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async findRefreshToken(tokenHash: string): Promise<RefreshSnapshot | undefined> {
    // One statement, so one snapshot: token, grant and successor are mutually consistent.
    const { rows } = await this.#pool.query(
      `SELECT row_to_json(t) AS token, row_to_json(g) AS "grant", row_to_json(s) AS successor
       FROM ${this.#t.tokens} t
       JOIN ${this.#t.grants} g ON g.family_id = t.family_id
       LEFT JOIN ${this.#t.tokens} s ON s.token_hash = t.successor_hash
       WHERE t.token_hash = $1`,
      [tokenHash],
    );
    const row = rows[0];
    if (!row) return undefined;
    const snapshot: RefreshSnapshot = { token: toToken(row.token), grant: toGrant(row.grant) };
    if (row.successor) snapshot.successor = toToken(row.successor);
    return snapshot;
  }

  async useRefreshToken(
    tokenHash: string,
    decide: (snapshot: RefreshSnapshot | undefined) => RefreshDecision,
  ): Promise<RefreshUse> {
    const t = this.#t;
    return this.#withRetries(async (db) => {
      // Two round trips in the common case: BEGIN + the locking read, then the write + COMMIT,
      // each sent as one simple-protocol query. Such a query takes no parameters, so values
      // are inlined with the driver's escapeLiteral or as checked integers, and the read is
      // an SQL-level prepared statement (planned once per connection; its result is three
      // json columns, so its shape survives later migrations).
      // The read locks the token's row (and the grant's, so a concurrent revocation is
      // ordered before or after us): concurrent callers line up on the token's row. Under
      // READ COMMITTED a row locked after a wait is re-read at its latest version, but the
      // unlocked successor keeps the statement's snapshot, so a successor the snapshot
      // cannot see (inserted by the rotation we waited for) is read again below.
      if (!this.#prepared.has(db)) {
        await db.query(
          `PREPARE ${this.#readName}(text) AS
           SELECT row_to_json(t) AS token, row_to_json(g) AS "grant", row_to_json(s) AS successor
           FROM ${t.tokens} t
           JOIN ${t.grants} g ON g.family_id = t.family_id
           LEFT JOIN ${t.tokens} s ON s.token_hash = t.successor_hash
           WHERE t.token_hash = $1
           FOR UPDATE OF t, g`,
        ).catch((error: { code?: unknown }) => {
          // duplicate_prepared_statement: another store on this pool, same schema, same text.
          if (error.code !== '42P05') throw error;
        });
        this.#prepared.add(db);
      }
      const read = (await db.query(
        `BEGIN; EXECUTE ${this.#readName}(${db.escapeLiteral(tokenHash)})`,
      )) as unknown as QueryResult[];
      const row = read[1]?.rows[0];
      let snapshot: RefreshSnapshot | undefined;
      if (row) {
        snapshot = { token: toToken(row.token), grant: toGrant(row.grant) };
        if (row.successor) snapshot.successor = toToken(row.successor);
        else if (snapshot.token.successorHash !== undefined) {
          const successor = await db.query(`SELECT * FROM ${t.tokens} WHERE token_hash = $1`, [
            snapshot.token.successorHash,
          ]);
          if (successor.rows[0]) snapshot.successor = toToken(successor.rows[0]);
        }
      }

      const decision = decide(snapshot);
      if (!snapshot && decision.action !== 'reject') {
        throw new Error(`useRefreshToken: cannot ${decision.action} an unknown token`);
      }
      const token = snapshot?.token;
      let write = '';
      switch (decision.action) {
        case 'rotate': {
          const now = decision.at ?? nowSeconds();
          // RFC 9449 section 5: binding the family on proof rides in the same statement: the
          // rotation happens only while the family is unbound (else nothing changes and the
          // rotation fails below), and the binding only with the rotation.
          const unbound = decision.bindDpopJkt === undefined ? '' :
            ` AND EXISTS (SELECT 1 FROM ${t.grants} WHERE family_id = ${db.escapeLiteral(token!.familyId)} AND dpop_jkt IS NULL)`;
          const bind = decision.bindDpopJkt === undefined ? '' : `, bound AS (
              UPDATE ${t.grants} SET dpop_jkt = ${db.escapeLiteral(decision.bindDpopJkt)}, dpop_bound_from = r.generation + 1
              FROM rotated r WHERE ${t.grants}.family_id = r.family_id AND ${t.grants}.dpop_jkt IS NULL
              RETURNING 1)`;
          // RFC 9700 section 4.14.2: the presented token is invalidated as its successor is
          // issued, in one statement: the insert only happens if the update did.
          write = `WITH rotated AS (
              UPDATE ${t.tokens}
              SET state = 'rotated', rotated_at = ${int(now)},
                successor_hash = ${db.escapeLiteral(decision.successor.tokenHash)},
                successor_sealed = ${db.escapeLiteral(decision.successorSealed)}
              WHERE token_hash = ${db.escapeLiteral(tokenHash)} AND state = 'active'${unbound}
              RETURNING family_id, generation)${bind}
            INSERT INTO ${t.tokens} (token_hash, family_id, generation, created_at, expires_at, state)
            SELECT ${db.escapeLiteral(decision.successor.tokenHash)}, family_id, generation + 1, ${int(now)},
              ${int(decision.successor.expiresAt)}, 'active'
            FROM rotated`;
          break;
        }
        case 'reject':
          if (decision.revokeFamily && token) {
            // RFC 9700 section 4.14.2: on reuse, the whole family is revoked in the same transaction.
            write = `UPDATE ${t.grants} SET revoked_at = ${int(decision.at ?? nowSeconds())},
              revoked_reason = ${db.escapeLiteral(decision.reason)}
              WHERE family_id = ${db.escapeLiteral(token.familyId)} AND revoked_at IS NULL`;
          }
          break;
        case 'keep':
          write = `UPDATE ${t.tokens} SET expires_at = ${int(decision.expiresAt)}, used_at = ${int(decision.at ?? nowSeconds())}
            WHERE token_hash = ${db.escapeLiteral(tokenHash)}`;
          break;
        case 'replay':
          // The family records the replay (shadowing detection reads it).
          write = `UPDATE ${t.grants} SET replay_generation = ${int(token!.generation)}, replayed_at = ${int(decision.at ?? nowSeconds())}
            WHERE family_id = ${db.escapeLiteral(token!.familyId)}`;
          break;
      }
      const applied = write
        ? ((await db.query(`${write};\nCOMMIT`)) as unknown as QueryResult[])[0]?.rowCount
        : (await db.query('COMMIT'), undefined);
      // A rotation that changed no row committed nothing: the same outcome as a rollback.
      if (decision.action === 'rotate' && applied !== 1) {
        throw new Error('useRefreshToken: cannot rotate a token that is not active');
      }
      return { snapshot, decision };
    });
  }

  // --- single-use identifiers --------------------------------------------------------

  async consumeOnce(namespace: string, key: string, expiresAt: number): Promise<boolean> {
    // One statement: the unique index decides the race; an expired entry may be reused.
    // Named: parsed and planned once per connection (its result shape never changes).
    const result = await this.#pool.query({
      name: 'rg_consume_once',
      text: `INSERT INTO ${this.#t.spent} AS spent (namespace, key, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (namespace, key) DO UPDATE SET expires_at = EXCLUDED.expires_at
       WHERE spent.expires_at < $4
       RETURNING 1`,
      values: [namespace, key, expiresAt, nowSeconds()],
    });
    return result.rowCount === 1;
  }

  // --- access tokens -----------------------------------------------------------------

  async saveOpaqueAccessToken(token: OpaqueAccessTokenRecord): Promise<void> {
    await this.#pool.query(
      `INSERT INTO ${this.#t.opaque} (token_hash, jti, family_id, client_id, subject, scope, audience,
         issued_at, expires_at, jkt)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [
        token.tokenHash,
        token.jti,
        token.familyId,
        token.clientId,
        token.subject,
        token.scope,
        JSON.stringify(token.audience),
        token.issuedAt,
        token.expiresAt,
        token.jkt ?? null,
      ],
    );
  }

  async findOpaqueAccessToken(tokenHash: string): Promise<OpaqueAccessTokenRecord | undefined> {
    const { rows } = await this.#pool.query(`SELECT * FROM ${this.#t.opaque} WHERE token_hash = $1`, [tokenHash]);
    return rows[0] ? toOpaque(rows[0]) : undefined;
  }

  async revokeAccessToken(jti: string, expiresAt: number): Promise<void> {
    await this.#pool.query(
      `INSERT INTO ${this.#t.revoked} AS r (jti, expires_at) VALUES ($1, $2)
       ON CONFLICT (jti) DO UPDATE SET expires_at = GREATEST(r.expires_at, EXCLUDED.expires_at)`,
      [jti, expiresAt],
    );
  }

  async isAccessTokenRevoked(jti: string): Promise<boolean> {
    const { rowCount } = await this.#pool.query(`SELECT 1 FROM ${this.#t.revoked} WHERE jti = $1`, [jti]);
    return rowCount === 1;
  }

  // --- signing keys ------------------------------------------------------------------

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    const { rows } = await this.#pool.query(`SELECT * FROM ${this.#t.keys} ORDER BY created_at, seq`);
    return rows.map(toSigningKey);
  }

  async addSigningKey(key: SigningKeyRecord, removeRetiredAfter: number): Promise<void> {
    await this.#transaction(async (db) => {
      await db.query(
        `UPDATE ${this.#t.keys} SET retired_at = $1, remove_after = $2 WHERE retired_at IS NULL`,
        [key.createdAt, removeRetiredAfter],
      );
      await db.query(
        `INSERT INTO ${this.#t.keys} (kid, alg, public_jwk, private_sealed, created_at, retired_at, remove_after)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [
          key.kid,
          key.alg,
          JSON.stringify(key.publicJwk),
          key.privateSealed,
          key.createdAt,
          key.retiredAt ?? null,
          key.removeAfter ?? null,
        ],
      );
    });
  }

  // --- maintenance -------------------------------------------------------------------

  async purgeExpired(now: number, limit: number): Promise<number> {
    const t = this.#t;
    // Each statement deletes by key from a LIMITed subquery, so the total never passes `limit`.
    // Tokens go before their grants so that the cascade never deletes uncounted rows.
    const statements = [
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
    ];
    let deleted = 0;
    for (const sql of statements) {
      if (deleted >= limit) break;
      const result = await this.#pool.query(sql, [now, limit - deleted]);
      deleted += result.rowCount ?? 0;
    }
    if (deleted < limit) deleted += await this.#auth.purge(now, limit - deleted);
    return deleted;
  }

  async close(): Promise<void> {
    this.#closed ??= (async () => {
      clearInterval(this.#purgeTimer);
      this.#purgeTimer = undefined;
      await this.#purging;
      await this.#pool.end();
    })();
    return this.#closed;
  }

  // --- internals ---------------------------------------------------------------------

  /** One background purge pass, in batches; never overlaps itself, never throws. */
  #backgroundPurge(): void {
    if (this.#purging || this.#closed) return;
    this.#purging = (async () => {
      try {
        const batch = this.#purgeBatch;
        while (!this.#closed && (await this.purgeExpired(nowSeconds(), batch)) === batch) {
          // Yield between batches so request handling is never starved.
          await new Promise((resolve) => setImmediate(resolve));
        }
      } catch (error) {
        process.stderr.write(`refresh-grant postgres: background purge failed: ${(error as Error).message}\n`);
      } finally {
        this.#purging = undefined;
      }
    })();
  }

  /**
   * Runs `work` in a READ COMMITTED transaction on one pooled connection. Serialization
   * failures and deadlocks are retried with a small jittered backoff, so contention never
   * reaches the caller; any other error (including one thrown by `work`) rolls back and is rethrown.
   */
  async #transaction<T>(work: (db: PoolClient) => Promise<T>): Promise<T> {
    return this.#withRetries(async (db) => {
      await db.query('BEGIN');
      const result = await work(db);
      await db.query('COMMIT');
      return result;
    });
  }

  /**
   * Runs `attempt` (which opens and commits its own transaction) on one pooled connection;
   * on any error rolls back, then retries serialization failures and deadlocks with a small
   * jittered backoff and rethrows anything else. A connection whose rollback fails is dropped.
   */
  async #withRetries<T>(attempt: (db: PoolClient) => Promise<T>): Promise<T> {
    for (let n = 1; ; n++) {
      const db = await this.#pool.connect();
      let broken: Error | undefined;
      try {
        return await attempt(db);
      } catch (error) {
        try {
          await db.query('ROLLBACK');
        } catch (rollbackError) {
          broken = rollbackError as Error; // the connection is unusable: drop it from the pool
        }
        const code = (error as { code?: unknown }).code;
        if (typeof code !== 'string' || !retryableCodes.has(code) || n >= maxAttempts) throw error;
      } finally {
        db.release(broken);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(100, 5 * 2 ** n)));
    }
  }

}

// --- rows to records (null columns become absent properties) ---------------------------

/** JSON text for a jsonb parameter, or null. */
function json(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

/** Copies the non-null optional values onto `record`. */
function withOptional<T extends object>(record: T, optional: Record<string, unknown>): T {
  for (const [name, value] of Object.entries(optional)) {
    if (value !== null && value !== undefined) (record as Record<string, unknown>)[name] = value;
  }
  return record;
}

/** An integer as an SQL literal, for the simple-protocol queries that take no parameters. */
function int(value: number): string {
  if (!Number.isSafeInteger(value)) throw new TypeError(`not an integer: ${value}`);
  return String(value);
}

/** A bigint column (returned by pg as a string) as a number, or null. */
function num(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

function toClient(row: QueryResultRow): ClientRecord {
  return withOptional<ClientRecord>(
    {
      clientId: row.client_id,
      authMethod: row.auth_method as TokenEndpointAuthMethod,
      scope: row.scope,
      resources: row.resources,
      rotation: row.rotation,
      retryWindow: Number(row.retry_window),
      idleTtl: Number(row.idle_ttl),
      absoluteTtl: Number(row.absolute_ttl),
      accessTokenTtl: Number(row.access_token_ttl),
      accessTokenFormat: row.access_token_format as AccessTokenFormat,
      idTokenTtl: Number(row.id_token_ttl),
      createdAt: Number(row.created_at),
    },
    {
      secretHash: row.secret_hash,
      secretSealed: row.secret_sealed,
      jwks: row.jwks as { keys: Jwk[] } | null,
      jwksUri: row.jwks_uri,
      assertionMaxLifetime: num(row.assertion_max_lifetime),
      redirectUris: row.redirect_uris as string[] | null,
      grantTypes: row.grant_types as GrantType[] | null,
      requirePushedAuthorizationRequests: row.require_par as boolean | null,
      jwtBearerIssuers: row.jwt_bearer_issuers as JwtBearerIssuer[] | null,
    },
  );
}

function toGrant(row: QueryResultRow): GrantRecord {
  return withOptional<GrantRecord>(
    {
      familyId: row.family_id,
      clientId: row.client_id,
      subject: row.subject,
      scope: row.scope,
      resources: row.resources,
      authTime: Number(row.auth_time),
      createdAt: Number(row.created_at),
      expiresAt: Number(row.expires_at),
    },
    {
      idTokenClaims: row.id_token_claims,
      dpopJkt: row.dpop_jkt,
      revokedAt: num(row.revoked_at),
      revokedReason: row.revoked_reason,
      dpopBoundFrom: num(row.dpop_bound_from),
      replayGeneration: num(row.replay_generation),
      replayedAt: num(row.replayed_at),
    },
  );
}

function toToken(row: QueryResultRow): RefreshTokenRecord {
  return withOptional<RefreshTokenRecord>(
    {
      tokenHash: row.token_hash,
      familyId: row.family_id,
      generation: Number(row.generation),
      createdAt: Number(row.created_at),
      expiresAt: Number(row.expires_at),
      state: row.state as RefreshTokenState,
    },
    {
      rotatedAt: num(row.rotated_at),
      successorHash: row.successor_hash,
      successorSealed: row.successor_sealed,
      usedAt: num(row.used_at),
    },
  );
}

function toOpaque(row: QueryResultRow): OpaqueAccessTokenRecord {
  return withOptional<OpaqueAccessTokenRecord>(
    {
      tokenHash: row.token_hash,
      jti: row.jti,
      familyId: row.family_id,
      clientId: row.client_id,
      subject: row.subject,
      scope: row.scope,
      audience: row.audience,
      issuedAt: Number(row.issued_at),
      expiresAt: Number(row.expires_at),
    },
    { jkt: row.jkt },
  );
}

function toSigningKey(row: QueryResultRow): SigningKeyRecord {
  return withOptional<SigningKeyRecord>(
    {
      kid: row.kid,
      alg: row.alg as SigningAlg,
      publicJwk: row.public_jwk,
      privateSealed: row.private_sealed,
      createdAt: Number(row.created_at),
    },
    { retiredAt: num(row.retired_at), removeAfter: num(row.remove_after) },
  );
}
