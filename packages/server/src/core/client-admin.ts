/**
 * Client registration as an embedding application (or the CLI) does it: register, update, give
 * a new secret. Secrets are generated here and returned once; only their hash (or, for
 * `client_secret_jwt`, the secret sealed under the KEK) is stored.
 */
import type { ServerContext } from './context.ts';
import { randomHandle, randomId, seal, sha256, tokenPrefixes } from './crypto.ts';
import { redirectUriProblem } from './interactions/redirect-uri.ts';
import { isWellFormedScope } from './scope.ts';
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
import type { AuthorizationServer } from './authorization-server.ts';

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

/** Registers (or replaces) a client; see {@link AuthorizationServer.registerClient}. */
export async function registerClient(ctx: ServerContext, input: RegisterClientInput): Promise<RegisteredClient> {
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
    createdAt: ctx.now(),
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
  const clientSecret = newSecret(ctx, client);
  await ctx.store.saveClient(client);
  return clientSecret === undefined ? { client } : { client, clientSecret };
}

/** Changes settings of a registered client; see {@link AuthorizationServer.updateClient}. */
export async function updateClient(ctx: ServerContext, clientId: string, changes: ClientChanges): Promise<ClientRecord> {
  const current = await ctx.store.getClient(clientId);
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
  await ctx.store.saveClient(client);
  return client;
}

/** Gives a secret-based client a new secret; see {@link AuthorizationServer.rotateClientSecret}. */
export async function rotateClientSecret(ctx: ServerContext, clientId: string): Promise<RegisteredClient & { clientSecret: string }> {
  const current = await ctx.store.getClient(clientId);
  if (!current) throw new TypeError(`unknown client ${clientId}`);
  const client: ClientRecord = { ...current };
  delete client.secretHash;
  delete client.secretSealed;
  const clientSecret = newSecret(ctx, client);
  if (clientSecret === undefined) throw new TypeError(`client ${clientId} uses ${client.authMethod}: it has no secret`);
  await ctx.store.saveClient(client);
  return { client, clientSecret };
}

/** A new secret for a secret-based client, set on `client` (hashed, or sealed for HMAC). */
function newSecret(ctx: ServerContext, client: ClientRecord): string | undefined {
  if (client.authMethod === 'client_secret_basic' || client.authMethod === 'client_secret_post') {
    const secret = randomHandle(tokenPrefixes.clientSecret);
    client.secretHash = sha256(secret);
    return secret;
  }
  if (client.authMethod === 'client_secret_jwt') {
    const secret = randomHandle(tokenPrefixes.clientSecret);
    client.secretSealed = seal(ctx.kek, secret, `client-secret:${client.clientId}`);
    return secret;
  }
  return undefined;
}

/** Throws a TypeError naming the first setting of `client` that cannot be registered. */
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
