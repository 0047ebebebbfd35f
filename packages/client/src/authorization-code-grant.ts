import { validateAuthorizationResponse, type skipStateCheck } from './authorization-response.ts';
import { internal, type Configuration } from './configuration.ts';
import type { DPoPHandle } from './dpop.ts';
import { InvalidResponseError } from './errors.ts';
import { parametersOf, postForm } from './form-post.ts';
import { assertVerifier } from './pkce.ts';
import { parseRefreshResponse, withHelpers, type RefreshParameters, type TokenResponse } from './refresh-request.ts';
import { validateIdToken } from './refresh-token-grant.ts';

/** Clock tolerance for `auth_time` against `maxAge`, in seconds (the id_token's own checks use the same). */
const CLOCK_TOLERANCE = 30;

/** What {@link authorizationCodeGrant} checks the response against (openid-client's `AuthorizationCodeGrantChecks`). */
export interface AuthorizationCodeGrantChecks {
  /**
   * The `nonce` sent in the authorization request: the id_token's must equal it, and an id_token
   * is then required. Without it, an id_token must carry no `nonce`.
   */
  expectedNonce?: string;
  /**
   * The `state` sent in the authorization request: the response's must equal it. Without it, the
   * response must carry no `state`. {@link skipStateCheck} skips the check.
   */
  expectedState?: string | typeof skipStateCheck;
  /** Require an id_token in the token response (implied by `expectedNonce` and `maxAge`). */
  idTokenExpected?: boolean;
  /**
   * The `max_age` sent in the authorization request (default: the client's `default_max_age`):
   * the id_token must then carry an `auth_time` no older than this many seconds.
   */
  maxAge?: number;
  /** The PKCE `code_verifier` whose challenge went into the authorization request (RFC 7636). */
  pkceCodeVerifier?: string;
}

/** Options of {@link authorizationCodeGrant} (openid-client's `DPoPOptions`, plus a signal). */
export interface AuthorizationCodeGrantOptions {
  /**
   * Sender-constrains the tokens with DPoP (RFC 9449): a proof by this handle's key rides on the
   * exchange (one `use_dpop_nonce` answer is retried with the server's nonce), and a public
   * client's refresh token is bound to the key (section 5). Keep the key as long as the tokens.
   */
  DPoP?: DPoPHandle;
  /** Aborts the request; the abort reason is rethrown as is. */
  signal?: AbortSignal;
}

/**
 * Finishes an authorization code flow, like openid-client v6's `authorizationCodeGrant`: checks the
 * authorization response in `currentUrl` (the URL the user agent came back to, or the incoming
 * Request, for `response_mode=form_post` too) for `iss` (RFC 9207: required when the server's
 * metadata says `authorization_response_iss_parameter_supported`, compared when present), `state`,
 * an `error` and the `code`; exchanges the code at the token endpoint (RFC 6749 section 4.1.3) with
 * the PKCE verifier, the redirect URI (`currentUrl` without query and fragment) and
 * `tokenEndpointParameters`, with DPoP given `options.DPoP`; validates an id_token as refreshes do
 * (signature, `iss`, `aud`, `azp`, `exp`, `iat`) plus `nonce` and `auth_time` against `checks`.
 *
 * Errors: an {@link AuthorizationResponseError} (`kind: 'authorization'`) when the server
 * redirected back with an error; an `InvalidResponseError` when a check fails; the token endpoint's
 * `OAuthResponseError`, `InvalidResponseError` or `TransportError`; a TypeError on misuse.
 *
 * @example
 * // At the redirect URI, with what the authorization request kept in the session:
 * const tokens = await authorizationCodeGrant(config, new URL(request.url), {
 *   pkceCodeVerifier: session.codeVerifier,
 *   expectedState: session.state,
 *   expectedNonce: session.nonce,
 * })
 * await manager.setTokens(tokens)   // a token manager takes it from here
 */
export async function authorizationCodeGrant(
  config: Configuration,
  currentUrl: URL | Request,
  checks?: AuthorizationCodeGrantChecks,
  tokenEndpointParameters?: RefreshParameters,
  options?: AuthorizationCodeGrantOptions,
): Promise<TokenResponse> {
  const { client } = internal(config);
  const { expectedNonce, pkceCodeVerifier, maxAge = client.default_max_age as number | undefined } = checks ?? {};
  if (expectedNonce !== undefined && (typeof expectedNonce !== 'string' || !expectedNonce)) throw new TypeError('"expectedNonce" must be a non-empty string');
  if (maxAge !== undefined && !(typeof maxAge === 'number' && maxAge >= 0)) throw new TypeError('"maxAge" must be a non-negative number of seconds');
  if (pkceCodeVerifier !== undefined) assertVerifier(pkceCodeVerifier);
  const { code, redirectUri } = await validateAuthorizationResponse(config, currentUrl, checks?.expectedState);

  const form = parametersOf(tokenEndpointParameters);
  // RFC 6749 section 4.1.3: grant_type, code, and redirect_uri as in the authorization request.
  form.set('grant_type', 'authorization_code');
  form.set('code', code);
  form.set('redirect_uri', redirectUri);
  // RFC 7636 section 4.5: the verifier goes with the code.
  if (pkceCodeVerifier !== undefined) form.set('code_verifier', pkceCodeVerifier);
  const [tokens, response] = await postForm(
    config,
    'token_endpoint',
    form,
    (received) => {
      const result = parseRefreshResponse(received, received.receivedAt);
      return result.ok ? { ok: true, value: result.tokens } : result;
    },
    options,
  );

  const body = { ...tokens };
  const fail = (message: string) => new InvalidResponseError(`id_token is invalid: ${message}`, 200, body, false);
  if (!tokens.id_token) {
    if (expectedNonce !== undefined || maxAge !== undefined || checks?.idTokenExpected) {
      throw new InvalidResponseError('token response has no id_token, and one was expected', 200, body, false);
    }
    return tokens;
  }
  const claims = await validateIdToken(config, tokens.id_token, undefined, body);
  // OIDC Core section 3.1.3.7 item 11: the nonce MUST be the one sent in the authentication request.
  if (claims.nonce !== expectedNonce) throw fail(expectedNonce === undefined ? '"nonce" is present but none was sent' : '"nonce" does not match the one sent');
  if (claims.auth_time !== undefined && typeof claims.auth_time !== 'number') throw fail('"auth_time" is not a number');
  if (maxAge !== undefined) {
    // OIDC Core section 3.1.3.7 item 13: with max_age, auth_time is required and bounds the authentication's age.
    if (claims.auth_time === undefined) throw fail('"auth_time" is missing, and max_age was requested');
    if (claims.auth_time + maxAge < Date.now() / 1000 - CLOCK_TOLERANCE) throw fail('"auth_time" is older than max_age allows');
  }
  return withHelpers(body, response.receivedAt, claims);
}
