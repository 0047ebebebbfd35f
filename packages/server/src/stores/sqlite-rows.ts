/**
 * SQLite rows to records and records to column values: JSON columns parsed, integer booleans
 * as booleans, NULL columns as absent properties (and absent properties as NULL), the same
 * records every other backend returns.
 */
import type { SQLInputValue } from 'node:sqlite';
import type { RefreshSnapshot } from '../core/store.ts';
import type {
  AccessTokenFormat,
  ClientRecord,
  GrantRecord,
  GrantType,
  Jwk,
  JwtBearerIssuer,
  OpaqueAccessTokenRecord,
  RefreshTokenRecord,
  RefreshTokenState,
  SigningAlg,
  SigningKeyRecord,
  TokenEndpointAuthMethod,
} from '../core/types.ts';

/** A row as `node:sqlite` returns it, by column name. */
export type Row = Record<string, SQLInputValue>;

/** Optional field to column: absent becomes NULL. */
export function opt(value: string | number | undefined): string | number | null {
  return value === undefined ? null : value;
}

/** Optional boolean to column: absent becomes NULL, else 1 or 0. */
export function optBool(value: boolean | undefined): number | null {
  return value === undefined ? null : value ? 1 : 0;
}

/** Optional value to a JSON column: absent becomes NULL. */
export function optJson(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

/** Sets `target[key]` only when the column is not NULL, so optional fields come back absent. */
function put<T extends object, K extends keyof T>(target: T, key: K, value: SQLInputValue | undefined): void {
  if (value !== null && value !== undefined) target[key] = value as T[K];
}

/** A `clients` row as a {@link ClientRecord}. */
export function toClient(r: Row): ClientRecord {
  const client: ClientRecord = {
    clientId: r.client_id as string,
    authMethod: r.auth_method as TokenEndpointAuthMethod,
    scope: r.scope as string,
    resources: JSON.parse(r.resources as string) as string[],
    rotation: r.rotation === 1,
    retryWindow: r.retry_window as number,
    idleTtl: r.idle_ttl as number,
    absoluteTtl: r.absolute_ttl as number,
    accessTokenTtl: r.access_token_ttl as number,
    accessTokenFormat: r.access_token_format as AccessTokenFormat,
    idTokenTtl: r.id_token_ttl as number,
    createdAt: r.created_at as number,
  };
  if (r.redirect_uris !== null) client.redirectUris = JSON.parse(r.redirect_uris as string) as string[];
  if (r.grant_types !== null) client.grantTypes = JSON.parse(r.grant_types as string) as GrantType[];
  if (r.require_par !== null) client.requirePushedAuthorizationRequests = r.require_par === 1;
  if (r.jwt_bearer_issuers !== null) client.jwtBearerIssuers = JSON.parse(r.jwt_bearer_issuers as string) as JwtBearerIssuer[];
  put(client, 'secretHash', r.secret_hash);
  put(client, 'secretSealed', r.secret_sealed);
  if (r.jwks !== null) client.jwks = JSON.parse(r.jwks as string) as { keys: Jwk[] };
  put(client, 'jwksUri', r.jwks_uri);
  put(client, 'assertionMaxLifetime', r.assertion_max_lifetime);
  if (r.introspection === 1) client.introspection = true;
  return client;
}

/** A `grants` row as a {@link GrantRecord}; `p` is the column prefix of a joined row (`g_`). */
export function toGrant(r: Row, p = ''): GrantRecord {
  const grant: GrantRecord = {
    familyId: r[`${p}family_id`] as string,
    clientId: r[`${p}client_id`] as string,
    subject: r[`${p}subject`] as string,
    scope: r[`${p}scope`] as string,
    resources: JSON.parse(r[`${p}resources`] as string) as string[],
    authTime: r[`${p}auth_time`] as number,
    createdAt: r[`${p}created_at`] as number,
    expiresAt: r[`${p}expires_at`] as number,
  };
  const claims = r[`${p}id_token_claims`];
  if (claims !== null) grant.idTokenClaims = JSON.parse(claims as string) as Record<string, unknown>;
  put(grant, 'dpopJkt', r[`${p}dpop_jkt`]);
  put(grant, 'revokedAt', r[`${p}revoked_at`]);
  put(grant, 'revokedReason', r[`${p}revoked_reason`]);
  put(grant, 'dpopBoundFrom', r[`${p}dpop_bound_from`]);
  put(grant, 'replayGeneration', r[`${p}replay_generation`]);
  put(grant, 'replayedAt', r[`${p}replayed_at`]);
  return grant;
}

/** A `refresh_tokens` row as a {@link RefreshTokenRecord}; `p` is the column prefix of a joined row (`t_`, `s_`). */
export function toToken(r: Row, p = ''): RefreshTokenRecord {
  const token: RefreshTokenRecord = {
    tokenHash: r[`${p}token_hash`] as string,
    familyId: r[`${p}family_id`] as string,
    generation: r[`${p}generation`] as number,
    createdAt: r[`${p}created_at`] as number,
    expiresAt: r[`${p}expires_at`] as number,
    state: r[`${p}state`] as RefreshTokenState,
  };
  put(token, 'rotatedAt', r[`${p}rotated_at`]);
  put(token, 'successorHash', r[`${p}successor_hash`]);
  put(token, 'successorSealed', r[`${p}successor_sealed`]);
  put(token, 'usedAt', r[`${p}used_at`]);
  return token;
}

/** A row of the snapshot statement (token, grant, successor) as a {@link RefreshSnapshot}. */
export function toSnapshot(r: Row): RefreshSnapshot {
  const snapshot: RefreshSnapshot = { token: toToken(r, 't_'), grant: toGrant(r, 'g_') };
  if (r.s_token_hash !== null) snapshot.successor = toToken(r, 's_');
  return snapshot;
}

/** An `opaque_access_tokens` row as an {@link OpaqueAccessTokenRecord}. */
export function toOpaque(r: Row): OpaqueAccessTokenRecord {
  const token: OpaqueAccessTokenRecord = {
    tokenHash: r.token_hash as string,
    jti: r.jti as string,
    familyId: r.family_id as string,
    clientId: r.client_id as string,
    subject: r.subject as string,
    scope: r.scope as string,
    audience: JSON.parse(r.audience as string) as string[],
    issuedAt: r.issued_at as number,
    expiresAt: r.expires_at as number,
  };
  put(token, 'jkt', r.jkt);
  return token;
}

/** A `signing_keys` row as a {@link SigningKeyRecord}. */
export function toSigningKey(r: Row): SigningKeyRecord {
  const key: SigningKeyRecord = {
    kid: r.kid as string,
    alg: r.alg as SigningAlg,
    publicJwk: JSON.parse(r.public_jwk as string) as Jwk,
    privateSealed: r.private_sealed as string,
    createdAt: r.created_at as number,
  };
  put(key, 'retiredAt', r.retired_at);
  put(key, 'removeAfter', r.remove_after);
  return key;
}
