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
 * The core does no I/O of its own: remote key sets come from `deps.resolveRemoteJwks`
 * (see `jwks-resolver.ts`).
 */
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey, JWTVerifyOptions } from 'jose';
import { safeEqual, sha256, unseal } from '../crypto.ts';
import { OAuthError } from '../errors.ts';
import type { Store } from '../store.ts';
import type { ClientRecord, TokenEndpointAuthMethod } from '../types.ts';

/** The only `client_assertion_type` this server accepts (RFC 7523 section 2.2). */
export const jwtBearerAssertionType = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** JWS algorithms accepted for `client_secret_jwt` (HMAC with the client secret). */
export const clientSecretJwtAlgs: readonly string[] = ['HS256', 'HS384', 'HS512'];

/** JWS algorithms accepted for `private_key_jwt`. */
export const privateKeyJwtAlgs: readonly string[] = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
];

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

/** Builds the `invalid_client` error of one request. */
type Fail = (detail: string, cause?: unknown) => OAuthError;

const genericDescription = 'Client authentication failed.';

/**
 * How far in the future a client assertion's `exp` may be by default: one hour. RFC 7523
 * section 3 lets a server refuse an "unreasonably far" expiry; common clients sign for 600 s
 * (iddawc) to 3600 s (Authlib). Each `jti` is kept until its `exp`, so a longer lifetime costs
 * only a longer-lived single-use record.
 */
export const defaultAssertionMaxLifetime = 3600;

/** Compared against when there is no real hash, so that timing does not reveal whether a client exists. */
const dummyHash = sha256('refresh-grant dummy client secret');

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

/** The client authentication method a request tried (`unknown`, `client_assertion` before its alg is read). */
interface Tried {
  method: TokenEndpointAuthMethod | 'unknown' | 'client_assertion';
}

