/**
 * The resource owner password credentials grant (RFC 6749 section 4.3). Legacy: OAuth 2.1 and
 * RFC 9700 section 2.4 drop it, because the client sees the user's password. Kept for
 * applications migrating from it (the seeds' identity domain lists it): off unless a client
 * lists `password` in its grant types, and the server only asks the application's own
 * `verifyPassword` callback; it never sees or stores a password otherwise.
 *
 * | check                                           | refusal                  |
 * | ----------------------------------------------- | ------------------------ |
 * | no `verifyPassword` configured                  | `unsupported_grant_type` |
 * | `username` or `password` missing                | `invalid_request`        |
 * | the callback does not recognise them            | `invalid_grant`          |
 * | scope beyond the client's                       | `invalid_scope`          |
 */
import type { ServerContext } from '../context.ts';
import { OAuthError } from '../errors.ts';
import { requireParam } from '../form.ts';
import type { TokenResponse } from '../tokens/token-response.ts';
import type { ClientRecord } from '../types.ts';
import { directGrantScope, familyTokens, newFamily } from './new-family.ts';

/** The grant type this module handles. */
export const grantType = 'password';

/**
 * Handles `grant_type=password`.
 *
 * @example
 * ```ts
 * const tokens = await passwordGrant(ctx, { client, params }) // params: username, password, scope
 * ```
 */
export async function passwordGrant(ctx: ServerContext, req: { client: ClientRecord; params: URLSearchParams; dpopJkt?: string }): Promise<TokenResponse> {
  const { client, params } = req;
  const verify = ctx.verifyPassword;
  if (!verify) throw new OAuthError('unsupported_grant_type', 'The grant type is not supported.', { detail: 'password grant without a verifyPassword callback' });
  const username = requireParam(params, 'username');
  const password = requireParam(params, 'password');
  const scope = directGrantScope(client, params.get('scope'));
  const user = await verify({ username, password, clientId: client.clientId });
  if (!user) {
    // The username is the user's to know: it goes to the detail (logs), the password nowhere.
    throw new OAuthError('invalid_grant', 'The username or password is incorrect.', { detail: `password rejected for client ${client.clientId}` });
  }
  if (typeof user.subject !== 'string' || user.subject === '' || user.subject.length > 255) {
    throw new TypeError('verifyPassword must resolve to { subject } with a subject of 1 to 255 characters, or undefined');
  }
  const now = ctx.now();
  const claims: Record<string, unknown> = {};
  if (user.acr !== undefined) claims.acr = user.acr;
  claims.amr = user.amr ?? ['pwd'];
  const family = newFamily({ client, subject: user.subject, scope, resources: [], authTime: user.authTime ?? now, idTokenClaims: claims, dpopJkt: req.dpopJkt, now });
  await ctx.store.createGrant(family.grant, family.firstToken);
  return familyTokens(ctx, family, { client, dpopJkt: req.dpopJkt });
}
