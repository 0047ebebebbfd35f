/**
 * From a token response to the token set the store keeps: the access token's expiry, the refresh
 * token (the old one kept when the server did not rotate), and the refresh token's and the
 * authorization's expiries from the lifetimes a response sends.
 */
import type { TokenResponse } from './refresh-request.ts';
import type { StoredTokens } from './token-store.ts';
import type { TokenManager } from './token-manager.ts';

/** A token set as returned by any token endpoint (wire names): what {@link TokenManager.setTokens} takes. */
export interface TokenSetInput {
  refresh_token: string;
  access_token?: string;
  token_type?: string;
  expires_in?: number;
  scope?: string;
  id_token?: string;
  /** draft-ietf-oauth-refresh-token-expiration (and the non-standard names), in seconds. */
  refresh_token_timeout?: number;
  authorization_expires_in?: number;
  refresh_token_expires_in?: number;
  refresh_expires_in?: number;
}

/** A response's lifetimes, in seconds: the refresh token's (the earliest sent) and the authorization's. */
interface Lifetimes {
  refresh?: number;
  authorization?: number;
}

function lifetimes(input: Pick<TokenSetInput, 'refresh_token_timeout' | 'authorization_expires_in' | 'refresh_token_expires_in' | 'refresh_expires_in'>): Lifetimes {
  const seconds = (value: unknown) => (value === undefined || value === null || value === '' ? undefined : Number(value));
  const authorization = seconds(input.authorization_expires_in);
  // The refresh token cannot outlive the authorization.
  const known = [input.refresh_token_timeout, input.refresh_token_expires_in, input.refresh_expires_in].map(seconds).concat(authorization);
  const finite = known.filter((s): s is number => s !== undefined && Number.isFinite(s) && s >= 0);
  return { refresh: finite.length > 0 ? Math.min(...finite) : undefined, authorization: authorization !== undefined && authorization >= 0 ? authorization : undefined };
}

/**
 * The refresh token's and the authorization's expiry (epoch ms) from a response's lifetimes. What
 * the server did not say is kept from `current`: the authorization's expiry always (it is the
 * session's), the refresh token's only when the refresh token is the same.
 */
function withExpiry(tokens: StoredTokens, seconds: Lifetimes, now: () => number, current?: StoredTokens, sameRefreshToken = false): StoredTokens {
  const at = (s: number | undefined) => (s === undefined ? undefined : now() + s * 1000);
  const authorization = at(seconds.authorization) ?? current?.authorizationExpiresAt;
  const refresh = at(seconds.refresh) ?? (sameRefreshToken ? current?.refreshExpiresAt : undefined);
  if (authorization !== undefined) tokens.authorizationExpiresAt = authorization;
  if (refresh !== undefined) tokens.refreshExpiresAt = refresh;
  return tokens;
}

/** The set that follows `current` after a refresh answered `response`; `now` in epoch ms. */
export function refreshedTokens(response: TokenResponse, current: StoredTokens, now: () => number): StoredTokens {
  const next: StoredTokens = {
    accessToken: response.access_token,
    tokenType: response.token_type,
    expiresAt: response.expires_in === undefined ? undefined : now() + response.expiresIn()! * 1000,
    // Keep the old refresh token when the server did not rotate.
    refreshToken: response.refresh_token ?? current.refreshToken,
    scope: response.scope ?? current.scope,
    idToken: response.id_token ?? current.idToken,
    version: current.version + 1,
    issuedAt: now(),
  };
  return withExpiry(next, lifetimes(response), now, current, response.refresh_token === undefined);
}

/** The set a sign-in gave (`input`, with a `refresh_token`), replacing `current`; `now` in epoch ms. */
export function signedInTokens(input: TokenSetInput | TokenResponse, current: StoredTokens | undefined, now: () => number): StoredTokens {
  const next: StoredTokens = {
    accessToken: input.access_token,
    tokenType: input.token_type?.toLowerCase(),
    // A parsed response counts its lifetime from when it arrived.
    expiresAt: input.expires_in === undefined ? undefined : now() + Number('expiresIn' in input ? input.expiresIn() : input.expires_in) * 1000,
    refreshToken: input.refresh_token!,
    scope: input.scope,
    idToken: input.id_token,
    version: (current?.version ?? 0) + 1,
    issuedAt: now(),
  };
  // A new sign-in: its own expiries, nothing kept from the session it replaces. A parsed
  // response counts them from when it arrived.
  const left = (date: Date | undefined) => (date === undefined ? undefined : Math.max(0, (date.getTime() - now()) / 1000));
  const seconds = 'authorizationExpiresAt' in input
    ? { refresh: left(input.refreshTokenExpiresAt()), authorization: left(input.authorizationExpiresAt()) }
    : lifetimes(input);
  return withExpiry(next, seconds, now);
}
