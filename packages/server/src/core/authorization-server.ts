/**
 * The authorization server as an object: request handling for the HTTP adapters, plus the
 * programmatic operations an embedding application needs (register clients, issue the first
 * refresh token after its own login, revoke grants, rotate signing keys). No I/O of its own:
 * the store, the keys and the remote JWKS resolver are handed in.
 */
import type { JWTVerifyGetKey } from 'jose';
import { endpointsFor, type AuthenticatedUser, type ClaimsContext, type PasswordCheck, type ServerContext } from './context.ts';
import { validateCors, type CorsOptions } from './cors.ts';
import { randomHandle, randomId, seal, sha256, tokenPrefixes } from './crypto.ts';
import { dpopDefaults, DpopNonces, dpopSigningAlgs, SpentProofs, type DpopSettings } from './auth/dpop.ts';
import { combineSinks, type EventSink, type ServerEvent } from './events.ts';
import type { CoreRequest, CoreResponse } from './http-types.ts';
import { familyTokens, newFamily } from './grants/new-family.ts';
import { interactionKey } from './interactions/interaction-ref.ts';
import { Interactions } from './interactions/interactions.ts';
import { redirectUriProblem } from './interactions/redirect-uri.ts';
import { route } from './router.ts';
import { formatScope, isWellFormedScope, missingFrom, parseScope } from './scope.ts';
import type { GrantFilter, Store } from './store.ts';
import type { TokenResponse } from './tokens/token-response.ts';
import {
  clientDefaults,
  grantTypes,
  type AccessTokenFormat,
  type ClientRecord,
  type GrantType,
  type Jwk,
  type JwtBearerIssuer,
  type TokenEndpointAuthMethod,
} from './types.ts';
import type { KeyRing } from './tokens/keyring.ts';

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

/** Settings of a client to register; omitted ones take {@link clientDefaults}. */
export interface RegisterClientInput {
  clientId?: string;
  authMethod: TokenEndpointAuthMethod;
  jwks?: { keys: Jwk[] };
  jwksUri?: string;
  scope?: string;
  resources?: string[];
  rotation?: boolean;
  retryWindow?: number;
  idleTtl?: number;
  absoluteTtl?: number;
  accessTokenTtl?: number;
  accessTokenFormat?: AccessTokenFormat;
  idTokenTtl?: number;
  /** Furthest this client's assertions' `exp` may be, in seconds; default: the server's. */
  assertionMaxLifetime?: number;
  /** Redirection URIs for the authorization endpoint (https, loopback http, or a private-use scheme). */
  redirectUris?: string[];
  /** Grant types the client may use; default `authorization_code` and `refresh_token`. */
  grantTypes?: GrantType[];
  /** RFC 9126 section 6: only pushed authorization requests. */
  requirePushedAuthorizationRequests?: boolean;
  /** RFC 7523 section 2.1: issuers whose assertions the client may exchange (adds the grant type when `grantTypes` is not given). */
  jwtBearerIssuers?: JwtBearerIssuer[];
  /**
   * A resource server that may call the introspection endpoint (RFC 7662 section 2.1); not for a
   * public (`none`) client. It sees as active the tokens issued to it and those whose audience
   * names its client id (register it under its resource indicator to match RFC 8707 `resource`).
   */
  introspection?: boolean;
}

/** What {@link AuthorizationServer.updateClient} may change; `scope: ''` means any scope. */
export type ClientChanges = Partial<Omit<RegisterClientInput, 'clientId' | 'authMethod'>>;

/** A registered client and, for secret-based methods, its secret (shown once, stored hashed). */
export interface RegisteredClient {
  client: ClientRecord;
  clientSecret?: string;
}

