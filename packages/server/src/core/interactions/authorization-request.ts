/**
 * Validation of an authorization request (RFC 6749 section 4.1.1 under OAuth 2.1 and RFC 9700,
 * RFC 7636, OIDC Core section 3.1.2.1, RFC 8707, RFC 9449 section 10), in the two steps RFC 6749
 * section 4.1.2.1 tells apart:
 *
 * 1. {@link resolveClientAndRedirect}: the client and its redirection URI. A failure here must
 *    not redirect (the URI is not trusted); the endpoint shows the error to the user.
 * 2. {@link validateAuthorizationParams}: everything else. A failure here is sent to the client
 *    at its (now trusted) redirection URI, with `state` and `iss`.
 *
 * | request                                              | answer                              |
 * | ---------------------------------------------------- | ----------------------------------- |
 * | no or unknown `client_id`, duplicated `client_id`    | shown: `invalid_request` / `invalid_client` |
 * | `redirect_uri` missing, duplicated or not registered | shown: `invalid_request`            |
 * | `request` (JAR)                                      | redirect: `request_not_supported`   |
 * | `response_type` missing / not `code`                 | redirect: `invalid_request` / `unsupported_response_type` |
 * | `response_mode` other than `query`                   | redirect: `invalid_request`         |
 * | client not allowed `authorization_code`              | redirect: `unauthorized_client`     |
 * | PKCE missing, `plain`, malformed                     | redirect: `invalid_request`         |
 * | scope malformed or beyond the client's               | redirect: `invalid_scope`           |
 * | `resource` not absolute or not the client's          | redirect: `invalid_target`          |
 * | bad `prompt`, `max_age`, `dpop_jkt`, oversized value, duplicated parameter | redirect: `invalid_request` |
 */
import { OAuthError } from '../errors.ts';
import { formatScope, isWellFormedScope, missingFrom, parseScope } from '../scope.ts';
import type { Store } from '../store.ts';
import { allowedGrantTypes, type AuthorizationRequest, type ClientRecord } from '../types.ts';
import { redirectUriMatches } from './redirect-uri.ts';

/** The longest accepted `state`, `nonce`, `login_hint` or `scope` (they travel in the sealed interaction). */
export const maxParameterLength = 1024;

/** `prompt` values understood (OIDC Core section 3.1.2.1). */
export const promptValues: readonly string[] = ['none', 'login', 'consent', 'select_account'];

/** Parameters read in step 2, each of which may appear at most once. */
const singleValued = [
  'response_type', 'response_mode', 'scope', 'state', 'nonce', 'prompt', 'max_age', 'login_hint',
  'code_challenge', 'code_challenge_method', 'request', 'request_uri', 'dpop_jkt',
];

const base64urlSha256 = /^[A-Za-z0-9_-]{43}$/;

/** A failure of step 1, shown to the user, never redirected. */
function shown(error: 'invalid_request' | 'invalid_client', description: string, detail?: string): OAuthError {
  return new OAuthError(error, description, { detail, status: 400 });
}

/**
 * Step 1: the client and the redirection URI the answer will go to. Throws {@link OAuthError}
 * (to show to the user) when either is missing, unknown, repeated or not registered.
 *
 * @example
 * ```ts
 * const { client, redirectUri } = await resolveClientAndRedirect(store, params)
 * ```
 */
export async function resolveClientAndRedirect(
  store: Pick<Store, 'getClient'>,
  params: URLSearchParams,
): Promise<{ client: ClientRecord; redirectUri: string }> {
  const ids = params.getAll('client_id');
  if (ids.length !== 1 || ids[0] === '') throw shown('invalid_request', 'The request has no client_id, or more than one.');
  const client = await store.getClient(ids[0]);
  if (!client) throw shown('invalid_client', 'The client is not registered.', `unknown client ${JSON.stringify(ids[0].slice(0, 200))}`);
  const uris = params.getAll('redirect_uri');
  // Required, since OIDC Core section 3.1.2.1 requires it and RFC 6749 section 4.1.3 then needs it at the exchange.
  if (uris.length !== 1 || uris[0] === '') throw shown('invalid_request', 'The request has no redirect_uri, or more than one.');
  // RFC 9700 section 2.1: exact matching of the redirection URI (loopback: any port, RFC 8252 section 7.3).
  if (!redirectUriMatches(client.redirectUris ?? [], uris[0])) {
    throw shown('invalid_request', 'The redirect_uri is not registered for this client.', `redirect_uri ${JSON.stringify(uris[0].slice(0, 300))}`);
  }
  return { client, redirectUri: uris[0] };
}

/**
 * Step 2: the rest of the request, for a client and redirection URI from step 1. Throws
 * {@link OAuthError} to be sent to the redirection URI.
 *
 * @example
 * ```ts
 * const request = validateAuthorizationParams(client, redirectUri, params)
 * ```
 */
