import type { Configuration } from './configuration.ts';
import type { DPoPHandle } from './dpop.ts';
import { InvalidResponseError, OAuthResponseError, RefreshError } from './errors.ts';
import type { RefreshParameters, TokenResponse } from './refresh-request.ts';
import { finalStatus, retryDelays, type RetryOptions } from './refresh-retry.ts';
import { refreshTokenGrant } from './refresh-token-grant.ts';
import { refreshedTokens, signedInTokens, type TokenSetInput } from './token-set.ts';
import type { StoredTokens, TokenStore } from './token-store.ts';
import { parseWWWAuthenticate } from './www-authenticate.ts';

export type { RetryOptions, TokenSetInput };

/** Options of {@link createTokenManager}. */
export interface TokenManagerOptions {
  config: Configuration;
  store: TokenStore;
  /** Which session in the store. @default 'default' */
  key?: string;
  /** Sent with every refresh (`scope`, `resource`, ...). */
  parameters?: RefreshParameters;
  /** Refresh this many seconds before expiry (covers clock skew and latency), at most half the lifetime. @default 30 */
  refreshSkew?: number;
  /** Plus a random 0..this many seconds, so processes do not all refresh at once. @default 30 */
  refreshJitter?: number;
  retry?: RetryOptions;
  /** Clock, epoch ms. @default Date.now */
  now?: () => number;
  /** Waits between retries. @default setTimeout */
  sleep?: (ms: number) => Promise<void>;
  /** Source of jitter in [0, 1). @default Math.random */
  random?: () => number;
  /** The fetch the `fetch` wrapper calls. @default globalThis.fetch */
  fetch?: typeof fetch;
  /**
   * Seconds before the authorization's absolute expiry (`authorization_expires_in`) at which
   * `authorization-expiring` is emitted, so the application can have the user sign in again before
   * the session ends. @default 86400
   */
  expiryWarning?: number;
  /**
   * DPoP (RFC 9449): the handle of the key the session's tokens are bound to (keep the key pair
   * beside the tokens: `createBrowserStore().dpopKeyPair(key)` in browsers). Refreshes carry
   * proofs, and the `fetch` wrapper sends DPoP-bound access tokens as `Authorization: DPoP` with a
   * proof (`ath`) per request.
   */
  DPoP?: DPoPHandle;
}

/** Events of a token manager and what their listeners receive. */
export interface TokenManagerEvents {
  /** New tokens were stored (by this process). */
  tokens: { tokens: StoredTokens };
  /** A refresh failed and will be retried after `delay` ms. */
  retry: { error: RefreshError; attempt: number; delay: number };
  /** A refresh failed for good (after any retries). */
  error: { error: unknown };
  /**
   * The session is over: the user must sign in again. Emitted once per refused session: later calls
   * reject with {@link ReauthenticationRequiredError} without sending anything.
   */
  'reauthentication-required': { error: unknown };
  /**
   * The authorization expires at `expiresAt` (epoch ms), within `expiryWarning`: have the user sign in
   * again before then. Emitted once per expiry (from a timer, or at the next call past the threshold);
   * again only if the authorization's expiry moves by more than a minute (renewed out of band).
   */
  'authorization-expiring': { expiresAt: number };
}

/** Keeps one session's tokens fresh; see {@link createTokenManager}. */
export interface TokenManager {
  /**
   * A usable access token, refreshing first when it is near expiry. When that early refresh fails
   * for a reason other than a final one, the current token is returned while it has not expired.
   */
  getAccessToken(): Promise<string>;
  /** The current tokens, refreshing first when the access token is near expiry. */
  getTokens(): Promise<StoredTokens>;
  /** Refreshes now (still single flight), unless another caller or process just did. */
  refresh(): Promise<StoredTokens>;
  /**
   * Stores a token set obtained at sign-in: `authorizationCodeGrant`'s result as it is, or any
   * grant's token response (wire names). It must hold a `refresh_token`.
   */
  setTokens(tokens: TokenSetInput | TokenResponse): Promise<StoredTokens>;
  /**
   * `fetch` with `Authorization: Bearer`, or `DPoP` plus a proof for a DPoP-bound token (retried once
   * when the resource server asks for a nonce); after a 401 with `error="invalid_token"` it
   * refreshes and retries once.
   */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** Subscribes to an event; returns the unsubscribe function. */
  on<E extends keyof TokenManagerEvents>(event: E, listener: (detail: TokenManagerEvents[E]) => void): () => void;
}

/**
 * The session cannot continue without a new sign-in; `cause` is what ended it. A {@link RefreshError}
 * of `kind` `reauthentication_required`, never `retryable`.
 */
export class ReauthenticationRequiredError extends RefreshError {
  declare readonly kind: 'reauthentication_required';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, false, options?.cause);
  }
}
Object.defineProperties(ReauthenticationRequiredError.prototype, {
  kind: { value: 'reauthentication_required' },
  name: { value: 'ReauthenticationRequiredError' },
});

