/**
 * The authorization code grant at the token endpoint (RFC 6749 section 4.1.3 under OAuth 2.1),
 * read top to bottom like its checklist:
 *
 * | check                                                        | refusal                     |
 * | ------------------------------------------------------------ | --------------------------- |
 * | `code`, `redirect_uri` or `code_verifier` missing            | `invalid_request`           |
 * | unknown code, or issued to another client                    | `invalid_grant`             |
 * | a code used before                                           | `invalid_grant`, and the family its first use created is revoked |
 * | expired (60 s)                                               | `invalid_grant`             |
 * | `redirect_uri` not the one of the authorization request      | `invalid_grant`             |
 * | `code_verifier` malformed or not the challenge's (RFC 7636)  | `invalid_grant`             |
 * | code bound by `dpop_jkt` and no proof by that key (RFC 9449 section 10) | `invalid_grant`  |
 *
 * Then, atomically, the code is marked used and its family created (`Store.redeemAuthorizationCode`):
 * of two concurrent exchanges one gets tokens and the other revokes them. The id_token carries
 * the request's `nonce`, `auth_time` and `at_hash`; a DPoP proof binds a public client's family
 * (RFC 9449 section 5).
 */
import type { ServerContext } from '../context.ts';
import { safeEqual, sha256 } from '../crypto.ts';
import { OAuthError } from '../errors.ts';
import { requireParam } from '../form.ts';
import type { TokenResponse } from '../tokens/token-response.ts';
import type { ClientRecord } from '../types.ts';
import { familyTokens, newFamily } from './new-family.ts';

/** The grant type this module handles. */
export const grantType = 'authorization_code';

/** One public description for every refused code; the reason goes to the event stream. */
export const invalidCode = 'The authorization code is invalid, expired or was already used.';

/** RFC 7636 section 4.1: 43 to 128 unreserved characters. */
const verifierPattern = /^[A-Za-z0-9._~-]{43,128}$/;

/** What the code exchange needs from the request. */
export interface AuthorizationCodeRequest {
  client: ClientRecord;
  params: URLSearchParams;
  /** RFC 9449: thumbprint of the DPoP proof's key, when a valid proof was presented. */
  dpopJkt?: string;
}

/**
 * Handles `grant_type=authorization_code`.
 *
 * @example
 * ```ts
 * const tokens = await authorizationCodeGrant(ctx, { client, params })
 * ```
 */
export async function authorizationCodeGrant(ctx: ServerContext, req: AuthorizationCodeRequest): Promise<TokenResponse> {
  const { client, params } = req;
  const code = requireParam(params, 'code');
  // RFC 6749 section 4.1.3: REQUIRED when the authorization request had it, which it always has here.
  const redirectUri = requireParam(params, 'redirect_uri');
  // RFC 7636 section 4.5 and OAuth 2.1: every code was issued with a challenge.
  const verifier = requireParam(params, 'code_verifier');
  const now = ctx.now();
  const refuse = (reason: string, familyId?: string) => {
    ctx.emit({ type: 'request.failed', at: now, clientId: client.clientId, familyId, error: 'invalid_grant', reason, endpoint: '/token', detail: `authorization code ${reason}` });
    return new OAuthError('invalid_grant', invalidCode, { detail: reason, reported: true });
  };

  const codeHash = sha256(code);
  const record = await ctx.store.findAuthorizationCode(codeHash);
  if (!record) throw refuse('unknown');
  // RFC 6749 section 4.1.3: the code MUST have been issued to the authenticated client.
  if (record.clientId !== client.clientId) throw refuse('foreign_client');
  if (record.usedAt !== undefined) {
    // RFC 6749 section 4.1.2: used more than once: deny, and revoke what it was used for.
    throw replayed(ctx, client, record.familyId, await ctx.store.revokeGrant(record.familyId, 'code_replay', now), now);
  }
  if (record.expiresAt <= now) throw refuse('expired', record.familyId);
  // RFC 6749 section 4.1.3: the redirect_uri MUST be identical to the authorization request's.
  if (redirectUri !== record.redirectUri) throw refuse('redirect_uri_mismatch', record.familyId);
  // RFC 7636 section 4.6: BASE64URL(SHA256(code_verifier)) == code_challenge.
  if (!verifierPattern.test(verifier) || !safeEqual(sha256(verifier), record.codeChallenge)) throw refuse('pkce_mismatch', record.familyId);
  // RFC 9449 section 10: a code bound to a key needs a proof by that key.
  if (record.dpopJkt !== undefined && record.dpopJkt !== req.dpopJkt) throw refuse('dpop_key_mismatch', record.familyId);

  const family = newFamily({
    client,
    subject: record.subject,
    scope: record.scope,
    resources: record.resources,
    authTime: record.authTime,
    idTokenClaims: record.idTokenClaims,
    dpopJkt: req.dpopJkt,
    familyId: record.familyId,
    now,
  });
  const redemption = await ctx.store.redeemAuthorizationCode(codeHash, { grant: family.grant, firstToken: family.firstToken, now });
  // A concurrent exchange of the same code got there first: this one is the second use (the store revoked the family).
  if (redemption !== 'redeemed') throw replayed(ctx, client, record.familyId, redemption === 'replayed', now);
  return familyTokens(ctx, family, { client, dpopJkt: req.dpopJkt, nonce: record.nonce });
}

/** A second use of a code: reported once, with the revocation of its family when there was one to revoke. */
function replayed(ctx: ServerContext, client: ClientRecord, familyId: string, revoked: boolean, now: number): OAuthError {
  ctx.emit({ type: 'authorization_code.replayed', at: now, clientId: client.clientId, familyId, reason: 'reuse', error: 'invalid_grant' });
  if (revoked) ctx.emit({ type: 'grant.revoked', at: now, clientId: client.clientId, familyId, reason: 'code_replay' });
  return new OAuthError('invalid_grant', invalidCode, { detail: 'code replayed', reported: true });
}
