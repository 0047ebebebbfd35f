/**
 * @refresh-grant/server: an OAuth 2.0 authorization server token endpoint for the refresh
 * token grant, with rotation, lost-response retry and reuse detection.
 *
 * @example
 * ```ts
 * import { createAuthorizationServer, createNodeHandler, openSqliteStore } from '@refresh-grant/server'
 * const store = await openSqliteStore('./refresh-grant.db')
 * const server = await createAuthorizationServer({ issuer: 'http://127.0.0.1:8080', store, kek: { file: './refresh-grant.db.kek' } })
 * http.createServer(createNodeHandler(server)).listen(8080)
 * ```
 */
export { createAuthorizationServer, type AuthorizationServerOptions } from './server.ts';
export {
  AuthorizationServer,
  type IssueGrantInput,
  type IssuedGrant,
  type RegisterClientInput,
  type RegisteredClient,
} from './core/authorization-server.ts';
export { createNodeHandler, type NodeHandlerOptions } from './http/node-handler.ts';
export { createFetchHandler, type FetchHandlerOptions } from './http/fetch-handler.ts';
export { openSqliteStore, SqliteStore } from './stores/sqlite-store.ts';
export { openStore } from './stores/open-store.ts';
export { loadKek, type KekSource } from './kek.ts';
export { OAuthError, type OAuthErrorCode } from './core/errors.ts';
export { verifyDpopProof, DpopNonces, dpopSigningAlgs, dpopDefaults, type DpopProof, type DpopSettings } from './core/dpop.ts';
export type { DpopOptions } from './core/authorization-server.ts';
export type { CorsOptions } from './core/cors.ts';
export type { ServerEvent, ServerEventType, EventSink } from './core/events.ts';
export type { Store, StoreCapabilities, RefreshDecision, RefreshSnapshot, RefreshUse } from './core/store.ts';
export type * from './core/types.ts';
export type { TokenResponse } from './core/token-response.ts';
