/**
 * The refresh token grant (RFC 6749 section 6), read top to bottom like the RFC's checklist:
 * required parameters, the token's validity for this client, scope and resource narrowing,
 * then the atomic rotation, and the new tokens.
 *
 * Rotation (RFC 9700 section 4.14.2) is one decision taken under the store's lock
 * ({@link decideRefresh}): of any number of concurrent requests presenting one token, exactly
 * one rotates it; the others, and a client whose response was lost, get the same successor
 * while the retry window is open and the successor unused (a replay); anything later is reuse,
 * which revokes the whole family.
 *
 * Shadowing: a thief holding a copy of the chain who refreshes in step with the client (one
 * rotates, the other replays the parent, every round) would share the chain forever inside the
 * window. A real client loses a response rarely; a shadow causes a replay at every generation.
 * So a replay of generation g in a family whose last replay was of generation g - 1 is refused
 * and revokes the family (`shadowing`): the in-step thief is caught at its second round.
 *
 * DPoP (RFC 9449 section 5): a public client's family is bound to a key when its first grant is
 * issued with one (`issueGrant({ dpopJkt })`, `grants issue --dpop-jkt`), or else at its first
 * refresh that carries a valid proof (the successor and every later token are bound); every
 * refresh with a token issued bound needs a valid proof by that key, else `invalid_grant`
 * (nothing revoked). A token issued before the binding is replayed only with the family's key;
 * presented without it, it is reuse. Confidential clients' families are never bound; their
 * access tokens are, whenever a proof is presented.
 */
import { OAuthError } from '../errors.ts';
import { requireParam } from '../form.ts';
import { formatScope, missingFrom, parseScope } from '../scope.ts';
import { refreshTokenKey, sealSuccessor, timeOrderedHandle, tokenPrefixes, unsealSuccessor } from '../crypto.ts';
import type { ServerContext } from '../context.ts';
import type { RefreshDecision, RefreshRejection, RefreshSnapshot } from '../store.ts';
import type { ClientRecord, GrantRecord } from '../types.ts';
import { buildTokenResponse, type TokenResponse } from '../tokens/token-response.ts';

/** The grant type this module handles. */
export const grantType = 'refresh_token';

/** The one public description for every refused refresh token: the reason is private. */
export const invalidRefreshToken = 'The refresh token is invalid, expired or revoked.';

/** What the refresh grant needs from the request. */
export interface RefreshTokenRequest {
  client: ClientRecord;
  params: URLSearchParams;
  /** RFC 9449: thumbprint of the DPoP proof's key, when a valid proof was presented. */
  dpopJkt?: string;
}

/** What {@link decideRefresh} needs besides the snapshot. */
export interface RefreshRules {
  client: ClientRecord;
  now: number;
  requestedScope: string[];
  requestedResources: string[];
  dpopJkt?: string;
  /**
   * The successor to insert if the decision is to rotate: made only then, so that refusals,
   * replays and non-rotating clients cost no key derivation or encryption.
   */
  successor: () => { tokenHash: string; sealed: string };
}

/**
 * Handles `grant_type=refresh_token`.
 *
 * @example
 * ```ts
 * const response = await refreshTokenGrant(ctx, { client, params })
 * ```
 */
