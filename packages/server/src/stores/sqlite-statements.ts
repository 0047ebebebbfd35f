/**
 * The SQL of the SQLite store: its column lists and every statement it runs, each prepared on
 * its first run (`sqlite-statement.ts`). The schema itself is in `sqlite-schema.ts`.
 */
import type { DatabaseSync, SQLInputValue } from 'node:sqlite';
import type { GrantFilter } from '../core/store.ts';
import { lazyStatement, type Statement } from './sqlite-statement.ts';

const clientColumns =
  'client_id, auth_method, secret_hash, secret_sealed, jwks, jwks_uri, scope, resources, rotation, ' +
  'retry_window, idle_ttl, absolute_ttl, access_token_ttl, access_token_format, id_token_ttl, created_at, ' +
  'assertion_max_lifetime, redirect_uris, grant_types, require_par, jwt_bearer_issuers, introspection';
const grantColumnList = [
  'family_id', 'client_id', 'subject', 'scope', 'resources', 'auth_time', 'id_token_claims', 'dpop_jkt',
  'created_at', 'expires_at', 'revoked_at', 'revoked_reason', 'dpop_bound_from', 'replay_generation', 'replayed_at',
];
const tokenColumnList = [
  'token_hash', 'family_id', 'generation', 'created_at', 'expires_at', 'state', 'rotated_at',
  'successor_hash', 'successor_sealed', 'used_at',
];
const grantColumns = grantColumnList.join(', ');
const opaqueColumns =
  'token_hash, jti, family_id, client_id, subject, scope, audience, issued_at, expires_at, jkt';
const keyColumns = 'kid, alg, public_jwk, private_sealed, created_at, retired_at, remove_after';

/** Token + grant + successor in one statement, so the three are one consistent read. */
const snapshotSql =
  'SELECT ' +
  [
    ...tokenColumnList.map((c) => `t.${c} AS t_${c}`),
    ...grantColumnList.map((c) => `g.${c} AS g_${c}`),
    ...tokenColumnList.map((c) => `s.${c} AS s_${c}`),
  ].join(', ') +
  ' FROM refresh_tokens t JOIN grants g ON g.family_id = t.family_id' +
  ' LEFT JOIN refresh_tokens s ON s.token_hash = t.successor_hash WHERE t.token_hash = ?';

/** The four forms of a statement filtered by grant subject and/or client (each can use its index). */
export type ByGrantFilter = Record<'subject' | 'client' | 'both' | 'all', Statement>;

/** Runs the form of `statements` that `filter` selects, with `leading` parameters first. */
export function runByFilter(statements: ByGrantFilter, filter: GrantFilter, leading: SQLInputValue[]): unknown[] {
  const { subject, clientId } = filter;
  if (subject !== undefined && clientId !== undefined) return statements.both.all(...leading, subject, clientId);
  if (subject !== undefined) return statements.subject.all(...leading, subject);
  if (clientId !== undefined) return statements.client.all(...leading, clientId);
  return statements.all.all(...leading);
}

/** The newest token of each listed grant (LEFT JOIN: a grant whose tokens were purged has none). */
const sessionSql = (where: string) =>
  `SELECT ${grantColumnList.map((c) => `g.${c}`).join(', ')}, t.generation AS t_generation, t.created_at AS t_created_at, ` +
  't.used_at AS t_used_at FROM grants g LEFT JOIN refresh_tokens t ON t.family_id = g.family_id AND t.generation = ' +
  `(SELECT max(generation) FROM refresh_tokens WHERE family_id = g.family_id) ${where} ORDER BY g.created_at DESC, g.rowid DESC`;

