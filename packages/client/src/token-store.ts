/**
 * What a {@link TokenStore} keeps per key (camelCase; stores serialize it as they like).
 * A refresh token is a credential: keep it encrypted or access-controlled at rest.
 */
export interface StoredTokens {
  /** The current refresh token (the rotated one once the server rotates). */
  refreshToken: string;
  accessToken?: string;
  /** `bearer` or `dpop`. */
  tokenType?: string;
  /** When the access token expires, epoch ms. */
  expiresAt?: number;
  scope?: string;
  /** The latest id_token: the reference for OIDC Core section 12.2 checks on the next refresh. */
  idToken?: string;
  /** Increases by one with every write; a store never replaces a version with an equal or lower one. */
  version: number;
  /** When these tokens were obtained, epoch ms. */
  issuedAt: number;
  /**
   * When the refresh token expires if unused, epoch ms, when the server said
   * (`refresh_token_timeout`, `authorization_expires_in`, `refresh_token_expires_in`, `refresh_expires_in`).
   */
  refreshExpiresAt?: number;
  /** When the authorization itself expires, epoch ms (`authorization_expires_in`): sign in again before. */
  authorizationExpiresAt?: number;
  /**
   * Set when the server refused this session's refresh token for good, epoch ms: no request is sent
   * with it again; the next sign-in's tokens (`setTokens`) replace the set.
   */
  refusedAt?: number;
  /** Why it was refused (the error), for logs. */
  refusal?: string;
}

/**
 * Where a token manager keeps tokens, shared by every process that uses the same session.
 *
 * Contract:
 * - `set` is a compare-and-set on `version`: it writes only when the stored version is lower (or
 *   nothing is stored), and says whether it wrote. An older token set never overwrites a newer one.
 * - `lock` runs `critical` while holding a lock on `key` that excludes every other holder in every
 *   process using the store; it releases the lock when `critical` settles, and a crashed holder's
 *   lock must expire. The manager holds it for the duration of one refresh (HTTP included).
 *
 * Backing it with Redis: store JSON under `tokens:{key}`; `set` as a Lua script that compares the
 * stored `version` and writes only when lower; `lock` as `SET lock:{key} <random> NX PX 30000`,
 * retried with a short sleep, extended while held, and released with a compare-and-delete Lua
 * script (release only if the value is still `<random>`).
 *
 * Backing it with SQL: a table `(key text primary key, version bigint, data text)`; `set` as
 * `INSERT ... ON CONFLICT (key) DO UPDATE SET version = excluded.version, data = excluded.data
 * WHERE tokens.version < excluded.version` (the row count says whether it wrote); `lock` as a
 * transaction-scoped lock (`pg_advisory_xact_lock(hashtext(key))` in PostgreSQL, `SELECT ... FOR
 * UPDATE` on the row elsewhere) held by a transaction that spans `critical`, on its own connection.
 */
export interface TokenStore {
  /** The tokens under `key`, or undefined. */
  get(key: string): Promise<StoredTokens | undefined>;
  /** Writes unless the stored version is equal or higher; true when it wrote. */
  set(key: string, tokens: StoredTokens): Promise<boolean>;
  /** Runs `critical` under an exclusive lock on `key`, across processes. */
  lock<T>(key: string, critical: () => Promise<T>): Promise<T>;
  /** Removes the tokens under `key` (sign-out). */
  delete(key: string): Promise<void>;
}
