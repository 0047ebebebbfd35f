/**
 * The UserInfo endpoint (OIDC Core section 5.3), a protected resource (RFC 6750) of this server:
 * GET or POST with an access token of ours whose scope has `openid` and whose audience is this
 * issuer. Claims come from the application's `userClaims` callback (the same source an
 * application uses for everything it knows about a user); the standard claims of OIDC Core
 * section 5.4 are released only with their scope, and `sub` is always the token's.
 *
 * | request                                                   | answer                                  |
 * | --------------------------------------------------------- | --------------------------------------- |
 * | no access token                                           | 401, `WWW-Authenticate: Bearer realm=...` |
 * | token in the header and the body                          | 400 `invalid_request`                   |
 * | unknown, expired, revoked, family revoked, other audience | 401 `invalid_token`                     |
 * | DPoP-bound token without a valid proof by its key (`ath`) | 401 `invalid_token`, `WWW-Authenticate: DPoP` |
 * | server nonces required and the proof has none or a stale one | 401 `use_dpop_nonce` with `DPoP-Nonce` (RFC 9449 section 9) |
 * | scope without `openid`                                    | 403 `insufficient_scope`                |
 */
import type { ServerContext } from '../context.ts';
import { verifyDpopProof } from '../auth/dpop.ts';
import { OAuthError } from '../errors.ts';
import { assertFormContentType, rejectDuplicates } from '../form.ts';
import { jsonResponse, type CoreRequest, type CoreResponse } from '../http-types.ts';
import { parseScope } from '../scope.ts';
import { grantIsLive, lookupToken } from '../tokens/token-lookup.ts';

/** OIDC Core section 5.4: the standard claims each scope value releases. */
export const scopeClaims: Readonly<Record<string, readonly string[]>> = {
  profile: [
    'name', 'family_name', 'given_name', 'middle_name', 'nickname', 'preferred_username', 'profile', 'picture',
    'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at',
  ],
  email: ['email', 'email_verified'],
  address: ['address'],
  phone: ['phone_number', 'phone_number_verified'],
};

const claimScope = new Map(Object.entries(scopeClaims).flatMap(([scope, claims]) => claims.map((claim) => [claim, scope] as const)));

/**
 * Handles GET and POST at the UserInfo endpoint.
 *
 * @example
 * ```ts
 * const res = await userinfoEndpoint(ctx, { method: 'GET', path: '/userinfo', url, headers: { authorization: 'Bearer ...' }, body: '' })
 * ```
 */
export async function userinfoEndpoint(ctx: ServerContext, req: CoreRequest): Promise<CoreResponse> {
  const presented = presentedToken(req);
  const realm = ctx.issuer.replace(/[\\"]/g, '\\$&');
  if (!presented) {
    // RFC 6750 section 3.1: without any authentication, the challenge carries no error code.
    return jsonResponse(401, { error: 'invalid_token', error_description: 'An access token is required.' }, { 'www-authenticate': `Bearer realm="${realm}"` });
  }
  const { token, scheme } = presented;
  const now = ctx.now();
  const challenge = (error: 'invalid_token' | 'insufficient_scope', description: string, detail: string, dpop: boolean) =>
    new OAuthError(error, description, {
      detail,
      headers: {
        'www-authenticate': dpop
          ? `DPoP realm="${realm}", error="${error}", error_description="${description}", algs="${ctx.dpop.algorithms.join(' ')}"`
          : `Bearer realm="${realm}", error="${error}", error_description="${description}"`,
      },
    });
  const invalid = (detail: string, dpop = scheme === 'DPoP') => challenge('invalid_token', 'The access token is invalid or expired.', detail, dpop);

  const found = await lookupToken(ctx, token, 'access_token');
  if (!found || found.kind !== 'access_token') throw invalid('not an access token of this server');
  if (found.expiresAt <= now) throw invalid('expired');
  if (!found.audience.includes(ctx.issuer)) throw invalid('the token is for another audience');
  if (await ctx.store.isAccessTokenRevoked(found.jti)) throw invalid('revoked');
  if (!grantIsLive(await ctx.store.getGrant(found.familyId), now)) throw invalid('the grant was revoked or expired');
  if (found.jkt !== undefined) {
    // RFC 9449 section 7.1: a DPoP-bound token needs the DPoP scheme and a proof by its key, with ath.
    if (scheme !== 'DPoP') throw invalid('a DPoP-bound token sent as a bearer token', true);
    const proof = await verifyDpopProof(
      { header: req.headers.dpop, method: req.method, url: ctx.endpoints.userinfo, now, accessToken: token },
      { settings: ctx.dpop, store: ctx.store },
    ).catch((error: unknown) => {
      if (!(error instanceof OAuthError)) throw error;
      if (error.error === 'use_dpop_nonce') {
        // RFC 9449 section 9: a resource server asks for a nonce with 401 and the DPoP challenge.
        throw new OAuthError('use_dpop_nonce', error.description, {
          status: 401,
          detail: error.detail,
          headers: { ...error.headers, 'www-authenticate': `DPoP realm="${realm}", error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof", algs="${ctx.dpop.algorithms.join(' ')}"` },
        });
      }
      throw invalid(`DPoP proof: ${error.detail ?? error.description}`, true);
    });
    if (!proof || proof.jkt !== found.jkt) throw invalid('no DPoP proof by the key the token is bound to', true);
  } else if (scheme === 'DPoP') {
    throw invalid('a bearer token sent with the DPoP scheme', false);
  }
  const scope = parseScope(found.scope);
  // OIDC Core section 5.3: the access token must have been issued for an OpenID request.
  if (!scope.includes('openid')) throw challenge('insufficient_scope', 'The access token does not have the openid scope.', 'no openid scope', found.jkt !== undefined);

  const claims = (await ctx.userClaims?.(found.subject, { clientId: found.clientId, scope })) ?? {};
  const released: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(claims)) {
    const needs = claimScope.get(name);
    // OIDC Core section 5.4: standard claims only with their scope value; the application's own claims as it returns them.
    if (needs === undefined || scope.includes(needs)) released[name] = value;
  }
  // OIDC Core section 5.3.2: sub MUST be the token's subject.
  released.sub = found.subject;
  return jsonResponse(200, released);
}

/** The access token and its scheme: from the Authorization header, or a form body's `access_token` (RFC 6750 section 2.2). */
function presentedToken(req: CoreRequest): { token: string; scheme: 'Bearer' | 'DPoP' } | undefined {
  const header = req.headers.authorization;
  let fromBody: string | undefined;
  if (req.method.toUpperCase() === 'POST' && req.body !== '') {
    assertFormContentType(req.headers['content-type']);
    const params = new URLSearchParams(req.body);
    rejectDuplicates(params);
    fromBody = params.get('access_token') ?? undefined;
  }
  // RFC 6750 section 2: clients MUST NOT use more than one method to transmit the token.
  if (header !== undefined && fromBody !== undefined) throw new OAuthError('invalid_request', 'The access token was sent more than once.');
  if (fromBody !== undefined) return fromBody === '' ? undefined : { token: fromBody, scheme: 'Bearer' };
  if (header === undefined) return undefined;
  const match = /^(bearer|dpop) +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  if (!match) throw new OAuthError('invalid_request', 'The Authorization header is not a Bearer or DPoP token.');
  return { token: match[2], scheme: match[1].toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer' };
}
