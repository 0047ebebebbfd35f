/**
 * PostgreSQL rows to records: bigint columns (strings in `pg`) become numbers, NULL columns
 * become absent properties, the same records every other backend returns. And records to the
 * parameters of the statements that write them (`postgres-statements.ts`), absent as NULL.
 */
import type { QueryResultRow } from 'pg';
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

/** JSON text for a jsonb parameter, or null. */
export function json(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

/** Copies the non-null optional values onto `record`. */
export function withOptional<T extends object>(record: T, optional: Record<string, unknown>): T {
  for (const [name, value] of Object.entries(optional)) {
    if (value !== null && value !== undefined) (record as Record<string, unknown>)[name] = value;
  }
  return record;
}

/** An integer as an SQL literal, for the simple-protocol queries that take no parameters. */
export function int(value: number): string {
  if (!Number.isSafeInteger(value)) throw new TypeError(`not an integer: ${value}`);
  return String(value);
}

/**
 * A text array as an SQL literal (`'{"a",NULL}'`), for the simple-protocol queries that take
 * no parameters: each element double-quoted with `"` and `\` escaped (null as NULL), the whole
 * through `escape` (the driver's `escapeLiteral`).
 */
export function textArray(values: ReadonlyArray<string | null>, escape: (text: string) => string): string {
  let body = '';
  for (const value of values) {
    if (body) body += ',';
    if (value === null) body += 'NULL';
    else body += '"' + (/["\\]/.test(value) ? value.replace(/["\\]/g, '\\$&') : value) + '"';
  }
  return escape('{' + body + '}');
}

/** An integer array as an SQL literal (`'{1,2}'`), each element checked by {@link int}. */
export function intArray(values: readonly number[]): string {
  return "'{" + values.map(int).join(',') + "}'";
}

