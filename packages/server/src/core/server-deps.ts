/**
 * What an {@link AuthorizationServer} is built from, and how its options become the
 * {@link ServerContext} every endpoint shares: the issuer normalised, DPoP settings, CORS, the
 * interaction URL, each checked once at construction.
 */
import type { JWTVerifyGetKey } from 'jose';
import { endpointsFor, type AuthenticatedUser, type ClaimsContext, type PasswordCheck, type ServerContext } from './context.ts';
import { validateCors, type CorsOptions } from './cors.ts';
import { dpopDefaults, DpopNonces, dpopSigningAlgs, SpentProofs, type DpopSettings } from './auth/dpop.ts';
import type { EventSink } from './events.ts';
import { interactionKey } from './interactions/interaction-ref.ts';
import type { Store } from './store.ts';
import type { KeyRing } from './tokens/keyring.ts';
import type { AuthorizationServer } from './authorization-server.ts';

/** What {@link AuthorizationServer} is built from. */
export interface AuthorizationServerDeps {
  /** Issuer identifier: an https (or loopback http) URL without query or fragment. */
  issuer: string;
  store: Store;
  keys: KeyRing;
  kek: Uint8Array;
  resolveRemoteJwks: (jwksUri: string) => JWTVerifyGetKey;
  onEvent?: EventSink;
  /** Seconds since the epoch; injectable for tests. */
  clock?: () => number;
  /** DPoP (RFC 9449) settings; proofs are always accepted, nonces only required when asked. */
  dpop?: DpopOptions;
  /** CORS for browser clients on other origins (`core/cors.ts`); off by default. */
  cors?: CorsOptions;
  /**
   * Furthest a client assertion's `exp` may be from now, in seconds (RFC 7523 section 3); a
   * client's `assertionMaxLifetime` overrides it. @default 3600
   */
  assertionMaxLifetime?: number;
  /**
   * Where the authorization endpoint sends the browser to sign in and consent: the application's
   * page (absolute, or a path on the issuer's origin), which gets `?interaction=...` and uses
   * {@link AuthorizationServer.interactions}. Defaults to the development login when it is on.
   */
  interactionUrl?: string;
  /** Mount the development login at `/dev-login` (never in production). Default off. */
  devLogin?: boolean;
  /** Claims about a subject for UserInfo (OIDC Core section 5.3), filtered by the token's scope. */
  userClaims?: (subject: string, context: ClaimsContext) => Promise<Record<string, unknown> | undefined>;
  /** Checks a username and password for the legacy `password` grant; resolves to the user, or undefined. */
  verifyPassword?: (check: PasswordCheck) => Promise<AuthenticatedUser | undefined>;
}

/** DPoP settings of a server; the defaults are {@link dpopDefaults}. */
export interface DpopOptions {
  /**
   * Require a server nonce in every proof (RFC 9449 section 8). Nonces rotate every
   * `nonceSlotSeconds` and are derived from the KEK, so instances sharing it agree. Default off.
   */
  requireNonce?: boolean;
  /** Length of a nonce slot, in seconds (a nonce is accepted for one to two slots). @default 60 */
  nonceSlotSeconds?: number;
  /** How old a proof's `iat` may be, in seconds. @default 60 */
  maxAge?: number;
  /** How far in the future a proof's `iat` may be, in seconds. @default 5 */
  futureSkew?: number;
}

/**
 * The context of a server built from `deps`, its options checked (a TypeError for a bad one);
 * `issuer` is already normalised, `emit` sends to the server's sinks.
 */
export function serverContext(deps: AuthorizationServerDeps, issuer: string, emit: EventSink): ServerContext {
  const clock = deps.clock ?? (() => Math.floor(Date.now() / 1000));
  const ctx: ServerContext = {
    issuer,
    endpoints: endpointsFor(issuer),
    store: deps.store,
    keys: deps.keys,
    kek: deps.kek,
    resolveRemoteJwks: deps.resolveRemoteJwks,
    dpop: dpopSettings(deps.kek, deps.dpop),
    emit,
    now: clock,
    interactionKey: interactionKey(deps.kek),
    devLogin: deps.devLogin ?? false,
  };
  if (deps.assertionMaxLifetime !== undefined) {
    if (!Number.isInteger(deps.assertionMaxLifetime) || deps.assertionMaxLifetime <= 0) throw new TypeError('assertionMaxLifetime must be a whole number of seconds > 0');
    ctx.assertionMaxLifetime = deps.assertionMaxLifetime;
  }
  if (deps.cors) {
    validateCors(deps.cors);
    ctx.cors = deps.cors;
  }
  const interactionUrl = deps.interactionUrl ?? (deps.devLogin ? `${issuer}/dev-login` : undefined);
  if (interactionUrl !== undefined) ctx.interactionUrl = new URL(interactionUrl, issuer + '/').href;
  if (deps.userClaims) ctx.userClaims = deps.userClaims;
  if (deps.verifyPassword) ctx.verifyPassword = deps.verifyPassword;
  return ctx;
}

/** The DPoP settings of a server from its options. */
function dpopSettings(kek: Uint8Array, options: DpopOptions = {}): DpopSettings {
  const settings: DpopSettings = {
    algorithms: dpopSigningAlgs,
    maxAge: options.maxAge ?? dpopDefaults.maxAge,
    futureSkew: options.futureSkew ?? dpopDefaults.futureSkew,
    spent: new SpentProofs(),
  };
  for (const [name, value] of Object.entries({ maxAge: settings.maxAge, futureSkew: settings.futureSkew })) {
    if (!Number.isInteger(value) || value < 0) throw new TypeError(`dpop.${name} must be a whole number of seconds >= 0`);
  }
  if (options.requireNonce) settings.nonces = new DpopNonces(kek, options.nonceSlotSeconds ?? dpopDefaults.nonceSlot);
  return settings;
}

/** Checks and normalises the issuer (no trailing slash, no query or fragment). */
export function normalizeIssuer(issuer: string): string {
  const url = new URL(issuer);
  if (url.search || url.hash) throw new TypeError('issuer must not have a query or fragment');
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError('issuer must be an http(s) URL');
  return url.href.replace(/\/$/, '');
}
