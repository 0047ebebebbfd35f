/**
 * SQLite faults: which errors of `node:sqlite` mean "not now" (a full disk, a write lock held
 * elsewhere beyond the busy timeout), how they become a {@link StoreUnavailableError} (503
 * `temporarily_unavailable` with `Retry-After`) instead of a 500, and how long a busy write
 * waits before it tries again.
 */
import { StoreUnavailableError } from '../core/store.ts';

const sqliteBusy = 5;
const sqliteFull = 13;

/** The primary result code of a SQLite error (the low byte of its extended result code). */
function primaryCode(error: unknown): number | undefined {
  const code = (error as { errcode?: unknown } | null)?.errcode;
  return typeof code === 'number' ? code & 0xff : undefined;
}

/** True for `SQLITE_BUSY`: another connection holds the lock the call needed. */
export function isBusy(error: unknown): boolean {
  return primaryCode(error) === sqliteBusy;
}

/**
 * The "not now" conditions of SQLite as {@link StoreUnavailableError} (503 with Retry-After):
 * the disk is full (`SQLITE_FULL`; the write was rolled back), or another connection held the
 * write lock for longer than the busy timeout (`SQLITE_BUSY`; nothing was written). Anything
 * else is returned unchanged.
 */
export function unavailable(error: unknown): unknown {
  switch (primaryCode(error)) {
    case sqliteFull:
      return new StoreUnavailableError('the SQLite database or its disk is full', { cause: error, retryAfter: 5 });
    case sqliteBusy:
      return new StoreUnavailableError('the SQLite database stayed locked by another connection beyond the busy timeout', { cause: error, retryAfter: 1 });
    default:
      return error;
  }
}

/** How often a write that still finds the database locked after the busy timeout is retried. */
export const busyRetries = 3;

/** Waits `ms` milliseconds (between two attempts on a busy database). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
