/**
 * Group commit for PostgreSQL refreshes: the calls of {@link PostgresStore.useRefreshToken}
 * that arrive during one turn of the event loop share one transaction, so a batch costs two
 * round trips and one WAL flush whatever its size, instead of two round trips and one flush
 * per refresh. (The profile of the one-transaction-per-refresh store was dominated by the socket
 * writes of its statements, not by PostgreSQL: see docs/benchmarks.md.)
 *
 * Each call stays atomic and isolated, as if it ran alone:
 * - the batch's locking read takes every presented token's row and its grant's row
 *   (`FOR UPDATE`, in token order), so no other transaction, here or in another process, can
 *   read or change them before the COMMIT;
 * - calls presenting the same token, or tokens of the same family, are decided one after the
 *   other: a later one goes to the next round of the same transaction and reads the state the
 *   earlier one wrote;
 * - `decide` is the core's pure function; a call whose `decide` throws writes nothing and fails
 *   alone; a rotation that does not apply (its token is no longer active) changes nothing and
 *   fails alone;
 * - every promise settles only after the COMMIT, so a rotation is answered only once durable;
 * - if a statement of the batch fails (a constraint, say), the transaction is rolled back and
 *   every call is run again in a transaction of its own, so that the failure of one never fails
 *   the others; serialization failures and deadlocks roll back and retry the batch;
 * - if the connection fails, no call of the batch is answered as applied: each gets a
 *   {@link StoreUnavailableError}. Before the COMMIT was sent nothing was applied; when the
 *   COMMIT's reply is lost the outcome is unknown, and a retry is safe (a rotation that did
 *   commit is answered with the same successor within the retry window).
 */
import type { Pool, PoolClient, QueryResult } from 'pg';
import type { RefreshDecision, RefreshSnapshot, RefreshUse } from '../core/store.ts';
import { asUnavailable, connectFailed, isConnectionFailure, isNotNow } from './postgres-faults.ts';
import { intArray, textArray, toGrant, toToken } from './postgres-rows.ts';
import { backoff, maxAttempts, retryableCodes } from './postgres-transaction.ts';

/** How the group commit runs; see {@link PostgresStoreOptions}. */
export interface GroupCommitOptions {
  /** Most refreshes in one transaction. */
  maxBatch: number;
  /** Most group-commit transactions under way at once (each holds one pooled connection). */
  maxInFlight: number;
}

/** Table names, qualified with the quoted schema. */
export interface RefreshTables {
  tokens: string;
  grants: string;
}

/** A refresh waiting for, or in, a group commit. */
interface PendingUse {
  tokenHash: string;
  decide: (snapshot: RefreshSnapshot | undefined) => RefreshDecision;
  resolve: (use: RefreshUse) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; use: RefreshUse } | { ok: false; error: unknown };

/**
 * Most calls presenting one token in one batch. They are decided one per round (each a round
 * trip), so a flood of one token cannot hold a batch, and the other refreshes in it, for long.
 */
const maxSameToken = 8;

/** The writes one round of a batch applies, as the columns of the apply statement's arrays. */
class RoundWrites {
  readonly rotations: Array<{ item: PendingUse; tokenHash: string }> = [];
  readonly rotate = {
    token: [] as string[], successor: [] as string[], sealed: [] as string[], at: [] as number[], expires: [] as number[],
    bind: [] as Array<string | null>,
  };
  readonly slide = { token: [] as string[], expires: [] as number[], at: [] as number[] };
  readonly revoke = { family: [] as string[], at: [] as number[], reason: [] as string[] };
  readonly replay = { family: [] as string[], generation: [] as number[], at: [] as number[] };

  get empty(): boolean {
    return this.rotate.token.length + this.slide.token.length + this.revoke.family.length + this.replay.family.length === 0;
  }

  /** Records what `decision` writes; false when it cannot apply to `snapshot` at all. */
  add(item: PendingUse, snapshot: RefreshSnapshot | undefined, decision: RefreshDecision, now: number): boolean {
    switch (decision.action) {
      case 'rotate':
        if (!snapshot) return false;
        // RFC 9700 section 4.14.2: the presented token is invalidated as its successor is issued.
        this.rotations.push({ item, tokenHash: snapshot.token.tokenHash });
        this.rotate.token.push(snapshot.token.tokenHash);
        this.rotate.successor.push(decision.successor.tokenHash);
        this.rotate.sealed.push(decision.successorSealed);
        this.rotate.at.push(decision.at ?? now);
        this.rotate.expires.push(decision.successor.expiresAt);
        this.rotate.bind.push(decision.bindDpopJkt ?? null);
        return true;
      case 'keep':
        if (!snapshot) return false;
        this.slide.token.push(snapshot.token.tokenHash);
        this.slide.expires.push(decision.expiresAt);
        this.slide.at.push(decision.at ?? now);
        return true;
      case 'reject':
        // RFC 9700 section 4.14.2: on reuse, the whole family is revoked in the same transaction.
        if (decision.revokeFamily && snapshot) {
          this.revoke.family.push(snapshot.grant.familyId);
          this.revoke.at.push(decision.at ?? now);
          this.revoke.reason.push(decision.reason);
        }
        return true;
      case 'replay':
        if (!snapshot) return false;
        // The family records the replay (shadowing detection reads it).
        this.replay.family.push(snapshot.grant.familyId);
        this.replay.generation.push(snapshot.token.generation);
        this.replay.at.push(decision.at ?? now);
        return true;
    }
  }
}

