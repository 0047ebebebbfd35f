/**
 * WAL checkpoints of the SQLite store on a worker thread. A checkpoint copies pages from the
 * write-ahead log back into the database file and fsyncs both; run by the connection that
 * commits (SQLite's automatic checkpoint), it stalls the event loop for milliseconds at a time
 * under load. Here a second connection, on its own thread, runs `PRAGMA wal_checkpoint(PASSIVE)`
 * every few hundred commits: passive checkpoints never take the write lock, so commits go on
 * meanwhile, and the automatic checkpoint of the main connection (kept, at a higher threshold)
 * finds almost nothing left to copy when it runs and resets the log.
 *
 * Durability is unchanged: what a checkpoint copies was committed to the WAL first.
 */
import type { Worker } from 'node:worker_threads';

/** node:worker_threads, loaded when a checkpointer starts: a short-lived process without one never loads it. */
const workerThreads = () => process.getBuiltinModule('node:worker_threads');

/**
 * The worker's code (CommonJS, evaluated). Every `pollMs` it checkpoints if `batchWrites`
 * writes were committed since its last checkpoint, or if any were and `idleMs` went by: often
 * under load, rarely (few fsyncs) when quiet.
 */
const workerSource = `
const { DatabaseSync } = require('node:sqlite');
const { workerData, parentPort } = require('node:worker_threads');
const { path, pending, pollMs, batchWrites, idleMs } = workerData;
const db = new DatabaseSync(path, { timeout: 0 });
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
let last = Date.now();
const timer = setInterval(() => {
  const writes = Atomics.load(pending, 0);
  if (writes === 0 || (writes < batchWrites && Date.now() - last < idleMs)) return;
  Atomics.sub(pending, 0, writes);
  last = Date.now();
  try {
    checkpoint.all();
  } catch {
    // Busy (another checkpointer) or transient: the next round, or the main connection, does it.
  }
}, pollMs);
parentPort.once('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

/**
 * A running checkpoint thread for one database file.
 *
 * @example
 * ```ts
 * const checkpointer = WalCheckpointer.start('./refresh-grant.db')
 * // ... commits on the main connection ...
 * await checkpointer.stop()
 * ```
 */
export class WalCheckpointer {
  readonly #worker: Worker;
  readonly #exited: Promise<void>;
  /** Writes committed since the worker's last checkpoint (shared with it). */
  readonly #pending: Int32Array;

  private constructor(worker: Worker, pending: Int32Array) {
    this.#worker = worker;
    this.#pending = pending;
    this.#exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    // A failing checkpointer costs speed, never correctness: the main connection checkpoints too.
    worker.on('error', () => {});
    worker.unref();
  }

  /**
   * Starts checkpointing `path`: looks every `pollMs`, checkpoints after `batchWrites` commits
   * (group commits count their writes), or after `idleMs` when fewer were made.
   */
  static start(path: string, options: { pollMs?: number; batchWrites?: number; idleMs?: number } = {}): WalCheckpointer {
    const pending = new Int32Array(new SharedArrayBuffer(4));
    const workerData = { path, pending, pollMs: options.pollMs ?? 10, batchWrites: options.batchWrites ?? 256, idleMs: options.idleMs ?? 1000 };
    return new WalCheckpointer(new (workerThreads().Worker)(workerSource, { eval: true, workerData }), pending);
  }

  /** Counts `writes` committed writes towards the next checkpoint. */
  noteWrites(writes: number): void {
    Atomics.add(this.#pending, 0, writes);
  }

  /** Stops the thread and closes its connection. */
  async stop(): Promise<void> {
    this.#worker.postMessage('stop');
    const timeout = setTimeout(() => void this.#worker.terminate(), 2000);
    await this.#exited;
    clearTimeout(timeout);
  }
}
