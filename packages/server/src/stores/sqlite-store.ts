/**
 * The embedded store: one SQLite file through Node's built-in `node:sqlite`, in WAL mode, that
 * the server and the CLI (or several server processes on one machine) can use at once.
 *
 * Every write runs in `BEGIN IMMEDIATE`, which takes the database's write lock up front, so
 * the consume-and-rotate of a refresh token and single-use identifiers hold across processes.
 * Calls are synchronous underneath and never await inside a transaction, so concurrent calls
 * in one process serialize without interleaving. Concurrent refreshes share one transaction
 * (group commit, see {@link SqliteStore.useRefreshToken}).
 */
import type { DatabaseSync, SQLInputValue } from 'node:sqlite';
import {
  lastUse,
  type GrantFilter,
  type GrantSession,
  type CodeRedemption,
  StoreUnavailableError,
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
import { SqliteAuthorizationTables } from './sqlite-authorization.ts';
import type { WalCheckpointer } from './sqlite-checkpointer.ts';
import { migrate } from './sqlite-schema.ts';
import { lazyStatement, type Statement } from './sqlite-statement.ts';

/** Options of {@link openSqliteStore}. */
export interface SqliteStoreOptions {
  /**
   * SQLite `synchronous` in WAL mode. `'normal'` (default): a committed transaction survives
   * the process being killed (even `kill -9`), but the last few may be lost on power loss or
   * an OS crash. `'full'`: the WAL is fsynced on every commit, so commits also survive power
   * loss, at the cost of one fsync per write.
   */
  synchronous?: 'normal' | 'full';
  /** How long a call waits for another connection's write lock, in ms (default 5000). */
  busyTimeoutMs?: number;
  /**
   * Checkpoint the WAL on a worker thread (default true), for a long-running server. A
   * short-lived process (a CLI command) turns it off and starts faster: SQLite checkpoints
   * when it closes the connection, and a running server checkpoints the same file anyway.
   */
  backgroundCheckpoints?: boolean;
}

type Row = Record<string, SQLInputValue>;

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

const sqliteBusy = 5;
const sqliteFull = 13;

function primaryCode(error: unknown): number | undefined {
  const code = (error as { errcode?: unknown } | null)?.errcode;
  return typeof code === 'number' ? code & 0xff : undefined;
}

function isBusy(error: unknown): boolean {
  return primaryCode(error) === sqliteBusy;
}

/**
 * The "not now" conditions of SQLite as {@link StoreUnavailableError} (503 with Retry-After):
 * the disk is full (`SQLITE_FULL`; the write was rolled back), or another connection held the
 * write lock for longer than the busy timeout (`SQLITE_BUSY`; nothing was written). Anything
 * else is returned unchanged.
 */
function unavailable(error: unknown): unknown {
  switch (primaryCode(error)) {
    case sqliteFull:
      return new StoreUnavailableError('the SQLite database or its disk is full', { cause: error, retryAfter: 5 });
    case sqliteBusy:
      return new StoreUnavailableError('the SQLite database stayed locked by another connection beyond the busy timeout', { cause: error, retryAfter: 1 });
    default:
      return error;
  }
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs the form of `statements` that `filter` selects, with `leading` parameters first. */
function run(statements: ByGrantFilter, filter: GrantFilter, leading: SQLInputValue[]): unknown[] {
  const { subject, clientId } = filter;
  if (subject !== undefined && clientId !== undefined) return statements.both.all(...leading, subject, clientId);
  if (subject !== undefined) return statements.subject.all(...leading, subject);
  if (clientId !== undefined) return statements.client.all(...leading, clientId);
  return statements.all.all(...leading);
}

/** Optional field to column: absent becomes NULL. */
function opt(value: string | number | undefined): string | number | null {
  return value === undefined ? null : value;
}

function optBool(value: boolean | undefined): number | null {
  return value === undefined ? null : value ? 1 : 0;
}

function optJson(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

/** Sets `target[key]` only when the column is not NULL, so optional fields come back absent. */
function put<T extends object, K extends keyof T>(target: T, key: K, value: SQLInputValue | undefined): void {
  if (value !== null && value !== undefined) target[key] = value as T[K];
}

function toClient(r: Row): ClientRecord {
  const client: ClientRecord = {
    clientId: r.client_id as string,
    authMethod: r.auth_method as TokenEndpointAuthMethod,
    scope: r.scope as string,
    resources: JSON.parse(r.resources as string) as string[],
    rotation: r.rotation === 1,
    retryWindow: r.retry_window as number,
    idleTtl: r.idle_ttl as number,
    absoluteTtl: r.absolute_ttl as number,
    accessTokenTtl: r.access_token_ttl as number,
    accessTokenFormat: r.access_token_format as AccessTokenFormat,
    idTokenTtl: r.id_token_ttl as number,
    createdAt: r.created_at as number,
  };
  if (r.redirect_uris !== null) client.redirectUris = JSON.parse(r.redirect_uris as string) as string[];
  if (r.grant_types !== null) client.grantTypes = JSON.parse(r.grant_types as string) as GrantType[];
  if (r.require_par !== null) client.requirePushedAuthorizationRequests = r.require_par === 1;
  if (r.jwt_bearer_issuers !== null) client.jwtBearerIssuers = JSON.parse(r.jwt_bearer_issuers as string) as JwtBearerIssuer[];
  put(client, 'secretHash', r.secret_hash);
  put(client, 'secretSealed', r.secret_sealed);
  if (r.jwks !== null) client.jwks = JSON.parse(r.jwks as string) as { keys: Jwk[] };
  put(client, 'jwksUri', r.jwks_uri);
  put(client, 'assertionMaxLifetime', r.assertion_max_lifetime);
  if (r.introspection === 1) client.introspection = true;
  return client;
}

function toGrant(r: Row, p = ''): GrantRecord {
  const grant: GrantRecord = {
    familyId: r[`${p}family_id`] as string,
    clientId: r[`${p}client_id`] as string,
    subject: r[`${p}subject`] as string,
    scope: r[`${p}scope`] as string,
    resources: JSON.parse(r[`${p}resources`] as string) as string[],
    authTime: r[`${p}auth_time`] as number,
    createdAt: r[`${p}created_at`] as number,
    expiresAt: r[`${p}expires_at`] as number,
  };
  const claims = r[`${p}id_token_claims`];
  if (claims !== null) grant.idTokenClaims = JSON.parse(claims as string) as Record<string, unknown>;
  put(grant, 'dpopJkt', r[`${p}dpop_jkt`]);
  put(grant, 'revokedAt', r[`${p}revoked_at`]);
  put(grant, 'revokedReason', r[`${p}revoked_reason`]);
  put(grant, 'dpopBoundFrom', r[`${p}dpop_bound_from`]);
  put(grant, 'replayGeneration', r[`${p}replay_generation`]);
  put(grant, 'replayedAt', r[`${p}replayed_at`]);
  return grant;
}

function toToken(r: Row, p = ''): RefreshTokenRecord {
  const token: RefreshTokenRecord = {
    tokenHash: r[`${p}token_hash`] as string,
    familyId: r[`${p}family_id`] as string,
    generation: r[`${p}generation`] as number,
    createdAt: r[`${p}created_at`] as number,
    expiresAt: r[`${p}expires_at`] as number,
    state: r[`${p}state`] as RefreshTokenState,
  };
  put(token, 'rotatedAt', r[`${p}rotated_at`]);
  put(token, 'successorHash', r[`${p}successor_hash`]);
  put(token, 'successorSealed', r[`${p}successor_sealed`]);
  put(token, 'usedAt', r[`${p}used_at`]);
  return token;
}

function toSnapshot(r: Row): RefreshSnapshot {
  const snapshot: RefreshSnapshot = { token: toToken(r, 't_'), grant: toGrant(r, 'g_') };
  if (r.s_token_hash !== null) snapshot.successor = toToken(r, 's_');
  return snapshot;
}

function toOpaque(r: Row): OpaqueAccessTokenRecord {
  const token: OpaqueAccessTokenRecord = {
    tokenHash: r.token_hash as string,
    jti: r.jti as string,
    familyId: r.family_id as string,
    clientId: r.client_id as string,
    subject: r.subject as string,
    scope: r.scope as string,
    audience: JSON.parse(r.audience as string) as string[],
    issuedAt: r.issued_at as number,
    expiresAt: r.expires_at as number,
  };
  put(token, 'jkt', r.jkt);
  return token;
}

function toSigningKey(r: Row): SigningKeyRecord {
  const key: SigningKeyRecord = {
    kid: r.kid as string,
    alg: r.alg as SigningAlg,
    publicJwk: JSON.parse(r.public_jwk as string) as Jwk,
    privateSealed: r.private_sealed as string,
    createdAt: r.created_at as number,
  };
  put(key, 'retiredAt', r.retired_at);
  put(key, 'removeAfter', r.remove_after);
  return key;
}

/** The four forms of a statement filtered by grant subject and/or client (each can use its index). */
type ByGrantFilter = Record<'subject' | 'client' | 'both' | 'all', Statement>;

/** The newest token of each listed grant (LEFT JOIN: a grant whose tokens were purged has none). */
const sessionSql = (where: string) =>
  `SELECT ${grantColumnList.map((c) => `g.${c}`).join(', ')}, t.generation AS t_generation, t.created_at AS t_created_at, ` +
  't.used_at AS t_used_at FROM grants g LEFT JOIN refresh_tokens t ON t.family_id = g.family_id AND t.generation = ' +
  `(SELECT max(generation) FROM refresh_tokens WHERE family_id = g.family_id) ${where} ORDER BY g.created_at DESC, g.rowid DESC`;

/** Every statement the store runs, each prepared on its first run (see sqlite-statement.ts). */
function prepareStatements(db: DatabaseSync) {
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

type Statements = ReturnType<typeof prepareStatements>;

/** How often a write that still finds the database locked after the busy timeout is retried. */
const busyRetries = 3;

/** Most client records kept in memory (see {@link SqliteStore.getClient}). */
const maxCachedClients = 1024;

/** Most writes committed together (group commit). */
const maxBatch = 256;

/**
 * Writes waiting that start a group commit at once, without waiting for the end of the turn's
 * I/O callbacks. Under overload one turn can last long: libuv goes on reading while sockets are
 * ready (up to 48 rounds of 1024 events), and a commit left for `setImmediate` meanwhile held
 * every admitted request, so that all the others were refused (a second with no answer at 3x
 * capacity in the benchmark). 64 writes already share most of a transaction's fixed cost.
 */
const flushAt = 64;

/**
 * One write waiting for the next group commit: `run` applies it inside the batch's transaction
 * (and, if it throws, has undone its own writes first); its outcome is handed out only after
 * the COMMIT.
 */
interface QueuedWrite {
  run: () => unknown;
  resolve: (value: never) => void;
  reject: (error: unknown) => void;
  outcome?: { ok: true; value: unknown } | { ok: false; error: unknown };
}

/**
 * A {@link Store} on one SQLite file. Open it with {@link openSqliteStore}.
 *
 * @example
 * ```ts
 * const store = await openSqliteStore('./refresh-grant.db')
 * await store.saveClient(client)
 * await store.close()
 * ```
 */
export class SqliteStore implements Store {
  /** Processes on one machine share the file; `BEGIN IMMEDIATE` serializes their writes. */
  readonly capabilities: StoreCapabilities = { sharedAcrossProcesses: true, purgesInBackground: false };
  readonly #db: DatabaseSync;
  readonly #s: Statements;
  /** Authorization codes, pushed requests, consents. */
  readonly #auth: SqliteAuthorizationTables;
  /** Writes waiting for the next group commit. */
  #queue: QueuedWrite[] = [];
  #flushScheduled = false;
  /** A full batch (see {@link flushAt}) is about to be committed from a microtask. */
  #flushSoon = false;
  /** Group commits started so far: the turn's `setImmediate` flush yields if one ran since it was scheduled. */
  #flushCount = 0;
  /** Group commits under way (a busy database makes one wait and retry). */
  readonly #flushes = new Set<Promise<void>>();

  readonly #checkpointer: WalCheckpointer | undefined;
  /** The connection's busy timeout, in ms (how long group commits wait for the write lock). */
  readonly #busyTimeoutMs: number;
  /** The last SQLITE_BUSY of {@link #tryBegin}, thrown when a group commit gives up. */
  #tryBeginError: unknown;
  /** Client records (null: no such client) read at `data_version` {@link #clientsVersion}. */
  readonly #clients = new Map<string, ClientRecord | null>();
  #clientsVersion = -1;
  /** True while the current turn of the event loop has checked `data_version`. */
  #clientsChecked = false;

  /** Wraps an open, migrated database; prefer {@link openSqliteStore}. */
  constructor(db: DatabaseSync, checkpointer?: WalCheckpointer) {
    this.#db = db;
    this.#s = prepareStatements(db);
    this.#auth = new SqliteAuthorizationTables(db);
    this.#checkpointer = checkpointer;
    this.#busyTimeoutMs = (db.prepare('PRAGMA busy_timeout').get() as { timeout: number }).timeout;
  }

  /**
   * Runs `fn` in `BEGIN IMMEDIATE` ... `COMMIT`, rolling back and rethrowing if anything
   * throws. `fn` is synchronous, so nothing else in this process runs inside the transaction.
   * A lock still held elsewhere after the busy timeout is retried a few times.
   */
  async #write<T>(fn: () => T, writes = 1): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        const result = this.#transaction(fn);
        this.#checkpointer?.noteWrites(writes);
        return result;
      } catch (error) {
        if (!isBusy(error) || attempt >= busyRetries) throw unavailable(error);
        await sleep(10 + Math.random() * 40);
      }
    }
  }

  #transaction<T>(fn: () => T): T {
    this.#s.begin.run();
    try {
      const result = fn();
      this.#s.commit.run();
      return result;
    } catch (error) {
      // SQLite may already have rolled back on its own (e.g. a full disk).
      if (this.#db.isTransaction) this.#s.rollback.run();
      throw error;
    }
  }

  /**
   * Client records are read on every request, and rarely change: they are kept in memory for
   * as long as `PRAGMA data_version` shows that no other connection (the CLI, another server
   * process) committed anything, and dropped on this connection's own client writes. So a
   * change made anywhere is seen by every request of the next turn of the event loop, exactly
   * as without the cache; the check (a read transaction, 6-8 µs under load) runs once per turn.
   */
  async getClient(clientId: string): Promise<ClientRecord | undefined> {
    if (!this.#clientsChecked) {
      // Once per turn of the event loop: the requests that arrived together share one check.
      this.#clientsChecked = true;
      setImmediate(() => (this.#clientsChecked = false));
      const version = (this.#s.dataVersion.get() as { data_version: number }).data_version;
      if (version !== this.#clientsVersion) {
        this.#clients.clear();
        this.#clientsVersion = version;
      }
    }
    let client = this.#clients.get(clientId);
    if (client === undefined) {
      const row = this.#s.getClient.get(clientId) as Row | undefined;
      client = row ? toClient(row) : null;
      if (this.#clients.size >= maxCachedClients) this.#clients.clear();
      this.#clients.set(clientId, client);
    }
    return client === null ? undefined : { ...client };
  }

  async saveClient(c: ClientRecord): Promise<void> {
    this.#clients.clear();
    await this.#write(() => {
      this.#s.saveClient.run(
        c.clientId, c.authMethod, opt(c.secretHash), opt(c.secretSealed), optJson(c.jwks), opt(c.jwksUri),
        c.scope, JSON.stringify(c.resources), c.rotation ? 1 : 0, c.retryWindow, c.idleTtl, c.absoluteTtl,
        c.accessTokenTtl, c.accessTokenFormat, c.idTokenTtl, c.createdAt, opt(c.assertionMaxLifetime), optJson(c.redirectUris),
        optJson(c.grantTypes), optBool(c.requirePushedAuthorizationRequests), optJson(c.jwtBearerIssuers),
        c.introspection ? 1 : 0,
      );
    });
  }

  async listClients(): Promise<ClientRecord[]> {
    return (this.#s.listClients.all() as Row[]).map(toClient);
  }

  async deleteClient(clientId: string, now: number): Promise<boolean> {
    this.#clients.clear();
    return this.#write(() => {
      const existed = this.#s.deleteClient.run(clientId).changes > 0;
      this.#s.revokeClientGrants.run(now, clientId);
      this.#auth.deleteConsents(clientId);
      return existed;
    });
  }

  async createGrant(g: GrantRecord, firstToken: NewRefreshToken): Promise<void> {
    await this.#write(() => this.#insertGrant(g, firstToken));
  }

  /** The grant and its first token, inside the open write transaction. */
  #insertGrant(g: GrantRecord, firstToken: NewRefreshToken): void {
    this.#s.insertGrant.run(
      g.familyId, g.clientId, g.subject, g.scope, JSON.stringify(g.resources), g.authTime,
      optJson(g.idTokenClaims), opt(g.dpopJkt), g.createdAt, g.expiresAt, opt(g.revokedAt),
      opt(g.revokedReason), opt(g.dpopBoundFrom), opt(g.replayGeneration), opt(g.replayedAt),
    );
    this.#s.insertToken.run(firstToken.tokenHash, g.familyId, 1, g.createdAt, firstToken.expiresAt);
  }

  // --- authorization codes, pushed requests, consents (sqlite-authorization.ts) --------

  async saveAuthorizationCode(code: AuthorizationCodeRecord): Promise<void> {
    await this.#write(() => this.#auth.saveCode(code));
  }

  async findAuthorizationCode(codeHash: string): Promise<AuthorizationCodeRecord | undefined> {
    return this.#auth.findCode(codeHash);
  }

  /** One `BEGIN IMMEDIATE` transaction: the code's single use and the grant it creates, or the revocation. */
  redeemAuthorizationCode(codeHash: string, r: { grant: GrantRecord; firstToken: NewRefreshToken; now: number }): Promise<CodeRedemption> {
    return this.#write(() =>
      this.#auth.redeem(
        codeHash,
        r.now,
        () => this.#insertGrant(r.grant, r.firstToken),
        (familyId) => this.#s.revokeGrant.run(r.now, 'code_replay', familyId),
      ),
    );
  }

  async savePushedAuthorizationRequest(request: PushedAuthorizationRequestRecord): Promise<void> {
    await this.#write(() => this.#auth.savePushedRequest(request));
  }

  takePushedAuthorizationRequest(key: string, now: number): Promise<PushedAuthorizationRequestRecord | undefined> {
    return this.#write(() => this.#auth.takePushedRequest(key, now));
  }

  async getConsent(clientId: string, subject: string): Promise<ConsentRecord | undefined> {
    return this.#auth.getConsent(clientId, subject);
  }

  async saveConsent(consent: ConsentRecord): Promise<void> {
    await this.#write(() => this.#auth.saveConsent(consent));
  }

  async getGrant(familyId: string): Promise<GrantRecord | undefined> {
    const row = this.#s.getGrant.get(familyId) as Row | undefined;
    return row ? toGrant(row) : undefined;
  }

  async listGrants(filter: { subject?: string; clientId?: string }): Promise<GrantRecord[]> {
    const { subject, clientId } = filter;
    let rows: unknown[];
    if (subject !== undefined && clientId !== undefined) {
      rows = this.#s.listGrantsBySubjectAndClient.all(subject, clientId);
    } else if (subject !== undefined) {
      rows = this.#s.listGrantsBySubject.all(subject);
    } else if (clientId !== undefined) {
      rows = this.#s.listGrantsByClient.all(clientId);
    } else {
      rows = this.#s.listGrantsAll.all();
    }
    return (rows as Row[]).map((r) => toGrant(r));
  }

  async listSessions(filter: GrantFilter): Promise<GrantSession[]> {
    const rows = run(this.#s.listSessions, filter, []) as Row[];
    return rows.map((r) => {
      const grant = toGrant(r);
      if (r.t_generation === null) return { grant, generation: 0 };
      const newest = { generation: r.t_generation as number, createdAt: r.t_created_at as number };
      if (r.t_used_at !== null) (newest as { usedAt?: number }).usedAt = r.t_used_at as number;
      const lastUsedAt = lastUse(grant, newest);
      return lastUsedAt === undefined ? { grant, generation: newest.generation } : { grant, generation: newest.generation, lastUsedAt };
    });
  }

  async revokeGrants(filter: GrantFilter, reason: string, now: number): Promise<string[]> {
    if (filter.subject === undefined && filter.clientId === undefined) throw new TypeError('revokeGrants needs a subject or a clientId');
    const rows = await this.#write(() => run(this.#s.revokeGrants, filter, [now, reason]) as Row[]);
    return rows.map((r) => r.family_id as string);
  }

  /** Group-committed (see {@link useRefreshToken}): one statement, atomic. */
  revokeGrant(familyId: string, reason: string, now: number): Promise<boolean> {
    return this.#enqueue(() => this.#s.revokeGrant.run(now, reason, familyId).changes > 0);
  }

  async findRefreshToken(tokenHash: string): Promise<RefreshSnapshot | undefined> {
    const row = this.#s.snapshot.get(tokenHash) as Row | undefined;
    return row ? toSnapshot(row) : undefined;
  }

  /**
   * Group commit: the refreshes (and opaque access tokens) that arrive while the event loop
   * handles one round of I/O are applied together, in arrival order, in one `BEGIN IMMEDIATE`
   * ... `COMMIT`, which saves a transaction (locks, WAL frames, checkpoint work) per request.
   * Each call stays atomic and isolated: it reads the state every earlier call left, its writes
   * are undone alone if they fail (a savepoint), and its promise settles only after the COMMIT,
   * so a rotation is answered only once it is durable. If the transaction itself fails, every
   * call of the batch fails and none was applied.
   */
  useRefreshToken(
    tokenHash: string,
    decide: (snapshot: RefreshSnapshot | undefined) => RefreshDecision,
  ): Promise<RefreshUse> {
    return this.#enqueue(() => {
      const row = this.#s.snapshot.get(tokenHash) as Row | undefined;
      const snapshot = row ? toSnapshot(row) : undefined;
      const decision = decide(snapshot);
      // A rotation writes twice: a savepoint keeps the pair atomic without failing the batch.
      if (decision.action !== 'rotate') this.#apply(snapshot, decision);
      else this.#inSavepoint(() => this.#apply(snapshot, decision));
      return { snapshot, decision };
    });
  }

  /** Queues `run` for the next group commit; see {@link useRefreshToken}. */
  #enqueue<T>(run: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ run, resolve: resolve as (value: never) => void, reject });
      if (this.#queue.length >= flushAt && !this.#flushSoon && this.#flushes.size === 0) {
        // A full batch is committed now, not at the end of a turn that may last long.
        this.#flushSoon = true;
        queueMicrotask(() => {
          this.#flushSoon = false;
          this.#startFlush();
        });
      }
      this.#scheduleFlush();
    });
  }

  /**
   * Schedules the next group commit after the I/O callbacks of this loop turn (every request
   * that arrived with them joins it), unless one is scheduled or under way (it schedules the
   * next when it ends).
   */
  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#flushes.size > 0 || this.#queue.length === 0) return;
    this.#flushScheduled = true;
    const count = this.#flushCount;
    setImmediate(() => {
      this.#flushScheduled = false;
      // A full batch was committed since (see flushAt): the rest waits for the next turn, so
      // that the loop runs other callbacks between two batches.
      if (this.#flushCount !== count) this.#scheduleFlush();
      else this.#startFlush();
    });
  }

  /**
   * Commits one batch of at most {@link maxBatch} writes: one batch per turn of the event loop
   * (or per {@link flushAt} arrivals within a long one), so that however long the queue, the
   * loop answers other requests between two commits. The queue itself is bounded by the
   * requests in flight (`createNodeServer`'s `maxInFlight`).
   */
  #startFlush(): void {
    if (this.#queue.length === 0 || this.#flushes.size > 0) return;
    this.#flushCount++;
    const flush = this.#flush(this.#queue.splice(0, maxBatch));
    this.#flushes.add(flush);
    void flush.finally(() => {
      this.#flushes.delete(flush);
      this.#scheduleFlush();
    });
  }

  /**
   * Applies a batch in one transaction. The write lock is asked for without SQLite's blocking
   * busy wait: while another process holds it, this one keeps serving requests and asks again
   * a millisecond later, for up to the busy timeout.
   */
  async #flush(batch: QueuedWrite[]): Promise<void> {
    const deadline = Date.now() + this.#busyTimeoutMs;
    try {
      for (let attempt = 0; !this.#tryBegin(); attempt++) {
        if (Date.now() >= deadline) throw this.#tryBeginError ?? new Error('database is locked');
        await sleep(Math.min(1 + attempt, 10));
      }
      try {
        for (const item of batch) {
          try {
            item.outcome = { ok: true, value: item.run() };
          } catch (error) {
            // SQLite may have rolled the whole transaction back on its own (e.g. a full disk).
            if (!this.#db.isTransaction) throw error;
            item.outcome = { ok: false, error: unavailable(error) };
          }
        }
        this.#s.commit.run();
      } catch (error) {
        if (this.#db.isTransaction) this.#s.rollback.run();
        throw error;
      }
      this.#checkpointer?.noteWrites(batch.length);
    } catch (error) {
      // Nothing of the batch was committed: every call fails, a full disk or a lock held too long as 503.
      const failure = unavailable(error);
      for (const item of batch) item.reject(failure);
      return;
    }
    for (const { outcome, resolve, reject } of batch) {
      if (outcome!.ok) resolve(outcome!.value as never);
      else reject(outcome!.error);
    }
  }

  /**
   * `BEGIN IMMEDIATE` without waiting: true if this connection now holds the write lock.
   * (`exec`, not prepared statements: SQLite applies `PRAGMA busy_timeout` when preparing it.)
   */
  #tryBegin(): boolean {
    this.#db.exec('PRAGMA busy_timeout = 0');
    try {
      this.#s.begin.run();
      return true;
    } catch (error) {
      if (!isBusy(error)) throw error;
      this.#tryBeginError = error;
      return false;
    } finally {
      this.#db.exec(`PRAGMA busy_timeout = ${this.#busyTimeoutMs}`);
    }
  }

  /** Runs `fn` in a savepoint of the open transaction: all of its writes, or none. */
  #inSavepoint(fn: () => void): void {
    this.#s.savepoint.run();
    try {
      fn();
    } catch (error) {
      if (this.#db.isTransaction) this.#s.rollbackToSavepoint.run();
      throw error;
    } finally {
      if (this.#db.isTransaction) this.#s.release.run();
    }
  }

  /** Applies `decision` inside the open transaction of {@link useRefreshToken}. */
  #apply(snapshot: RefreshSnapshot | undefined, decision: RefreshDecision): void {
    switch (decision.action) {
      case 'replay':
        if (!snapshot) throw new Error('cannot replay an unknown refresh token');
        this.#s.recordReplay.run(snapshot.token.generation, decision.at ?? nowSeconds(), snapshot.grant.familyId);
        return;
      case 'reject':
        if (decision.revokeFamily && snapshot) {
          this.#s.revokeGrant.run(decision.at ?? nowSeconds(), decision.reason, snapshot.grant.familyId);
        }
        return;
      case 'keep': {
        if (!snapshot) throw new Error('cannot keep an unknown refresh token');
        this.#s.slideToken.run(decision.expiresAt, decision.at ?? nowSeconds(), snapshot.token.tokenHash);
        return;
      }
      case 'rotate': {
        if (!snapshot) throw new Error('cannot rotate an unknown refresh token');
        const { token } = snapshot;
        const now = decision.at ?? nowSeconds();
        const changed = this.#s.rotateToken.run(
          now, decision.successor.tokenHash, decision.successorSealed, token.tokenHash,
        ).changes;
        // RFC 9700 section 4.14.2: a refresh token is rotated at most once; a second rotation is a bug.
        if (changed !== 1) throw new Error('refresh token is not active; refusing to rotate it twice');
        this.#s.insertToken.run(
          decision.successor.tokenHash, token.familyId, token.generation + 1, now, decision.successor.expiresAt,
        );
        // RFC 9449 section 5: bound from the successor on; a family is bound at most once.
        if (decision.bindDpopJkt !== undefined && this.#s.bindGrant.run(decision.bindDpopJkt, token.generation + 1, token.familyId).changes !== 1) {
          throw new Error('refresh token family is already DPoP-bound; refusing to bind it again');
        }
        return;
      }
    }
  }

  /**
   * Group-committed (see {@link useRefreshToken}): one statement, atomic, and waiting for
   * another process's write lock without blocking the event loop.
   */
  consumeOnce(namespace: string, key: string, expiresAt: number): Promise<boolean> {
    return this.#enqueue(() => this.#s.consumeOnce.run(namespace, key, expiresAt, nowSeconds()).changes > 0);
  }

  /** Group-committed with the refreshes (see {@link useRefreshToken}): one statement, atomic. */
  saveOpaqueAccessToken(t: OpaqueAccessTokenRecord): Promise<void> {
    return this.#enqueue(() => {
      this.#s.saveOpaque.run(
        t.tokenHash, t.jti, t.familyId, t.clientId, t.subject, t.scope, JSON.stringify(t.audience), t.issuedAt,
        t.expiresAt, opt(t.jkt),
      );
    });
  }

  async findOpaqueAccessToken(tokenHash: string): Promise<OpaqueAccessTokenRecord | undefined> {
    const row = this.#s.findOpaque.get(tokenHash) as Row | undefined;
    return row ? toOpaque(row) : undefined;
  }

  /** Group-committed (see {@link useRefreshToken}): one statement, atomic. */
  async revokeAccessToken(jti: string, expiresAt: number): Promise<void> {
    await this.#enqueue(() => this.#s.revokeAccessToken.run(jti, expiresAt));
  }

  async isAccessTokenRevoked(jti: string): Promise<boolean> {
    return this.#s.isAccessTokenRevoked.get(jti) !== undefined;
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    return (this.#s.listSigningKeys.all() as Row[]).map(toSigningKey);
  }

  async addSigningKey(k: SigningKeyRecord, removeRetiredAfter: number): Promise<void> {
    await this.#write(() => {
      this.#s.retireSigningKeys.run(k.createdAt, removeRetiredAfter, k.kid);
      this.#s.insertSigningKey.run(
        k.kid, k.alg, JSON.stringify(k.publicJwk), k.privateSealed, k.createdAt, opt(k.retiredAt),
        opt(k.removeAfter),
      );
    });
  }

  async purgeExpired(now: number, limit: number): Promise<number> {
    return this.#write(() => {
      let deleted = 0;
      // Tokens before their grants: the grant goes once its family has no token left.
      for (const stmt of [
        this.#s.purgeTokens,
        this.#s.purgeGrants,
        this.#s.purgeConsumed,
        this.#s.purgeRevokedMarks,
        this.#s.purgeOpaque,
        this.#s.purgeSigningKeys,
      ]) {
        if (deleted >= limit) break;
        deleted += Number(stmt.run(now, limit - deleted).changes);
      }
      if (deleted < limit) deleted += this.#auth.purge(now, limit - deleted);
      return deleted;
    });
  }

  async close(): Promise<void> {
    // Queued writes are committed (or fail) before the database goes, one batch after another.
    while (this.#queue.length > 0 || this.#flushes.size > 0) {
      if (this.#flushes.size === 0) this.#startFlush();
      await Promise.allSettled([...this.#flushes]);
    }
    await this.#checkpointer?.stop();
    if (this.#db.isOpen) this.#db.close();
  }
}

/**
 * Opens (creating if needed) the SQLite store at `path`: WAL journal, foreign keys on, the
 * busy timeout set, and any missing schema migrations applied under the write lock.
 *
 * @example
 * ```ts
 * const store = await openSqliteStore('./refresh-grant.db', { synchronous: 'full' })
 * const grants = await store.listGrants({ subject: 'alice' })
 * await store.close()
 * ```
 */
export async function openSqliteStore(path: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  const synchronous = options.synchronous ?? 'normal';
  // Not `import { DatabaseSync } from 'node:sqlite'`, which builds the module's ES namespace
  // as well, and a command that runs once pays for it in start-up.
  const { DatabaseSync } = process.getBuiltinModule('node:sqlite');
  const db = new DatabaseSync(path, { timeout: busyTimeoutMs, enableForeignKeyConstraints: true });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        // Switching a new file to WAL needs a brief exclusive lock another opener may hold.
        const row = db.prepare('PRAGMA journal_mode = WAL').get() as { journal_mode: string };
        if (row.journal_mode !== 'wal' && path !== ':memory:') {
          throw new Error(`could not enable WAL mode on ${path} (got ${row.journal_mode})`);
        }
        db.exec(`PRAGMA synchronous = ${synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
        // Performance only, durability unchanged (every commit still reaches the WAL before it
        // is answered): checkpoints run on a worker thread (sqlite-checkpointer.ts), so this
        // connection's own automatic checkpoint only runs every 16,000 WAL pages, finds little
        // left to copy, and resets the log; and up to 64 MiB of pages stay in memory, so that
        // the token indexes of a growing file stay cached.
        db.exec(`PRAGMA wal_autocheckpoint = ${path === ':memory:' ? 1000 : 16000}`);
        db.exec('PRAGMA cache_size = -65536');
        migrate(db);
        break;
      } catch (error) {
        if (!isBusy(error) || attempt >= busyRetries) throw error;
        await sleep(10 + Math.random() * 40);
      }
    }
    // The checkpointer's module is loaded only by the stores that start one (a server's).
    const checkpoints = path !== ':memory:' && options.backgroundCheckpoints !== false;
    return new SqliteStore(db, checkpoints ? (await import('./sqlite-checkpointer.ts')).WalCheckpointer.start(path) : undefined);
  } catch (error) {
    db.close();
    throw error;
  }
}
