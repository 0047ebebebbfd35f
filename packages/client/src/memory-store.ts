import type { StoredTokens, TokenStore } from './token-store.ts';

/**
 * A {@link TokenStore} in this process's memory: the lock excludes callers in this process only.
 *
 * @example
 * const manager = createTokenManager({ config, store: createMemoryStore() })
 */
export function createMemoryStore(): TokenStore {
  const data = new Map<string, StoredTokens>();
  const tails = new Map<string, Promise<void>>();
  const noop = () => {};
  return {
    async get(key) {
      const tokens = data.get(key);
      return tokens && { ...tokens };
    },
    async set(key, tokens) {
      const current = data.get(key);
      if (current && current.version >= tokens.version) return false;
      data.set(key, { ...tokens });
      return true;
    },
    async delete(key) {
      data.delete(key);
    },
    lock(key, critical) {
      const result = (tails.get(key) ?? Promise.resolve()).then(critical);
      const tail = result.then(noop, noop);
      tails.set(key, tail);
      tail.then(() => tails.get(key) === tail && tails.delete(key));
      return result;
    },
  };
}
