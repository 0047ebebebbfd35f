/**
 * Grants as an embedding application manages them: issue the first one after its own login,
 * list a subject's or a client's sessions, revoke one or all of them.
 */
import type { ServerContext } from './context.ts';
import { familyTokens, newFamily } from './grants/new-family.ts';
import { formatScope, isWellFormedScope, missingFrom, parseScope } from './scope.ts';
import type { GrantFilter } from './store.ts';
import type { TokenResponse } from './tokens/token-response.ts';
import type { AuthorizationServer } from './authorization-server.ts';

/** The first grant, as an embedding application issues it after its own login. */
export interface IssueGrantInput {
  clientId: string;
  subject: string;
  scope: string;
  resources?: string[];
  /** When the user authenticated; defaults to now. */
  authTime?: number;
  /** Claims the id_tokens of this grant repeat (`acr`, `amr`). */
  idTokenClaims?: Record<string, unknown>;
  /**
   * RFC 9449: the JWK SHA-256 thumbprint of the client's DPoP key. The access token is bound to it
   * (`token_type: DPoP`); for a public client the refresh token family is bound too, so every
   * refresh needs a proof by that key (RFC 9449 section 5). Confidential clients' refresh tokens
   * are not bound: they are sender-constrained by client authentication already.
   */
  dpopJkt?: string;
}

/** One grant (a session of a subject at a client) as {@link AuthorizationServer.listGrants} lists it. */
export interface GrantSummary {
  familyId: string;
  clientId: string;
  subject: string;
  scope: string;
  createdAt: number;
  /** When a refresh token of the grant was last used; absent: never refreshed. */
  lastUsedAt?: number;
  /** Generation of its newest refresh token (1 until the first rotation). */
  generation: number;
  /** RFC 9449: bound to a DPoP key (its thumbprint in `dpopJkt`). */
  dpopBound: boolean;
  dpopJkt?: string;
  /** The authorization's absolute expiry. */
  expiresAt: number;
  /** Revoked or expired ones are listed only with `includeInactive`. */
  active: boolean;
  revokedAt?: number;
  revokedReason?: string;
}

/** The result of {@link AuthorizationServer.issueGrant}. */
export interface IssuedGrant {
  familyId: string;
  /** The section 5.1 token response, in wire names. */
  tokens: TokenResponse;
}

/** Issues a first grant for a subject; see {@link AuthorizationServer.issueGrant}. */
export async function issueGrant(ctx: ServerContext, input: IssueGrantInput): Promise<IssuedGrant> {
  const client = await ctx.store.getClient(input.clientId);
  if (!client) throw new TypeError(`unknown client ${input.clientId}`);
  if (!input.subject) throw new TypeError('subject is required');
  const scope = parseScope(input.scope);
  if (input.scope !== '' && !isWellFormedScope(input.scope)) throw new TypeError('scope is malformed');
  const resources = input.resources ?? [];
  if (client.scope !== '' && missingFrom(scope, parseScope(client.scope)).length > 0) {
    throw new TypeError(`scope not allowed for client ${client.clientId}: ${missingFrom(scope, parseScope(client.scope)).join(' ')}`);
  }
  if (client.resources.length > 0 && missingFrom(resources, client.resources).length > 0) {
    throw new TypeError(`resource not allowed for client ${client.clientId}`);
  }
  if (input.dpopJkt !== undefined && !/^[A-Za-z0-9_-]{43}$/.test(input.dpopJkt)) {
    throw new TypeError('dpopJkt must be a base64url SHA-256 JWK thumbprint (43 characters, RFC 7638)');
  }
  const now = ctx.now();
  const family = newFamily({
    client,
    subject: input.subject,
    scope: formatScope(scope),
    resources,
    authTime: input.authTime ?? now,
    idTokenClaims: input.idTokenClaims,
    dpopJkt: input.dpopJkt,
    now,
  });
  await ctx.store.createGrant(family.grant, family.firstToken);
  const tokens = await familyTokens(ctx, family, { client, dpopJkt: input.dpopJkt });
  return { familyId: family.grant.familyId, tokens };
}

/** Revokes a grant's whole family; true if it was active. */
export async function revokeGrant(ctx: ServerContext, familyId: string, reason: string): Promise<boolean> {
  const now = ctx.now();
  const revoked = await ctx.store.revokeGrant(familyId, reason, now);
  if (revoked) ctx.emit({ type: 'grant.revoked', at: now, familyId, reason });
  return revoked;
}

/** A subject's (or a client's) grants, newest first; see {@link AuthorizationServer.listGrants}. */
export async function listGrants(ctx: ServerContext, filter: GrantFilter & { includeInactive?: boolean }): Promise<GrantSummary[]> {
  const now = ctx.now();
  const sessions = await ctx.store.listSessions({ subject: filter.subject, clientId: filter.clientId });
  const summaries = sessions.map(({ grant, generation, lastUsedAt }): GrantSummary => {
    const summary: GrantSummary = {
      familyId: grant.familyId,
      clientId: grant.clientId,
      subject: grant.subject,
      scope: grant.scope,
      createdAt: grant.createdAt,
      generation,
      dpopBound: grant.dpopJkt !== undefined,
      expiresAt: grant.expiresAt,
      active: grant.revokedAt === undefined && grant.expiresAt > now,
    };
    if (lastUsedAt !== undefined) summary.lastUsedAt = lastUsedAt;
    if (grant.dpopJkt !== undefined) summary.dpopJkt = grant.dpopJkt;
    if (grant.revokedAt !== undefined) summary.revokedAt = grant.revokedAt;
    if (grant.revokedReason !== undefined) summary.revokedReason = grant.revokedReason;
    return summary;
  });
  return filter.includeInactive ? summaries : summaries.filter((s) => s.active);
}

/** Revokes every active grant a filter selects; see {@link AuthorizationServer.revokeGrants}. */
export async function revokeGrants(ctx: ServerContext, filter: GrantFilter, reason: string): Promise<string[]> {
  if (!filter.subject && !filter.clientId) throw new TypeError('revokeGrants needs a subject or a clientId');
  if (!/^[\x21-\x7E]{1,64}$/.test(reason)) throw new TypeError('reason must be 1-64 visible ASCII characters');
  const now = ctx.now();
  const revoked = await ctx.store.revokeGrants({ subject: filter.subject, clientId: filter.clientId }, reason, now);
  for (const familyId of revoked) {
    ctx.emit({ type: 'grant.revoked', at: now, familyId, reason, ...(filter.clientId && { clientId: filter.clientId }), ...(filter.subject && { subject: filter.subject }) });
  }
  return revoked;
}
