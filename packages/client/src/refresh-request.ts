import { builtIn } from './client-auth.ts';
import { endpoint, internal, type Configuration } from './configuration.ts';
import { InvalidResponseError, OAuthResponseError } from './errors.ts';
import type { RawResponse } from './http.ts';

/** Extra request parameters: `scope` (a string, or an array joined with spaces), repeatable `resource`, anything else. */
export type RefreshParameters = URLSearchParams | Record<string, string | readonly string[] | undefined>;

/** A refresh request, ready to send with any HTTP client. */
export interface RefreshRequest {
  method: 'POST';
  url: URL;
  /** Includes `Accept: application/json`, the form content type and any client authentication header. */
  headers: Headers;
  /** `application/x-www-form-urlencoded` parameters. */
  body: URLSearchParams;
}

/** Standard id_token claims (OIDC Core section 2) plus any others. */
export interface IDTokenClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  auth_time?: number;
  nonce?: string;
  azp?: string;
  [claim: string]: unknown;
}

/** A successful token response (RFC 6749 section 5.1), wire names; `token_type` lowercased. */
export interface TokenEndpointResponse {
  readonly access_token: string;
  readonly token_type: 'bearer' | 'dpop';
  /** Seconds, as sent (a numeric string is converted). Prefer `expiresIn()`. */
  readonly expires_in?: number;
  /** Present when the server rotated (or issued) a refresh token. */
  readonly refresh_token?: string;
  readonly scope?: string;
  readonly id_token?: string;
  /**
   * draft-ietf-oauth-refresh-token-expiration: seconds the refresh token may be held without being
   * exchanged (idle timeout).
   */
  readonly refresh_token_timeout?: number;
  /** draft-ietf-oauth-refresh-token-expiration: seconds until the authorization itself expires. */
  readonly authorization_expires_in?: number;
  /** Non-standard (GitHub, Google): refresh token lifetime in seconds. */
  readonly refresh_token_expires_in?: number;
  /** Non-standard (Keycloak): refresh token lifetime in seconds. */
  readonly refresh_expires_in?: number;
  readonly [parameter: string]: unknown;
}

/** Helpers on a parsed token response (non-enumerable, so the object serializes to its wire members). */
export interface TokenEndpointResponseHelpers {
  /** Seconds until the access token expires, counted from when the response arrived; `0` when expired; `undefined` without `expires_in`. */
  expiresIn(): number | undefined;
  /** The validated id_token claims, or `undefined` without an id_token. */
  claims(): IDTokenClaims | undefined;
  /** When the access token expires (like `@oslojs/oauth2`'s `accessTokenExpiresAt()`). */
  accessTokenExpiresAt(): Date | undefined;
  /**
   * When the refresh token expires if unused: the earliest of `refresh_token_timeout`,
   * `authorization_expires_in` and the non-standard `refresh_token_expires_in` (GitHub, Google) and
   * `refresh_expires_in` (Keycloak); `undefined` when the server sent none.
   */
  refreshTokenExpiresAt(): Date | undefined;
  /** When the authorization itself expires (`authorization_expires_in`): sign in again before then. */
  authorizationExpiresAt(): Date | undefined;
}

/** A token response with its helpers. */
export type TokenResponse = TokenEndpointResponse & TokenEndpointResponseHelpers;

/** The outcome of {@link parseRefreshResponse}: errors as data. */
export type RefreshResult =
  | { ok: true; tokens: TokenResponse }
  | { ok: false; error: OAuthResponseError | InvalidResponseError };

/**
 * Builds the refresh request (RFC 6749 section 6) without sending it, client authentication
 * applied. Async because assertion-based client authentication signs.
 *
 * @example
 * const { method, url, headers, body } = await buildRefreshRequest(config, refreshToken, { scope: 'read' })
 * const response = await fetch(url, { method, headers, body })
 * const result = parseRefreshResponse({ status: response.status, headers: response.headers, bodyText: await response.text() })
 */
export async function buildRefreshRequest(
  config: Configuration,
  refreshToken: string,
  parameters?: RefreshParameters,
): Promise<RefreshRequest> {
  const [url, body, headers, pending] = prepare(config, refreshToken, parameters);
  await pending;
  // A copy: the token endpoint URL is kept for the next request.
  return { method: 'POST', url: new URL(url), headers: headers as Headers, body };
}

/**
 * The parts of a refresh request (the URL is the kept one: hand out copies), and the client
 * authentication's promise when it is asynchronous. With `map`, a built-in client authentication
 * (which only sets headers) gets a Map instead of a much costlier Headers, filled in the sorted
 * order in which a Headers iterates.
 */
export function prepare(
  config: Configuration,
  refreshToken: string,
  parameters?: RefreshParameters,
  map?: boolean,
): [url: URL, body: URLSearchParams, headers: Headers | Map<string, string>, pending: void | Promise<void>] {
  const state = internal(config);
  const { server, client, auth } = state;
  if (typeof refreshToken !== 'string' || !refreshToken) throw new TypeError('"refreshToken" must be a non-empty string');
  // Parsed and checked once per Configuration. It cannot go stale: the server metadata is a frozen
  // copy, a failed check is not kept, and allowInsecureRequests only ever relaxes the check.
  const url = (state.token ??= endpoint(config, 'token_endpoint'));
  const body = new URLSearchParams();
  for (const [name, value] of parameters instanceof URLSearchParams ? parameters : Object.entries(parameters ?? {})) {
    if (typeof value === 'string') body.append(name, value);
    else if (value) name === 'scope' ? body.set(name, value.join(' ')) : value.forEach((v) => body.append(name, v));
  }
  // RFC 6749 section 6: grant_type MUST be "refresh_token"; refresh_token is REQUIRED.
  body.set('grant_type', 'refresh_token');
  body.set('refresh_token', refreshToken);
  const form = 'application/x-www-form-urlencoded;charset=UTF-8';
  map &&= builtIn.has(auth);
  const headers = map ? new Map<string, string>() : new Headers();
  headers.set('accept', 'application/json');
  // Before the client authentication (it may read it); into a Map after it, for the sorted order.
  if (!map) headers.set('content-type', form);
  const pending = auth(server, client, body, headers as Headers);
  if (map) headers.set('content-type', form);
  return [url, body, headers, pending];
}