export async function refreshTokenGrant(ctx: ServerContext, req: RefreshTokenRequest): Promise<TokenResponse> {
  const { client, params } = req;
  // RFC 6749 section 6: refresh_token is REQUIRED.
  const presented = requireParam(params, 'refresh_token');
  const requestedScope = parseScope(params.get('scope'));
  const requestedResources = params.getAll('resource');
  for (const resource of requestedResources) assertResourceIndicator(resource);

  const now = ctx.now();
  // Made at most once, even if the store asks for a decision again after a retried transaction.
  let successor: { token: string; tokenHash: string; sealed: string } | undefined;
  const rules: RefreshRules = {
    client,
    now,
    requestedScope,
    requestedResources,
    dpopJkt: req.dpopJkt,
    successor: () => {
      if (successor) return successor;
      const token = timeOrderedHandle(tokenPrefixes.refreshToken);
      return (successor = { token, tokenHash: refreshTokenKey(token), sealed: sealSuccessor(presented, token) });
    },
  };
  const { snapshot, decision } = await ctx.store.useRefreshToken(refreshTokenKey(presented), (s) => decideRefresh(s, rules));

  if (decision.action === 'reject') {
    reportRejection(ctx, client, snapshot, decision);
    // One event per refused token (reportRejection's), not a second one from the router.
    throw new OAuthError('invalid_grant', invalidRefreshToken, { detail: decision.reason, reported: true });
  }
  const grant = snapshot!.grant;
  let refreshToken: string;
  let refreshTokenExpiresAt: number;
  let generation = snapshot!.token.generation;
  const event = { at: now, clientId: client.clientId, familyId: grant.familyId, subject: grant.subject };
  if (decision.action === 'rotate') {
    refreshToken = successor!.token;
    refreshTokenExpiresAt = decision.successor.expiresAt;
    generation += 1;
    ctx.emit({ type: 'refresh_token.rotated', ...event, generation });
    if (decision.bindDpopJkt !== undefined) ctx.emit({ type: 'grant.dpop_bound', ...event, generation });
  } else if (decision.action === 'replay') {
    refreshToken = unsealSuccessor(presented, snapshot!.token.successorSealed!);
    // The same successor, or nothing: a value that does not hash to the recorded successor is a fault.
    if (refreshTokenKey(refreshToken) !== snapshot!.token.successorHash) throw new Error('sealed successor does not match its hash');
    refreshTokenExpiresAt = snapshot!.successor!.expiresAt;
    generation += 1;
    ctx.emit({ type: 'refresh_token.replayed', ...event, generation, reason: 'lost_response' });
  } else {
    refreshToken = presented;
    refreshTokenExpiresAt = decision.expiresAt;
    ctx.emit({ type: 'refresh_token.used', ...event, generation });
  }

  return buildTokenResponse(ctx, {
    client,
    grant,
    scope: requestedScope.length > 0 ? formatScope(requestedScope) : grant.scope,
    audience: audienceFor(ctx, grant, requestedResources),
    refreshToken,
    refreshTokenExpiresAt,
    dpopJkt: req.dpopJkt,
    now,
  });
}

/**
 * The decision for a presented refresh token, taken under the store's lock. Pure: it reads
 * the snapshot and the rules and returns what the store must apply, or throws an
 * {@link OAuthError} (`invalid_scope`, `invalid_target`) to change nothing.
 */
export function decideRefresh(snapshot: RefreshSnapshot | undefined, rules: RefreshRules): RefreshDecision {
  const { client, now } = rules;
  if (!snapshot) return reject('unknown');
  const { token, grant, successor } = snapshot;
  // RFC 6749 section 6: the refresh token MUST have been issued to the authenticated client.
  if (grant.clientId !== client.clientId) return reject('foreign_client');
  if (grant.revokedAt !== undefined) return reject('revoked');
  if (grant.expiresAt <= now) return reject('expired');
  const keyMatches = grant.dpopJkt === undefined || grant.dpopJkt === rules.dpopJkt;
  // RFC 9449 section 5: a refresh token issued bound to a DPoP key is only usable with a proof by
  // that key. Checked before reuse detection: whoever lacks the key can neither use the token
  // nor, by presenting an old one, revoke the family of the client that holds it.
  if (!keyMatches && token.generation >= (grant.dpopBoundFrom ?? 1)) return reject('dpop_key_mismatch');

  if (token.state === 'rotated') {
    // Lost-response retry: the same client presents the token it just rotated, within the
    // window, while the successor is unused: answer with the same successor, fork nothing. A
    // token issued before its family was bound is replayed only with the family's key.
    const withinWindow = client.retryWindow > 0 && token.rotatedAt !== undefined && now - token.rotatedAt <= client.retryWindow;
    const successorUnused = successor !== undefined && successor.state === 'active' && successor.expiresAt > now;
    if (withinWindow && successorUnused && token.successorSealed !== undefined && keyMatches) {
      // A replay in step with the previous generation's: two holders take turns (see above).
      if (grant.replayGeneration === token.generation - 1) return { action: 'reject', reason: 'shadowing', revokeFamily: true, at: now };
      checkNarrowing(grant, rules);
      return { action: 'replay', at: now };
    }
    // RFC 9700 section 4.14.2: an invalidated refresh token presented again means one of the
    // two parties holding it is an attacker: revoke the whole family.
    return { action: 'reject', reason: 'reuse', revokeFamily: true, at: now };
  }

  if (token.expiresAt <= now) return reject('expired');
  checkNarrowing(grant, rules);

  const expiresAt = Math.min(now + client.idleTtl, grant.expiresAt);
  if (!mustRotate(client, grant)) return { action: 'keep', expiresAt, at: now };
  const { tokenHash, sealed } = rules.successor();
  const decision: RefreshDecision = { action: 'rotate', successor: { tokenHash, expiresAt }, successorSealed: sealed, at: now };
  // RFC 9449 section 5: refresh tokens issued to a public client that presents a valid proof
  // MUST be bound to its key: an unbound family is bound from this successor on.
  if (client.authMethod === 'none' && grant.dpopJkt === undefined && rules.dpopJkt !== undefined) decision.bindDpopJkt = rules.dpopJkt;
  return decision;
}

