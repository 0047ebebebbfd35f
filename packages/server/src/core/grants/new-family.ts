/**
 * What every grant that starts a refresh token family shares (the authorization code, JWT
 * bearer and password grants, and `issueGrant()`): the grant record, its first refresh token,
 * whether that token is handed out, and the token response. The refresh grant then rotates the
 * family exactly as any other.
 */
import type { ServerContext } from '../context.ts';
import { randomId, refreshTokenKey, timeOrderedHandle, tokenPrefixes } from '../crypto.ts';
import { OAuthError } from '../errors.ts';
import { formatScope, isWellFormedScope, missingFrom, parseScope } from '../scope.ts';
import { buildTokenResponse, type TokenResponse } from '../tokens/token-response.ts';
import { allowedGrantTypes, type ClientRecord, type GrantRecord, type NewRefreshToken } from '../types.ts';

/** What a new family is made of. */
export interface NewFamilyInput {
  client: ClientRecord;
  subject: string;
  /** The granted scope, space-delimited. */
  scope: string;
  resources: string[];
  authTime: number;
  /** `acr`, `amr`: repeated in the family's id_tokens. */
  idTokenClaims?: Record<string, unknown>;
  /** RFC 9449: a proof's key; binds the family of a public client only (section 5). */
  dpopJkt?: string;
  /** Chosen in advance (an authorization code names its family); random otherwise. */
  familyId?: string;
  now: number;
}

/** A family ready to be stored. */
export interface NewFamily {
  grant: GrantRecord;
  firstToken: NewRefreshToken;
  /** The first refresh token, or undefined when none is handed out (see {@link issuesRefreshToken}). */
  refreshToken: string | undefined;
}

/**
 * True when a grant of `scope` to `client` comes with a refresh token: the client is allowed the
 * refresh grant, and with `openid` only when `offline_access` was granted (OIDC Core section 11).
 */
export function issuesRefreshToken(client: ClientRecord, scope: readonly string[]): boolean {
  if (!allowedGrantTypes(client).includes('refresh_token')) return false;
  return !scope.includes('openid') || scope.includes('offline_access');
}

/**
 * The grant record and first token of a new family (nothing stored yet).
 *
 * @example
 * ```ts
 * const family = newFamily({ client, subject: 'alice', scope: 'openid offline_access', resources: [], authTime: now, now })
 * await store.createGrant(family.grant, family.firstToken)
 * ```
 */
export function newFamily(input: NewFamilyInput): NewFamily {
  const { client, now } = input;
  const grant: GrantRecord = {
    familyId: input.familyId ?? randomId(),
    clientId: client.clientId,
    subject: input.subject,
    scope: input.scope,
    resources: input.resources,
    authTime: input.authTime,
    createdAt: now,
    expiresAt: now + client.absoluteTtl,
  };
  if (input.idTokenClaims && Object.keys(input.idTokenClaims).length > 0) grant.idTokenClaims = input.idTokenClaims;
  // RFC 9449 section 5: refresh tokens issued to public clients are bound to the DPoP key;
  // those of confidential clients are not (client authentication already constrains them).
  if (input.dpopJkt !== undefined && client.authMethod === 'none') grant.dpopJkt = input.dpopJkt;
  const token = timeOrderedHandle(tokenPrefixes.refreshToken);
  return {
    grant,
    firstToken: { tokenHash: refreshTokenKey(token), expiresAt: Math.min(now + client.idleTtl, grant.expiresAt) },
    refreshToken: issuesRefreshToken(client, parseScope(input.scope)) ? token : undefined,
  };
}

/** Announces a stored family and builds its token response (access token, id_token, refresh token). */
export function familyTokens(
  ctx: ServerContext,
  family: NewFamily,
  options: { client: ClientRecord; dpopJkt?: string; nonce?: string },
): Promise<TokenResponse> {
  const { grant } = family;
  ctx.emit({ type: 'grant.issued', at: grant.createdAt, clientId: grant.clientId, familyId: grant.familyId, generation: 1, subject: grant.subject });
  return buildTokenResponse(ctx, {
    client: options.client,
    grant,
    scope: grant.scope,
    audience: grant.resources.length > 0 ? grant.resources : [ctx.issuer],
    refreshToken: family.refreshToken,
    refreshTokenExpiresAt: family.firstToken.expiresAt,
    dpopJkt: options.dpopJkt,
    nonce: options.nonce,
    now: grant.createdAt,
  });
}

/**
 * The scope of a grant without user interaction (JWT bearer, password): the requested one, or
 * the client's registered scope when none is requested (RFC 6749 section 3.3); never beyond the
 * client's (`invalid_scope`).
 */
export function directGrantScope(client: ClientRecord, requested: string | null): string {
  if (requested !== null && requested !== '' && !isWellFormedScope(requested)) throw new OAuthError('invalid_scope', 'The scope is malformed.');
  const scope = requested ? parseScope(requested) : parseScope(client.scope);
  const beyond = client.scope === '' ? [] : missingFrom(scope, parseScope(client.scope));
  if (beyond.length > 0) throw new OAuthError('invalid_scope', 'The requested scope is not allowed for this client.', { detail: beyond.join(' ') });
  return formatScope(scope);
}