/** The first grant, as an embedding application issues it after its own login. */
export interface IssueGrantInput {
  clientId: string;
  subject: string;
  scope: string;
  resources?: string[];
  /** When the user authenticated; defaults to now. */
  authTime?: number;
  /** Claims the id_tokens of this grant repeat (`acr`, `amr`). */
  idTokenClaims?: Record<string, unknown>;
  /**
   * RFC 9449: the JWK SHA-256 thumbprint of the client's DPoP key. The access token is bound to it
   * (`token_type: DPoP`); for a public client the refresh token family is bound too, so every
   * refresh needs a proof by that key (RFC 9449 section 5). Confidential clients' refresh tokens
   * are not bound: they are sender-constrained by client authentication already.
   */
  dpopJkt?: string;
}

/** One grant (a session of a subject at a client) as {@link AuthorizationServer.listGrants} lists it. */
export interface GrantSummary {
  familyId: string;
  clientId: string;
  subject: string;
  scope: string;
  createdAt: number;
  /** When a refresh token of the grant was last used; absent: never refreshed. */
  lastUsedAt?: number;
  /** Generation of its newest refresh token (1 until the first rotation). */
  generation: number;
  /** RFC 9449: bound to a DPoP key (its thumbprint in `dpopJkt`). */
  dpopBound: boolean;
  dpopJkt?: string;
  /** The authorization's absolute expiry. */
  expiresAt: number;
  /** Revoked or expired ones are listed only with `includeInactive`. */
  active: boolean;
  revokedAt?: number;
  revokedReason?: string;
}

