/**
 * @refresh-grant/client/file-store: a token store in one file for Node.js, safe across OS
 * processes, optionally encrypted at rest.
 *
 * @example
 * ```ts
 * import { createTokenManager } from '@refresh-grant/client'
 * import { createFileStore } from '@refresh-grant/client/file-store'
 * const manager = createTokenManager({ config, store: createFileStore({ path: 'tokens.json', encryptionKey }) })
 * ```
 *
 * @packageDocumentation
 * @module @refresh-grant/client/file-store
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { open, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { StoredTokens, TokenStore } from './token-store.ts';

/** Options of {@link createFileStore}. */
export interface FileStoreOptions {
  /** The JSON file holding the tokens (created with mode 0600). Lock files are created next to it. */
  path: string;
  /** 32 bytes: encrypt the file at rest with AES-256-GCM. Without it the file is plaintext JSON, readable by its owner only. */
  encryptionKey?: Uint8Array;
  /** A lock file not touched for this long (ms) is abandoned; holders touch theirs every third of it. @default 30000 */
  staleLockMs?: number;
  /** Longest wait for a lock, ms. @default 120000 */
  lockTimeoutMs?: number;
}

interface FileContents {
  format: 1;
  tokens?: Record<string, StoredTokens>;
  /** base64 of iv (12) | tag (16) | AES-256-GCM ciphertext of the `tokens` JSON. */
  sealed?: string;
}

const AAD = Buffer.from('@refresh-grant/client file-store v1');
const noop = () => {};
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A {@link TokenStore} in one file, safe across OS processes: every write replaces the file
 * atomically (temp file, fsync, rename), and `lock` uses a lock file created with `O_EXCL`, kept
 * fresh while held and broken when its holder died (same host) or stopped touching it. Node only
 * (a separate entry point: `@refresh-grant/client/file-store`).
 *
 * @example
 * import { createFileStore } from '@refresh-grant/client/file-store'
 * const store = createFileStore({ path: `${os.homedir()}/.config/my-cli/tokens.json`, encryptionKey })
 * const manager = createTokenManager({ config, store })
 */
export function createFileStore(options: FileStoreOptions): TokenStore {
  const { path, encryptionKey, staleLockMs = 30_000, lockTimeoutMs = 120_000 } = options;
  if (typeof path !== 'string' || !path) throw new TypeError('"path" must be a non-empty string');
  if (encryptionKey && encryptionKey.length !== 32) throw new TypeError('"encryptionKey" must be 32 bytes');
  const key = encryptionKey && Buffer.from(encryptionKey);
  const tails = new Map<string, Promise<void>>();

  const read = async (): Promise<Record<string, StoredTokens>> => {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw error;
    }
    const contents = JSON.parse(text) as FileContents;
    if (contents.sealed === undefined) return contents.tokens ?? {};
    if (!key) throw new TypeError(`${path} is encrypted: pass its encryptionKey`);
    const bytes = Buffer.from(contents.sealed, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, 12)).setAAD(AAD).setAuthTag(bytes.subarray(12, 28));
    return JSON.parse(Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8'));
  };

  const write = async (tokens: Record<string, StoredTokens>): Promise<void> => {
    let contents: FileContents = { format: 1, tokens };
    if (key) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(AAD);
      const data = Buffer.concat([cipher.update(JSON.stringify(tokens)), cipher.final()]);
      contents = { format: 1, sealed: Buffer.concat([iv, cipher.getAuthTag(), data]).toString('base64') };
    }
    const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(JSON.stringify(contents));
      await handle.sync();
    } finally {
      await handle.close();
    }
    // rename(2) replaces the file atomically: readers see the old or the new contents, never a mix.
    await rename(temp, path).catch(async (error) => {
      await unlink(temp).catch(noop);
      throw error;
    });
  };

  const lockPath = (name: string) => `${path}.${createHash('sha256').update(name).digest('hex').slice(0, 16)}.lock`;

  /** In this process, callers queue here; across processes, the lock file decides. */
  const locked = <T>(file: string, critical: () => Promise<T>): Promise<T> => {
    const result = (tails.get(file) ?? Promise.resolve()).then(async () => {
      const release = await acquire(file, staleLockMs, lockTimeoutMs);
      try {
        return await critical();
      } finally {
        await release();
      }
    });
    const tail = result.then(noop, noop);
    tails.set(file, tail);
    tail.then(() => tails.get(file) === tail && tails.delete(file));
    return result;
  };

  // Writes take a short lock of their own (refresh locks are per key and long).
  const update = <T>(change: (tokens: Record<string, StoredTokens>) => T | undefined): Promise<T | undefined> =>
    locked(`${path}.write.lock`, async () => {
      const tokens = await read();
      const result = change(tokens);
      if (result !== undefined) await write(tokens);
      return result;
    });

  return {
    async get(name) {
      return (await read())[name];
    },
    async set(name, next) {
      return (
        (await update((tokens) => {
          const current = tokens[name];
          if (current && current.version >= next.version) return undefined;
          tokens[name] = next;
          return true;
        })) ?? false
      );
    },
    async delete(name) {
      await update((tokens) => (name in tokens ? delete tokens[name] : undefined));
    },
    lock(name, critical) {
      return locked(lockPath(name), critical);
    },
  };
}

