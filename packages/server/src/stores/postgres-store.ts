/**
 * The PostgreSQL store: for several server processes sharing one database. Rotation holds
 * across them because {@link PostgresStore.useRefreshToken} locks the token's row
 * (`SELECT ... FOR UPDATE`) for the whole read-decide-write, and single-use keys hold because
 * {@link PostgresStore.consumeOnce} is one `INSERT ... ON CONFLICT` statement.
 *
 * Refreshes are group-committed (`postgres-group-commit.ts`), and client lookups that arrive
 * together share one query. A lost connection never ends the process: every pooled connection
 * has an `'error'` listener, a connection that failed is released as broken, the pool opens
 * new ones as needed, and the failure reaches the caller as a {@link StoreUnavailableError}
 * (503 with `Retry-After`) rather than a 500 (`postgres-faults.ts`).
 */
import pg from 'pg';
import type { Pool, PoolClient } from 'pg';
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
  type StoreStats,
} from '../core/store.ts';
import type {
  AuthorizationCodeRecord,
  ClientRecord,
  ConsentRecord,
  GrantRecord,
  NewRefreshToken,
  OpaqueAccessTokenRecord,
  PushedAuthorizationRequestRecord,
  SigningKeyRecord,
} from '../core/types.ts';
import { PostgresAuthorizationTables } from './postgres-authorization.ts';
import { mapFaults, watchConnection, type Queries } from './postgres-faults.ts';
import { RefreshGroupCommit } from './postgres-group-commit.ts';
import { clientParams, grantParams, num, opaqueParams, signingKeyParams, toClient, toGrant, toOpaque, toSigningKey, toToken, withOptional } from './postgres-rows.ts';
import { migrate, quoteIdent } from './postgres-schema.ts';
import { postgresStatements, tablesIn, type PostgresStatements, type PostgresTables } from './postgres-statements.ts';
import { transaction } from './postgres-transaction.ts';

/** Options of {@link openPostgresStore}. */
export interface PostgresStoreOptions {
  /** Schema holding the tables; created if missing. Default `public`. */
  schema?: string;
  /** Maximum connections in the pool. Default 10. */
  poolSize?: number;
  /**
   * How long a call waits for a connection (a new one, or a pooled one coming free) before it
   * fails with `StoreUnavailableError` (exported by `@refresh-grant/server`), in ms. Default 5000.
   */
  connectTimeoutMs?: number;
  /**
   * Most refreshes committed in one transaction (group commit). Default 256; 1 gives every
   * refresh a transaction of its own.
   */
  maxBatch?: number;
  /**
   * Most group-commit transactions under way at once, each on its own pooled connection.
   * Default 2: while one batch waits for its commit, the next one collects the refreshes that
   * arrive meanwhile.
   */
  maxBatchesInFlight?: number;
  /** How often the background purge runs, in milliseconds; 0 turns it off. Default 60000. */
  purgeIntervalMs?: number;
  /** Rows the background purge deletes per statement batch. Default 500. */
  purgeBatch?: number;
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/**
 * Opens (and migrates) a PostgreSQL store. Its connections identify themselves as
 * `refresh-grant` in `pg_stat_activity` unless the URL sets `application_name`.
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
  const pool = new pg.Pool({
    connectionString,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    keepAlive: true,
    fallback_application_name: 'refresh-grant',
  });
  // Every connection listens for its own errors for as long as it lives (postgres-faults.ts).
  pool.on('connect', watchConnection);
  // An idle connection's error (a restart, a terminated backend): the pool has dropped it and
  // opens a new one when needed.
  pool.on('error', (error) => process.stderr.write(`refresh-grant postgres: idle connection lost: ${error.message}\n`));
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

  /** Single statements, on whichever pooled connection is free; connection failures mapped. */
  readonly #pool: Queries;
  readonly #connections: Pool;
  /** Table names, qualified with the quoted schema. */
  readonly #t: PostgresTables;
  /** The text of every statement (`postgres-statements.ts`). */
  readonly #sql: PostgresStatements;
  readonly #purgeBatch: number;
  #purgeTimer: NodeJS.Timeout | undefined;
  #purging: Promise<void> | undefined;
  #closed: Promise<void> | undefined;
  /** Authorization codes, pushed requests, consents. */
  readonly #auth: PostgresAuthorizationTables;
  readonly #refreshes: RefreshGroupCommit;
  /** The client lookup of this turn of the event loop, which later calls of the turn join. */
  #clientLookup: { ids: Set<string>; rows: Promise<Map<string, ClientRecord>> } | undefined;

