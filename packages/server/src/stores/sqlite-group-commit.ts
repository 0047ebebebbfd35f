/**
 * Group commit for the SQLite store: the writes that arrive while the event loop handles one
 * round of I/O (refreshes, revocations, single-use keys, opaque access tokens) are applied
 * together, in arrival order, in one `BEGIN IMMEDIATE` ... `COMMIT`, which saves a transaction
 * (locks, WAL frames, checkpoint work) per request. Each write stays atomic and isolated: it
 * reads the state every earlier one left, its writes are undone alone if they fail (a
 * savepoint, {@link inSavepoint}), and its promise settles only after the COMMIT, so a rotation
 * is answered only once it is durable. If the transaction itself fails, every write of the
 * batch fails and none was applied.
 *
 * Also here: what one refresh writes inside the batch ({@link applyDecision}).
 */
import type { DatabaseSync } from 'node:sqlite';
import type { RefreshDecision, RefreshSnapshot } from '../core/store.ts';
import type { WalCheckpointer } from './sqlite-checkpointer.ts';
import { isBusy, sleep, unavailable } from './sqlite-faults.ts';
import type { Statements } from './sqlite-statements.ts';

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
 * The queue of writes waiting for the next group commit, and the commits under way, of one
 * connection. {@link SqliteStore} hands every group-committed write to {@link enqueue}.
 *
 * @example
 * ```ts
 * const commits = new SqliteGroupCommit(db, statements, checkpointer)
 * const changed = await commits.enqueue(() => statements.revokeGrant.run(now, 'admin', familyId).changes > 0)
 * await commits.drain()
 * ```
 */
export class SqliteGroupCommit {
  readonly #db: DatabaseSync;
  readonly #s: Statements;
  readonly #checkpointer: WalCheckpointer | undefined;
  /** Writes waiting for the next group commit. */
  #queue: QueuedWrite[] = [];
  #flushScheduled = false;
  /** A full batch (see {@link flushAt}) is about to be committed from a microtask. */
  #flushSoon = false;
  /** Group commits started so far: the turn's `setImmediate` flush yields if one ran since it was scheduled. */
  #flushCount = 0;
  /** Group commits under way (a busy database makes one wait and retry). */
  readonly #flushes = new Set<Promise<void>>();

  /** The connection's busy timeout, in ms (how long group commits wait for the write lock). */
  readonly #busyTimeoutMs: number;
  /** The last SQLITE_BUSY of {@link #tryBegin}, thrown when a group commit gives up. */
  #tryBeginError: unknown;

  /** Reads the connection's busy timeout; `checkpointer` is told how many writes each commit made. */
  constructor(db: DatabaseSync, statements: Statements, checkpointer: WalCheckpointer | undefined) {
    this.#db = db;
    this.#s = statements;
    this.#checkpointer = checkpointer;
    this.#busyTimeoutMs = (db.prepare('PRAGMA busy_timeout').get() as { timeout: number }).timeout;
  }

  /** Queues `run` for the next group commit (see the module comment). */
  enqueue<T>(run: () => T): Promise<T> {
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

  /** Commits (or fails) every queued write, one batch after another, and waits for the commits under way. */
  async drain(): Promise<void> {
    while (this.#queue.length > 0 || this.#flushes.size > 0) {
      if (this.#flushes.size === 0) this.#startFlush();
      await Promise.allSettled([...this.#flushes]);
    }
  }
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Runs `fn` in a savepoint of the open transaction: all of its writes, or none. */
export function inSavepoint(db: DatabaseSync, s: Statements, fn: () => void): void {
  s.savepoint.run();
  try {
    fn();
  } catch (error) {
    if (db.isTransaction) s.rollbackToSavepoint.run();
    throw error;
  } finally {
    if (db.isTransaction) s.release.run();
  }
}

/** Applies `decision` inside the open transaction of {@link SqliteStore.useRefreshToken}. */
export function applyDecision(s: Statements, snapshot: RefreshSnapshot | undefined, decision: RefreshDecision): void {
  switch (decision.action) {
    case 'replay':
      if (!snapshot) throw new Error('cannot replay an unknown refresh token');
      s.recordReplay.run(snapshot.token.generation, decision.at ?? nowSeconds(), snapshot.grant.familyId);
      return;
    case 'reject':
      if (decision.revokeFamily && snapshot) {
        s.revokeGrant.run(decision.at ?? nowSeconds(), decision.reason, snapshot.grant.familyId);
      }
      return;
    case 'keep': {
      if (!snapshot) throw new Error('cannot keep an unknown refresh token');
      s.slideToken.run(decision.expiresAt, decision.at ?? nowSeconds(), snapshot.token.tokenHash);
      return;
    }
    case 'rotate': {
      if (!snapshot) throw new Error('cannot rotate an unknown refresh token');
      const { token } = snapshot;
      const now = decision.at ?? nowSeconds();
      const changed = s.rotateToken.run(
        now, decision.successor.tokenHash, decision.successorSealed, token.tokenHash,
      ).changes;
      // RFC 9700 section 4.14.2: a refresh token is rotated at most once; a second rotation is a bug.
      if (changed !== 1) throw new Error('refresh token is not active; refusing to rotate it twice');
      s.insertToken.run(
        decision.successor.tokenHash, token.familyId, token.generation + 1, now, decision.successor.expiresAt,
      );
      // RFC 9449 section 5: bound from the successor on; a family is bound at most once.
      if (decision.bindDpopJkt !== undefined && s.bindGrant.run(decision.bindDpopJkt, token.generation + 1, token.familyId).changes !== 1) {
        throw new Error('refresh token family is already DPoP-bound; refusing to bind it again');
      }
      return;
    }
  }
}
