/**
 * Transactions of the PostgreSQL store on pooled connections: serialization failures and
 * deadlocks (transient contention) are rolled back and retried with a small jittered backoff,
 * so contention never reaches the caller; a lost connection is released as broken and reported
 * as a {@link StoreUnavailableError} (`postgres-faults.ts`).
 */
import type { Pool, PoolClient } from 'pg';
import { asUnavailable, connectFailed, isConnectionFailure } from './postgres-faults.ts';

/** SQLSTATEs of transient contention: serialization_failure, deadlock_detected. */
export const retryableCodes = new Set(['40001', '40P01']);
/** Attempts of a transaction that keeps meeting serialization failures or deadlocks. */
export const maxAttempts = 8;

/** The jittered backoff before attempt `n + 1`. */
export function backoff(n: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(100, 5 * 2 ** n)));
}

/**
 * Runs `work` in a READ COMMITTED transaction on one pooled connection. Serialization
 * failures and deadlocks are retried with a small jittered backoff, so contention never
 * reaches the caller; any other error (including one thrown by `work`) rolls back and is rethrown.
 */
export async function transaction<T>(pool: Pool, work: (db: PoolClient) => Promise<T>): Promise<T> {
  return withRetries(pool, async (db) => {
    await db.query('BEGIN');
    const result = await work(db);
    await db.query('COMMIT');
    return result;
  });
}

/**
 * Runs `attempt` (which opens and commits its own transaction) on one pooled connection;
 * on any error rolls back, then retries serialization failures and deadlocks with a small
 * jittered backoff and rethrows anything else. A connection that failed, or whose rollback
 * fails, is released as broken; a connection failure is thrown as {@link StoreUnavailableError}.
 */
async function withRetries<T>(pool: Pool, attempt: (db: PoolClient) => Promise<T>): Promise<T> {
  for (let n = 1; ; n++) {
    let db: PoolClient;
    try {
      db = await pool.connect();
    } catch (error) {
      throw connectFailed(error);
    }
    let broken: Error | undefined;
    try {
      return await attempt(db);
    } catch (error) {
      if (isConnectionFailure(error, db)) {
        broken = error as Error;
        throw asUnavailable(error, 'transaction', db);
      }
      try {
        await db.query('ROLLBACK');
      } catch (rollbackError) {
        broken = rollbackError as Error; // the connection is unusable: drop it from the pool
      }
      const code = (error as { code?: unknown }).code;
      if (typeof code !== 'string' || !retryableCodes.has(code) || n >= maxAttempts) throw asUnavailable(error, 'transaction');
    } finally {
      db.release(broken);
    }
    await backoff(n);
  }
}
