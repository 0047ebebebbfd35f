/**
 * The server's data model, in camelCase. Wire names (snake_case) appear only at the edge:
 * the form parser, the response builders and the CLI's `--json` output.
 *
 * Times are whole seconds since the Unix epoch unless a name says otherwise.
 */

/** RFC 7591 / OIDC Registration `token_endpoint_auth_method` values this server supports. */
export type TokenEndpointAuthMethod =
  | 'client_secret_basic'
  | 'client_secret_post'
  | 'client_secret_jwt'
  | 'private_key_jwt'
  | 'none';

/** Every supported auth method, in the order metadata lists them. */
export const tokenEndpointAuthMethods: readonly TokenEndpointAuthMethod[] = [
  'client_secret_basic',
  'client_secret_post',
  'client_secret_jwt',
  'private_key_jwt',
  'none',
];

/** Access token formats: RFC 9068 JWTs or opaque handles looked up by introspection. */
export type AccessTokenFormat = 'jwt' | 'opaque';

/** A JSON Web Key as stored (public parts only for client keys). */
export type Jwk = Record<string, unknown> & { kty: string; kid?: string; alg?: string; use?: string };

/** A registered client. */
export interface ClientRecord {
  clientId: string;
  authMethod: TokenEndpointAuthMethod;
  /**
   * For `client_secret_basic` and `client_secret_post`: base64url SHA-256 of the secret.
   * Generated secrets carry 256 bits of entropy, so a fast hash cannot be brute forced.
   */
  secretHash?: string;
  /**
   * For `client_secret_jwt` only: the secret sealed under the server's key-encryption key,
   * because verifying an HMAC needs the secret itself.
   */
  secretSealed?: string;
  /** For `private_key_jwt`: the client's public keys. */
  jwks?: { keys: Jwk[] };
  /** For `private_key_jwt`: where to fetch the client's public keys. */
  jwksUri?: string;
  /**
   * For `client_secret_jwt` and `private_key_jwt`: the furthest a client assertion's `exp` may be
   * from now, in seconds; absent: the server's setting (default 3600).
   */
  assertionMaxLifetime?: number;
  /** Space-delimited scope the client may be granted. Empty means any. */
  scope: string;
  /** Resource indicators (RFC 8707) the client may be granted. Empty means any. */
  resources: string[];
  /** Rotate refresh tokens on every use (RFC 9700 section 4.14.2). */
  rotation: boolean;
  /** Lost-response retry window after a rotation, in seconds; 0 turns it off. */
  retryWindow: number;
  /** Idle (sliding) refresh token lifetime, in seconds. */
  idleTtl: number;
  /** Absolute lifetime of a grant (refresh token family), in seconds. */
  absoluteTtl: number;
  /** Access token lifetime, in seconds. */
  accessTokenTtl: number;
  accessTokenFormat: AccessTokenFormat;
  /** id_token lifetime, in seconds. */
  idTokenTtl: number;
  createdAt: number;
}

/** Defaults a careful operator would choose; each is per client. */
export const clientDefaults = {
  rotation: true,
  retryWindow: 30,
  idleTtl: 14 * 24 * 3600,
  absoluteTtl: 90 * 24 * 3600,
  accessTokenTtl: 900,
  accessTokenFormat: 'jwt' as AccessTokenFormat,
  idTokenTtl: 3600,
} as const;

/**
 * A grant: what the resource owner authorized for one client, and the family of refresh
 * tokens that carries it. Revoking the grant revokes every token of the family.
 */
export interface GrantRecord {
  /** Family id: random, not secret. Appears in events and as the access token's `sid`. */
  familyId: string;
  clientId: string;
  subject: string;
  /** The scope granted at first issue; refresh never widens it. */
  scope: string;
  /** Resource indicators granted at first issue. */
  resources: string[];
  /** When the user authenticated (OIDC `auth_time`). */
  authTime: number;
  /** Other claims of the original id_token that refreshed ones repeat (`acr`, `amr`). */
  idTokenClaims?: Record<string, unknown>;
  /** RFC 9449: JWK thumbprint the family is bound to (public clients using DPoP). */
  dpopJkt?: string;
  /**
   * RFC 9449 section 5: the first generation issued bound to `dpopJkt`. Absent (read: 1) when the
   * family was bound at issue; later when it was bound at the first refresh that carried a proof.
   * Tokens of earlier generations were issued unbound.
   */
  dpopBoundFrom?: number;
  /** Lost-response retry: the generation of the token most recently replayed in this family. */
  replayGeneration?: number;
  /** When that replay happened. */
  replayedAt?: number;
  createdAt: number;
  /** No refresh token of the family lives past this. */
  expiresAt: number;
  revokedAt?: number;
  /** Why the family was revoked: `reuse`, `shadowing`, `revocation`, `admin`, ... */
  revokedReason?: string;
}

/** State of one refresh token of a family. */
export type RefreshTokenState = 'active' | 'rotated';

/** One refresh token as stored: only its hash, never the token. */
export interface RefreshTokenRecord {
  /** base64url SHA-256 of the token. */
  tokenHash: string;
  familyId: string;
  /** 1 for the first token of a family, +1 per rotation. */
  generation: number;
  createdAt: number;
  /** Idle expiry, never past the family's `expiresAt`. */
  expiresAt: number;
  state: RefreshTokenState;
  rotatedAt?: number;
  /** When it was last used without rotation (its idle expiry slid; rotation off). */
  usedAt?: number;
  /** Hash of the successor, once rotated. */
  successorHash?: string;
  /**
   * The successor token sealed under a key derived from this (the parent) token, so that a
   * retry presenting the parent can recover it and nothing else can (lost-response retry).
   */
  successorSealed?: string;
}

/** What a new refresh token row needs. */
export interface NewRefreshToken {
  tokenHash: string;
  expiresAt: number;
}

/** An opaque access token as stored (by hash). */
export interface OpaqueAccessTokenRecord {
  tokenHash: string;
  /** Also the `jti` reported by introspection. */
  jti: string;
  familyId: string;
  clientId: string;
  subject: string;
  scope: string;
  audience: string[];
  issuedAt: number;
  expiresAt: number;
  /** RFC 9449 `cnf.jkt` when DPoP-bound. */
  jkt?: string;
}

/** Supported signing algorithms for access tokens and id_tokens. */
export type SigningAlg = 'ES256' | 'EdDSA';

/** A signing key as stored. */
export interface SigningKeyRecord {
  kid: string;
  alg: SigningAlg;
  /** Public JWK, published at the JWKS endpoint. */
  publicJwk: Jwk;
  /** Private JWK sealed under the key-encryption key. */
  privateSealed: string;
  createdAt: number;
  /** When it stopped signing (a newer key took over). */
  retiredAt?: number;
  /** When it may be dropped from the JWKS: everything it signed has expired. */
  removeAfter?: number;
}
