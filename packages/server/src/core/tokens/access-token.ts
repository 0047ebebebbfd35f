/**
 * Access tokens: RFC 9068 JWTs signed by the key ring, or opaque handles stored by hash for
 * introspection, per the client's `accessTokenFormat`.
 */
import { accessTokenKey, randomId, timeOrderedHandle, tokenPrefixes } from '../crypto.ts';
import type { Store } from '../store.ts';
import type { ClientRecord, GrantRecord } from '../types.ts';
import type { KeyRing } from './keyring.ts';

/** What an access token is issued for. */
export interface AccessTokenRequest {
  issuer: string;
  client: ClientRecord;
  grant: GrantRecord;
  /** The space-delimited scope of this token (the granted scope, or a narrower one). */
  scope: string;
  /** Resource servers the token is meant for (RFC 8707); a JWT needs at least one. */
  audience: string[];
  /** RFC 9449 `cnf.jkt` when DPoP-bound */
  jkt?: string;
  now: number;
}

/** An issued access token and what the token response says about it. */
export interface IssuedAccessToken {
  accessToken: string;
  tokenType: 'Bearer' | 'DPoP';
  jti: string;
  /** Seconds, for `expires_in`. */
  expiresIn: number;
  expiresAt: number;
}

/** The JWS `typ` of a JWT access token (RFC 9068 section 2.1). */
export const accessTokenTyp = 'at+jwt';

/**
 * Issues an access token in the client's format: an RFC 9068 JWT signed with the current key,
 * or an opaque handle whose hash (never the token) is stored.
 *
 * @example
 * ```ts
 * const at = await issueAccessToken(
 *   { issuer, client, grant, scope: grant.scope, audience: grant.resources, now },
 *   { keys, store },
 * )
 * // { accessToken: 'eyJ...', tokenType: 'Bearer', jti, expiresIn: 900, expiresAt }
 * ```
 */
export async function issueAccessToken(
  req: AccessTokenRequest,
  deps: { keys: KeyRing; store: Pick<Store, 'saveOpaqueAccessToken'> },
): Promise<IssuedAccessToken> {
  const { client, grant, now } = req;
  const expiresIn = client.accessTokenTtl;
  const expiresAt = now + expiresIn;
  const jti = randomId();
  // RFC 9449 section 5: a DPoP-bound token is of type DPoP.
  const tokenType = req.jkt === undefined ? 'Bearer' : 'DPoP';

  if (client.accessTokenFormat === 'opaque') {
    const accessToken = timeOrderedHandle(tokenPrefixes.accessToken);
    await deps.store.saveOpaqueAccessToken({
      tokenHash: accessTokenKey(accessToken),
      jti,
      familyId: grant.familyId,
      clientId: client.clientId,
      subject: grant.subject,
      scope: req.scope,
      audience: req.audience,
      issuedAt: now,
      expiresAt,
      ...(req.jkt === undefined ? {} : { jkt: req.jkt }),
    });
    return { accessToken, tokenType, jti, expiresIn, expiresAt };
  }

  // RFC 9068 section 2.2: aud is REQUIRED.
  if (req.audience.length === 0) throw new TypeError('a JWT access token needs an audience (RFC 9068 section 2.2)');
  const claims: Record<string, unknown> = {
    // RFC 9068 section 2.2: iss, exp, aud, sub, client_id, iat and jti are REQUIRED.
    iss: req.issuer,
    sub: grant.subject,
    aud: req.audience.length === 1 ? req.audience[0] : req.audience,
    client_id: client.clientId,
    ...(req.scope === '' ? {} : { scope: req.scope }),
    jti,
    iat: now,
    exp: expiresAt,
    sid: grant.familyId,
    auth_time: grant.authTime,
    // RFC 9449 section 6.1: the key the token is bound to.
    ...(req.jkt === undefined ? {} : { cnf: { jkt: req.jkt } }),
  };
  // RFC 9068 section 2.1: typ MUST be at+jwt.
  return { accessToken: await deps.keys.sign(claims, accessTokenTyp), tokenType, jti, expiresIn, expiresAt };
}
