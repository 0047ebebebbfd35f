/**
 * @refresh-grant/server: an OAuth 2.0 authorization server for the refresh token grant, with
 * rotation, lost-response retry and reuse detection. This entry holds no storage backend: the
 * SQLite store is `@refresh-grant/server/sqlite`, the PostgreSQL store
 * `@refresh-grant/server/postgres`, so that importing one never loads the other.
 *
 * @example
 * ```ts
 * import http from 'node:http'
 * import { createAuthorizationServer, createNodeHandler, startMaintenance } from '@refresh-grant/server'
 * import { openSqliteStore } from '@refresh-grant/server/sqlite'
 *
 * const store = await openSqliteStore('./refresh-grant.db')
 * const server = await createAuthorizationServer({ issuer: 'http://127.0.0.1:8080', store, kek: { file: './refresh-grant.db.kek' } })
 * const maintenance = startMaintenance(server)
 * http.createServer(createNodeHandler(server)).listen(8080)
 * ```
 *
 * @packageDocumentation
 * @module @refresh-grant/server
 */
export { createAuthorizationServer, type AuthorizationServerOptions } from './server.ts';
export {
  AuthorizationServer,
  type DpopOptions,
  type GrantSummary,
  type IssueGrantInput,
  type IssuedGrant,
  type ClientChanges,
  type RegisterClientInput,
  type RegisteredClient,
} from './core/authorization-server.ts';
export { createNodeHandler, type NodeHandlerOptions, type ResponseInfo } from './http/node-handler.ts';
export { createNodeServer, nodeServerDefaults, type NodeServer, type NodeServerOptions, type NodeServerStats } from './http/node-server.ts';
export { createFetchHandler, type FetchHandlerOptions } from './http/fetch-handler.ts';
export { startMaintenance, type Maintenance, type MaintenanceOptions } from './operations/maintenance.ts';
export { createHealthChecks, type HealthChecks, type HealthOptions, type ReadinessChecks } from './operations/health.ts';
export { createJsonLogger, type JsonLoggerOptions, type Logger } from './operations/logger.ts';
export { createOperationsListener, type OperationsListenerOptions } from './operations/operations-listener.ts';
export { KekError, loadKek, openKek, type KekSource } from './kek.ts';
export { OAuthError, type OAuthErrorCode, type OAuthErrorEventFields, type OAuthErrorOptions } from './core/errors.ts';
export { verifyDpopProof, DpopNonces, SpentProofs, dpopSigningAlgs, dpopDefaults, type DpopProof, type DpopProofRequest, type DpopSettings } from './core/auth/dpop.ts';
export type { CorsOptions } from './core/cors.ts';
export { logLevels, type ServerEvent, type ServerEventType, type EventSink, type LogLevel } from './core/events.ts';
export type { AuthenticatedUser, ClaimsContext, Endpoints, PasswordCheck } from './core/context.ts';
export {
  Interactions,
  type ConsentResult,
  type InteractionDetails,
  type InteractionError,
  type InteractionOutcome,
} from './core/interactions/interactions.ts';
export type { CoreRequest, CoreResponse } from './core/http-types.ts';
export { StoreUnavailableError } from './core/store.ts';
export type {
  CodeRedemption,
  Store,
  StoreCapabilities,
  StoreStats,
  GrantFilter,
  GrantSession,
  RefreshDecision,
  RefreshRejection,
  RefreshSnapshot,
  RefreshUse,
} from './core/store.ts';
export type {
  AccessTokenFormat,
  AuthorizationCodeRecord,
  AuthorizationRequest,
  ClientRecord,
  ConsentRecord,
  GrantRecord,
  GrantType,
  JwtBearerIssuer,
  PushedAuthorizationRequestRecord,
  Jwk,
  NewRefreshToken,
  OpaqueAccessTokenRecord,
  RefreshTokenRecord,
  RefreshTokenState,
  SigningAlg,
  SigningKeyRecord,
  TokenEndpointAuthMethod,
} from './core/types.ts';
export type { TokenResponse } from './core/tokens/token-response.ts';