/**
 * Creates a token manager: refreshes ahead of expiry (skew plus jitter), single flight in the
 * process and, through the store's lock, across processes; stores the rotated refresh token before
 * handing out the new access token, keeps the old one when the server did not rotate, never lets an
 * older token set overwrite a newer one; retries transport errors, 5xx and 429 with backoff and
 * jitter honouring `Retry-After` (with the same refresh token, which a server's retry window answers
 * with the same successor), never retries final errors; re-reads the store once on `invalid_grant`.
 *
 * @example
 * const manager = createTokenManager({ config, store: createFileStore({ path: 'tokens.json' }) })
 * await manager.setTokens(signInResponse) // once, after sign-in
 * manager.on('reauthentication-required', () => redirectToLogin())
 * const response = await manager.fetch('https://api.example.com/me')
 */
export function createTokenManager(options: TokenManagerOptions): TokenManager {
  const { config, store, key = 'default', parameters, refreshSkew = 30, refreshJitter = 30, expiryWarning = 86_400, DPoP } = options;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const retryDelay = retryDelays(options.retry ?? {}, random, now);
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const listeners = new Map<string, Set<(detail: never) => void>>();
  const refreshAt = new WeakMap<StoredTokens, number>();
  let cached: StoredTokens | undefined;
  let inflight: Promise<StoredTokens> | undefined;
  /** The authorization expiry already warned about, and the timer waiting for the next one. */
  let warned: number | undefined;
  let warning: ReturnType<typeof setTimeout> | undefined;

  const emit = <E extends keyof TokenManagerEvents>(event: E, detail: TokenManagerEvents[E]) =>
    listeners.get(event)?.forEach((listener) => (listener as (detail: TokenManagerEvents[E]) => void)(detail));

  const usable = (tokens: StoredTokens): boolean => {
    if (!tokens.accessToken) return false;
    let at = refreshAt.get(tokens);
    if (at === undefined) {
      const { expiresAt, issuedAt } = tokens;
      const margin = Math.min((expiresAt! - issuedAt) / 2, (refreshSkew + random() * refreshJitter) * 1000);
      refreshAt.set(tokens, (at = expiresAt === undefined ? Infinity : expiresAt - margin));
    }
    return now() < at;
  };

  const reauthenticate = (message: string, cause?: unknown): never => {
    emit('reauthentication-required', { error: cause });
    throw new ReauthenticationRequiredError(message, { cause });
  };

  /** A session the server refused: rejected without a request (the event was emitted when it was refused). */
  const refused = (tokens: StoredTokens | undefined): boolean => tokens?.refusedAt !== undefined;
  const ended = (tokens: StoredTokens): never => {
    throw new ReauthenticationRequiredError(`the session was refused by the server (${tokens.refusal}): sign in again`);
  };

  /** Emits `authorization-expiring` once the absolute expiry is within `expiryWarning`; else arms a timer. */
  const watchExpiry = (tokens: StoredTokens | undefined): void => {
    const expiresAt = tokens?.authorizationExpiresAt;
    // The same expiry, told again by a later response (to the second, so within a minute), is not new.
    if (expiresAt === undefined || refused(tokens) || (warned !== undefined && Math.abs(expiresAt - warned) <= 60_000)) return;
    clearTimeout(warning);
    const wait = expiresAt - expiryWarning * 1000 - now();
    if (wait <= 0) {
      warned = expiresAt;
      emit('authorization-expiring', { expiresAt });
      return;
    }
    // Re-checked when it fires (the clock may differ, or a longer wait than a timer holds).
    warning = setTimeout(() => watchExpiry(cached), Math.min(wait, 2 ** 31 - 1));
    (warning as { unref?: () => void }).unref?.();
  };

  /** Store first, hand out after: a lost write must not lose a rotated refresh token. */
  const save = async (next: StoredTokens): Promise<StoredTokens> => {
    if (!(await store.set(key, next))) {
      // The store already holds a newer set (written elsewhere): it wins.
      const newer = await store.get(key);
      if (newer) return (cached = newer);
    }
    emit('tokens', { tokens: next });
    watchExpiry(next);
    return (cached = next);
  };

  const refreshLocked = async (force: boolean, used?: string): Promise<StoredTokens> => {
    let current = await store.get(key);
    if (!current) return reauthenticate(`no tokens stored under "${key}": sign in first`);
    // A refused session is never sent again (another process may have found it refused).
    if (refused(current)) return ended((cached = current));
    // Another caller or process may have refreshed while we waited for the lock.
    if (force ? current.accessToken !== used && usable(current) : usable(current)) return (cached = current);
    let reread = false;
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await refreshTokenGrant(config, current.refreshToken, parameters, { idToken: current.idToken, DPoP });
        return await save(refreshedTokens(response, current, now));
      } catch (error) {
        const rotated = error instanceof InvalidResponseError ? error.body?.refresh_token : undefined;
        if (typeof rotated === 'string' && rotated && rotated !== current.refreshToken) {
          // The response failed validation but the server rotated: keep the new refresh token.
          const kept: StoredTokens = { refreshToken: rotated, idToken: current.idToken, scope: current.scope, version: current.version + 1, issuedAt: now() };
          if (await store.set(key, kept)) current = cached = kept;
        }
        if (error instanceof OAuthResponseError && error.error === 'invalid_grant' && !reread) {
          reread = true;
          const latest = await store.get(key);
          if (latest && latest.refreshToken !== current.refreshToken) {
            // Another process rotated meanwhile: use its tokens, or its refresh token.
            if (usable(latest)) return (cached = latest);
            current = latest;
            attempt = 0;
            continue;
          }
        }
        const delay = retryDelay(error, attempt);
        if (delay === undefined) {
          emit('error', { error });
          if ((error instanceof OAuthResponseError && !error.retryable) || finalStatus(error)) {
            // Remembered (in the store, for every process) until new tokens are set: no request is
            // ever sent with this refresh token again.
            const message = error instanceof OAuthResponseError ? error.error : `HTTP ${(error as InvalidResponseError).status}`;
            await store.set(key, { ...current, version: current.version + 1, refusedAt: now(), refusal: message });
            cached = await store.get(key);
            reauthenticate(`the refresh token was rejected: ${(error as Error).message}`, error);
          }
          throw error;
        }
        emit('retry', { error: error as RefreshError, attempt, delay });
        await sleep(delay);
      }
    }
  };

  const refreshOnce = async (force: boolean, used?: string): Promise<StoredTokens> => {
    if (inflight) {
      const tokens = await inflight;
      if (!force || tokens.accessToken !== used) return tokens;
    }
    inflight ??= store.lock(key, () => refreshLocked(force, used)).finally(() => (inflight = undefined));
    return inflight;
  };

  const getTokens = async (): Promise<StoredTokens> => {
    cached ??= await store.get(key);
    if (refused(cached)) {
      // Another process may have signed in again since: only the store can tell.
      const latest = await store.get(key);
      if (!latest || refused(latest)) return ended(cached!);
      cached = latest;
    }
    watchExpiry(cached);
    if (cached && usable(cached)) return cached;
    const previous = cached;
    try {
      return await refreshOnce(false);
    } catch (error) {
      // Refreshing ahead of expiry failed (and was reported), but the access token has not expired yet: use it.
      if (!(error instanceof ReauthenticationRequiredError) && previous?.accessToken && now() < previous.expiresAt!) return previous;
      throw error;
    }
  };

  const authorized = async (request: Request, tokens: StoredTokens) => {
    const url = new URL(request.url);
    let scheme = 'Bearer';
    if (tokens.tokenType === 'dpop') {
      if (!DPoP) throw new TypeError('the access token is DPoP-bound: pass the handle of its key as the "DPoP" option');
      // RFC 9449 section 7.1: a DPoP-bound token goes with the DPoP scheme and a proof carrying ath.
      await DPoP.addProof(url, request.headers, request.method, tokens.accessToken);
      scheme = 'DPoP';
    }
    request.headers.set('authorization', `${scheme} ${tokens.accessToken}`);
    const response = await (options.fetch ?? fetch)(request);
    DPoP?.cacheNonce(response, url);
    return response;
  };
  /** True for a 401 whose `WWW-Authenticate` challenges carry `error`. */
  const challenged = (response: Response, error: string) =>
    response.status === 401 && parseWWWAuthenticate(response.headers.get('www-authenticate')).some((c) => c.parameters.error === error);

  return {
    getTokens,
    async getAccessToken() {
      return (await getTokens()).accessToken!;
    },
    async refresh() {
      cached ??= await store.get(key);
      return refreshOnce(true, cached?.accessToken);
    },
    async setTokens(input) {
      const refreshToken = input?.refresh_token;
      if (typeof refreshToken !== 'string' || !refreshToken) throw new TypeError('"refresh_token" must be a non-empty string');
      return store.lock(key, async () => save(signedInTokens(input, await store.get(key), now)));
    },
    async fetch(input, init) {
      const request = new Request(input, init);
      const attempt = async (tokens: StoredTokens) => {
        const response = await authorized(request.clone(), tokens);
        // RFC 9449 section 9: a resource server asking for a nonce gets one more request, with it.
        if (!DPoP || tokens.tokenType !== 'dpop' || !challenged(response, 'use_dpop_nonce')) return response;
        await response.body?.cancel();
        return authorized(request.clone(), tokens);
      };
      const tokens = await getTokens();
      let response = await attempt(tokens);
      // RFC 6750 section 3.1: invalid_token means expired, revoked or otherwise invalid; a refresh may help.
      if (challenged(response, 'invalid_token')) {
        await response.body?.cancel();
        response = await attempt(await refreshOnce(true, tokens.accessToken));
      }
      await request.body?.cancel();
      return response;
    },
    on(event, listener) {
      const set = listeners.get(event) ?? new Set();
      listeners.set(event, set.add(listener as (detail: never) => void));
      return () => void set.delete(listener as (detail: never) => void);
    },
  };
}
