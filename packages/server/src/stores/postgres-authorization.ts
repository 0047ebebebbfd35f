/**
 * The PostgreSQL tables of the authorization code flow: authorization codes (by hash), pushed
 * authorization requests (RFC 9126) and consents. {@link PostgresStore} delegates to this class.
 * Single use holds across instances: a code is redeemed by one `UPDATE ... WHERE used_at IS NULL`
 * (a concurrent one waits for the row lock, then finds it used), a pushed request is taken by
 * one `DELETE ... RETURNING`.
 */
import type { PoolClient, QueryResultRow } from 'pg';
import { authorizationCodeRetention, type CodeRedemption } from '../core/store.ts';
import type {
  AuthorizationCodeRecord,
  AuthorizationRequest,
  ConsentRecord,
  GrantRecord,
  NewRefreshToken,
  PushedAuthorizationRequestRecord,
} from '../core/types.ts';
import type { Queries } from './postgres-faults.ts';

/** What the tables need from the store: its pool, its schema, and its transactions. */
export interface PostgresAuthorizationDeps {
  /** Single statements, connection failures thrown as StoreUnavailableError (`mapFaults`). */
  pool: Queries;
  /** The quoted schema name. */
  schema: string;
  /** Runs `work` in one transaction, retrying serialization failures. */
  transaction<T>(work: (db: PoolClient) => Promise<T>): Promise<T>;
  /** Inserts a grant and its first refresh token on `db` (inside the caller's transaction). */
  insertGrant(db: PoolClient, grant: GrantRecord, firstToken: NewRefreshToken): Promise<void>;
}

/**
 * Codes, pushed requests and consents on PostgreSQL.
 *
 * @example
 * ```ts
 * const tables = new PostgresAuthorizationTables({ pool, schema: '"public"', transaction, insertGrant })
 * await tables.saveCode(code)
 * ```
 */
export class PostgresAuthorizationTables {
  readonly #deps: PostgresAuthorizationDeps;
  readonly #t: { codes: string; pars: string; consents: string; grants: string };

