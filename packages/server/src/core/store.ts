/**
 * The storage contract. Its operations are what the protocol needs, not tables: an atomic
 * consume-and-rotate of a refresh token, revoking a whole family, single-use identifiers.
 * Every backend passes one conformance suite (`test/stores/conformance/`).
 *
 * The protocol rules live in the core; a store only guarantees atomicity and durability.
 * {@link Store.useRefreshToken} hands the core a consistent snapshot, asks it to decide,
 * and applies the decision atomically: of any number of concurrent calls presenting one
 * token, each sees the state the previous one committed.
 */
import type {
  AuthorizationCodeRecord,
  ClientRecord,
  ConsentRecord,
  GrantRecord,
  NewRefreshToken,
  OpaqueAccessTokenRecord,
  PushedAuthorizationRequestRecord,
  RefreshTokenRecord,
  SigningKeyRecord,
} from './types.ts';

/** A consistent view of a presented refresh token, taken under the store's lock. */
export interface RefreshSnapshot {
  token: RefreshTokenRecord;
  grant: GrantRecord;
  /** The token's successor, when it was rotated (to tell a retry from a reuse). */
  successor?: RefreshTokenRecord;
}

/** Why a refresh token is refused; the public answer is always the same `invalid_grant`. */
export type RefreshRejection =
  | 'unknown'
  | 'expired'
  | 'revoked'
  | 'foreign_client'
  | 'reuse'
  | 'shadowing'
  | 'dpop_key_mismatch';

/** What the core decided for a presented refresh token. */
export type RefreshDecision =
  /**
   * Refuse. With `revokeFamily`, the store revokes the whole family in the same transaction,
   * with `revokedAt` = `at` (the core's clock; the store's own when absent) and `revokedReason`
   * = `reason`; an earlier revocation is kept.
   */
  | { action: 'reject'; reason: RefreshRejection; revokeFamily?: boolean; at?: number }
  /**
   * Mark the token rotated at `at` (the core's clock; the store's own when absent), keeping
   * `successorSealed`, and insert the successor at generation + 1, created at the same time.
   * With `bindDpopJkt` (RFC 9449 section 5), the unbound family is bound to that key from the
   * successor's generation on (`dpopJkt`, `dpopBoundFrom`), in the same transaction.
   */
  | { action: 'rotate'; successor: NewRefreshToken; successorSealed: string; at?: number; bindDpopJkt?: string }
  /** Keep the token (rotation off): slide its idle expiry to `expiresAt`, record `usedAt` = `at`. */
  | { action: 'keep'; expiresAt: number; at?: number }
  /**
   * Lost-response retry: no token changes (the core unseals the successor from the snapshot);
   * the family records the replay: `replayGeneration` = the token's generation, `replayedAt` = `at`.
   */
  | { action: 'replay'; at?: number };

/** A grant with what its refresh tokens say about it: for listing a subject's sessions. */
export interface GrantSession {
  grant: GrantRecord;
  /** Generation of the family's newest refresh token (0 when none is left). */
  generation: number;
  /** When a refresh token of the family was last used (rotated, kept or replayed); absent: never. */
  lastUsedAt?: number;
}

/** Which grants a listing or a bulk revocation is about. */
export interface GrantFilter {
  subject?: string;
  clientId?: string;
}

/**
 * The last use of a family from its newest token and its replay record: a rotation created the
 * newest token (generation > 1), a kept token records `usedAt`, a replay `replayedAt`. For stores
 * implementing {@link Store.listSessions}.
 */
export function lastUse(grant: GrantRecord, newest: Pick<RefreshTokenRecord, 'generation' | 'createdAt' | 'usedAt'> | undefined): number | undefined {
  const times = [grant.replayedAt, newest?.usedAt, newest && newest.generation > 1 ? newest.createdAt : undefined];
  const known = times.filter((t): t is number => t !== undefined);
  return known.length > 0 ? Math.max(...known) : undefined;
}

/** What {@link Store.useRefreshToken} returns: the snapshot it decided on and the decision it applied. */
export interface RefreshUse {
  snapshot: RefreshSnapshot | undefined;
  decision: RefreshDecision;
}