  /** @internal Use {@link openPostgresStore}. */
  constructor(pool: Pool, schema: string, options: PostgresStoreOptions = {}) {
    this.#connections = pool;
    this.#pool = mapFaults(pool);
    const s = quoteIdent(schema);
    this.#t = tablesIn(s);
    this.#sql = postgresStatements(this.#t);
    this.#auth = new PostgresAuthorizationTables({
      pool: this.#pool,
      schema: s,
      transaction: (work) => this.#transaction(work),
      insertGrant: (db, grant, firstToken) => this.#insertGrant(db, grant, firstToken),
    });
    this.#refreshes = new RefreshGroupCommit(pool, this.#t, {
      maxBatch: Math.max(1, options.maxBatch ?? 256),
      maxInFlight: Math.max(1, options.maxBatchesInFlight ?? 2),
    });
    this.#purgeBatch = options.purgeBatch ?? 500;
    const interval = options.purgeIntervalMs ?? 60_000;
    this.capabilities = { sharedAcrossProcesses: true, purgesInBackground: interval > 0 };
    if (interval > 0) {
      this.#purgeTimer = setInterval(() => this.#backgroundPurge(), interval);
      this.#purgeTimer.unref();
    }
  }

  // --- clients -----------------------------------------------------------------------

  /**
   * The lookups made during one turn of the event loop share one query, sent after the turn's
   * I/O callbacks: so it reads a state at least as new as every one of them, and the requests
   * that arrive together cost one round trip instead of one each.
   */
  async getClient(clientId: string): Promise<ClientRecord | undefined> {
    let lookup = this.#clientLookup;
    if (!lookup) {
      const ids = new Set<string>();
      const rows = new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
        this.#clientLookup = undefined;
        const { rows } = await this.#pool.query(this.#sql.getClients, [[...ids]]);
        return new Map(rows.map((row): [string, ClientRecord] => [row.client_id, toClient(row)]));
      });
      lookup = this.#clientLookup = { ids, rows };
    }
    lookup.ids.add(clientId);
    const client = (await lookup.rows).get(clientId);
    // A copy per caller: the record is shared by every caller of the turn.
    return client && { ...client };
  }

  async saveClient(client: ClientRecord): Promise<void> {
    await this.#pool.query(this.#sql.saveClient, clientParams(client));
  }

  async listClients(): Promise<ClientRecord[]> {
    const { rows } = await this.#pool.query(this.#sql.listClients);
    return rows.map(toClient);
  }

  async deleteClient(clientId: string, now: number): Promise<boolean> {
    return this.#transaction(async (db) => {
      const deleted = await db.query(this.#sql.deleteClient, [clientId]);
      await db.query(this.#sql.revokeClientGrants, [clientId, now]);
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
    await db.query(this.#sql.insertGrant, grantParams(grant));
    await db.query(this.#sql.insertFirstToken, [firstToken.tokenHash, grant.familyId, grant.createdAt, firstToken.expiresAt]);
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
    const { rows } = await this.#pool.query(this.#sql.getGrant, [familyId]);
    return rows[0] ? toGrant(rows[0]) : undefined;
  }

  async listGrants(filter: GrantFilter): Promise<GrantRecord[]> {
    const { rows } = await this.#pool.query(this.#sql.listGrants, [filter.subject ?? null, filter.clientId ?? null]);
    return rows.map(toGrant);
  }

  async listSessions(filter: GrantFilter): Promise<GrantSession[]> {
    const { rows } = await this.#pool.query(this.#sql.listSessions, [filter.subject ?? null, filter.clientId ?? null]);
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
    const { rows } = await this.#pool.query(this.#sql.revokeGrants, [filter.subject ?? null, filter.clientId ?? null, now, reason]);
    return rows.map((row) => row.family_id as string);
  }

  async revokeGrant(familyId: string, reason: string, now: number): Promise<boolean> {
    const result = await this.#pool.query(this.#sql.revokeGrant, [familyId, reason, now]);
    return (result.rowCount ?? 0) > 0;
  }

  async findRefreshToken(tokenHash: string): Promise<RefreshSnapshot | undefined> {
    // One statement, so one snapshot: token, grant and successor are mutually consistent.
    const { rows } = await this.#pool.query(this.#sql.snapshot, [tokenHash]);
    const row = rows[0];
    if (!row) return undefined;
    const snapshot: RefreshSnapshot = { token: toToken(row.token), grant: toGrant(row.grant) };
    if (row.successor) snapshot.successor = toToken(row.successor);
    return snapshot;
  }

  /**
   * Group-committed (`postgres-group-commit.ts`): the refreshes that arrive together share one
   * transaction and one WAL flush; each is still decided under its token's and its grant's row
   * locks, applied atomically, and answered only after the COMMIT.
   */
  useRefreshToken(
    tokenHash: string,
    decide: (snapshot: RefreshSnapshot | undefined) => RefreshDecision,
  ): Promise<RefreshUse> {
    return this.#refreshes.use(tokenHash, decide);
  }

  // --- single-use identifiers --------------------------------------------------------

  async consumeOnce(namespace: string, key: string, expiresAt: number): Promise<boolean> {
    // One statement: the unique index decides the race; an expired entry may be reused.
    // Unnamed, like every statement of this store: no session state, so that a pooler in
    // transaction mode (PgBouncer) may hand each transaction another server connection.
    const result = await this.#pool.query(this.#sql.consumeOnce, [namespace, key, expiresAt, nowSeconds()]);
    return result.rowCount === 1;
  }

  // --- access tokens -----------------------------------------------------------------

  async saveOpaqueAccessToken(token: OpaqueAccessTokenRecord): Promise<void> {
    await this.#pool.query(this.#sql.saveOpaque, opaqueParams(token));
  }

  async findOpaqueAccessToken(tokenHash: string): Promise<OpaqueAccessTokenRecord | undefined> {
    const { rows } = await this.#pool.query(this.#sql.findOpaque, [tokenHash]);
    return rows[0] ? toOpaque(rows[0]) : undefined;
  }

  async revokeAccessToken(jti: string, expiresAt: number): Promise<void> {
    await this.#pool.query(this.#sql.revokeAccessToken, [jti, expiresAt]);
  }

  async isAccessTokenRevoked(jti: string): Promise<boolean> {
    const { rowCount } = await this.#pool.query(this.#sql.isAccessTokenRevoked, [jti]);
    return rowCount === 1;
  }

  // --- signing keys ------------------------------------------------------------------

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    const { rows } = await this.#pool.query(this.#sql.listSigningKeys);
    return rows.map(toSigningKey);
  }

  async addSigningKey(key: SigningKeyRecord, removeRetiredAfter: number): Promise<void> {
    await this.#transaction(async (db) => {
      await db.query(this.#sql.retireSigningKeys, [key.createdAt, removeRetiredAfter]);
      await db.query(this.#sql.insertSigningKey, signingKeyParams(key));
    });
  }

  // --- maintenance -------------------------------------------------------------------

  async purgeExpired(now: number, limit: number): Promise<number> {
    let deleted = 0;
    for (const sql of this.#sql.purge) {
      if (deleted >= limit) break;
      const result = await this.#pool.query(sql, [now, limit - deleted]);
      deleted += result.rowCount ?? 0;
    }
    if (deleted < limit) deleted += await this.#auth.purge(now, limit - deleted);
    return deleted;
  }

  /** The pool's connections: open, idle, and callers waiting for one. */
  stats(): StoreStats {
    const pool = this.#connections;
    return { pool: { size: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount } };
  }

  async close(): Promise<void> {
    this.#closed ??= (async () => {
      clearInterval(this.#purgeTimer);
      this.#purgeTimer = undefined;
      // Queued refreshes are committed (or fail) before the pool goes.
      await this.#refreshes.drain();
      await this.#purging;
      await this.#connections.end();
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

  /** Runs `work` in one transaction, retrying contention (`postgres-transaction.ts`). */
  #transaction<T>(work: (db: PoolClient) => Promise<T>): Promise<T> {
    return transaction(this.#connections, work);
  }
}
