/**
 * Client authentication at the token, revocation and introspection endpoints
 * (RFC 6749 sections 2.3 and 3.2.1, RFC 7521 section 4.2, RFC 7523 sections 2.2 and 3,
 * OIDC Core section 9).
 *
 * Failures are {@link OAuthError}s. Their `description` is deliberately generic; the precise
 * reason is in `detail` (logs and events only), so the answer never reveals whether a client
 * exists or which check failed.
 *
 * | request                                                    | answer                         |
 * | ---------------------------------------------------------- | ------------------------------ |
 * | more than one method (Basic, `client_secret`, assertion)   | 400 `invalid_request`          |
 * | `client_assertion` without `client_assertion_type` or back | 400 `invalid_request`          |
 * | `client_assertion_type` other than jwt-bearer              | 400 `invalid_request` (a malformed request, not a failed authentication, as node-oidc-provider does) |
 * | `client_secret` without `client_id`                        | 400 `invalid_request`          |
 * | body `client_id` different from the Basic one              | 400 `invalid_request`          |
 * | nothing identifying a client                               | 401 `invalid_client`           |
 * | broken Basic header, unknown client, wrong method, wrong secret, bad or replayed assertion | 401 `invalid_client` |
 *
 * Every `invalid_client` answered to a request that carried an `Authorization` header also
 * carries `WWW-Authenticate: Basic realm="..."` (RFC 6749 section 5.2).
 *
 * The methods live beside this dispatcher: `client-secret-auth.ts` (Basic and body secrets),
 * `client-assertion-auth.ts` (JWT assertions), `public-client-auth.ts` (none);
 * `client-auth-failure.ts` builds the `invalid_client` errors they share.
 *
 * The core does no I/O of its own: remote key sets come from `deps.resolveRemoteJwks`
 * (see `jwks-resolver.ts`).
 */
import type { JWTVerifyGetKey } from 'jose';
import { OAuthError } from '../errors.ts';
import type { Store } from '../store.ts';
import type { ClientRecord, TokenEndpointAuthMethod } from '../types.ts';
import { authenticateAssertion, clientSecretJwtAlgs, defaultAssertionMaxLifetime, privateKeyJwtAlgs } from './client-assertion-auth.ts';
import { failure, type Fail, type Tried } from './client-auth-failure.ts';
import { authenticateSecret, parseBasic } from './client-secret-auth.ts';
import { authenticateNone } from './public-client-auth.ts';

export { clientSecretJwtAlgs, defaultAssertionMaxLifetime, privateKeyJwtAlgs };

/** The only `client_assertion_type` this server accepts (RFC 7523 section 2.2). */
export const jwtBearerAssertionType = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** What the endpoint hands over for authentication. */
export interface ClientAuthRequest {
  /** Raw Authorization header, if any. */
  authorization: string | undefined;
  /** The parsed form body (duplicates already rejected by the caller). */
  params: URLSearchParams;
  /**
   * Values the assertion's `aud` may name: the issuer and the endpoint URL being called.
   * The first one is also the `realm` of `WWW-Authenticate: Basic`.
   */
  audiences: string[];
  /** Current time, in seconds. */
  now: number;
}

/** What authentication needs from the server. */
export interface ClientAuthDeps {
  store: Pick<Store, 'getClient' | 'consumeOnce'>;
  /** Key-encryption key: unseals a client_secret_jwt client's secret: unseal(kek, client.secretSealed!, 'client-secret:' + client.clientId) */
  kek: Uint8Array;
  /** Keys for a private_key_jwt client registered with jwksUri (cached remote set); inline `jwks` go through jose createLocalJWKSet. */
  resolveRemoteJwks: (jwksUri: string) => JWTVerifyGetKey;
  /**
   * Max seconds between now and an assertion's `exp` (default {@link defaultAssertionMaxLifetime});
   * a client's own `assertionMaxLifetime` takes precedence.
   */
  maxAssertionLifetime?: number;
  /** Clock tolerance for `exp`, `nbf` and `iat`, in seconds (default 30). */
  clockTolerance?: number;
}

/** An authenticated client and the method it used. */
export interface AuthenticatedClient {
  client: ClientRecord;
  method: TokenEndpointAuthMethod;
}