/** The `invalid_client` builder: with `WWW-Authenticate: Basic` when the header was used. */
function failure(req: ClientAuthRequest, tried: Tried): Fail {
  const realm = (req.audiences[0] ?? 'token endpoint').replace(/[\\"]/g, '\\$&');
  // RFC 6749 section 5.2: a client that tried the Authorization header gets a 401 with a
  // WWW-Authenticate header matching the scheme it used.
  const headers: Record<string, string> | undefined =
    req.authorization === undefined
      ? undefined
      : { 'WWW-Authenticate': `Basic realm="${realm}", error="invalid_client"` };
  return (detail, cause) =>
    new OAuthError('invalid_client', genericDescription, { status: 401, detail, headers: headers && { ...headers }, cause, event: { authMethod: tried.method } });
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

/**
 * Parses `Authorization: Basic ...` (RFC 7617, RFC 6749 section 2.3.1): base64, split at the
 * first colon, each part form-urldecoded.
 */
function parseBasic(header: string, fail: Fail): { clientId: string; secret: string } {
  const match = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header);
  if (!match) throw fail('Authorization header is not Basic with a base64 token');
  const encoded = match[1];
  const bytes = Buffer.from(encoded, 'base64');
  if (bytes.toString('base64').replace(/=+$/, '') !== encoded.replace(/=+$/, '')) {
    throw fail('Basic credentials are not canonical base64');
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (cause) {
    throw fail('Basic credentials are not UTF-8', cause);
  }
  const colon = text.indexOf(':');
  if (colon < 0) throw fail('Basic credentials have no colon');
  // RFC 6749 section 2.3.1: the client identifier and password are encoded with
  // application/x-www-form-urlencoded before Basic encoding, so they are decoded here.
  const clientId = formDecode(text.slice(0, colon), 'user-id', fail);
  const secret = formDecode(text.slice(colon + 1), 'password', fail);
  if (clientId === '') throw fail('Basic credentials have an empty client id');
  if (secret === '') throw fail('Basic credentials have an empty secret');
  return { clientId, secret };
}

/** application/x-www-form-urlencoded decoding that refuses bad percent escapes. */
function formDecode(value: string, part: string, fail: Fail): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch (cause) {
    throw fail(`Basic ${part} has invalid percent-encoding`, cause);
  }
}

/** client_secret_basic and client_secret_post: SHA-256 of the secret against the stored hash. */
async function authenticateSecret(
  presented: { method: 'client_secret_basic' | 'client_secret_post'; clientId: string; secret: string },
  deps: ClientAuthDeps,
  fail: Fail,
): Promise<AuthenticatedClient> {
  const { method, clientId, secret } = presented;
  const client = await deps.store.getClient(clientId);
  const expected = client?.authMethod === method ? client.secretHash : undefined;
  // Always one constant-time comparison, so timing reveals neither existence nor method.
  const matches = safeEqual(sha256(secret), expected ?? dummyHash) && expected !== undefined;
  if (!client) throw fail(`unknown client ${JSON.stringify(clientId)}`);
  if (client.authMethod !== method) throw fail(methodMismatch(client, method));
  if (client.secretHash === undefined) throw fail(`client ${clientId} has no secret hash`);
  if (!matches) throw fail(`wrong client secret for ${clientId} (${method})`);
  return { client, method };
}

/** none: a public client identified by client_id only. */
async function authenticateNone(clientId: string, deps: ClientAuthDeps, fail: Fail): Promise<AuthenticatedClient> {
  const client = await deps.store.getClient(clientId);
  if (!client) throw fail(`unknown client ${JSON.stringify(clientId)}`);
  if (client.authMethod !== 'none') throw fail(methodMismatch(client, 'none'));
  return { client, method: 'none' };
}

function methodMismatch(client: ClientRecord, used: TokenEndpointAuthMethod): string {
  return `client ${client.clientId} is registered for ${client.authMethod}, request used ${used}`;
}

/** client_secret_jwt and private_key_jwt (RFC 7523 section 3, OIDC Core section 9). */
async function authenticateAssertion(
  presented: { bodyClientId: string | undefined; assertion: string },
  req: ClientAuthRequest,
  deps: ClientAuthDeps,
  fail: Fail,
  tried: Tried,
): Promise<AuthenticatedClient> {
  const tolerance = deps.clockTolerance ?? 30;
  const { assertion, bodyClientId } = presented;

  // Unverified look at the JWT: only to pick the client and the method.
  let alg: unknown;
  let unverified: JWTPayload;
  try {
    alg = decodeProtectedHeader(assertion).alg;
    unverified = decodeJwt(assertion);
  } catch (cause) {
    throw fail('client_assertion is not a compact JWS JWT', cause);
  }
  if (alg === 'none') throw fail('client_assertion is an unsecured JWT (alg none)');
  let method: 'client_secret_jwt' | 'private_key_jwt';
  if (typeof alg === 'string' && clientSecretJwtAlgs.includes(alg)) method = 'client_secret_jwt';
  else if (typeof alg === 'string' && privateKeyJwtAlgs.includes(alg)) method = 'private_key_jwt';
  else throw fail(`client_assertion alg ${JSON.stringify(alg)} is not supported`);
  tried.method = method;

  // RFC 7523 section 3: sub MUST be the client_id of the OAuth client.
  const sub = unverified.sub;
  if (typeof sub !== 'string' || sub === '') throw fail('client_assertion has no sub');
  // RFC 7521 section 4.2: a client_id parameter MUST identify the same client as the assertion.
  if (bodyClientId !== undefined && bodyClientId !== sub) throw fail('client_assertion sub differs from the client_id parameter');
  const clientId = sub;

  const client = await deps.store.getClient(clientId);
  if (!client) {
    safeEqual(dummyHash, dummyHash); // keep the work roughly the same as for a known client
    throw fail(`unknown client ${JSON.stringify(clientId)}`);
  }
  if (client.authMethod !== method) throw fail(methodMismatch(client, method));

  const options: JWTVerifyOptions = {
    algorithms: method === 'client_secret_jwt' ? [...clientSecretJwtAlgs] : [...privateKeyJwtAlgs],
    // RFC 7523 section 3: iss and sub MUST be the client_id (OIDC Core section 9).
    issuer: clientId,
    subject: clientId,
    // RFC 7523 section 3: aud MUST identify the authorization server.
    audience: req.audiences,
    // RFC 7523 section 3 / OIDC Core section 9: exp and jti are REQUIRED.
    requiredClaims: ['exp', 'jti'],
    currentDate: new Date(req.now * 1000),
    clockTolerance: tolerance,
  };

  let payload: JWTPayload;
  try {
    if (method === 'client_secret_jwt') {
      const key = new TextEncoder().encode(clientSecret(client, deps.kek));
      ({ payload } = await jwtVerify(assertion, key, options));
    } else {
      ({ payload } = await jwtVerify(assertion, clientKeys(client, deps, fail), options));
    }
  } catch (cause) {
    if (cause instanceof OAuthError) throw cause;
    const code = (cause as { code?: unknown }).code;
    const message = cause instanceof Error ? cause.message : String(cause);
    throw fail(`client_assertion rejected for ${clientId}: ${typeof code === 'string' ? code + ': ' : ''}${message}`, cause);
  }

  const exp = payload.exp as number; // required and checked to be a number by jwtVerify
  const maxLifetime = client.assertionMaxLifetime ?? deps.maxAssertionLifetime ?? defaultAssertionMaxLifetime;
  if (exp > req.now + maxLifetime + tolerance) {
    throw fail(`client_assertion exp is ${exp - req.now}s away, more than the ${maxLifetime}s allowed for ${clientId}`);
  }
  if (payload.iat !== undefined && payload.iat > req.now + tolerance) {
    throw fail('client_assertion iat is in the future');
  }
  const jti = payload.jti;
  if (typeof jti !== 'string' || jti === '') throw fail('client_assertion jti is not a non-empty string');
  // RFC 7523 section 3: the server MAY keep jti values to refuse replays; OIDC Core section 9:
  // the JWT ID MUST NOT be reused. Kept past exp by the tolerance jwtVerify allows on exp; the
  // store keeps whole seconds, and RFC 7519 section 2 lets a NumericDate have a fraction, so
  // exp is rounded up (never forgotten before the assertion expires).
  const first = await deps.store.consumeOnce('client_assertion:' + clientId, jti, Math.ceil(exp) + tolerance);
  if (!first) throw fail(`client_assertion jti replayed for ${clientId}`);
  return { client, method };
}

/** The client_secret_jwt secret, unsealed; a failure is a server problem (wrong KEK), not the client's. */
function clientSecret(client: ClientRecord, kek: Uint8Array): string {
  if (client.secretSealed === undefined) {
    throw new OAuthError('server_error', 'The server encountered an unexpected condition.', {
      detail: `client ${client.clientId} uses client_secret_jwt but has no sealed secret`,
    });
  }
  try {
    return unseal(kek, client.secretSealed, 'client-secret:' + client.clientId);
  } catch (cause) {
    throw new OAuthError('server_error', 'The server encountered an unexpected condition.', {
      detail: `cannot unseal the secret of client ${client.clientId} (wrong key-encryption key?)`,
      cause,
    });
  }
}

/** The private_key_jwt keys: inline `jwks` first, else the cached remote set at `jwksUri`. */
function clientKeys(client: ClientRecord, deps: ClientAuthDeps, fail: Fail): JWTVerifyGetKey {
  try {
    if (client.jwks) return createLocalJWKSet({ keys: client.jwks.keys.map(fullySpecifiedEd25519) } as Parameters<typeof createLocalJWKSet>[0]);
    if (client.jwksUri) return deps.resolveRemoteJwks(client.jwksUri);
  } catch (cause) {
    throw fail(`client ${client.clientId} keys are unusable`, cause);
  }
  throw fail(`client ${client.clientId} uses private_key_jwt but has neither jwks nor jwks_uri`);
}

/**
 * RFC 9864 names Ed25519 signatures `Ed25519` as well as `EdDSA` (oauth4webapi signs with the
 * new name): a registered Ed25519 key declared with either name verifies both.
 */
function fullySpecifiedEd25519(key: Record<string, unknown>): Record<string, unknown> {
  if (key.kty === 'OKP' && key.crv === 'Ed25519' && (key.alg === 'EdDSA' || key.alg === 'Ed25519')) {
    const { alg: _alg, ...rest } = key;
    return rest;
  }
  return key;
}
