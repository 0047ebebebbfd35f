import { randomDPoPKeyPair } from './dpop.ts';
import type { StoredTokens, TokenStore } from './token-store.ts';

/** Options of {@link createBrowserStore}. */
export interface BrowserStoreOptions {
  /** The IndexedDB database, and the prefix of the Web Locks names. @default 'refresh-grant' */
  name?: string;
}

/** A {@link TokenStore} for browsers that also keeps each session's DPoP key pair. */
export interface BrowserTokenStore extends TokenStore {
  /**
   * The DPoP key pair of the session `key`: read from IndexedDB, or generated (ES256, private key
   * not extractable) and stored there on first use, under a Web Lock so that tabs racing to create
   * it end up with the same one. `delete(key)` removes it with the tokens.
   */
  dpopKeyPair(key: string): Promise<CryptoKeyPair>;
}

const TOKENS = 'tokens';
const KEYS = 'dpop-keys';

/** Settles with a request's result. */
const done = <T>(request: IDBRequest<T>): Promise<T> =>
  new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });

/**
 * A {@link TokenStore} in the browser, shared by every tab of the origin: tokens live in IndexedDB
 * (`set` is a compare-and-set on `version` inside one read-write transaction, which IndexedDB runs
 * one at a time across tabs), and `lock` is an exclusive Web Lock, so exactly one tab refreshes at
 * a time and the others then read its tokens. The browser releases a Web Lock when its tab closes
 * or crashes. The session's DPoP key pair is kept beside the tokens, its private key not
 * extractable: script can sign with it but never read it, and it never leaves this browser.
 *
 * @example
 * const store = createBrowserStore()
 * const DPoP = getDPoPHandle(config, await store.dpopKeyPair('default'))
 * const manager = createTokenManager({ config, store, DPoP })
 * await manager.fetch('https://api.example.com/me')
 */
export function createBrowserStore(options: BrowserStoreOptions = {}): BrowserTokenStore {
  const name = options.name ?? 'refresh-grant';
  let opened: Promise<IDBDatabase> | undefined;

  const db = (): Promise<IDBDatabase> =>
    (opened ??= new Promise((resolve, reject) => {
      const request = indexedDB.open(name, 1);
      request.onupgradeneeded = () => {
        request.result.createObjectStore(TOKENS);
        request.result.createObjectStore(KEYS);
      };
      request.onsuccess = () => {
        const database = request.result;
        // Another tab upgrading the schema: step aside, reopen on next use.
        database.onversionchange = () => {
          database.close();
          opened = undefined;
        };
        resolve(database);
      };
      request.onerror = () => {
        opened = undefined;
        reject(request.error);
      };
    }));

  /** Runs `work` in one transaction and settles when the transaction has committed. */
  const transact = async <T>(stores: string[], mode: IDBTransactionMode, work: (tx: IDBTransaction) => Promise<T>): Promise<T> => {
    const tx = (await db()).transaction(stores, mode);
    const committed = new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    });
    committed.catch(() => {}); // awaited below; a failing `work` must not leave it unhandled
    let result: T;
    try {
      result = await work(tx);
    } catch (error) {
      if (!tx.error) tx.abort();
      throw error;
    }
    await committed;
    return result;
  };

  const lock = <T>(resource: string, critical: () => Promise<T>): Promise<T> => {
    if (typeof navigator === 'undefined' || !navigator.locks) throw new TypeError('the Web Locks API is not available (it needs a secure context)');
    return navigator.locks.request(`${name}:${resource}`, { mode: 'exclusive' }, critical) as Promise<T>;
  };

  return {
    get: (key) => transact([TOKENS], 'readonly', (tx) => done<StoredTokens | undefined>(tx.objectStore(TOKENS).get(key))),
    set: (key, tokens) =>
      transact([TOKENS], 'readwrite', async (tx) => {
        const store = tx.objectStore(TOKENS);
        const current = await done<StoredTokens | undefined>(store.get(key));
        if (current && current.version >= tokens.version) return false;
        store.put({ ...tokens }, key);
        return true;
      }),
    delete: (key) =>
      transact([TOKENS, KEYS], 'readwrite', async (tx) => {
        tx.objectStore(TOKENS).delete(key);
        tx.objectStore(KEYS).delete(key);
      }),
    lock: (key, critical) => lock(`tokens:${key}`, critical),
    dpopKeyPair: (key) =>
      lock(`dpop-key:${key}`, async () => {
        const stored = await transact([KEYS], 'readonly', (tx) => done<CryptoKeyPair | undefined>(tx.objectStore(KEYS).get(key)));
        if (stored) return stored;
        // Generated outside the transaction (IndexedDB commits a transaction left idle across an await).
        const keyPair = await randomDPoPKeyPair('ES256', { extractable: false });
        await transact([KEYS], 'readwrite', async (tx) => void tx.objectStore(KEYS).put(keyPair, key));
        return keyPair;
      }),
  };
}