/** What the request presented, before anything was checked against the store. */
type Presented =
  | { method: 'client_secret_basic' | 'client_secret_post'; clientId: string; secret: string }
  | { method: 'jwt'; bodyClientId: string | undefined; assertion: string }
  | { method: 'none'; clientId: string };

/**
 * Authenticates the client of a token, revocation or introspection request.
 *
 * @example
 * ```ts
 * const { client, method } = await authenticateClient(
 *   { authorization: req.headers.authorization, params, audiences: [issuer, issuer + '/token'], now },
 *   { store, kek, resolveRemoteJwks: createRemoteJwksResolver() },
 * )
 * ```
 */
export async function authenticateClient(
  req: ClientAuthRequest,
  deps: ClientAuthDeps,
): Promise<AuthenticatedClient> {
  // The method tried, for the failure's event: known once the request is read, for an
  // assertion once its algorithm is.
  const tried: Tried = { method: req.authorization === undefined ? 'unknown' : 'client_secret_basic' };
  const fail = failure(req, tried);
  const presented = detect(req, fail);
  switch (presented.method) {
    case 'client_secret_basic':
    case 'client_secret_post':
      tried.method = presented.method;
      return authenticateSecret(presented, deps, fail);
    case 'none':
      tried.method = 'none';
      return authenticateNone(presented.clientId, deps, fail);
    case 'jwt':
      tried.method = 'client_assertion';
      return authenticateAssertion(presented, req, deps, fail, tried);
  }
}

function invalidRequest(description: string, detail: string): OAuthError {
  return new OAuthError('invalid_request', description, { detail });
}

/** A form parameter; an empty one counts as absent. */
function param(params: URLSearchParams, name: string): string | undefined {
  const value = params.get(name);
  // RFC 6749 section 3.2: parameters sent without a value MUST be treated as if omitted.
  return value === null || value === '' ? undefined : value;
}

/** Works out which single method the request uses. */
function detect(req: ClientAuthRequest, fail: Fail): Presented {
  const { authorization, params } = req;
  const secret = param(params, 'client_secret');
  const assertion = param(params, 'client_assertion');
  const assertionType = param(params, 'client_assertion_type');
  const bodyClientId = param(params, 'client_id');

  if ((assertion === undefined) !== (assertionType === undefined)) {
    // RFC 7521 section 4.2: client_assertion_type and client_assertion are both REQUIRED.
    throw invalidRequest(
      'client_assertion and client_assertion_type must be sent together.',
      assertion === undefined ? 'client_assertion_type without client_assertion' : 'client_assertion without client_assertion_type',
    );
  }
  const used = [authorization !== undefined && 'Authorization header', secret !== undefined && 'client_secret', assertion !== undefined && 'client_assertion'].filter(Boolean);
  if (used.length > 1) {
    // RFC 6749 section 2.3: the client MUST NOT use more than one authentication method per request.
    throw invalidRequest('More than one client authentication method was used.', `methods used: ${used.join(', ')}`);
  }

  if (assertion !== undefined) {
    if (assertionType !== jwtBearerAssertionType) {
      throw invalidRequest('Unsupported client_assertion_type.', `client_assertion_type ${JSON.stringify(assertionType)}`);
    }
    return { method: 'jwt', bodyClientId, assertion };
  }
  if (authorization !== undefined) {
    const basic = parseBasic(authorization, fail);
    if (bodyClientId !== undefined && bodyClientId !== basic.clientId) {
      throw invalidRequest('client_id does not match the Authorization header.', 'body client_id differs from the Basic user-id');
    }
    return { method: 'client_secret_basic', ...basic };
  }
  if (secret !== undefined) {
    // RFC 6749 section 2.3.1: client_id is REQUIRED alongside client_secret.
    if (bodyClientId === undefined) throw invalidRequest('client_id is required with client_secret.', 'client_secret without client_id');
    return { method: 'client_secret_post', clientId: bodyClientId, secret };
  }
  if (bodyClientId !== undefined) return { method: 'none', clientId: bodyClientId };
  throw fail('no client authentication and no client_id');
}
