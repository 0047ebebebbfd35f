/**
 * The composition root: builds an {@link AuthorizationServer} from a store and settings,
 * wiring the pieces that do I/O (remote JWKS fetching, the KEK file, the log).
 */
import { AuthorizationServer, type DpopOptions } from './core/authorization-server.ts';
import type { AuthenticatedUser, ClaimsContext, PasswordCheck } from './core/context.ts';
import type { CorsOptions } from './core/cors.ts';
import { devLoginClient } from './core/endpoints/dev-login.ts';
import { jsonLineSink, type EventSink } from './core/events.ts';
import type { Store } from './core/store.ts';
import type { SigningAlg } from './core/types.ts';
import { createRemoteJwksResolver } from './jwks-resolver.ts';
import { openKek, type KekError, type KekSource } from './kek.ts';
import { KeyRing } from './core/tokens/keyring.ts';
import { SigningThread } from './signing/signing-thread.ts';

/** Settings of {@link createAuthorizationServer}. */
export interface AuthorizationServerOptions {
  issuer: string;
  store: Store;
  /**
   * The key-encryption key itself, or where to load it from. A KEK file is created only for a
   * store with nothing sealed yet; when the store holds sealed signing keys or secrets and the
   * KEK is missing or another one, creation fails with a {@link KekError} naming the KEK.
   */
  kek: Uint8Array | KekSource;
  /** Algorithm of the first signing key (default ES256). */
  signingAlg?: SigningAlg;
  /** Lifecycle events; by default one JSON line per event on stderr. `false` silences the log. */
  log?: EventSink | false;
  onEvent?: EventSink;
  /** Seconds since the epoch; for tests. */
  clock?: () => number;
  /** DPoP (RFC 9449): require server nonces, proof freshness window. */
  dpop?: DpopOptions;
  /**
   * Compute JWS signatures on a worker thread (`signing/signing-thread.ts`), so that they use
   * another core while the event loop serves other requests. `serve` turns it on when the
   * machine has more than one CPU. Stopped by {@link AuthorizationServer.close}. Default off.
   */
  signingThread?: boolean;
  /** CORS for browser clients on other origins, e.g. `{ origins: ['https://app.example'] }`. Default off. */
  cors?: CorsOptions;
  /** Furthest a client assertion's `exp` may be from now, in seconds; per client too. Default 3600. */
  assertionMaxLifetime?: number;
  /**
   * The application's sign-in page (absolute, or a path on the issuer's origin): the
   * authorization endpoint sends the browser there with `?interaction=...`, and the page finishes
   * with `server.interactions` (see README, "Your login, our protocol").
   */
  interactionUrl?: string;
  /**
   * The development login at `/dev-login` and its demo client `dev-login-demo` (registered here):
   * anyone signs in as any subject. Never in production. Default off.
   */
  devLogin?: boolean;
  /** Claims about a subject for UserInfo, e.g. from your user database; filtered by scope. */
  userClaims?: (subject: string, context: ClaimsContext) => Promise<Record<string, unknown> | undefined>;
  /** Checks a username and password for the legacy `password` grant (off unless a client lists it). */
  verifyPassword?: (check: PasswordCheck) => Promise<AuthenticatedUser | undefined>;
}

/**
 * Creates an authorization server over a store.
 *
 * @example
 * ```ts
 * const store = await openSqliteStore('./refresh-grant.db')
 * const server = await createAuthorizationServer({ issuer: 'http://127.0.0.1:8080', store, kek: { file: './refresh-grant.db.kek' } })
 * http.createServer(createNodeHandler(server)).listen(8080)
 * ```
 */
export async function createAuthorizationServer(options: AuthorizationServerOptions): Promise<AuthorizationServer> {
  // A KEK is created only for a store with nothing sealed yet; a missing or different one is a KekError.
  const kek = await openKek(options.kek, options.store);
  const signatures = options.signingThread ? SigningThread.start() : undefined;
  const keys = await KeyRing.load(options.store, kek, { alg: options.signingAlg ?? 'ES256', clock: options.clock, signatures });
  const log = options.log === undefined ? jsonLineSink((line) => process.stderr.write(line)) : options.log || undefined;
  const server = new AuthorizationServer({
    issuer: options.issuer,
    store: options.store,
    keys,
    kek,
    resolveRemoteJwks: createRemoteJwksResolver(),
    onEvent: options.onEvent,
    clock: options.clock,
    dpop: options.dpop,
    cors: options.cors,
    assertionMaxLifetime: options.assertionMaxLifetime,
    interactionUrl: options.interactionUrl,
    devLogin: options.devLogin,
    userClaims: options.userClaims,
    verifyPassword: options.verifyPassword,
  });
  if (log) server.onEvent(log);
  if (options.devLogin) {
    // The demo client's redirection URI follows the issuer (a new port on every `serve --port 0`).
    const demo = devLoginClient(server.issuer);
    const existing = await options.store.getClient(demo.clientId);
    if (existing?.redirectUris?.[0] !== demo.redirectUris[0]) await server.registerClient(demo);
  }
  return server;
}