/** A bigint column (returned by pg as a string) as a number, or null. */
export function num(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

/** A `clients` row as a record. */
export function toClient(row: QueryResultRow): ClientRecord {
  return withOptional<ClientRecord>(
    {
      clientId: row.client_id,
      authMethod: row.auth_method as TokenEndpointAuthMethod,
      scope: row.scope,
      resources: row.resources,
      rotation: row.rotation,
      retryWindow: Number(row.retry_window),
      idleTtl: Number(row.idle_ttl),
      absoluteTtl: Number(row.absolute_ttl),
      accessTokenTtl: Number(row.access_token_ttl),
      accessTokenFormat: row.access_token_format as AccessTokenFormat,
      idTokenTtl: Number(row.id_token_ttl),
      createdAt: Number(row.created_at),
    },
    {
      secretHash: row.secret_hash,
      secretSealed: row.secret_sealed,
      jwks: row.jwks as { keys: Jwk[] } | null,
      jwksUri: row.jwks_uri,
      assertionMaxLifetime: num(row.assertion_max_lifetime),
      redirectUris: row.redirect_uris as string[] | null,
      grantTypes: row.grant_types as GrantType[] | null,
      requirePushedAuthorizationRequests: row.require_par as boolean | null,
      jwtBearerIssuers: row.jwt_bearer_issuers as JwtBearerIssuer[] | null,
      introspection: row.introspection === true ? true : null,
    },
  );
}

/** A `grants` row (or its `row_to_json`) as a record. */
export function toGrant(row: QueryResultRow): GrantRecord {
  return withOptional<GrantRecord>(
    {
      familyId: row.family_id,
      clientId: row.client_id,
      subject: row.subject,
      scope: row.scope,
      resources: row.resources,
      authTime: Number(row.auth_time),
      createdAt: Number(row.created_at),
      expiresAt: Number(row.expires_at),
    },
    {
      idTokenClaims: row.id_token_claims,
      dpopJkt: row.dpop_jkt,
      revokedAt: num(row.revoked_at),
      revokedReason: row.revoked_reason,
      dpopBoundFrom: num(row.dpop_bound_from),
      replayGeneration: num(row.replay_generation),
      replayedAt: num(row.replayed_at),
    },
  );
}

/** A `refresh_tokens` row (or its `row_to_json`) as a record. */
export function toToken(row: QueryResultRow): RefreshTokenRecord {
  return withOptional<RefreshTokenRecord>(
    {
      tokenHash: row.token_hash,
      familyId: row.family_id,
      generation: Number(row.generation),
      createdAt: Number(row.created_at),
      expiresAt: Number(row.expires_at),
      state: row.state as RefreshTokenState,
    },
    {
      rotatedAt: num(row.rotated_at),
      successorHash: row.successor_hash,
      successorSealed: row.successor_sealed,
      usedAt: num(row.used_at),
    },
  );
}

/** An `opaque_access_tokens` row as a record. */
export function toOpaque(row: QueryResultRow): OpaqueAccessTokenRecord {
  return withOptional<OpaqueAccessTokenRecord>(
    {
      tokenHash: row.token_hash,
      jti: row.jti,
      familyId: row.family_id,
      clientId: row.client_id,
      subject: row.subject,
      scope: row.scope,
      audience: row.audience,
      issuedAt: Number(row.issued_at),
      expiresAt: Number(row.expires_at),
    },
    { jkt: row.jkt },
  );
}

/** A `signing_keys` row as a record. */
export function toSigningKey(row: QueryResultRow): SigningKeyRecord {
  return withOptional<SigningKeyRecord>(
    {
      kid: row.kid,
      alg: row.alg as SigningAlg,
      publicJwk: row.public_jwk,
      privateSealed: row.private_sealed,
      createdAt: Number(row.created_at),
    },
    { retiredAt: num(row.retired_at), removeAfter: num(row.remove_after) },
  );
}

/** The parameters of the `saveClient` statement ($1..$22) for `client`. */
export function clientParams(client: ClientRecord): unknown[] {
  return [
    client.clientId,
    client.authMethod,
    client.secretHash ?? null,
    client.secretSealed ?? null,
    json(client.jwks),
    client.jwksUri ?? null,
    client.scope,
    JSON.stringify(client.resources),
    client.rotation,
    client.retryWindow,
    client.idleTtl,
    client.absoluteTtl,
    client.accessTokenTtl,
    client.accessTokenFormat,
    client.idTokenTtl,
    client.createdAt,
    client.assertionMaxLifetime ?? null,
    json(client.redirectUris),
    json(client.grantTypes),
    client.requirePushedAuthorizationRequests ?? null,
    json(client.jwtBearerIssuers),
    client.introspection === true,
  ];
}

/** The parameters of the `insertGrant` statement ($1..$15) for `grant`. */
export function grantParams(grant: GrantRecord): unknown[] {
  return [
    grant.familyId,
    grant.clientId,
    grant.subject,
    grant.scope,
    JSON.stringify(grant.resources),
    grant.authTime,
    json(grant.idTokenClaims),
    grant.dpopJkt ?? null,
    grant.createdAt,
    grant.expiresAt,
    grant.revokedAt ?? null,
    grant.revokedReason ?? null,
    grant.dpopBoundFrom ?? null,
    grant.replayGeneration ?? null,
    grant.replayedAt ?? null,
  ];
}

/** The parameters of the `saveOpaque` statement ($1..$10) for `token`. */
export function opaqueParams(token: OpaqueAccessTokenRecord): unknown[] {
  return [
    token.tokenHash,
    token.jti,
    token.familyId,
    token.clientId,
    token.subject,
    token.scope,
    JSON.stringify(token.audience),
    token.issuedAt,
    token.expiresAt,
    token.jkt ?? null,
  ];
}

/** The parameters of the `insertSigningKey` statement ($1..$7) for `key`. */
export function signingKeyParams(key: SigningKeyRecord): unknown[] {
  return [
    key.kid,
    key.alg,
    JSON.stringify(key.publicJwk),
    key.privateSealed,
    key.createdAt,
    key.retiredAt ?? null,
    key.removeAfter ?? null,
  ];
}