/**
 * Turns any token endpoint response into a result: an `error` member at any status (200 included,
 * as GitHub does) is an {@link OAuthResponseError}; JSON and form-encoded bodies are read; anything
 * else that is not a valid RFC 6749 section 5.1 response is an {@link InvalidResponseError}.
 * The id_token is not validated here (that needs the JWKS): `claims()` stays `undefined`.
 *
 * @param receivedAt When the response arrived (epoch ms): `expiresIn()` counts from it.
 */
export function parseRefreshResponse(response: RawResponse, receivedAt = Date.now()): RefreshResult {
  const { status, bodyText } = response;
  const headers = response.headers instanceof Headers ? response.headers : new Headers(response.headers);
  const type = headers.get('content-type')?.split(';')[0].trim().toLowerCase() ?? '';
  let body: Record<string, unknown> | undefined;
  if (type === 'application/x-www-form-urlencoded') body = Object.fromEntries(new URLSearchParams(bodyText));
  else {
    try {
      body = JSON.parse(bodyText);
    } catch {}
    // An array passes as an object here and fails as a token response below.
    if (typeof body !== 'object' || !body) body = undefined;
  }
  const fail = (message: string) => ({ ok: false as const, error: new InvalidResponseError(message, status, body, undefined, undefined, headers) });
  if (!body) return fail(`token endpoint answered HTTP ${status} with a body that is neither a JSON object nor a form (content-type: ${type || 'none'})`);
  if ('error' in body) {
    return typeof body.error === 'string' && body.error
      ? { ok: false, error: new OAuthResponseError(status, headers, body) }
      : fail('"error" must be a non-empty string');
  }
  // RFC 6749 section 5.1: success is HTTP 200.
  if (status !== 200) return fail(`token endpoint answered HTTP ${status} without an "error" member`);
  const tokens: Record<string, unknown> = { ...body };
  const text = (name: string, optional: boolean) =>
    (optional && tokens[name] === undefined) || (typeof tokens[name] === 'string' && tokens[name] !== '') ? '' : `"${name}" must be a non-empty string; `;
  const seconds = (name: string) => {
    const value = tokens[name];
    if (value === undefined) return '';
    const number = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
    if (typeof number !== 'number' || !(number >= 0) || number === Infinity) return `"${name}" must be a non-negative number; `;
    tokens[name] = number;
    return '';
  };
  // RFC 6749 section 5.1: access_token and token_type are REQUIRED.
  let problems = text('access_token', false) + text('token_type', false);
  if (!problems && !/^(bearer|dpop)$/i.test(tokens.token_type as string)) problems = `unsupported "token_type" ${tokens.token_type}; `;
  for (const name of lifetimes) problems += seconds(name);
  problems += text('refresh_token', true) + text('id_token', true);
  if (tokens.scope !== undefined && typeof tokens.scope !== 'string') problems += '"scope" must be a string; ';
  if (problems) return fail(`invalid token response: ${problems.slice(0, -2)}`);
  tokens.token_type = (tokens.token_type as string).toLowerCase();
  return { ok: true, tokens: withHelpers(tokens as unknown as TokenEndpointResponse, receivedAt) };
}

/** Lifetimes in seconds a token response may carry: checked, and a numeric string converted. */
const lifetimes = ['expires_in', 'refresh_token_timeout', 'authorization_expires_in', 'refresh_token_expires_in', 'refresh_expires_in'] as const;

/** Attaches the non-enumerable helpers. */
export function withHelpers(tokens: TokenEndpointResponse, receivedAt: number, claims?: IDTokenClaims): TokenResponse {
  // undefined (and Infinity) < Infinity is false: no date.
  const at = (seconds: number | undefined) => (seconds! < Infinity ? new Date(receivedAt + seconds! * 1000) : undefined);
  // One defineProperty each: much cheaper in V8 than a defineProperties descriptor map.
  const define = (name: keyof TokenEndpointResponseHelpers, value: () => unknown) => Object.defineProperty(tokens, name, { value });
  define('expiresIn', () =>
    tokens.expires_in === undefined ? undefined : Math.max(0, tokens.expires_in - Math.floor((Date.now() - receivedAt) / 1000)),
  );
  define('claims', () => claims);
  define('accessTokenExpiresAt', () => at(tokens.expires_in));
  // The refresh token cannot outlive the authorization: the earliest of the lifetimes sent.
  define('refreshTokenExpiresAt', () => at(Math.min(...lifetimes.slice(1).map((name) => tokens[name] ?? Infinity))));
  define('authorizationExpiresAt', () => at(tokens.authorization_expires_in));
  return tokens as TokenResponse;
}