/** Every statement the store runs, each prepared on its first run (see sqlite-statement.ts). */
export function prepareStatements(db: DatabaseSync) {
  const p = (sql: string): Statement => lazyStatement(db, sql);
  const byFilter = (sql: (where: string) => string): ByGrantFilter => ({
    subject: p(sql('WHERE g.subject = ?')),
    client: p(sql('WHERE g.client_id = ?')),
    both: p(sql('WHERE g.subject = ? AND g.client_id = ?')),
    all: p(sql('')),
  });
  return {
    begin: p('BEGIN IMMEDIATE'),
    commit: p('COMMIT'),
    rollback: p('ROLLBACK'),
    savepoint: p('SAVEPOINT use_refresh_token'),
    release: p('RELEASE use_refresh_token'),
    rollbackToSavepoint: p('ROLLBACK TO use_refresh_token'),

    getClient: p(`SELECT ${clientColumns} FROM clients WHERE client_id = ?`),
    dataVersion: p('PRAGMA data_version'),
    saveClient: p(
      `INSERT OR REPLACE INTO clients (${clientColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    listClients: p(`SELECT ${clientColumns} FROM clients ORDER BY client_id`),
    deleteClient: p('DELETE FROM clients WHERE client_id = ?'),
    revokeClientGrants: p(
      "UPDATE grants SET revoked_at = ?, revoked_reason = 'admin' WHERE client_id = ? AND revoked_at IS NULL",
    ),

    insertGrant: p(`INSERT INTO grants (${grantColumns}) VALUES (${grantColumnList.map(() => '?').join(', ')})`),
    getGrant: p(`SELECT ${grantColumns} FROM grants WHERE family_id = ?`),
    listGrantsAll: p(`SELECT ${grantColumns} FROM grants ORDER BY created_at DESC, rowid DESC`),
    listGrantsBySubject: p(
      `SELECT ${grantColumns} FROM grants WHERE subject = ? ORDER BY created_at DESC, rowid DESC`,
    ),
    listGrantsByClient: p(
      `SELECT ${grantColumns} FROM grants WHERE client_id = ? ORDER BY created_at DESC, rowid DESC`,
    ),
    listGrantsBySubjectAndClient: p(
      `SELECT ${grantColumns} FROM grants WHERE subject = ? AND client_id = ? ORDER BY created_at DESC, rowid DESC`,
    ),
    revokeGrant: p(
      'UPDATE grants SET revoked_at = ?, revoked_reason = ? WHERE family_id = ? AND revoked_at IS NULL',
    ),
    listSessions: byFilter(sessionSql),
    revokeGrants: byFilter((where) =>
      `UPDATE grants SET revoked_at = ?, revoked_reason = ? ${where.replaceAll('g.', '') || 'WHERE 1'} AND revoked_at IS NULL RETURNING family_id`,
    ),
    bindGrant: p('UPDATE grants SET dpop_jkt = ?, dpop_bound_from = ? WHERE family_id = ? AND dpop_jkt IS NULL'),
    recordReplay: p('UPDATE grants SET replay_generation = ?, replayed_at = ? WHERE family_id = ?'),

    insertToken: p(
      "INSERT INTO refresh_tokens (token_hash, family_id, generation, created_at, expires_at, state) VALUES (?, ?, ?, ?, ?, 'active')",
    ),
    snapshot: p(snapshotSql),
    rotateToken: p(
      "UPDATE refresh_tokens SET state = 'rotated', rotated_at = ?, successor_hash = ?, successor_sealed = ? WHERE token_hash = ? AND state = 'active'",
    ),
    slideToken: p('UPDATE refresh_tokens SET expires_at = ?, used_at = ? WHERE token_hash = ?'),

    // An entry past its expiry counts as absent: the upsert overwrites it and reports a change.
    consumeOnce: p(
      'INSERT INTO consumed_keys (namespace, key, expires_at) VALUES (?, ?, ?) ' +
        'ON CONFLICT (namespace, key) DO UPDATE SET expires_at = excluded.expires_at WHERE consumed_keys.expires_at < ?',
    ),

    saveOpaque: p(`INSERT INTO opaque_access_tokens (${opaqueColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    findOpaque: p(`SELECT ${opaqueColumns} FROM opaque_access_tokens WHERE token_hash = ?`),
    revokeAccessToken: p(
      'INSERT INTO revoked_access_tokens (jti, expires_at) VALUES (?, ?) ' +
        'ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)',
    ),
    isAccessTokenRevoked: p('SELECT 1 AS revoked FROM revoked_access_tokens WHERE jti = ?'),

    listSigningKeys: p(`SELECT ${keyColumns} FROM signing_keys ORDER BY created_at, rowid`),
    retireSigningKeys: p(
      'UPDATE signing_keys SET retired_at = ?, remove_after = ? WHERE retired_at IS NULL AND kid <> ?',
    ),
    insertSigningKey: p(`INSERT INTO signing_keys (${keyColumns}) VALUES (?, ?, ?, ?, ?, ?, ?)`),

    purgeTokens: p(
      'DELETE FROM refresh_tokens WHERE token_hash IN (SELECT t.token_hash FROM grants g ' +
        'JOIN refresh_tokens t ON t.family_id = g.family_id WHERE g.expires_at < ? LIMIT ?)',
    ),
    purgeGrants: p(
      'DELETE FROM grants WHERE family_id IN (SELECT g.family_id FROM grants g WHERE g.expires_at < ? ' +
        'AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = g.family_id) LIMIT ?)',
    ),
    purgeConsumed: p(
      'DELETE FROM consumed_keys WHERE (namespace, key) IN (SELECT namespace, key FROM consumed_keys WHERE expires_at < ? LIMIT ?)',
    ),
    purgeRevokedMarks: p(
      'DELETE FROM revoked_access_tokens WHERE jti IN (SELECT jti FROM revoked_access_tokens WHERE expires_at < ? LIMIT ?)',
    ),
    purgeOpaque: p(
      'DELETE FROM opaque_access_tokens WHERE token_hash IN (SELECT token_hash FROM opaque_access_tokens WHERE expires_at < ? LIMIT ?)',
    ),
    purgeSigningKeys: p(
      'DELETE FROM signing_keys WHERE kid IN (SELECT kid FROM signing_keys WHERE remove_after < ? LIMIT ?)',
    ),
  };
}


/** The prepared statements of one store (see {@link prepareStatements}). */
export type Statements = ReturnType<typeof prepareStatements>;
