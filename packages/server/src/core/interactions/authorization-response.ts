/**
 * The answers of the authorization flow: the authorization response (RFC 6749 section 4.1.2)
 * with its code, the error response (section 4.1.2.1), both with `iss` (RFC 9207) and `state`,
 * and the page shown to the user when the request cannot be answered at its redirection URI.
 */
import type { ServerContext } from '../context.ts';
import { randomHandle, randomId, sha256 } from '../crypto.ts';
import type { OAuthError } from '../errors.ts';
import type { CoreResponse } from '../http-types.ts';
import type { AuthorizationCodeRecord, AuthorizationRequest } from '../types.ts';
import type { InteractionState } from './interaction-ref.ts';

/** Prefix of authorization codes. */
export const authorizationCodePrefix = 'rg_ac_';

/** Lifetime of an authorization code, in seconds (RFC 6749 section 4.1.2: short, 10 minutes at most). */
export const authorizationCodeTtl = 60;

/**
 * `redirectUri` with `params` added to its query, keeping the query it has (RFC 6749 section
 * 4.1.2: the parameters are added to the query component using application/x-www-form-urlencoded).
 */
export function redirectWith(redirectUri: string, params: Record<string, string | undefined>): string {
  const url = new URL(redirectUri);
  for (const [name, value] of Object.entries(params)) if (value !== undefined) url.searchParams.append(name, value);
  return url.href;
}

/** A 303 to `location` (RFC 9700 section 4.12: 303 so that a POST is never repeated). */
export function seeOther(location: string): CoreResponse {
  return { status: 303, headers: { location, 'cache-control': 'no-store' }, body: '' };
}

/**
 * Where an error of an authorization request goes: its redirection URI with `error`,
 * `error_description`, `state` and `iss` (RFC 6749 section 4.1.2.1, RFC 9207 section 2).
 *
 * @example
 * ```ts
 * errorRedirect(ctx, request.redirectUri, request.state, new OAuthError('access_denied', 'The user said no.'))
 * ```
 */
export function errorRedirect(ctx: ServerContext, redirectUri: string, state: string | undefined, error: OAuthError, clientId?: string): string {
  ctx.emit({ type: 'authorization.failed', at: ctx.now(), clientId, error: error.error, detail: error.detail ?? error.description });
  return redirectWith(redirectUri, { error: error.error, error_description: error.description, state, iss: ctx.issuer });
}

/**
 * Issues an authorization code for a finished sign-in and returns the authorization response
 * URL: `code`, `state` and `iss` (RFC 9207 section 2: in every authorization response).
 */
export async function issueCode(ctx: ServerContext, request: AuthorizationRequest, login: NonNullable<InteractionState['login']>, scope: string): Promise<string> {
  const now = ctx.now();
  const code = randomHandle(authorizationCodePrefix);
  const record: AuthorizationCodeRecord = {
    codeHash: sha256(code),
    clientId: request.clientId,
    redirectUri: request.redirectUri,
    codeChallenge: request.codeChallenge,
    subject: login.subject,
    scope,
    resources: request.resources,
    authTime: login.authTime,
    familyId: randomId(),
    createdAt: now,
    expiresAt: now + authorizationCodeTtl,
  };
  if (request.nonce !== undefined) record.nonce = request.nonce;
  if (request.dpopJkt !== undefined) record.dpopJkt = request.dpopJkt;
  const claims: Record<string, unknown> = {};
  if (login.acr !== undefined) claims.acr = login.acr;
  if (login.amr !== undefined) claims.amr = login.amr;
  if (Object.keys(claims).length > 0) record.idTokenClaims = claims;
  await ctx.store.saveAuthorizationCode(record);
  ctx.emit({ type: 'authorization_code.issued', at: now, clientId: request.clientId, familyId: record.familyId, subject: login.subject });
  return redirectWith(request.redirectUri, { code, state: request.state, iss: ctx.issuer });
}

const escapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => escapes[c]);
}

/** Headers of every HTML page the server renders: not cached, not framed, no script but its own. */
export function htmlHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'x-frame-options': 'DENY',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    'referrer-policy': 'no-referrer',
    ...extra,
  };
}

/**
 * The page shown when an authorization request cannot be answered at a redirection URI
 * (RFC 6749 section 4.1.2.1: the user is told, the user agent is not redirected).
 */
export function errorPage(error: OAuthError): CoreResponse {
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign-in request refused</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}code{background:#f2f2f2;padding:0 .3rem}</style></head>
<body><h1>This sign-in request cannot be completed</h1>
<p>${escapeHtml(error.description)}</p>
<p>Error: <code>${escapeHtml(error.error)}</code>. Go back to the application and try again.</p>
</body></html>
`;
  return { status: error.status >= 400 && error.status < 600 ? error.status : 400, headers: htmlHeaders(error.headers), body };
}
