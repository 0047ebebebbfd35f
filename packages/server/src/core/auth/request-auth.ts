/**
 * Client authentication of a request at one of our endpoints: the request's Authorization
 * header and form, with the endpoint's own URL and the issuer as accepted assertion audiences.
 */
import { authenticateClient, type AuthenticatedClient } from './client-auth.ts';
import type { ServerContext } from '../context.ts';
import type { CoreRequest } from '../http-types.ts';

/**
 * Authenticates the client calling `endpoint` (token, revocation or introspection).
 *
 * @example
 * ```ts
 * const { client } = await authenticateRequest(ctx, request, params, ctx.endpoints.revocation)
 * ```
 */
export function authenticateRequest(ctx: ServerContext, request: CoreRequest, params: URLSearchParams, endpoint: string): Promise<AuthenticatedClient> {
  return authenticateClient(
    { authorization: request.headers.authorization, params, audiences: [ctx.issuer, endpoint], now: ctx.now() },
    { store: ctx.store, kek: ctx.kek, resolveRemoteJwks: ctx.resolveRemoteJwks, maxAssertionLifetime: ctx.assertionMaxLifetime },
  );
}
