/**
 * JWS signatures on a worker thread. An ES256 signature is the largest single cost of a
 * refresh with a JWT access token (about a quarter of the event loop's time at full load):
 * computed here, on another core, while the event loop goes on parsing, authenticating and
 * storing. The signatures of one turn of the event loop travel as one message each way.
 *
 * Nothing is lost if the thread fails: whatever it did not answer is signed on the calling
 * thread, and after a few failures the thread is given up for good.
 */
import { Worker } from 'node:worker_threads';
import { jwsSignature, type JwsKey, type SignatureStats, type SignatureWorker } from '../core/tokens/jws.ts';
import { signingWorkerSource, type SigningRequest, type SigningResponse } from './signing-thread-worker.ts';

interface Pending {
  key: JwsKey;
  signingInput: string;
  resolve: (signature: string) => void;
  reject: (error: unknown) => void;
}

/** Most signatures sent to the thread in one message. */
const maxBatch = 256;
/** Failures of the thread after which signing stays on the calling thread. */
const maxFailures = 3;

/** Options of {@link SigningThread.start}. */
export interface SigningThreadOptions {
  /** A module to run as the thread instead of the built-in program (for tests). */
  workerUrl?: URL;
}

/**
 * A {@link SignatureWorker} on one worker thread.
 *
 * @example
 * ```ts
 * const signatures = SigningThread.start()
 * const keys = await KeyRing.load(store, kek, { signatures })
 * const jwt = await keys.sign({ sub: 'alice', exp }, 'at+jwt') // signed on the thread
 * await keys.close() // stops the thread
 * ```
 */
export class SigningThread implements SignatureWorker {
  readonly #workerUrl: URL | undefined;
  #worker: Worker | undefined;
  /** Kids whose key the current worker holds. */
  #installed = new Set<string>();
  #queue: Pending[] = [];
  #scheduled = false;
  #nextId = 0;
  readonly #inFlight = new Map<number, Pending[]>();
  #failures = 0;
  #closed = false;
  #onThread = 0;
  #inline = 0;
  #pending = 0;
  /** Called whenever no batch is out any more (what {@link close} waits for). */
  #drained: (() => void) | undefined;

  private constructor(options: SigningThreadOptions) {
    this.#workerUrl = options.workerUrl;
  }

  /** Starts signing on a thread (the thread itself starts with the first signature). */
  static start(options: SigningThreadOptions = {}): SigningThread {
    return new SigningThread(options);
  }

  /** True while signatures go to the thread (false once closed, or given up after failures). */
  get active(): boolean {
    return !this.#closed && this.#failures < maxFailures;
  }

  /** Counts since the start: signed on the thread, inline, and not yet answered. */
  stats(): SignatureStats {
    return { onThread: this.#onThread, inline: this.#inline, pending: this.#pending };
  }

  signature(key: JwsKey, signingInput: string): Promise<string> {
    if (!this.active) {
      this.#inline++;
      return Promise.resolve(jwsSignature(key, signingInput));
    }
    this.#pending++;
    return new Promise((resolve, reject) => {
      this.#queue.push({ key, signingInput, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        // After the I/O callbacks of this loop turn: every signature asked for with them joins.
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    while (this.#queue.length > 0) this.#send(this.#queue.splice(0, maxBatch));
  }

  #send(batch: Pending[]): void {
    if (!this.active) {
      this.#signHere(batch);
      return;
    }
    const worker = (this.#worker ??= this.#startWorker());
    for (const { key } of batch) {
      if (this.#installed.has(key.kid)) continue;
      this.#installed.add(key.kid);
      worker.postMessage({ key: { kid: key.kid, alg: key.alg, privateKey: key.privateKey } } satisfies SigningRequest);
    }
    const id = this.#nextId++;
    this.#inFlight.set(id, batch);
    // Referenced while signatures are out, so that the process waits for them.
    worker.ref();
    worker.postMessage({ id, batch: batch.map((p): [string, string] => [p.key.kid, p.signingInput]) } satisfies SigningRequest);
  }

  #startWorker(): Worker {
    const worker = this.#workerUrl ? new Worker(this.#workerUrl) : new Worker(signingWorkerSource, { eval: true });
    this.#installed = new Set();
    worker.on('message', (response: SigningResponse) => {
      const batch = this.#inFlight.get(response.id);
      if (!batch) return;
      this.#inFlight.delete(response.id);
      if ('error' in response) this.#signHere(batch);
      else {
        this.#pending -= batch.length;
        this.#onThread += batch.length;
        batch.forEach((p, i) => p.resolve(response.signatures[i]));
      }
      if (this.#inFlight.size === 0) {
        worker.unref();
        this.#drained?.();
      }
    });
    const fail = () => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      this.#failures++;
      void worker.terminate();
      // What the thread did not answer is signed here; the next batch starts a new thread.
      const unanswered = [...this.#inFlight.values()].flat();
      this.#inFlight.clear();
      this.#signHere(unanswered);
      this.#drained?.();
    };
    worker.on('error', fail);
    worker.on('exit', fail);
    return worker;
  }

  #signHere(batch: Pending[]): void {
    this.#pending -= batch.length;
    this.#inline += batch.length;
    for (const p of batch) {
      try {
        p.resolve(jwsSignature(p.key, p.signingInput));
      } catch (error) {
        p.reject(error);
      }
    }
  }

  /** Signs what is queued, waits for the thread's answers, then stops it. */
  async close(): Promise<void> {
    this.#flush();
    this.#closed = true;
    if (this.#inFlight.size > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
    const worker = this.#worker;
    this.#worker = undefined;
    await worker?.terminate();
  }
}
