/**
 * Background clean-up for stores that do not purge by themselves: expired tombstones, spent
 * `jti`s, revoked access token marks and retired keys are deleted in small batches, yielding
 * to the event loop between batches so the token endpoint never waits behind a purge.
 */
import type { Store } from '../core/store.ts';

/** Options of {@link startPurgeLoop}. */
export interface PurgeLoopOptions {
  /** Time between rounds, ms (default 60 000). */
  intervalMs?: number;
  /** Rows per batch (default 500). */
  batch?: number;
  /** Seconds since the epoch (default the wall clock). */
  clock?: () => number;
  /** Called with a failure; the loop goes on (default: ignore). */
  onError?: (error: unknown) => void;
}

/**
 * Starts purging `store` every `intervalMs` unless it purges in the background itself
 * (`capabilities.purgesInBackground`); returns a function that stops the loop and waits for a
 * round in progress.
 *
 * @example
 * ```ts
 * const stop = startPurgeLoop(store, { onError: (e) => console.error(e) })
 * // on shutdown:
 * await stop()
 * ```
 */
export function startPurgeLoop(store: Store, options: PurgeLoopOptions = {}): () => Promise<void> {
  if (store.capabilities.purgesInBackground) return async () => {};
  const { intervalMs = 60_000, batch = 500, clock = () => Math.floor(Date.now() / 1000), onError = () => {} } = options;
  let running: Promise<void> | undefined;
  let stopped = false;
  const round = async () => {
    try {
      while (!stopped && (await store.purgeExpired(clock(), batch)) === batch) {
        await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (error) {
      onError(error);
    }
  };
  const timer = setInterval(() => {
    if (!running) running = round().finally(() => (running = undefined));
  }, intervalMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}
