/**
 * What every part of the store conformance suite shares: the harness a backend hands it, the
 * context each part reads its store from, and the record factories (fresh random ids each time,
 * so the suite can run again on a database earlier runs have written to).
 */
import type { RefreshDecision, Store } from '../../../src/core/store.ts';
import type { GrantRecord, NewRefreshToken, SigningKeyRecord } from '../../../src/core/types.ts';
import { randomHandle, randomId, sha256, tokenPrefixes } from '../../../src/core/crypto.ts';

/** What a backend hands the suite: an open store, a way to open a second handle, and cleanup. */
export interface StoreHarness {
  store: Store;
  /** Opens another handle on the same data (a new connection or process-level reopen). */
  reopen(): Promise<Store>;
  /** Closes every handle this harness opened and removes what it created. */
  cleanup(): Promise<void>;
}

/** What each part of the suite reads once the store is open: the store, its harness, a grant seeder. */
export interface ConformanceContext {
  store: Store;
  harness: StoreHarness;
  /** Creates a grant with its first token; returns both. */
  seedGrant(overrides?: Partial<GrantRecord>, first?: NewRefreshToken): Promise<{ grant: GrantRecord; first: NewRefreshToken }>;
}

/** Now, in seconds. */
export const now = (): number => Math.floor(Date.now() / 1000);

/** The hash of a fresh refresh token. */
export function newHash(): string {
  return sha256(randomHandle(tokenPrefixes.refreshToken));
}

/** A fresh refresh token, expiring `expiresIn` seconds from now. */
export function newToken(expiresIn = 3600): NewRefreshToken {
  return { tokenHash: newHash(), expiresAt: now() + expiresIn };
}

/** A grant of a fresh family, client and subject, created now; `overrides` replace any field. */
export function grantFor(overrides: Partial<GrantRecord> = {}): GrantRecord {
  const t = now();
  return {
    familyId: randomId(),
    clientId: `client-${randomId()}`,
    subject: `sub-${randomId()}`,
    scope: 'openid offline_access',
    resources: [],
    authTime: t - 10,
    createdAt: t,
    expiresAt: t + 86_400,
    ...overrides,
  };
}

/** A fresh ES256 signing key record created at `createdAt`. */
export function key(createdAt: number): SigningKeyRecord {
  const kid = randomId();
  return {
    kid,
    alg: 'ES256',
    publicJwk: { kty: 'EC', crv: 'P-256', x: randomId(), y: randomId(), kid, alg: 'ES256', use: 'sig' },
    privateSealed: `sealed-${randomId()}`,
    createdAt,
  };
}

/** A rotate decision to `successor`. */
export function rotateTo(successor: NewRefreshToken, sealed = `sealed-${randomId()}`): RefreshDecision {
  return { action: 'rotate', successor, successorSealed: sealed };
}
