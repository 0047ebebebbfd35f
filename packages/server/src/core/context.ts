/**
 * What every endpoint of the core needs, assembled once by the composition root
 * (`createAuthorizationServer`) and passed down. Holding it in one object keeps the
 * endpoint modules free of configuration plumbing.
 */
import type { JWTVerifyGetKey } from 'jose';
import type { CorsOptions } from './cors.ts';
import type { DpopSettings } from './auth/dpop.ts';
import type { EventSink } from './events.ts';
import type { Store } from './store.ts';
import type { KeyRing } from './tokens/keyring.ts';

/** Absolute URLs of the endpoints, derived from the issuer. */
export interface Endpoints {
  authorization: string;
  /** RFC 9126 pushed authorization requests. */
  pushedAuthorizationRequest: string;
  token: string;
  revocation: string;
  introspection: string;
  userinfo: string;
  jwks: string;
}

/** What the application checks for the legacy `password` grant (the `verifyPassword` option). */
export interface PasswordCheck {
  username: string;
  password: string;
  clientId: string;
}

/** Who a password, a login or an assertion authenticated. */
export interface AuthenticatedUser {
  subject: string;
  /** When the user authenticated (seconds); defaults to now. */
  authTime?: number;
  /** OIDC `acr`, repeated in the grant's id_tokens. */
  acr?: string;
  /** OIDC `amr`, repeated in the grant's id_tokens. */
  amr?: string[];
}

/** The context an application's claims callback receives. */
export interface ClaimsContext {
  clientId: string;
  /** The access token's scope values. */
  scope: string[];
}

/** The server's dependencies and settings, shared by every endpoint. */
export interface ServerContext {
  issuer: string;
  endpoints: Endpoints;
  store: Store;
  keys: KeyRing;
  /** Key-encryption key: seals signing keys and `client_secret_jwt` secrets at rest. */
  kek: Uint8Array;
  /** Remote JWKS for `private_key_jwt` clients registered with a `jwks_uri` (I/O, injected). */
  resolveRemoteJwks: (jwksUri: string) => JWTVerifyGetKey;
  /** RFC 9449: accepted proof algorithms, the `iat` window, and the server nonces when required. */
  dpop: DpopSettings;
  emit: EventSink;
  /** Furthest a client assertion's `exp` may be, in seconds, unless the client sets its own. */
  assertionMaxLifetime?: number;
  /** Browser clients on other origins; off when undefined. */
  cors?: CorsOptions;
  /** Seconds since the epoch. */
  now(): number;
  /** Where the browser is sent to sign in and consent (the application's page); undefined: no login configured. */
  interactionUrl?: string;
  /** Seals interaction references (derived from the KEK, so instances sharing it agree). */
  interactionKey: Uint8Array;
  /** The development login is mounted at `/dev-login` (serve --dev-login). */
  devLogin: boolean;
  /** The application's claims about a subject, for UserInfo (OIDC Core section 5.3); I/O, injected. */
  userClaims?: (subject: string, context: ClaimsContext) => Promise<Record<string, unknown> | undefined>;
  /** The application's check of a username and password (the legacy `password` grant); I/O, injected. */
  verifyPassword?: (check: PasswordCheck) => Promise<AuthenticatedUser | undefined>;
}

/** The endpoints' URLs for an issuer (no trailing slash). */
export function endpointsFor(issuer: string): Endpoints {
  return {
    authorization: `${issuer}/authorize`,
    pushedAuthorizationRequest: `${issuer}/par`,
    token: `${issuer}/token`,
    revocation: `${issuer}/revoke`,
    introspection: `${issuer}/introspect`,
    userinfo: `${issuer}/userinfo`,
    jwks: `${issuer}/jwks`,
  };
}