/**
 * What {@link Store.redeemAuthorizationCode} did: `redeemed` (the code was unused: it is now used
 * and the grant exists), `replayed` (it was used before: its family is revoked), `unknown`.
 */
export type CodeRedemption = 'redeemed' | 'replayed' | 'unknown';

/**
 * How long a store keeps an authorization code past its expiry, in seconds: a second use of a
 * used code within this time still finds it, and revokes the family its first use created.
 */
export const authorizationCodeRetention = 3600;

/**
 * Thrown by a store when it cannot answer now but may shortly: the database is unreachable or
 * restarting, a connection broke, the disk is full, a lock wait ran out. The endpoints answer
 * it with 503 `temporarily_unavailable` and `Retry-After` (RFC 6749 section 5.2), never 500.
 * A store throws it only when the operation did not take effect (or, for a write whose outcome
 * is unknown, when retrying it is safe).
 *
 * @example
 * ```ts
 * throw new StoreUnavailableError('database connection lost', { cause: error, retryAfter: 1 })
 * ```
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  /** Seconds a client should wait before retrying (the `Retry-After` header). */
  readonly retryAfter: number;

  constructor(message: string, options: { cause?: unknown; retryAfter?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryAfter = options.retryAfter ?? 1;
  }
}

/** Optional abilities a backend may have; the core branches on these, never on a name. */
export interface StoreCapabilities {
  /** Several server processes may share this store (single-use and rotation hold across them). */
  sharedAcrossProcesses: boolean;
  /** The store calls {@link Store.purgeExpired} itself; otherwise the server schedules it. */
  purgesInBackground: boolean;
}

/**
 * The store every backend implements.
 *
 * @example
 * ```ts
 * const store = await openSqliteStore('./refresh-grant.db')
 * const client = await store.getClient('app')
 * ```
 */
export interface Store {
  readonly capabilities: StoreCapabilities;

  // --- clients -----------------------------------------------------------------------
  /** The client, or undefined. */
  getClient(clientId: string): Promise<ClientRecord | undefined>;
  /** Inserts or replaces a client. */
  saveClient(client: ClientRecord): Promise<void>;
  /** Every client, ordered by `clientId`. */
  listClients(): Promise<ClientRecord[]>;
  /** Removes a client, revokes its grants and forgets the consents given to it; true if it existed. */
  deleteClient(clientId: string, now: number): Promise<boolean>;

  // --- grants and refresh token families ---------------------------------------------
  /** Creates a grant with its first refresh token (generation 1), atomically. */
  createGrant(grant: GrantRecord, firstToken: NewRefreshToken): Promise<void>;
  /** The grant, revoked or not, or undefined. */
  getGrant(familyId: string): Promise<GrantRecord | undefined>;
  /** Grants matching every given filter, newest first. */
  listGrants(filter: GrantFilter): Promise<GrantRecord[]>;
  /**
   * Like {@link listGrants}, each grant with its newest generation and last use (see
   * {@link GrantSession}, {@link lastUse}): a subject's sessions.
   */
  listSessions(filter: GrantFilter): Promise<GrantSession[]>;
  /**
   * Revokes every active grant matching the filter (at least one of `subject`, `clientId`, else a
   * `TypeError`), in one statement, as {@link revokeGrant} does one; returns their family ids.
   */
  revokeGrants(filter: GrantFilter, reason: string, now: number): Promise<string[]>;
  /**
   * Revokes a whole family: every refresh token of the grant stops working and its access
   * tokens introspect as inactive. The grant stays as a tombstone until it expires so that
   * reuse stays detectable. Returns true if it was active.
   */
  revokeGrant(familyId: string, reason: string, now: number): Promise<boolean>;
  /** Looks a refresh token up by hash with its grant, without changing anything. */
  findRefreshToken(tokenHash: string): Promise<RefreshSnapshot | undefined>;
  /**
   * The atomic consume-and-rotate. Under the store's lock (a transaction with the token's row
   * locked, or the database's write lock), reads the snapshot for `tokenHash`, calls `decide`
   * (synchronous, pure) and applies its decision before any other call on the same token can
   * read. `decide` receives undefined for an unknown token. Contention never surfaces as an
   * error: a backend retries serialization failures itself.
   */
  useRefreshToken(
    tokenHash: string,
    decide: (snapshot: RefreshSnapshot | undefined) => RefreshDecision,
  ): Promise<RefreshUse>;

