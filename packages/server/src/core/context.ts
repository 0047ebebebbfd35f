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
  token: string;
  revocation: string;
  introspection: string;
  jwks: string;
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
}

/** The endpoints' URLs for an issuer (no trailing slash). */
export function endpointsFor(issuer: string): Endpoints {
  return {
    token: `${issuer}/token`,
    revocation: `${issuer}/revoke`,
    introspection: `${issuer}/introspect`,
    jwks: `${issuer}/jwks`,
  };
}