/** The result of {@link AuthorizationServer.issueGrant}. */
export interface IssuedGrant {
  familyId: string;
  /** The section 5.1 token response, in wire names. */
  tokens: TokenResponse;
}

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
    const clock = deps.clock ?? (() => Math.floor(Date.now() / 1000));
    if (deps.onEvent) this.#sinks.push(deps.onEvent);
    this.#emit = combineSinks(this.#sinks);
    const emit: EventSink = (event) => this.#emit(event);
    this.#ctx = {
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
      this.#ctx.assertionMaxLifetime = deps.assertionMaxLifetime;
    }
    if (deps.cors) {
      validateCors(deps.cors);
      this.#ctx.cors = deps.cors;
    }
    const interactionUrl = deps.interactionUrl ?? (deps.devLogin ? `${issuer}/dev-login` : undefined);
    if (interactionUrl !== undefined) this.#ctx.interactionUrl = new URL(interactionUrl, issuer + '/').href;
    if (deps.userClaims) this.#ctx.userClaims = deps.userClaims;
    if (deps.verifyPassword) this.#ctx.verifyPassword = deps.verifyPassword;
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
  async registerClient(input: RegisterClientInput): Promise<RegisteredClient> {
    const client: ClientRecord = {
      clientId: input.clientId ?? randomId(),
      authMethod: input.authMethod,
      scope: input.scope ?? '',
      resources: input.resources ?? [],
      rotation: input.rotation ?? clientDefaults.rotation,
      retryWindow: input.retryWindow ?? clientDefaults.retryWindow,
      idleTtl: input.idleTtl ?? clientDefaults.idleTtl,
      absoluteTtl: input.absoluteTtl ?? clientDefaults.absoluteTtl,
      accessTokenTtl: input.accessTokenTtl ?? clientDefaults.accessTokenTtl,
      accessTokenFormat: input.accessTokenFormat ?? clientDefaults.accessTokenFormat,
      idTokenTtl: input.idTokenTtl ?? clientDefaults.idTokenTtl,
      createdAt: this.#ctx.now(),
    };
    if (input.assertionMaxLifetime !== undefined) client.assertionMaxLifetime = input.assertionMaxLifetime;
    if (input.redirectUris && input.redirectUris.length > 0) client.redirectUris = [...new Set(input.redirectUris)];
    if (input.grantTypes) client.grantTypes = [...new Set(input.grantTypes)];
    else if (input.jwtBearerIssuers?.length) client.grantTypes = ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:jwt-bearer'];
    if (input.requirePushedAuthorizationRequests) client.requirePushedAuthorizationRequests = true;
    if (input.jwtBearerIssuers?.length) client.jwtBearerIssuers = input.jwtBearerIssuers;
    if (input.introspection) client.introspection = true;
    if (client.authMethod === 'private_key_jwt') {
      if (input.jwks) client.jwks = input.jwks;
      if (input.jwksUri) client.jwksUri = input.jwksUri;
    }
    validateClient(client);
    const clientSecret = this.#newSecret(client);
    await this.store.saveClient(client);
    return clientSecret === undefined ? { client } : { client, clientSecret };
  }

  /**
   * Changes settings of a registered client; what `changes` leaves out stays as it is. Keys:
   * `jwks` replaces `jwksUri` and the other way round. The authentication method and the secret
   * stay (see {@link rotateClientSecret}). Throws a TypeError for an unknown client.
   */
  async updateClient(clientId: string, changes: ClientChanges): Promise<ClientRecord> {
    const current = await this.store.getClient(clientId);
    if (!current) throw new TypeError(`unknown client ${clientId}`);
    const client: ClientRecord = { ...current };
    for (const [name, value] of Object.entries(changes) as Array<[keyof ClientChanges, unknown]>) {
      if (value !== undefined && name !== 'jwks' && name !== 'jwksUri') (client as unknown as Record<string, unknown>)[name] = value;
    }
    if (changes.jwks !== undefined || changes.jwksUri !== undefined) {
      if (client.authMethod !== 'private_key_jwt') throw new TypeError(`client ${clientId} does not use private_key_jwt: it has no keys`);
      delete client.jwks;
      delete client.jwksUri;
      if (changes.jwks) client.jwks = changes.jwks;
      if (changes.jwksUri) client.jwksUri = changes.jwksUri;
    }
    validateClient(client);
    await this.store.saveClient(client);
    return client;
  }

  /**
   * Gives a `client_secret_basic`, `client_secret_post` or `client_secret_jwt` client a new
   * secret (returned once); the old one stops working at once. Throws a TypeError for an unknown
   * client or one without a secret.
   */
  async rotateClientSecret(clientId: string): Promise<RegisteredClient & { clientSecret: string }> {
    const current = await this.store.getClient(clientId);
    if (!current) throw new TypeError(`unknown client ${clientId}`);
    const client: ClientRecord = { ...current };
    delete client.secretHash;
    delete client.secretSealed;
    const clientSecret = this.#newSecret(client);
    if (clientSecret === undefined) throw new TypeError(`client ${clientId} uses ${client.authMethod}: it has no secret`);
    await this.store.saveClient(client);
    return { client, clientSecret };
  }

  /** A new secret for a secret-based client, set on `client` (hashed, or sealed for HMAC). */
  #newSecret(client: ClientRecord): string | undefined {
    if (client.authMethod === 'client_secret_basic' || client.authMethod === 'client_secret_post') {
      const secret = randomHandle(tokenPrefixes.clientSecret);
      client.secretHash = sha256(secret);
      return secret;
    }
    if (client.authMethod === 'client_secret_jwt') {
      const secret = randomHandle(tokenPrefixes.clientSecret);
      client.secretSealed = seal(this.#ctx.kek, secret, `client-secret:${client.clientId}`);
      return secret;
    }
    return undefined;
  }

  /**
   * Issues a first grant for a subject (after the application's own login, or from the CLI):
   * an access token, an id_token for `openid`, and a refresh token unless the scope has
   * `openid` without `offline_access` (OIDC Core section 11).
   */
  async issueGrant(input: IssueGrantInput): Promise<IssuedGrant> {
    const ctx = this.#ctx;
    const client = await this.store.getClient(input.clientId);
    if (!client) throw new TypeError(`unknown client ${input.clientId}`);
    if (!input.subject) throw new TypeError('subject is required');
    const scope = parseScope(input.scope);
    if (input.scope !== '' && !isWellFormedScope(input.scope)) throw new TypeError('scope is malformed');
    const resources = input.resources ?? [];
    if (client.scope !== '' && missingFrom(scope, parseScope(client.scope)).length > 0) {
      throw new TypeError(`scope not allowed for client ${client.clientId}: ${missingFrom(scope, parseScope(client.scope)).join(' ')}`);
    }
    if (client.resources.length > 0 && missingFrom(resources, client.resources).length > 0) {
      throw new TypeError(`resource not allowed for client ${client.clientId}`);
    }
    if (input.dpopJkt !== undefined && !/^[A-Za-z0-9_-]{43}$/.test(input.dpopJkt)) {
      throw new TypeError('dpopJkt must be a base64url SHA-256 JWK thumbprint (43 characters, RFC 7638)');
    }
    const now = ctx.now();
    const family = newFamily({
      client,
      subject: input.subject,
      scope: formatScope(scope),
      resources,
      authTime: input.authTime ?? now,
      idTokenClaims: input.idTokenClaims,
      dpopJkt: input.dpopJkt,
      now,
    });
    await this.store.createGrant(family.grant, family.firstToken);
    const tokens = await familyTokens(ctx, family, { client, dpopJkt: input.dpopJkt });
    return { familyId: family.grant.familyId, tokens };
  }

  /** Revokes a grant's whole family; true if it was active. */
  async revokeGrant(familyId: string, reason = 'admin'): Promise<boolean> {
    const now = this.#ctx.now();
    const revoked = await this.store.revokeGrant(familyId, reason, now);
    if (revoked) this.#ctx.emit({ type: 'grant.revoked', at: now, familyId, reason });
    return revoked;
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
  async listGrants(filter: GrantFilter & { includeInactive?: boolean }): Promise<GrantSummary[]> {
    const now = this.#ctx.now();
    const sessions = await this.store.listSessions({ subject: filter.subject, clientId: filter.clientId });
    const summaries = sessions.map(({ grant, generation, lastUsedAt }): GrantSummary => {
      const summary: GrantSummary = {
        familyId: grant.familyId,
        clientId: grant.clientId,
        subject: grant.subject,
        scope: grant.scope,
        createdAt: grant.createdAt,
        generation,
        dpopBound: grant.dpopJkt !== undefined,
        expiresAt: grant.expiresAt,
        active: grant.revokedAt === undefined && grant.expiresAt > now,
      };
      if (lastUsedAt !== undefined) summary.lastUsedAt = lastUsedAt;
      if (grant.dpopJkt !== undefined) summary.dpopJkt = grant.dpopJkt;
      if (grant.revokedAt !== undefined) summary.revokedAt = grant.revokedAt;
      if (grant.revokedReason !== undefined) summary.revokedReason = grant.revokedReason;
      return summary;
    });
    return filter.includeInactive ? summaries : summaries.filter((s) => s.active);
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
  async revokeGrants(filter: GrantFilter, reason = 'admin'): Promise<string[]> {
    if (!filter.subject && !filter.clientId) throw new TypeError('revokeGrants needs a subject or a clientId');
    if (!/^[\x21-\x7E]{1,64}$/.test(reason)) throw new TypeError('reason must be 1-64 visible ASCII characters');
    const now = this.#ctx.now();
    const revoked = await this.store.revokeGrants({ subject: filter.subject, clientId: filter.clientId }, reason, now);
    for (const familyId of revoked) {
      this.#ctx.emit({ type: 'grant.revoked', at: now, familyId, reason, ...(filter.clientId && { clientId: filter.clientId }), ...(filter.subject && { subject: filter.subject }) });
    }
    return revoked;
  }

  /**
   * Adds a new signing key without downtime. It is published at once and signs only after
   * `activateAfter` seconds (default 120, twice the servers' key reload interval), so that every
   * instance publishes it before a token signed with it exists; the previous key stays published
   * until every token it may have signed has expired.
   */
  async rotateKeys(options: { activateAfter?: number } = {}): Promise<{ kid: string; activatesAt: number }> {
    const now = this.#ctx.now();
    const activateAt = now + (options.activateAfter ?? keyActivationDelay);
    const longest = await longestTokenLifetime(this.store);
    const record = await this.keys.rotate({ now, activateAt, removeRetiredAfter: activateAt + longest });
    return { kid: record.kid, activatesAt: record.createdAt };
  }

  /**
   * Releases what the server holds besides the store (a signing thread); the store is the
   * caller's to close. Call it after the HTTP server stopped taking requests.
   */
  async close(): Promise<void> {
    await this.keys.close();
  }
}

/** Seconds between publishing a rotated key and signing with it: twice the key reload interval of `startMaintenance`. */
export const keyActivationDelay = 120;

/** The longest access token or id_token lifetime of any client (what a retired key may have signed). */
export async function longestTokenLifetime(store: Store): Promise<number> {
  let longest = Math.max(clientDefaults.accessTokenTtl, clientDefaults.idTokenTtl);
  for (const c of await store.listClients()) longest = Math.max(longest, c.accessTokenTtl, c.idTokenTtl);
  return longest;
}

function validateClient(client: ClientRecord): void {
  if (!/^[\x21-\x7E]{1,200}$/.test(client.clientId)) throw new TypeError('client_id must be 1-200 visible ASCII characters');
  if (client.authMethod === 'private_key_jwt' && !client.jwks && !client.jwksUri) {
    throw new TypeError('private_key_jwt needs jwks or jwksUri');
  }
  if (client.jwksUri && !/^https?:\/\//.test(client.jwksUri)) throw new TypeError('jwksUri must be an http(s) URL');
  if (!Number.isInteger(client.retryWindow) || client.retryWindow < 0) {
    throw new TypeError('retryWindow must be a whole number of seconds >= 0');
  }
  for (const [name, value] of Object.entries({
    ...(client.assertionMaxLifetime !== undefined && { assertionMaxLifetime: client.assertionMaxLifetime }),
    idleTtl: client.idleTtl,
    absoluteTtl: client.absoluteTtl,
    accessTokenTtl: client.accessTokenTtl,
    idTokenTtl: client.idTokenTtl,
  })) {
    if (!Number.isInteger(value) || value <= 0) throw new TypeError(`${name} must be a whole number of seconds > 0`);
  }
  if (client.scope !== '' && !isWellFormedScope(client.scope)) throw new TypeError('scope is malformed');
  for (const uri of client.redirectUris ?? []) {
    const problem = redirectUriProblem(uri);
    if (problem) throw new TypeError(`redirect URI ${JSON.stringify(uri)} ${problem}`);
  }
  for (const type of client.grantTypes ?? []) {
    if (!grantTypes.includes(type)) throw new TypeError(`unsupported grant type ${JSON.stringify(type)} (one of ${grantTypes.join(', ')})`);
  }
  for (const trusted of client.jwtBearerIssuers ?? []) {
    if (typeof trusted.issuer !== 'string' || trusted.issuer === '') throw new TypeError('a jwt-bearer issuer needs an issuer');
    if (!trusted.jwks === !trusted.jwksUri) throw new TypeError(`jwt-bearer issuer ${trusted.issuer} needs jwks or jwksUri (one of them)`);
    if (trusted.jwks && !Array.isArray(trusted.jwks.keys)) throw new TypeError(`jwt-bearer issuer ${trusted.issuer}: jwks must be a JWK Set`);
    if (trusted.jwksUri && !/^https?:\/\//.test(trusted.jwksUri)) throw new TypeError(`jwt-bearer issuer ${trusted.issuer}: jwksUri must be an http(s) URL`);
  }
  if (client.grantTypes?.includes('urn:ietf:params:oauth:grant-type:jwt-bearer') && !client.jwtBearerIssuers?.length) {
    throw new TypeError('the jwt-bearer grant needs at least one trusted issuer (jwtBearerIssuers)');
  }
  // RFC 7662 section 2.1: the introspection endpoint requires authorization, which a public client cannot give.
  if (client.introspection && client.authMethod === 'none') throw new TypeError('a public client (none) cannot be registered for introspection');
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
