import { endpoint, internal, type Configuration } from './configuration.ts';
import type { DPoPHandle } from './dpop.ts';
import { InvalidResponseError, OAuthResponseError } from './errors.ts';
import { parametersOf, postForm, type Parsed } from './form-post.ts';
import type { ReceivedResponse } from './http.ts';
import type { RefreshParameters } from './refresh-request.ts';

/**
 * Authorization request parameters (RFC 6749 section 4.1.1 and extensions): a string each, an
 * array for repeatable ones (`resource`), `scope` as a string or an array joined with spaces.
 */
export type AuthorizationParameters = RefreshParameters;

/** Options of {@link buildAuthorizationUrlWithPAR} (openid-client's `DPoPOptions`, plus a signal). */
export interface PushedAuthorizationRequestOptions {
  /**
   * Sends a DPoP proof with the pushed request, which binds the authorization code to the key
   * (RFC 9449 section 10.1); the code exchange must then use the same key.
   */
  DPoP?: DPoPHandle;
  /** Aborts the request; the abort reason is rethrown as is. */
  signal?: AbortSignal;
}

/** The parameters with `client_id` and, unless a request object is referenced, `response_type=code` filled in. */
function authorizationParameters(config: Configuration, parameters: AuthorizationParameters): URLSearchParams {
  const form = parametersOf(parameters);
  if (!form.has('client_id')) form.set('client_id', internal(config).client.client_id);
  if (!form.has('request_uri') && !form.has('request') && !form.has('response_type')) form.set('response_type', 'code');
  return form;
}

/** The authorization endpoint with `parameters` added to any query it already has (RFC 6749 section 3.1: which MUST be retained). */
function authorizationUrl(config: Configuration, parameters: URLSearchParams): URL {
  const url = endpoint(config, 'authorization_endpoint');
  for (const [name, value] of parameters) url.searchParams.append(name, value);
  return url;
}

/**
 * Builds the URL to send the user to for an authorization request (RFC 6749 section 4.1.1), like
 * openid-client v6: the server's `authorization_endpoint` with `client_id`, `response_type=code`
 * (unless given, or a `request_uri`/`request` is) and `parameters`. Use PKCE and `state` every
 * time, a `nonce` with `openid`. A TypeError when the server has no authorization endpoint, or
 * when the server or client metadata say pushed authorization requests are required
 * (`require_pushed_authorization_requests`, RFC 9126 section 5): use
 * {@link buildAuthorizationUrlWithPAR} then.
 *
 * @example
 * const codeVerifier = randomPKCECodeVerifier(), state = randomState(), nonce = randomNonce()
 * const url = buildAuthorizationUrl(config, {
 *   redirect_uri: 'https://app.example/callback',
 *   scope: 'openid offline_access',
 *   code_challenge: await calculatePKCECodeChallenge(codeVerifier),
 *   code_challenge_method: 'S256',
 *   state,
 *   nonce,
 * })
 * // redirect the user to url.href; keep codeVerifier, state and nonce in their session
 */
export function buildAuthorizationUrl(config: Configuration, parameters: AuthorizationParameters): URL {
  const form = authorizationParameters(config, parameters);
  const { server, client } = internal(config);
  if (!form.has('request_uri') && (server.require_pushed_authorization_requests === true || client.require_pushed_authorization_requests === true)) {
    throw new TypeError('this authorization server requires pushed authorization requests (RFC 9126): use buildAuthorizationUrlWithPAR');
  }
  return authorizationUrl(config, form);
}

/**
 * Builds an authorization URL through a pushed authorization request (RFC 9126), like
 * openid-client v6: POSTs the parameters (with `client_id` and `response_type=code` filled in as
 * {@link buildAuthorizationUrl} does) to the server's `pushed_authorization_request_endpoint` with
 * the client's authentication (and a DPoP proof, given `options.DPoP`), and returns the
 * authorization endpoint with only `client_id` and the `request_uri` it answered. Errors as for
 * the token endpoint: `OAuthResponseError`, `InvalidResponseError`, `TransportError`; a
 * TypeError on misuse (no such endpoint, a `request_uri` among the parameters).
 *
 * @example
 * const url = await buildAuthorizationUrlWithPAR(config, {
 *   redirect_uri: 'https://app.example/callback',
 *   scope: 'openid offline_access',
 *   code_challenge: await calculatePKCECodeChallenge(codeVerifier),
 *   code_challenge_method: 'S256',
 *   state,
 * })
 * // url: {authorization_endpoint}?client_id=...&request_uri=urn:ietf:params:oauth:request_uri:...
 */
export async function buildAuthorizationUrlWithPAR(
  config: Configuration,
  parameters: AuthorizationParameters,
  options?: PushedAuthorizationRequestOptions,
): Promise<URL> {
  const form = authorizationParameters(config, parameters);
  // RFC 9126 section 2.1: the request_uri parameter MUST NOT be provided in this case.
  if (form.has('request_uri')) throw new TypeError('"request_uri" cannot be pushed (RFC 9126 section 2.1)');
  const [requestUri] = await postForm(config, 'pushed_authorization_request_endpoint', form, parsePushedAuthorizationResponse, options);
  // RFC 9126 section 4: the authorization request then carries client_id and request_uri.
  return authorizationUrl(config, new URLSearchParams({ client_id: form.get('client_id')!, request_uri: requestUri }));
}

/**
 * Reads a pushed authorization response (RFC 9126 sections 2.2 and 2.3): 201 with a JSON
 * `request_uri` and `expires_in`, else an OAuth error, else an InvalidResponseError.
 */
export function parsePushedAuthorizationResponse(response: ReceivedResponse): Parsed<string> {
  const { status, headers } = response;
  let body: Record<string, unknown> | undefined;
  try {
    body = JSON.parse(response.bodyText);
  } catch {}
  if (typeof body !== 'object' || !body || Array.isArray(body)) body = undefined;
  const fail = (message: string): Parsed<string> => ({
    ok: false,
    error: new InvalidResponseError(`pushed authorization request endpoint ${message}`, status, body, undefined, undefined, headers),
  });
  if (body && typeof body.error === 'string' && body.error) return { ok: false, error: new OAuthResponseError(status, headers, body) };
  // RFC 9126 section 2.2: success is HTTP 201 Created with request_uri and expires_in.
  if (status !== 201) return fail(`answered HTTP ${status} without an OAuth error`);
  if (!body) return fail('answered a body that is not a JSON object');
  if (typeof body.request_uri !== 'string' || !body.request_uri) return fail('answered without a "request_uri" string');
  if (typeof body.expires_in !== 'number' || !(body.expires_in > 0)) return fail('answered without a positive "expires_in"');
  return { ok: true, value: body.request_uri };
}
