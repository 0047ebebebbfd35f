/**
 * @refresh-grant/server/core: the protocol core, without I/O. For embedding the endpoints'
 * logic in another HTTP stack, or writing a store backend against the {@link Store} contract.
 *
 * @example
 * ```ts
 * import { decideRefresh, type Store } from '@refresh-grant/server/core'
 * ```
 *
 * @packageDocumentation
 * @module @refresh-grant/server/core
 */
export {
  AuthorizationServer,
  keyActivationDelay,
  normalizeIssuer,
  type AuthorizationServerDeps,
  type DpopOptions,
  type GrantSummary,
  type IssueGrantInput,
  type IssuedGrant,
  type ClientChanges,
  type RegisterClientInput,
  type RegisteredClient,
} from './authorization-server.ts';
export { OAuthError, toOAuthError, type OAuthErrorCode, type OAuthErrorEventFields, type OAuthErrorOptions } from './errors.ts';
export type { AuthenticatedUser, ClaimsContext, Endpoints, PasswordCheck } from './context.ts';
export {
  Interactions,
  type ConsentResult,
  type InteractionDetails,
  type InteractionError,
  type InteractionOutcome,
} from './interactions/interactions.ts';
export { redirectUriMatches, redirectUriProblem } from './interactions/redirect-uri.ts';
export { devLoginClientId } from './endpoints/dev-login.ts';
export { validateCors, type CorsOptions } from './cors.ts';
export { boundEvent, combineSinks, eventFieldLimits, eventLevel, jsonLineSink, logLevels, logLine, maxLogFieldLength, type EventSink, type LogLevel, type ServerEvent, type ServerEventType } from './events.ts';
export { errorResponse, jsonResponse, maxBodyBytes, type CoreRequest, type CoreResponse } from './http-types.ts';
export {
  StoreUnavailableError,
  authorizationCodeRetention,
  lastUse,
  type CodeRedemption,
  type GrantFilter,
  type GrantSession,
  type RefreshDecision,
  type RefreshRejection,
  type RefreshSnapshot,
  type RefreshUse,
  type Store,
  type StoreCapabilities,
  type StoreStats,
} from './store.ts';
export {
  allowedGrantTypes,
  clientDefaults,
  defaultGrantTypes,
  grantTypes,
  jwtBearerGrantType,
  tokenEndpointAuthMethods,
  type AccessTokenFormat,
  type AuthorizationCodeRecord,
  type AuthorizationRequest,
  type ClientRecord,
  type ConsentRecord,
  type GrantRecord,
  type GrantType,
  type JwtBearerIssuer,
  type PushedAuthorizationRequestRecord,
  type Jwk,
  type NewRefreshToken,
  type OpaqueAccessTokenRecord,
  type RefreshTokenRecord,
  type RefreshTokenState,
  type SigningAlg,
  type SigningKeyRecord,
  type TokenEndpointAuthMethod,
} from './types.ts';
export {
  DpopNonces,
  dpopDefaults,
  dpopSigningAlgs,
  SpentProofs,
  normalizeHtu,
  verifyDpopProof,
  type DpopProof,
  type DpopProofRequest,
  type DpopSettings,
} from './auth/dpop.ts';
export { decideRefresh, mustRotate, type RefreshRules } from './grants/refresh-token.ts';
export { KeyRing, type KeyRingOptions, type KeyStore } from './tokens/keyring.ts';
export type { JwsKey, SignatureStats, SignatureWorker } from './tokens/jws.ts';