export function validateAuthorizationParams(client: ClientRecord, redirectUri: string, params: URLSearchParams): AuthorizationRequest {
  const invalid = (description: string, detail?: string) => new OAuthError('invalid_request', description, { detail });
  for (const name of singleValued) {
    // RFC 6749 section 3.1: request parameters MUST NOT be included more than once.
    if (params.getAll(name).length > 1) throw invalid(`The parameter ${name} was sent more than once.`);
    if ((params.get(name) ?? '').length > maxParameterLength) throw invalid(`The parameter ${name} is too long.`);
  }
  const get = (name: string) => {
    const value = params.get(name);
    // RFC 6749 section 3.1: parameters sent without a value MUST be treated as if omitted.
    return value === null || value === '' ? undefined : value;
  };
  // OIDC Core section 6: request objects are not supported.
  if (get('request') !== undefined) throw new OAuthError('request_not_supported', 'Request objects are not supported.');
  const responseType = get('response_type');
  if (responseType === undefined) throw invalid('The response_type parameter is required.');
  // OAuth 2.1 section 4.1.1: the authorization code flow only.
  if (responseType !== 'code') throw new OAuthError('unsupported_response_type', 'Only response_type=code is supported.', { detail: responseType });
  const responseMode = get('response_mode');
  if (responseMode !== undefined && responseMode !== 'query') throw invalid('Only response_mode=query is supported.');
  if (!allowedGrantTypes(client).includes('authorization_code')) {
    throw new OAuthError('unauthorized_client', 'The client may not use the authorization code flow.');
  }

  // RFC 9700 section 2.1.1 and OAuth 2.1 section 4.1.1: PKCE for every client, S256 only.
  const codeChallenge = get('code_challenge');
  if (codeChallenge === undefined) throw invalid('PKCE is required: send code_challenge and code_challenge_method=S256.');
  if (get('code_challenge_method') !== 'S256') throw invalid('code_challenge_method must be S256.', `method ${JSON.stringify(get('code_challenge_method') ?? '(none)')}`);
  // RFC 7636 section 4.2: the S256 challenge is the base64url SHA-256 of the verifier.
  if (!base64urlSha256.test(codeChallenge)) throw invalid('The code_challenge is not a base64url SHA-256 value.');

  const scopeParam = get('scope') ?? '';
  if (scopeParam !== '' && !isWellFormedScope(scopeParam)) throw new OAuthError('invalid_scope', 'The scope is malformed.');
  const scope = parseScope(scopeParam);
  const notAllowed = client.scope === '' ? [] : missingFrom(scope, parseScope(client.scope));
  if (notAllowed.length > 0) throw new OAuthError('invalid_scope', 'The requested scope is not allowed for this client.', { detail: notAllowed.join(' ') });

  const resources = params.getAll('resource');
  for (const resource of resources) {
    // RFC 8707 section 2: an absolute URI without a fragment.
    let ok = false;
    try {
      ok = resource.length <= maxParameterLength && !resource.includes('#') && new URL(resource).href !== '';
    } catch {
      ok = false;
    }
    if (!ok) throw new OAuthError('invalid_target', 'A resource must be an absolute URI without a fragment.');
  }
  if (resources.length > 10) throw new OAuthError('invalid_target', 'At most 10 resources may be requested.');
  if (client.resources.length > 0 && missingFrom(resources, client.resources).length > 0) {
    throw new OAuthError('invalid_target', 'A requested resource is not allowed for this client.');
  }

  const prompt = parseScope(get('prompt'));
  const unknownPrompt = missingFrom(prompt, [...promptValues]);
  if (unknownPrompt.length > 0) throw invalid('The prompt parameter has an unsupported value.', unknownPrompt.join(' '));
  // OIDC Core section 3.1.2.1: none with any other value is an error.
  if (prompt.includes('none') && prompt.length > 1) throw invalid('prompt=none cannot be combined with other values.');
  const maxAgeParam = get('max_age');
  if (maxAgeParam !== undefined && !/^\d{1,9}$/.test(maxAgeParam)) throw invalid('max_age must be a whole number of seconds.');
  const dpopJkt = get('dpop_jkt');
  // RFC 9449 section 10: the JWK SHA-256 thumbprint of the key the code is bound to.
  if (dpopJkt !== undefined && !base64urlSha256.test(dpopJkt)) throw invalid('dpop_jkt is not a JWK SHA-256 thumbprint.');

  const request: AuthorizationRequest = {
    clientId: client.clientId,
    redirectUri,
    scope: formatScope(scope),
    resources,
    codeChallenge,
    prompt,
  };
  const state = get('state');
  if (state !== undefined) request.state = state;
  const nonce = get('nonce');
  if (nonce !== undefined) request.nonce = nonce;
  if (maxAgeParam !== undefined) request.maxAge = Number(maxAgeParam);
  const loginHint = get('login_hint');
  if (loginHint !== undefined) request.loginHint = loginHint;
  if (dpopJkt !== undefined) request.dpopJkt = dpopJkt;
  return request;
}