  constructor(deps: PostgresAuthorizationDeps) {
    this.#deps = deps;
    const s = deps.schema;
    this.#t = {
      codes: `${s}.authorization_codes`,
      pars: `${s}.pushed_authorization_requests`,
      consents: `${s}.consents`,
      grants: `${s}.grants`,
    };
  }

  async saveCode(c: AuthorizationCodeRecord): Promise<void> {
    await this.#deps.pool.query(
      `INSERT INTO ${this.#t.codes} (code_hash, client_id, redirect_uri, code_challenge, subject, scope, resources,
         auth_time, nonce, id_token_claims, dpop_jkt, family_id, created_at, expires_at, used_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
      [
        c.codeHash, c.clientId, c.redirectUri, c.codeChallenge, c.subject, c.scope, JSON.stringify(c.resources),
        c.authTime, c.nonce ?? null, c.idTokenClaims === undefined ? null : JSON.stringify(c.idTokenClaims),
        c.dpopJkt ?? null, c.familyId, c.createdAt, c.expiresAt, c.usedAt ?? null,
      ],
    );
  }

  async findCode(codeHash: string): Promise<AuthorizationCodeRecord | undefined> {
    const { rows } = await this.#deps.pool.query(`SELECT * FROM ${this.#t.codes} WHERE code_hash = $1`, [codeHash]);
    return rows[0] ? toCode(rows[0]) : undefined;
  }

  redeem(codeHash: string, r: { grant: GrantRecord; firstToken: NewRefreshToken; now: number }): Promise<CodeRedemption> {
    return this.#deps.transaction(async (db) => {
      // Row-locked: a concurrent redemption waits here, then sees used_at set and changes nothing.
      const used = await db.query(`UPDATE ${this.#t.codes} SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL`, [codeHash, r.now]);
      if (used.rowCount === 1) {
        await this.#deps.insertGrant(db, r.grant, r.firstToken);
        return 'redeemed';
      }
      const { rows } = await db.query(`SELECT family_id FROM ${this.#t.codes} WHERE code_hash = $1`, [codeHash]);
      if (!rows[0]) return 'unknown';
      // RFC 6749 section 4.1.2: a code used twice revokes what its first use issued.
      await db.query(
        `UPDATE ${this.#t.grants} SET revoked_at = $2, revoked_reason = 'code_replay' WHERE family_id = $1 AND revoked_at IS NULL`,
        [rows[0].family_id, r.now],
      );
      return 'replayed';
    });
  }

  async savePushedRequest(r: PushedAuthorizationRequestRecord): Promise<void> {
    await this.#deps.pool.query(`INSERT INTO ${this.#t.pars} (key, request, expires_at) VALUES ($1, $2, $3)`, [
      r.key,
      JSON.stringify(r.request),
      r.expiresAt,
    ]);
  }

  async takePushedRequest(key: string, now: number): Promise<PushedAuthorizationRequestRecord | undefined> {
    const { rows } = await this.#deps.pool.query(`DELETE FROM ${this.#t.pars} WHERE key = $1 RETURNING request, expires_at`, [key]);
    const row = rows[0];
    if (!row || Number(row.expires_at) <= now) return undefined;
    return { key, request: row.request as AuthorizationRequest, expiresAt: Number(row.expires_at) };
  }

  async getConsent(clientId: string, subject: string): Promise<ConsentRecord | undefined> {
    const { rows } = await this.#deps.pool.query(`SELECT * FROM ${this.#t.consents} WHERE client_id = $1 AND subject = $2`, [clientId, subject]);
    const row = rows[0];
    return row ? { clientId: row.client_id, subject: row.subject, scope: row.scope, grantedAt: Number(row.granted_at) } : undefined;
  }

  async saveConsent(c: ConsentRecord): Promise<void> {
    await this.#deps.pool.query(
      `INSERT INTO ${this.#t.consents} (client_id, subject, scope, granted_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (client_id, subject) DO UPDATE SET scope = EXCLUDED.scope, granted_at = EXCLUDED.granted_at`,
      [c.clientId, c.subject, c.scope, c.grantedAt],
    );
  }

  /** Inside the caller's transaction (client removal). */
  async deleteConsents(db: PoolClient, clientId: string): Promise<void> {
    await db.query(`DELETE FROM ${this.#t.consents} WHERE client_id = $1`, [clientId]);
  }

  /** Deletes at most `limit` rows: codes past their retention, pushed requests past expiry. */
  async purge(now: number, limit: number): Promise<number> {
    const codes = await this.#deps.pool.query(
      `DELETE FROM ${this.#t.codes} WHERE code_hash IN (SELECT code_hash FROM ${this.#t.codes} WHERE expires_at < $1 LIMIT $2)`,
      [now - authorizationCodeRetention, limit],
    );
    let deleted = codes.rowCount ?? 0;
    if (deleted < limit) {
      const pars = await this.#deps.pool.query(
        `DELETE FROM ${this.#t.pars} WHERE key IN (SELECT key FROM ${this.#t.pars} WHERE expires_at < $1 LIMIT $2)`,
        [now, limit - deleted],
      );
      deleted += pars.rowCount ?? 0;
    }
    return deleted;
  }
}

function toCode(row: QueryResultRow): AuthorizationCodeRecord {
  const code: AuthorizationCodeRecord = {
    codeHash: row.code_hash,
    clientId: row.client_id,
    redirectUri: row.redirect_uri,
    codeChallenge: row.code_challenge,
    subject: row.subject,
    scope: row.scope,
    resources: row.resources,
    authTime: Number(row.auth_time),
    familyId: row.family_id,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
  };
  if (row.nonce !== null) code.nonce = row.nonce;
  if (row.id_token_claims !== null) code.idTokenClaims = row.id_token_claims;
  if (row.dpop_jkt !== null) code.dpopJkt = row.dpop_jkt;
  if (row.used_at !== null) code.usedAt = Number(row.used_at);
  return code;
}