/**
 * RFC 9700 section 4.14.2: refresh tokens of public clients MUST be sender-constrained or
 * rotated, so rotation cannot be turned off for a public client whose family is not DPoP-bound.
 */
export function mustRotate(client: ClientRecord, grant: GrantRecord): boolean {
  return client.rotation || (client.authMethod === 'none' && grant.dpopJkt === undefined);
}

function reject(reason: RefreshRejection): RefreshDecision {
  return { action: 'reject', reason };
}

/** Scope and resources may only narrow what the grant holds; never a silent intersection. */
function checkNarrowing(grant: GrantRecord, rules: RefreshRules): void {
  // RFC 6749 section 6: the requested scope MUST NOT include any scope not originally granted.
  const extraScope = missingFrom(rules.requestedScope, parseScope(grant.scope));
  if (extraScope.length > 0) {
    throw new OAuthError('invalid_scope', 'The requested scope exceeds the scope granted.', {
      detail: `not granted: ${extraScope.join(' ')}`,
    });
  }
  // RFC 8707 section 2.2: a resource the grant does not cover is invalid_target.
  const extraResources = missingFrom(rules.requestedResources, grant.resources);
  if (extraResources.length > 0) {
    throw new OAuthError('invalid_target', 'A requested resource is not part of the grant.', {
      detail: `not granted: ${extraResources.join(' ')}`,
    });
  }
}

/** RFC 8707 section 2: a resource indicator is an absolute URI without a fragment. */
function assertResourceIndicator(resource: string): void {
  let url: URL | undefined;
  try {
    url = new URL(resource);
  } catch {
    url = undefined;
  }
  if (!url || url.hash !== '' || resource.includes('#')) {
    throw new OAuthError('invalid_target', 'A resource must be an absolute URI without a fragment.');
  }
}

/** The access token's audience: the requested resources, else the grant's, else the issuer. */
function audienceFor(ctx: ServerContext, grant: GrantRecord, requested: string[]): string[] {
  if (requested.length > 0) return requested;
  if (grant.resources.length > 0) return grant.resources;
  return [ctx.issuer];
}

function reportRejection(
  ctx: ServerContext,
  client: ClientRecord,
  snapshot: RefreshSnapshot | undefined,
  decision: Extract<RefreshDecision, { action: 'reject' }>,
): void {
  const at = ctx.now();
  const familyId = snapshot?.grant.familyId;
  const generation = snapshot?.token.generation;
  if (decision.revokeFamily) {
    // Reuse (an invalidated token presented again) and shadowing (replays in step) are told apart.
    const type = decision.reason === 'shadowing' ? 'refresh_token.shadowing_detected' : 'refresh_token.reuse_detected';
    ctx.emit({ type, at, clientId: client.clientId, familyId, generation, reason: decision.reason, error: 'invalid_grant' });
    ctx.emit({ type: 'grant.revoked', at, clientId: client.clientId, familyId, reason: decision.reason });
    return;
  }
  ctx.emit({ type: 'refresh_token.rejected', at, clientId: client.clientId, familyId, generation, reason: decision.reason, error: 'invalid_grant' });
}
