/**
 * The embedded store: one SQLite file through Node's built-in `node:sqlite`, in WAL mode, that
 * the server and the CLI (or several server processes on one machine) can use at once.
 *
 * Every write runs in `BEGIN IMMEDIATE`, which takes the database's write lock up front, so
 * the consume-and-rotate of a refresh token and single-use identifiers hold across processes.
 * Calls are synchronous underneath and never await inside a transaction, so concurrent calls
 * in one process serialize without interleaving. Concurrent refreshes share one transaction
 * (group commit, see {@link SqliteStore.useRefreshToken}).
 *
 * Beside it: `sqlite-statements.ts` (SQL), `sqlite-rows.ts`, `sqlite-group-commit.ts`,
 * `sqlite-faults.ts` (503s), `sqlite-client-cache.ts`, `sqlite-schema.ts`, `sqlite-authorization.ts`
 * (codes, pushed requests, consents) and `sqlite-checkpointer.ts`.
 */
import type { DatabaseSync } from 'node:sqlite';
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
  AuthorizationCodeRecord,
  ClientRecord,
  ConsentRecord,
  GrantRecord,
  NewRefreshToken,
  OpaqueAccessTokenRecord,
  PushedAuthorizationRequestRecord,
  SigningKeyRecord,
} from '../core/types.ts';
import { SqliteAuthorizationTables } from './sqlite-authorization.ts';
import type { WalCheckpointer } from './sqlite-checkpointer.ts';
import { SqliteClientCache } from './sqlite-client-cache.ts';
import { busyRetries, isBusy, sleep, unavailable } from './sqlite-faults.ts';
import { applyDecision, inSavepoint, SqliteGroupCommit } from './sqlite-group-commit.ts';
import { opt, optBool, optJson, toClient, toGrant, toOpaque, toSigningKey, toSnapshot, type Row } from './sqlite-rows.ts';
import { migrate } from './sqlite-schema.ts';
import { prepareStatements, runByFilter, type Statements } from './sqlite-statements.ts';

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

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
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
  /** Writes waiting for, or in, the next group commit (see {@link useRefreshToken}). */
  readonly #commits: SqliteGroupCommit;
  readonly #checkpointer: WalCheckpointer | undefined;
  /** Client records read on every request, kept while no connection changed the file. */
  readonly #clients: SqliteClientCache;

  /** Wraps an open, migrated database; prefer {@link openSqliteStore}. */
  constructor(db: DatabaseSync, checkpointer?: WalCheckpointer) {
    this.#db = db;
    this.#s = prepareStatements(db);
    this.#auth = new SqliteAuthorizationTables(db);
    this.#clients = new SqliteClientCache(this.#s);
    this.#checkpointer = checkpointer;
    this.#commits = new SqliteGroupCommit(db, this.#s, checkpointer);
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

  /** Served from memory while no connection changed the file (see `sqlite-client-cache.ts`). */
  async getClient(clientId: string): Promise<ClientRecord | undefined> {
    return this.#clients.get(clientId);
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
    const rows = runByFilter(this.#s.listSessions, filter, []) as Row[];
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
    const rows = await this.#write(() => runByFilter(this.#s.revokeGrants, filter, [now, reason]) as Row[]);
    return rows.map((r) => r.family_id as string);
  }

  /** Group-committed (see {@link useRefreshToken}): one statement, atomic. */
  revokeGrant(familyId: string, reason: string, now: number): Promise<boolean> {
    return this.#commits.enqueue(() => this.#s.revokeGrant.run(now, reason, familyId).changes > 0);
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
    return this.#commits.enqueue(() => {
      const row = this.#s.snapshot.get(tokenHash) as Row | undefined;
      const snapshot = row ? toSnapshot(row) : undefined;
      const decision = decide(snapshot);
      // A rotation writes twice: a savepoint keeps the pair atomic without failing the batch.
      if (decision.action !== 'rotate') applyDecision(this.#s, snapshot, decision);
      else inSavepoint(this.#db, this.#s, () => applyDecision(this.#s, snapshot, decision));
      return { snapshot, decision };
    });
  }

  /**
   * Group-committed (see {@link useRefreshToken}): one statement, atomic, and waiting for
   * another process's write lock without blocking the event loop.
   */
  consumeOnce(namespace: string, key: string, expiresAt: number): Promise<boolean> {
    return this.#commits.enqueue(() => this.#s.consumeOnce.run(namespace, key, expiresAt, nowSeconds()).changes > 0);
  }

  /** Group-committed with the refreshes (see {@link useRefreshToken}): one statement, atomic. */
  saveOpaqueAccessToken(t: OpaqueAccessTokenRecord): Promise<void> {
    return this.#commits.enqueue(() => {
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
    await this.#commits.enqueue(() => this.#s.revokeAccessToken.run(jti, expiresAt));
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
    await this.#commits.drain();
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