  // --- single-use identifiers (client assertion `jti`, DPoP proof `jti`) -------------
  /**
   * Records `key` in `namespace` until `expiresAt` (whole seconds: callers round a fractional
   * time up); true the first time, false on every later call before it expires. Holds across
   * every process sharing the store.
   */
  consumeOnce(namespace: string, key: string, expiresAt: number): Promise<boolean>;

  // --- authorization codes, pushed authorization requests, consents ------------------
  /** Stores a new authorization code. */
  saveAuthorizationCode(code: AuthorizationCodeRecord): Promise<void>;
  /** The code, used or not, or undefined. */
  findAuthorizationCode(codeHash: string): Promise<AuthorizationCodeRecord | undefined>;
  /**
   * The single use of a code, atomic across every process sharing the store: if the code is
   * unused, marks it used at `now` and creates `grant` with its first refresh token in the same
   * transaction (`redeemed`); if it was used before, revokes the family named by the code, with
   * reason `code_replay` (`replayed`); of any number of concurrent calls, exactly one redeems.
   */
  redeemAuthorizationCode(codeHash: string, redemption: { grant: GrantRecord; firstToken: NewRefreshToken; now: number }): Promise<CodeRedemption>;
  /** Stores a pushed authorization request (RFC 9126). */
  savePushedAuthorizationRequest(request: PushedAuthorizationRequestRecord): Promise<void>;
  /**
   * Removes and returns the pushed request stored under `key` unless it expired by `now`
   * (single use: of concurrent calls, one gets it).
   */
  takePushedAuthorizationRequest(key: string, now: number): Promise<PushedAuthorizationRequestRecord | undefined>;
  /** What `subject` consented to for `clientId`, or undefined. */
  getConsent(clientId: string, subject: string): Promise<ConsentRecord | undefined>;
  /** Inserts or replaces the consent of a subject for a client. */
  saveConsent(consent: ConsentRecord): Promise<void>;

  // --- access tokens -----------------------------------------------------------------
  /** Stores an opaque access token (by hash). */
  saveOpaqueAccessToken(token: OpaqueAccessTokenRecord): Promise<void>;
  /** The opaque access token, or undefined. */
  findOpaqueAccessToken(tokenHash: string): Promise<OpaqueAccessTokenRecord | undefined>;
  /** Marks an access token (by `jti`) revoked until `expiresAt`. */
  revokeAccessToken(jti: string, expiresAt: number): Promise<void>;
  /** True if the access token with this `jti` was revoked. */
  isAccessTokenRevoked(jti: string): Promise<boolean>;

  // --- signing keys ------------------------------------------------------------------
  /** Every stored signing key, oldest first. */
  listSigningKeys(): Promise<SigningKeyRecord[]>;
  /**
   * Adds `key` and, in the same transaction, retires every other key that is not yet
   * retired, setting `retiredAt` to `key.createdAt` and `removeAfter` to `removeRetiredAfter`.
   */
  addSigningKey(key: SigningKeyRecord, removeRetiredAfter: number): Promise<void>;

  // --- maintenance -------------------------------------------------------------------
  /**
   * Deletes at most `limit` rows that no rule needs any more: refresh tokens and grants past
   * their grant's absolute expiry, spent single-use keys and revoked access token marks past
   * their expiry, opaque access tokens past expiry, signing keys past `removeAfter`,
   * authorization codes {@link authorizationCodeRetention} seconds past their expiry, pushed
   * authorization requests past their expiry.
   * Returns how many rows it deleted; call again while it returns `limit`.
   */
  purgeExpired(now: number, limit: number): Promise<number>;

  /** What the store is doing now, for metrics and readiness; backends without a pool omit it. */
  stats?(): StoreStats;

  /** Closes connections; the store is unusable afterwards. */
  close(): Promise<void>;
}

/** A snapshot of a store's resources (see {@link Store.stats}). */
export interface StoreStats {
  /** A connection pool: connections open, of them idle, and callers waiting for one. */
  pool?: { size: number; idle: number; waiting: number };
}
