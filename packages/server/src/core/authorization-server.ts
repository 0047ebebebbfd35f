/**
 * The authorization server as an object: request handling for the HTTP adapters, plus the
 * programmatic operations an embedding application needs (register clients, issue the first
 * refresh token after its own login, revoke grants, rotate signing keys). No I/O of its own:
 * the store, the keys and the remote JWKS resolver are handed in.
 *
 * A composition: the options become the context in `server-deps.ts`, clients are administered in
 * `client-admin.ts`, grants in `grant-admin.ts`, signing keys in `key-rotation.ts`.
 */
import type { ServerContext } from './context.ts';
import { combineSinks, type EventSink, type ServerEvent } from './events.ts';
import type { CoreRequest, CoreResponse } from './http-types.ts';
import { Interactions } from './interactions/interactions.ts';
import { route } from './router.ts';
import type { GrantFilter, Store } from './store.ts';
import type { ClientRecord } from './types.ts';
import type { KeyRing } from './tokens/keyring.ts';
import { registerClient, rotateClientSecret, updateClient, type ClientChanges, type RegisterClientInput, type RegisteredClient } from './client-admin.ts';
import { issueGrant, listGrants, revokeGrant, revokeGrants, type GrantSummary, type IssueGrantInput, type IssuedGrant } from './grant-admin.ts';
import { rotateKeys } from './key-rotation.ts';
import { normalizeIssuer, serverContext, type AuthorizationServerDeps } from './server-deps.ts';

export { keyActivationDelay, longestTokenLifetime } from './key-rotation.ts';
export { normalizeIssuer, type AuthorizationServerDeps, type DpopOptions } from './server-deps.ts';
export type { ClientChanges, RegisterClientInput, RegisteredClient } from './client-admin.ts';
export type { GrantSummary, IssueGrantInput, IssuedGrant } from './grant-admin.ts';

/**
 * An authorization server whose token endpoint implements the refresh token grant.
 *
 * @example
 * ```ts
 * const server = await createAuthorizationServer({ issuer: 'http://127.0.0.1:8080', store })
 * const { clientSecret } = await server.registerClient({ clientId: 'app', authMethod: 'client_secret_basic' })
 * const { tokens } = await server.issueGrant({ clientId: 'app', subject: 'alice', scope: 'openid offline_access' })
 * http.createServer(createNodeHandler(server)).listen(8080)
 * ```
 */
export class AuthorizationServer {
  readonly issuer: string;
  readonly store: Store;
  readonly keys: KeyRing;
  /** The issuer's path ('' at the root): where the endpoints are mounted. */
  readonly basePath: string;
  /** The hand-off to the application's login and consent pages. */
  readonly interactions: Interactions;
  readonly #ctx: ServerContext;
  readonly #sinks: EventSink[] = [];
  /** Every sink, combined once (not per event: the token endpoint emits on every refresh). */
  #emit: EventSink;

  constructor(deps: AuthorizationServerDeps) {
    const issuer = normalizeIssuer(deps.issuer);
    this.issuer = issuer;
    this.store = deps.store;
    this.keys = deps.keys;
    this.basePath = new URL(issuer).pathname.replace(/\/$/, '');
    if (deps.onEvent) this.#sinks.push(deps.onEvent);
    this.#emit = combineSinks(this.#sinks);
    this.#ctx = serverContext(deps, issuer, (event) => this.#emit(event));
    this.interactions = new Interactions(this.#ctx);
  }

  /** Endpoint URLs. */
  get endpoints(): ServerContext['endpoints'] {
    return this.#ctx.endpoints;
  }

  /** Adds an event listener (structured events, never tokens). */
  onEvent(sink: EventSink): void {
    this.#sinks.push(sink);
    this.#emit = combineSinks(this.#sinks);
  }

  /** Sends an event to every sink: for operations that run beside the server (maintenance). */
  emit(event: ServerEvent): void {
    this.#emit(event);
  }

  /** Answers a request addressed to a path relative to {@link basePath}. Never throws. */
  handle(request: CoreRequest): Promise<CoreResponse> {
    return route(this.#ctx, request);
  }

  /**
   * Registers (or replaces) a client. Secrets are generated here with 256 bits of entropy and
   * returned once; only their hash is stored (`client_secret_jwt`: sealed under the KEK).
   * A `scope` left out (or empty) lets the client be granted any scope.
   */
  registerClient(input: RegisterClientInput): Promise<RegisteredClient> {
    return registerClient(this.#ctx, input);
  }

  /**
   * Changes settings of a registered client; what `changes` leaves out stays as it is. Keys:
   * `jwks` replaces `jwksUri` and the other way round. The authentication method and the secret
   * stay (see {@link rotateClientSecret}). Throws a TypeError for an unknown client.
   */
  updateClient(clientId: string, changes: ClientChanges): Promise<ClientRecord> {
    return updateClient(this.#ctx, clientId, changes);
  }

  /**
   * Gives a `client_secret_basic`, `client_secret_post` or `client_secret_jwt` client a new
   * secret (returned once); the old one stops working at once. Throws a TypeError for an unknown
   * client or one without a secret.
   */
  rotateClientSecret(clientId: string): Promise<RegisteredClient & { clientSecret: string }> {
    return rotateClientSecret(this.#ctx, clientId);
  }

  /**
   * Issues a first grant for a subject (after the application's own login, or from the CLI):
   * an access token, an id_token for `openid`, and a refresh token unless the scope has
   * `openid` without `offline_access` (OIDC Core section 11).
   */
  issueGrant(input: IssueGrantInput): Promise<IssuedGrant> {
    return issueGrant(this.#ctx, input);
  }

  /** Revokes a grant's whole family; true if it was active. */
  revokeGrant(familyId: string, reason = 'admin'): Promise<boolean> {
    return revokeGrant(this.#ctx, familyId, reason);
  }

  /**
   * A subject's (or a client's) grants, newest first: client, scope, creation, last use, generation,
   * DPoP binding. Live ones only, unless `includeInactive`.
   *
   * @example
   * ```ts
   * const sessions = await server.listGrants({ subject: 'alice' })
   * ```
   */
  listGrants(filter: GrantFilter & { includeInactive?: boolean }): Promise<GrantSummary[]> {
    return listGrants(this.#ctx, filter);
  }

  /**
   * Revokes every active grant of a subject ("log out everywhere", account compromise), of a
   * client, or of a subject at one client, in one statement; one `grant.revoked` event per grant,
   * with `reason`. Returns the revoked family ids.
   *
   * @example
   * ```ts
   * await server.revokeGrants({ subject: 'alice' }, 'account_compromised')
   * ```
   */
  revokeGrants(filter: GrantFilter, reason = 'admin'): Promise<string[]> {
    return revokeGrants(this.#ctx, filter, reason);
  }

  /**
   * Adds a new signing key without downtime. It is published at once and signs only after
   * `activateAfter` seconds (default 120, twice the servers' key reload interval), so that every
   * instance publishes it before a token signed with it exists; the previous key stays published
   * until every token it may have signed has expired.
   */
  rotateKeys(options: { activateAfter?: number } = {}): Promise<{ kid: string; activatesAt: number }> {
    return rotateKeys(this.#ctx, options);
  }

  /**
   * Releases what the server holds besides the store (a signing thread); the store is the
   * caller's to close. Call it after the HTTP server stopped taking requests.
   */
  async close(): Promise<void> {
    await this.keys.close();
  }
}