/**
 * The group commit of one {@link PostgresStore}: queues refreshes and runs them in batches on
 * pooled connections.
 */
export class RefreshGroupCommit {
  readonly #pool: Pool;
  readonly #t: RefreshTables;
  readonly #options: GroupCommitOptions;
  #queue: PendingUse[] = [];
  #scheduled = false;
  #inFlight = 0;
  readonly #running = new Set<Promise<void>>();

  constructor(pool: Pool, tables: RefreshTables, options: GroupCommitOptions) {
    this.#pool = pool;
    this.#t = tables;
    this.#options = options;
  }

  /** Queues one refresh for the next group commit; settles after that commit. */
  use(tokenHash: string, decide: (snapshot: RefreshSnapshot | undefined) => RefreshDecision): Promise<RefreshUse> {
    return new Promise<RefreshUse>((resolve, reject) => {
      this.#queue.push({ tokenHash, decide, resolve, reject });
      this.#schedule();
    });
  }

  /** Runs everything queued and waits for every batch under way (for `close`). */
  async drain(): Promise<void> {
    while (this.#queue.length > 0 || this.#running.size > 0) {
      this.#start();
      await Promise.allSettled([...this.#running]);
    }
  }

  /** After the I/O callbacks of this turn: every refresh that arrived with them joins the batch. */
  #schedule(): void {
    if (this.#scheduled || this.#queue.length === 0 || this.#inFlight >= this.#options.maxInFlight) return;
    this.#scheduled = true;
    setImmediate(() => this.#start());
  }

  #start(): void {
    this.#scheduled = false;
    while (this.#queue.length > 0 && this.#inFlight < this.#options.maxInFlight) {
      const batch = this.#take();
      this.#inFlight++;
      const run = this.#run(batch).finally(() => {
        this.#inFlight--;
        this.#running.delete(run);
        this.#schedule();
      });
      this.#running.add(run);
    }
  }

  /**
   * The next batch, in arrival order: at most `maxBatch` calls, and at most
   * {@link maxSameToken} presenting one token (each is a round trip of the batch's transaction);
   * the others stay queued, in order, for the next batch.
   */
  #take(): PendingUse[] {
    const batch: PendingUse[] = [];
    const left: PendingUse[] = [];
    const perToken = new Map<string, number>();
    for (const item of this.#queue) {
      const seen = perToken.get(item.tokenHash) ?? 0;
      if (batch.length >= this.#options.maxBatch || seen >= maxSameToken) left.push(item);
      else perToken.set(item.tokenHash, seen + 1), batch.push(item);
    }
    this.#queue = left;
    return batch;
  }