/** Takes the lock file; resolves to its release function. */
async function acquire(file: string, staleLockMs: number, timeoutMs: number): Promise<() => Promise<void>> {
  const id = randomBytes(12).toString('hex');
  const deadline = Date.now() + timeoutMs;
  for (let wait = 5; ; wait = Math.min(wait * 2, 200)) {
    try {
      const handle = await open(file, 'wx', 0o600); // O_CREAT | O_EXCL: exactly one creator wins
      try {
        await handle.writeFile(JSON.stringify({ id, pid: process.pid, host: hostname() }));
      } finally {
        await handle.close();
      }
      const heartbeat = setInterval(() => utimes(file, new Date(), new Date()).catch(noop), staleLockMs / 3);
      heartbeat.unref();
      return async () => {
        clearInterval(heartbeat);
        if ((await owner(file))?.id === id) await unlink(file).catch(noop);
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (await stale(file, staleLockMs)) {
      await breakLock(file, staleLockMs);
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for the lock ${file}`);
    await sleep(wait * (0.5 + Math.random()));
  }
}

async function owner(file: string): Promise<{ id?: string; pid?: number; host?: string } | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8'));
  } catch {
    return undefined; // gone, or still being written by its creator
  }
}

/** Untouched for too long, or its holder (on this host) is no longer running. */
async function stale(file: string, staleLockMs: number): Promise<boolean> {
  try {
    if (Date.now() - (await stat(file)).mtimeMs > staleLockMs) return true;
  } catch {
    return false;
  }
  const holder = await owner(file);
  if (holder?.host !== hostname() || typeof holder.pid !== 'number') return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Removes a stale lock under a second O_EXCL lock, re-checking staleness there, so two waiters
 * that both saw it stale cannot remove a fresh lock taken in between.
 */
async function breakLock(file: string, staleLockMs: number): Promise<void> {
  const breaker = `${file}.break`;
  try {
    await (await open(breaker, 'wx', 0o600)).close();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    // A breaker that crashed mid-break leaves its file: it is tiny work, so a few seconds means dead.
    const age = await stat(breaker).then((info) => Date.now() - info.mtimeMs, () => 0);
    if (age > Math.min(5_000, staleLockMs)) await unlink(breaker).catch(noop);
    else await sleep(10);
    return;
  }
  try {
    if (await stale(file, staleLockMs)) await unlink(file).catch(noop);
  } finally {
    await unlink(breaker).catch(noop);
  }
}
