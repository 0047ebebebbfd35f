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

/** The grant types a client may be allowed at the token endpoint (RFC 7591 `grant_types`). */
export type GrantType = 'authorization_code' | 'refresh_token' | 'password' | typeof jwtBearerGrantType;

/** RFC 7523 section 2.1: the JWT bearer authorization grant. */
export const jwtBearerGrantType = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/** Every supported grant type, in the order metadata lists them. */
export const grantTypes: readonly GrantType[] = ['authorization_code', 'refresh_token', jwtBearerGrantType, 'password'];

/**
 * RFC 7523 section 2.1: an issuer whose JWT assertions a client may exchange for tokens, with the
 * keys its assertions are signed with (inline, or a JWK Set URL fetched and cached).
 */
export interface JwtBearerIssuer {
  /** The assertion's `iss`, compared exactly. */
  issuer: string;
  jwks?: { keys: Jwk[] };
  jwksUri?: string;
}

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
  /**
   * Redirection URIs (RFC 6749 section 3.1.2), compared exactly; for an `http` loopback URI any
   * port matches (RFC 8252 section 7.3). Absent: the client cannot use the authorization endpoint.
   */
  redirectUris?: string[];
  /**
   * Grant types the client may use at the token endpoint (absent: {@link defaultGrantTypes});
   * a refresh token is only issued to a client allowed `refresh_token`.
   */
  grantTypes?: GrantType[];
  /** RFC 9126 section 6: authorization requests only through a pushed authorization request. */
  requirePushedAuthorizationRequests?: boolean;
  /** RFC 7523 section 2.1: trusted assertion issuers for the `jwt-bearer` grant. */
  jwtBearerIssuers?: JwtBearerIssuer[];
  /**
   * A resource server allowed to call the introspection endpoint (RFC 7662 section 2.1); it sees
   * as active only tokens issued to it or whose audience names its client id. Never a public
   * client. Absent: not allowed.
   */
  introspection?: boolean;
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

/** The grant types of a client registered without a list: the authorization code flow and refresh. */
export const defaultGrantTypes: readonly GrantType[] = ['authorization_code', 'refresh_token'];

/** The grant types a client may use: its own list, or {@link defaultGrantTypes}. */
export function allowedGrantTypes(client: ClientRecord): readonly GrantType[] {
  return client.grantTypes ?? defaultGrantTypes;
}

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

/**
 * A validated authorization request (RFC 6749 section 4.1.1, OIDC Core section 3.1.2.1): what
 * the authorization endpoint hands to the login and consent steps, and what a pushed
 * authorization request (RFC 9126) stores.
 */
export interface AuthorizationRequest {
  clientId: string;
  /** Exactly as sent; one of the client's registered URIs (loopback: any port). */
  redirectUri: string;
  /** The requested scope, space-delimited. */
  scope: string;
  /** RFC 8707 resource indicators. */
  resources: string[];
  state?: string;
  nonce?: string;
  /** RFC 7636 `code_challenge`, method S256. */
  codeChallenge: string;
  /** OIDC `prompt` values (`none`, `login`, `consent`, `select_account`). */
  prompt: string[];
  /** OIDC `max_age`, in seconds. */
  maxAge?: number;
  loginHint?: string;
  /** RFC 9449 section 10: the thumbprint the code is bound to. */
  dpopJkt?: string;
}

/** A pushed authorization request (RFC 9126) as stored under the hash of its `request_uri`. */
export interface PushedAuthorizationRequestRecord {
  /** base64url SHA-256 of the `request_uri`. */
  key: string;
  request: AuthorizationRequest;
  expiresAt: number;
}

/**
 * An authorization code as stored (by hash, never the code). It names in advance the family its
 * exchange creates, so that a second use can revoke exactly that family (RFC 6749 section 4.1.2).
 */
export interface AuthorizationCodeRecord {
  /** base64url SHA-256 of the code. */
  codeHash: string;
  clientId: string;
  /** The `redirect_uri` of the authorization request; the exchange must send the same. */
  redirectUri: string;
  /** RFC 7636 S256 challenge. */
  codeChallenge: string;
  subject: string;
  /** The granted scope (what the user consented to of the requested scope). */
  scope: string;
  resources: string[];
  authTime: number;
  nonce?: string;
  /** `acr`, `amr`: repeated in the id_tokens of the grant. */
  idTokenClaims?: Record<string, unknown>;
  /** RFC 9449 section 10: the exchange needs a proof by this key. */
  dpopJkt?: string;
  /** The family the exchange creates (random, not secret). */
  familyId: string;
  createdAt: number;
  /** The code is refused from this time on. */
  expiresAt: number;
  /** Set by the first exchange. */
  usedAt?: number;
}

/** What a subject consented to for a client, remembered so that the user is not asked every time. */
export interface ConsentRecord {
  clientId: string;
  subject: string;
  /** The consented scope, space-delimited. */
  scope: string;
  grantedAt: number;
}
