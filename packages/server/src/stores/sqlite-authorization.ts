/**
 * The SQLite tables of the authorization code flow: authorization codes (by hash), pushed
 * authorization requests (RFC 9126) and consents. {@link SqliteStore} delegates to this class;
 * every method runs synchronously, inside the store's write transaction where it writes more
 * than one row.
 */
import type { DatabaseSync, SQLInputValue } from 'node:sqlite';
import { authorizationCodeRetention, type CodeRedemption } from '../core/store.ts';
import type {
  AuthorizationCodeRecord,
  AuthorizationRequest,
  ConsentRecord,
  PushedAuthorizationRequestRecord,
} from '../core/types.ts';
import { lazyStatement, type Statement } from './sqlite-statement.ts';

type Row = Record<string, SQLInputValue>;

const codeColumns =
  'code_hash, client_id, redirect_uri, code_challenge, subject, scope, resources, auth_time, nonce, ' +
  'id_token_claims, dpop_jkt, family_id, created_at, expires_at, used_at';

function prepare(db: DatabaseSync) {
  const p = (sql: string): Statement => lazyStatement(db, sql);
  return {
    saveCode: p(`INSERT INTO authorization_codes (${codeColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    findCode: p(`SELECT ${codeColumns} FROM authorization_codes WHERE code_hash = ?`),
    // The single use: only an unused code changes.
    useCode: p('UPDATE authorization_codes SET used_at = ? WHERE code_hash = ? AND used_at IS NULL'),
    codeFamily: p('SELECT family_id FROM authorization_codes WHERE code_hash = ?'),
    savePar: p('INSERT INTO pushed_authorization_requests (key, request, expires_at) VALUES (?, ?, ?)'),
    takePar: p('DELETE FROM pushed_authorization_requests WHERE key = ? RETURNING request, expires_at'),
    getConsent: p('SELECT client_id, subject, scope, granted_at FROM consents WHERE client_id = ? AND subject = ?'),
    saveConsent: p('INSERT OR REPLACE INTO consents (client_id, subject, scope, granted_at) VALUES (?, ?, ?, ?)'),
    deleteConsents: p('DELETE FROM consents WHERE client_id = ?'),
    purgeCodes: p(
      'DELETE FROM authorization_codes WHERE code_hash IN (SELECT code_hash FROM authorization_codes WHERE expires_at < ? LIMIT ?)',
    ),
    purgePars: p(
      'DELETE FROM pushed_authorization_requests WHERE key IN (SELECT key FROM pushed_authorization_requests WHERE expires_at < ? LIMIT ?)',
    ),
  };
}

function toCode(r: Row): AuthorizationCodeRecord {
  const code: AuthorizationCodeRecord = {
    codeHash: r.code_hash as string,
    clientId: r.client_id as string,
    redirectUri: r.redirect_uri as string,
    codeChallenge: r.code_challenge as string,
    subject: r.subject as string,
    scope: r.scope as string,
    resources: JSON.parse(r.resources as string) as string[],
    authTime: r.auth_time as number,
    familyId: r.family_id as string,
    createdAt: r.created_at as number,
    expiresAt: r.expires_at as number,
  };
  if (r.nonce !== null) code.nonce = r.nonce as string;
  if (r.id_token_claims !== null) code.idTokenClaims = JSON.parse(r.id_token_claims as string) as Record<string, unknown>;
  if (r.dpop_jkt !== null) code.dpopJkt = r.dpop_jkt as string;
  if (r.used_at !== null) code.usedAt = r.used_at as number;
  return code;
}

/**
 * Codes, pushed requests and consents on one SQLite connection.
 *
 * @example
 * ```ts
 * const tables = new SqliteAuthorizationTables(db)
 * tables.saveCode(code)
 * ```
 */
export class SqliteAuthorizationTables {
  readonly #s: ReturnType<typeof prepare>;

  constructor(db: DatabaseSync) {
    this.#s = prepare(db);
  }

  saveCode(c: AuthorizationCodeRecord): void {
    this.#s.saveCode.run(
      c.codeHash, c.clientId, c.redirectUri, c.codeChallenge, c.subject, c.scope, JSON.stringify(c.resources),
      c.authTime, c.nonce ?? null, c.idTokenClaims === undefined ? null : JSON.stringify(c.idTokenClaims),
      c.dpopJkt ?? null, c.familyId, c.createdAt, c.expiresAt, c.usedAt ?? null,
    );
  }

  findCode(codeHash: string): AuthorizationCodeRecord | undefined {
    const row = this.#s.findCode.get(codeHash) as Row | undefined;
    return row ? toCode(row) : undefined;
  }

  /**
   * Inside the caller's write transaction: marks the code used and calls `createGrant`, or,
   * when it was used before, calls `revokeFamily` with the family the code names.
   */
  redeem(codeHash: string, now: number, createGrant: () => void, revokeFamily: (familyId: string) => void): CodeRedemption {
    if (this.#s.useCode.run(now, codeHash).changes === 1) {
      createGrant();
      return 'redeemed';
    }
    const row = this.#s.codeFamily.get(codeHash) as { family_id: string } | undefined;
    if (!row) return 'unknown';
    revokeFamily(row.family_id);
    return 'replayed';
  }

  savePushedRequest(r: PushedAuthorizationRequestRecord): void {
    this.#s.savePar.run(r.key, JSON.stringify(r.request), r.expiresAt);
  }

  /** One statement: the row is gone for every later caller, expired or not. */
  takePushedRequest(key: string, now: number): PushedAuthorizationRequestRecord | undefined {
    const row = this.#s.takePar.get(key) as { request: string; expires_at: number } | undefined;
    if (!row || row.expires_at <= now) return undefined;
    return { key, request: JSON.parse(row.request) as AuthorizationRequest, expiresAt: row.expires_at };
  }

  getConsent(clientId: string, subject: string): ConsentRecord | undefined {
    const row = this.#s.getConsent.get(clientId, subject) as Row | undefined;
    if (!row) return undefined;
    return { clientId: row.client_id as string, subject: row.subject as string, scope: row.scope as string, grantedAt: row.granted_at as number };
  }

  saveConsent(c: ConsentRecord): void {
    this.#s.saveConsent.run(c.clientId, c.subject, c.scope, c.grantedAt);
  }

  deleteConsents(clientId: string): void {
    this.#s.deleteConsents.run(clientId);
  }

  /** Deletes at most `limit` rows: codes past their retention, pushed requests past expiry. */
  purge(now: number, limit: number): number {
    let deleted = Number(this.#s.purgeCodes.run(now - authorizationCodeRetention, limit).changes);
    if (deleted < limit) deleted += Number(this.#s.purgePars.run(now, limit - deleted).changes);
    return deleted;
  }
}
