/**
 * id_tokens: the first one of a grant, at the authorization code exchange (OpenID Connect Core
 * 1.0 section 3.1.3.6: with the request's `nonce`), and those returned by a refresh (section 12.2).
 */
import { createHash } from 'node:crypto';
import type { ClientRecord, GrantRecord, SigningAlg } from '../types.ts';
import type { KeyRing } from './keyring.ts';

/** What a refreshed id_token is issued for. */
export interface IdTokenRequest {
  issuer: string;
  client: ClientRecord;
  grant: GrantRecord;
  now: number;
  /** The access token issued alongside, for `at_hash`. */
  accessToken?: string;
  /** OIDC Core section 3.1.3.6: the authorization request's nonce (a code exchange only). */
  nonce?: string;
}

/** The JWS `typ` of an id_token. */
export const idTokenTyp = 'JWT';

/**
 * OIDC Core section 3.1.3.6 `at_hash`: the left half of the hash of the access token, with the
 * hash of the JWS alg: SHA-256 for ES256, SHA-512 for EdDSA (Ed25519), as oauth4webapi and
 * node-oidc-provider compute it.
 */
export function accessTokenHash(accessToken: string, alg: SigningAlg): string {
  const digest = createHash(alg === 'ES256' ? 'sha256' : 'sha512').update(accessToken).digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

/**
 * Issues an id_token, signed with the current key.
 *
 * @example
 * ```ts
 * const idToken = await issueIdToken({ issuer, client, grant, now, accessToken: at.accessToken }, keys)
 * ```
 */
export function issueIdToken(req: IdTokenRequest, keys: KeyRing): Promise<string> {
  const { client, grant, now } = req;
  const extra: Record<string, unknown> = { ...grant.idTokenClaims };
  // OIDC Core section 12.2: a refreshed id_token SHOULD NOT have a nonce.
  delete extra.nonce;
  const claims: Record<string, unknown> = {
    ...extra,
    // OIDC Core section 12.2: iss, sub and aud MUST be those of the original id_token.
    iss: req.issuer,
    sub: grant.subject,
    aud: client.clientId,
    azp: client.clientId,
    // OIDC Core section 12.2: auth_time MUST be the time of the original authentication.
    auth_time: grant.authTime,
    // OIDC Core section 12.2: iat MUST be the time the new id_token is issued.
    iat: now,
    exp: now + client.idTokenTtl,
  };
  delete claims.at_hash;
  delete claims.c_hash;
  // OIDC Core section 2: nonce, when the authorization request had one, unmodified.
  if (req.nonce !== undefined) claims.nonce = req.nonce;
  if (req.accessToken !== undefined) claims.at_hash = accessTokenHash(req.accessToken, keys.current.alg);
  return keys.sign(claims, idTokenTyp);
}
