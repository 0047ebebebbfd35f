/**
 * `client_secret_jwt` and `private_key_jwt` (RFC 7523 sections 2.2 and 3, OIDC Core section 9):
 * a JWT signed with the client secret (HMAC) or the client's private key, its `jti` used once.
 * The remote key sets come from `deps.resolveRemoteJwks` (see `jwks-resolver.ts`).
 */
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey, JWTVerifyOptions } from 'jose';
import { safeEqual, unseal } from '../crypto.ts';
import { OAuthError } from '../errors.ts';
import type { ClientRecord } from '../types.ts';
import type { AuthenticatedClient, ClientAuthDeps, ClientAuthRequest } from './client-auth.ts';
import { dummyHash, methodMismatch, type Fail, type Tried } from './client-auth-failure.ts';

/** JWS algorithms accepted for `client_secret_jwt` (HMAC with the client secret). */
export const clientSecretJwtAlgs: readonly string[] = ['HS256', 'HS384', 'HS512'];

/** JWS algorithms accepted for `private_key_jwt`. */
export const privateKeyJwtAlgs: readonly string[] = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
];

/**
 * How far in the future a client assertion's `exp` may be by default: one hour. RFC 7523
 * section 3 lets a server refuse an "unreasonably far" expiry; common clients sign for 600 s
 * (iddawc) to 3600 s (Authlib). Each `jti` is kept until its `exp`, so a longer lifetime costs
 * only a longer-lived single-use record.
 */
export const defaultAssertionMaxLifetime = 3600;

/** client_secret_jwt and private_key_jwt (RFC 7523 section 3, OIDC Core section 9). */
export async function authenticateAssertion(
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