  /** Runs a batch to its end: every item settled, whatever happens. */
  async #run(batch: PendingUse[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let db: PoolClient;
      try {
        db = await this.#pool.connect();
      } catch (error) {
        const unavailable = connectFailed(error);
        for (const item of batch) item.reject(unavailable);
        return;
      }
      let outcomes: Map<PendingUse, Outcome> | undefined;
      let failure: unknown;
      let broken: Error | undefined;
      try {
        outcomes = await this.#transaction(db, batch);
      } catch (error) {
        failure = error;
        if (isConnectionFailure(error, db)) broken = error as Error;
        else {
          try {
            await db.query('ROLLBACK');
          } catch (rollbackError) {
            broken = rollbackError as Error; // the connection is unusable: the pool drops it
          }
        }
      } finally {
        db.release(broken);
      }
      if (outcomes) {
        for (const item of batch) {
          const outcome = outcomes.get(item)!;
          if (outcome.ok) item.resolve(outcome.use);
          else item.reject(outcome.error);
        }
        return;
      }
      if (broken === failure) {
        // The connection failed: nothing of this batch is acknowledged (see the module comment).
        const unavailable = asUnavailable(failure, 'refresh', db);
        for (const item of batch) item.reject(unavailable);
        return;
      }
      const code = (failure as { code?: unknown }).code;
      if (typeof code === 'string' && retryableCodes.has(code) && attempt < maxAttempts) {
        await backoff(attempt);
        continue;
      }
      if (batch.length === 1 || isNotNow(failure)) {
        // Alone, or "not now" (a lock or statement timeout, a full disk): the batch's fate is each call's.
        const error = asUnavailable(failure, 'refresh');
        for (const item of batch) item.reject(error);
        return;
      }
      // One call's statement failed and took the transaction with it: each call alone, so that
      // the failure stays with the call that caused it.
      for (const item of batch) await this.#run([item]);
      return;
    }
  }

  /**
   * The batch's transaction: rounds of locking read, decisions, writes; COMMIT with the last
   * round's writes. Returns every item's outcome once the COMMIT succeeded; throws (leaving
   * the rollback to the caller) if any statement fails.
   */
  async #transaction(db: PoolClient, batch: PendingUse[]): Promise<Map<PendingUse, Outcome>> {
    const outcomes = new Map<PendingUse, Outcome>();
    let pending = batch;
    let begun = false;
    while (pending.length > 0) {
      // One call per token and per family in a round; the others wait, in arrival order, for
      // the next round (a call that waits for its token also waits for its family).
      const round: PendingUse[] = [];
      const hashes = new Set<string>();
      for (const item of pending) {
        if (!hashes.has(item.tokenHash)) hashes.add(item.tokenHash), round.push(item);
      }
      const decided = new Set<PendingUse>();
      const snapshots = await this.#read(db, [...hashes], !begun);
      begun = true;
      const families = new Set<string>();
      const writes = new RoundWrites();
      const now = Math.floor(Date.now() / 1000);
      const decideOne = (item: PendingUse, snapshot: RefreshSnapshot | undefined) => {
        decided.add(item);
        let decision: RefreshDecision;
        try {
          decision = item.decide(snapshot);
        } catch (error) {
          outcomes.set(item, { ok: false, error });
          return;
        }
        if (!writes.add(item, snapshot, decision, now)) {
          outcomes.set(item, { ok: false, error: new Error(`useRefreshToken: cannot ${decision.action} an unknown token`) });
          return;
        }
        outcomes.set(item, { ok: true, use: { snapshot, decision } });
      };
      for (const item of round) {
        const snapshot = snapshots.get(item.tokenHash);
        const family = snapshot?.grant.familyId;
        if (family !== undefined) {
          if (families.has(family)) continue;
          families.add(family);
        }
        decideOne(item, snapshot);
      }
      // An unknown token has nothing to lock or change: every call presenting it is decided now.
      for (const item of pending) {
        if (!decided.has(item) && hashes.has(item.tokenHash) && !snapshots.has(item.tokenHash)) decideOne(item, undefined);
      }
      pending = pending.filter((item) => !decided.has(item));
      const last = pending.length === 0;
      if (writes.empty) {
        if (last) await db.query('COMMIT');
        continue;
      }
      const rotated = await this.#write(db, writes, last);
      for (const { item, tokenHash } of writes.rotations) {
        // A rotation that changed no row inserted nothing: the same outcome as a rollback.
        if (!rotated.has(tokenHash)) {
          outcomes.set(item, { ok: false, error: new Error('useRefreshToken: cannot rotate a token that is not active') });
        }
      }
    }
    return outcomes;
  }

  /**
   * The locking read of a round (opening the transaction in the first): each token with its
   * grant and successor, the token's and the grant's rows locked. One simple-protocol query,
   * so one socket write: values are inlined as escaped literals.
   */
  async #read(db: PoolClient, hashes: string[], begin: boolean): Promise<Map<string, RefreshSnapshot>> {
    const t = this.#t;
    // Locks are taken in token order, so two batches (here or in another process) that share
    // tokens queue rather than deadlock. Under READ COMMITTED a row locked after a wait is
    // re-read at its latest version, but the unlocked successor keeps the statement's
    // snapshot: a successor the snapshot cannot see (inserted by the rotation we waited for)
    // is read again below.
    const sql = `${begin ? 'BEGIN;\n' : ''}SELECT row_to_json(t) AS token, row_to_json(g) AS "grant", row_to_json(s) AS successor
      FROM ${t.tokens} t
      JOIN ${t.grants} g ON g.family_id = t.family_id
      LEFT JOIN ${t.tokens} s ON s.token_hash = t.successor_hash
      WHERE t.token_hash = ANY(${textArray(hashes, (text) => db.escapeLiteral(text))})
      ORDER BY t.token_hash
      FOR UPDATE OF t, g`;
    const result = (await db.query(sql)) as unknown as QueryResult | QueryResult[];
    const rows = Array.isArray(result) ? result[result.length - 1].rows : result.rows;
    const snapshots = new Map<string, RefreshSnapshot>();
    const unseen: string[] = [];
    for (const row of rows) {
      const snapshot: RefreshSnapshot = { token: toToken(row.token), grant: toGrant(row.grant) };
      if (row.successor) snapshot.successor = toToken(row.successor);
      else if (snapshot.token.successorHash !== undefined) unseen.push(snapshot.token.successorHash);
      snapshots.set(snapshot.token.tokenHash, snapshot);
    }
    if (unseen.length > 0) {
      const found = await db.query(`SELECT row_to_json(s) AS token FROM ${t.tokens} s WHERE s.token_hash = ANY($1)`, [unseen]);
      const byHash = new Map(found.rows.map((row) => [row.token.token_hash as string, toToken(row.token)]));
      for (const snapshot of snapshots.values()) {
        const successor = snapshot.successor ? undefined : byHash.get(snapshot.token.successorHash ?? '');
        if (successor) snapshot.successor = successor;
      }
    }
    return snapshots;
  }

  /**
   * Applies a round's writes in one statement (one socket write, with the COMMIT when it is the
   * last round) and returns the tokens it rotated. A rotation applies only to a token that is
   * still active, and its successor is inserted only if it did.
   */
  async #write(db: PoolClient, w: RoundWrites, commit: boolean): Promise<Set<string>> {
    const t = this.#t;
    const text = (values: Array<string | null>) => textArray(values, (s) => db.escapeLiteral(s));
    const sql = `WITH rotating AS (
        SELECT * FROM unnest(${text(w.rotate.token)}::text[], ${text(w.rotate.successor)}::text[],
          ${text(w.rotate.sealed)}::text[], ${intArray(w.rotate.at)}::bigint[], ${intArray(w.rotate.expires)}::bigint[],
          ${text(w.rotate.bind)}::text[])
          AS i(token_hash, successor_hash, sealed, at, expires_at, bind_jkt)),
      rotated AS (
        UPDATE ${t.tokens} r SET state = 'rotated', rotated_at = i.at, successor_hash = i.successor_hash,
          successor_sealed = i.sealed
        FROM rotating i WHERE r.token_hash = i.token_hash AND r.state = 'active'
          -- RFC 9449 section 5: a rotation that binds the family happens only while it is unbound.
          AND (i.bind_jkt IS NULL OR EXISTS (SELECT 1 FROM ${t.grants} u WHERE u.family_id = r.family_id AND u.dpop_jkt IS NULL))
        RETURNING r.token_hash, r.family_id, r.generation, i.successor_hash, i.at, i.expires_at, i.bind_jkt),
      inserted AS (
        INSERT INTO ${t.tokens} (token_hash, family_id, generation, created_at, expires_at, state)
        SELECT successor_hash, family_id, generation + 1, at, expires_at, 'active' FROM rotated),
      bound AS (
        UPDATE ${t.grants} g SET dpop_jkt = r.bind_jkt, dpop_bound_from = r.generation + 1
        FROM rotated r WHERE g.family_id = r.family_id AND r.bind_jkt IS NOT NULL AND g.dpop_jkt IS NULL),
      slid AS (
        UPDATE ${t.tokens} r SET expires_at = i.expires_at, used_at = i.at
        FROM unnest(${text(w.slide.token)}::text[], ${intArray(w.slide.expires)}::bigint[], ${intArray(w.slide.at)}::bigint[])
          AS i(token_hash, expires_at, at)
        WHERE r.token_hash = i.token_hash),
      revoked AS (
        UPDATE ${t.grants} g SET revoked_at = i.at, revoked_reason = i.reason
        FROM unnest(${text(w.revoke.family)}::text[], ${intArray(w.revoke.at)}::bigint[], ${text(w.revoke.reason)}::text[])
          AS i(family_id, at, reason)
        WHERE g.family_id = i.family_id AND g.revoked_at IS NULL),
      replayed AS (
        UPDATE ${t.grants} g SET replay_generation = i.generation, replayed_at = i.at
        FROM unnest(${text(w.replay.family)}::text[], ${intArray(w.replay.generation)}::integer[], ${intArray(w.replay.at)}::bigint[])
          AS i(family_id, generation, at)
        WHERE g.family_id = i.family_id)
      SELECT array_agg(token_hash) AS rotated FROM rotated${commit ? ';\nCOMMIT' : ''}`;
    const result = (await db.query(sql)) as unknown as QueryResult | QueryResult[];
    const rows = Array.isArray(result) ? result[0].rows : result.rows;
    return new Set<string>((rows[0]?.rotated as string[] | null) ?? []);
  }
}
