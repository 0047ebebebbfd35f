/**
 * The JWT bearer authorization grant (RFC 7523 section 2.1): a client exchanges a JWT assertion
 * by an identity provider it trusts, configured per client with the issuer's keys
 * (`jwtBearerIssuers`), for tokens for the assertion's subject. Off unless the client lists the
 * grant type. Every check of RFC 7523 section 3, in order:
 *
 * | check                                                         | refusal           |
 * | ------------------------------------------------------------- | ----------------- |
 * | `assertion` missing                                           | `invalid_request` |
 * | not a JWS JWT, `iss` not one of the client's trusted issuers  | `invalid_grant`   |
 * | signature not by that issuer's keys, symmetric or `none` alg  | `invalid_grant`   |
 * | `aud` not this server (issuer or token endpoint), `exp` missing or past, `nbf` ahead, no `sub` | `invalid_grant` |
 * | `exp` more than an hour ahead, `iat` in the future            | `invalid_grant`   |
 * | `jti` seen before (until `exp`, across instances)             | `invalid_grant`   |
 *
 * The subject is the assertion's `sub` as is: the issuer is trusted to name subjects of this
 * server. A refresh token follows the same rule as every grant (OIDC Core section 11).
 */
import { createLocalJWKSet, decodeJwt, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { ServerContext } from '../context.ts';
import { privateKeyJwtAlgs } from '../auth/client-auth.ts';
import { OAuthError } from '../errors.ts';
import { requireParam } from '../form.ts';
import type { TokenResponse } from '../tokens/token-response.ts';
import { jwtBearerGrantType, type ClientRecord, type JwtBearerIssuer } from '../types.ts';
import { directGrantScope, familyTokens, newFamily } from './new-family.ts';

/** The grant type this module handles. */
export const grantType = jwtBearerGrantType;

/** Longest accepted assertion lifetime from now, in seconds (RFC 7523 section 3, item 4). */
export const maxAssertionLifetime = 3600;

/** Clock tolerance for `exp`, `nbf` and `iat`, in seconds. */
const tolerance = 30;

const invalidAssertion = 'The assertion is invalid.';

/**
 * Handles `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`.
 *
 * @example
 * ```ts
 * const tokens = await jwtBearerGrant(ctx, { client, params }) // params: assertion, scope
 * ```
 */
export async function jwtBearerGrant(ctx: ServerContext, req: { client: ClientRecord; params: URLSearchParams; dpopJkt?: string }): Promise<TokenResponse> {
  const { client, params } = req;
  const assertion = requireParam(params, 'assertion');
  const now = ctx.now();
  const fail = (detail: string, cause?: unknown) => new OAuthError('invalid_grant', invalidAssertion, { detail, cause });

  let unverified: JWTPayload;
  try {
    unverified = decodeJwt(assertion);
  } catch (cause) {
    throw fail('assertion is not a JWT', cause);
  }
  const trusted = (client.jwtBearerIssuers ?? []).find((i) => i.issuer === unverified.iss);
  if (!trusted) throw fail(`issuer ${JSON.stringify(String(unverified.iss).slice(0, 200))} is not trusted by client ${client.clientId}`);

  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(assertion, issuerKeys(ctx, trusted), {
      // Asymmetric algorithms only: the issuer signs, we only hold its public keys.
      algorithms: [...privateKeyJwtAlgs],
      issuer: trusted.issuer,
      // RFC 7523 section 3, item 3: aud MUST identify the authorization server.
      audience: [ctx.issuer, ctx.endpoints.token],
      // RFC 7523 section 3, items 2 and 4: sub and exp are REQUIRED.
      requiredClaims: ['sub', 'exp'],
      currentDate: new Date(now * 1000),
      clockTolerance: tolerance,
    }));
  } catch (cause) {
    if (cause instanceof OAuthError) throw cause;
    const code = (cause as { code?: unknown }).code;
    throw fail(`assertion rejected: ${typeof code === 'string' ? code + ': ' : ''}${cause instanceof Error ? cause.message : String(cause)}`, cause);
  }
  const exp = payload.exp as number;
  if (exp > now + maxAssertionLifetime + tolerance) throw fail(`assertion exp is ${exp - now}s away, more than ${maxAssertionLifetime}s`);
  if (payload.iat !== undefined && payload.iat > now + tolerance) throw fail('assertion iat is in the future');
  const subject = payload.sub!;
  if (subject.length > 255) throw fail('assertion sub is longer than 255 characters');
  if (payload.jti !== undefined) {
    // RFC 7523 section 3, item 7: the server MAY keep jti values to refuse replays.
    if (typeof payload.jti !== 'string' || payload.jti === '') throw fail('assertion jti is not a non-empty string');
    if (!(await ctx.store.consumeOnce('jwt_bearer:' + trusted.issuer, payload.jti, exp + tolerance))) throw fail('assertion jti replayed');
  }

  const scope = directGrantScope(client, params.get('scope'));
  const authTime = typeof payload.auth_time === 'number' && Number.isInteger(payload.auth_time) && payload.auth_time <= now ? payload.auth_time : now;
  const family = newFamily({ client, subject, scope, resources: [], authTime, dpopJkt: req.dpopJkt, now });
  await ctx.store.createGrant(family.grant, family.firstToken);
  return familyTokens(ctx, family, { client, dpopJkt: req.dpopJkt });
}

/** The issuer's keys: inline, or its JWK Set URL through the cached remote resolver. */
function issuerKeys(ctx: ServerContext, issuer: JwtBearerIssuer): JWTVerifyGetKey {
  if (issuer.jwks) return createLocalJWKSet(issuer.jwks as Parameters<typeof createLocalJWKSet>[0]);
  if (issuer.jwksUri) return ctx.resolveRemoteJwks(issuer.jwksUri);
  throw new OAuthError('invalid_grant', invalidAssertion, { detail: `issuer ${issuer.issuer} has neither jwks nor jwks_uri` });
}
