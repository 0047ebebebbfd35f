/**
 * DPoP (RFC 9449): validation of proofs at the token endpoint (and, through the same function, at
 * a resource server), and the server nonces that instances agree on without shared state.
 *
 * | check (RFC 9449 section 4.3)                          | refusal                          |
 * | ----------------------------------------------------- | -------------------------------- |
 * | more than one `DPoP` header                           | 400 `invalid_request`            |
 * | not a JWS, `typ` not `dpop+jwt`, `alg` not allowed    | 400 `invalid_dpop_proof`         |
 * | `jwk` missing, private (`d`), or not the signing key  | 400 `invalid_dpop_proof`         |
 * | `htm`/`htu` not this request, `iat` outside the window, `ath` wrong | 400 `invalid_dpop_proof` |
 * | nonce required and missing or stale                   | 400 `use_dpop_nonce` + `DPoP-Nonce` |
 * | `jti` seen before (in any instance sharing the store) | 400 `invalid_dpop_proof`         |
 *
 * A proof this process has already consumed, sent again byte for byte (a replay flood), is
 * refused at the cost of one hash ({@link SpentProofs}): no signature check, no store write.
 *
 * The `iat` window is {@link dpopDefaults}: 60 s in the past (the proof's lifetime) and 5 s in the
 * future (clock skew); a client with a worse clock corrects it (openid-client's `clockSkew`).
 */
import { createHmac } from 'node:crypto';
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify } from 'jose';
import type { JWTPayload, JWK } from 'jose';
import { deriveKey, safeEqual, sha256 } from '../crypto.ts';
import { OAuthError } from '../errors.ts';
import type { Store } from '../store.ts';

/** JWS algorithms accepted in DPoP proofs (metadata `dpop_signing_alg_values_supported`). */
export const dpopSigningAlgs: readonly string[] = ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'RS256', 'PS256'];

/** Default proof freshness, in seconds. */
export const dpopDefaults = {
  /** How old a proof's `iat` may be; also how long its `jti` is remembered. */
  maxAge: 60,
  /** How far in the future a proof's `iat` may be (clock skew). */
  futureSkew: 5,
  /** Length of a nonce slot; a nonce is accepted in its own slot and the next one. */
  nonceSlot: 60,
} as const;

/** DPoP settings of a server (see {@link dpopDefaults}). */
export interface DpopSettings {
  algorithms: readonly string[];
  maxAge: number;
  futureSkew: number;
  /** When set, every proof must carry a current server nonce (RFC 9449 section 8). */
  nonces?: DpopNonces;
  /** Proofs this process consumed, refused again before any verification. */
  spent?: SpentProofs;
}

/**
 * The proofs this process has consumed (or seen refused as replays by the store), by SHA-256 of
 * the whole proof, until their `jti` expires. A proof is single use (RFC 9449 section 11.1), so
 * the same bytes again are a replay whatever the store would say: refused for the price of one
 * hash instead of a signature verification and a store write, which is what a client replaying
 * one proof in a flood would otherwise cost every other client. Bounded: past `max` entries the
 * oldest are forgotten (the store still refuses them, at the full price).
 *
 * @example
 * ```ts
 * const spent = new SpentProofs()
 * spent.add(proof, iat + 60)
 * spent.has(proof, now) // true until iat + 60
 * ```
 */
export class SpentProofs {
  readonly #max: number;
  /** SHA-256 of a proof -> when its jti expires (seconds); oldest first. */
  readonly #entries = new Map<string, number>();

  constructor(max = 10_000) {
    this.#max = max;
  }

  /** True when this exact proof was consumed and its jti has not expired at `now`. */
  has(proof: string, now: number): boolean {
    const expiresAt = this.#entries.get(sha256(proof));
    return expiresAt !== undefined && expiresAt > now;
  }

  /** Remembers a consumed proof until `expiresAt`. */
  add(proof: string, expiresAt: number): void {
    const key = sha256(proof);
    this.#entries.delete(key);
    this.#entries.set(key, expiresAt);
    while (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
  }

  /** How many proofs are remembered. */
  get size(): number {
    return this.#entries.size;
  }
}

/**
 * Server nonces (RFC 9449 section 8): an HMAC of the current time slot under a secret derived from
 * the key-encryption key, so every instance sharing the KEK issues and accepts the same nonces
 * without shared state. A nonce is accepted during its own slot and the next.
 *
 * @example
 * ```ts
 * const nonces = new DpopNonces(kek, 60)
 * response.headers['dpop-nonce'] = nonces.current(now)
 * nonces.accepts(proofNonce, now) // true for this slot's and the previous slot's nonce
 * ```
 */
export class DpopNonces {
  readonly #secret: Uint8Array;
  readonly #slot: number;

  /** @param kek the server's key-encryption key (the nonce secret is derived from it). */
  constructor(kek: Uint8Array, slotSeconds: number = dpopDefaults.nonceSlot) {
    if (!Number.isInteger(slotSeconds) || slotSeconds <= 0) throw new TypeError('the DPoP nonce slot must be a whole number of seconds > 0');
    this.#secret = deriveKey(kek, 'refresh-grant dpop nonce v1');
    this.#slot = slotSeconds;
  }

  /** The nonce to hand out at `now` (seconds). */
  current(now: number): string {
    return this.#nonce(Math.floor(now / this.#slot));
  }

  /** True when `nonce` is this slot's or the previous slot's nonce. Constant time per candidate. */
  accepts(nonce: string, now: number): boolean {
    const slot = Math.floor(now / this.#slot);
    // Both candidates are always compared, so timing does not tell which one matched.
    const current = safeEqual(nonce, this.#nonce(slot));
    const previous = safeEqual(nonce, this.#nonce(slot - 1));
    return current || previous;
  }

  #nonce(slot: number): string {
    return createHmac('sha256', this.#secret).update(`dpop-nonce:${slot}`).digest('base64url');
  }
}

/** What a proof is checked against. */
export interface DpopProofRequest {
  /** The `DPoP` header as received (several headers arrive joined with commas). */
  header: string | undefined;
  /** The request's method. */
  method: string;
  /** The request's URL as the server is addressed (query and fragment are ignored). */
  url: string;
  /** Seconds since the epoch. */
  now: number;
  /** At a resource server: the access token the proof's `ath` must hash (RFC 9449 section 7). */
  accessToken?: string;
}

/** A valid proof: the thumbprint of its key, and what was checked. */
export interface DpopProof {
  /** RFC 7638 SHA-256 thumbprint of the proof's key (`cnf.jkt`). */
  jkt: string;
  jti: string;
  iat: number;
  /** The proof's nonce, when it carried one. */
  nonce?: string;
}

/**
 * Validates the `DPoP` header of a request; undefined when there is none. Throws
 * {@link OAuthError} `invalid_request` (several headers), `invalid_dpop_proof`, or `use_dpop_nonce`
 * carrying a `DPoP-Nonce` header. The `jti` is consumed last, through the store, so a proof
 * refused for its nonce can be corrected and a replay is refused by every instance.
 *
 * @example
 * ```ts
 * const proof = await verifyDpopProof(
 *   { header: req.headers.dpop, method: 'POST', url: ctx.endpoints.token, now },
 *   { settings: ctx.dpop, store: ctx.store },
 * )
 * proof?.jkt // the key to bind the tokens to
 * ```
 */
export async function verifyDpopProof(
  req: DpopProofRequest,
  deps: { settings: DpopSettings; store: Pick<Store, 'consumeOnce'> },
): Promise<DpopProof | undefined> {
  const { header, now } = req;
  const { settings } = deps;
  if (header === undefined) return undefined;
  // RFC 9449 section 4.3: there MUST NOT be more than one DPoP HTTP request header field.
  // A compact JWS has no comma: one means the header was sent several times.
  if (header.includes(',')) throw new OAuthError('invalid_request', 'More than one DPoP header was sent.');
  const invalid = (detail: string, cause?: unknown) =>
    new OAuthError('invalid_dpop_proof', 'The DPoP proof is invalid.', { detail, cause });
  // RFC 9449 section 11.1: a proof is single use; the same bytes again are refused before anything else.
  if (settings.spent?.has(header, now)) throw invalid('jti replayed (this very proof was consumed before)');

  let payload: JWTPayload;
  let jwk: JWK;
  try {
    const verified = await jwtVerify(header.trim(), async (protectedHeader, token) => {
      const candidate = protectedHeader.jwk as Record<string, unknown> | undefined;
      // RFC 9449 section 4.3: the jwk header MUST NOT contain a private key.
      if (candidate && typeof candidate === 'object' && ('d' in candidate || candidate.kty === 'oct')) {
        throw invalid('the jwk header holds a private or symmetric key');
      }
      return EmbeddedJWK(protectedHeader, token);
    }, {
      // RFC 9449 section 4.3: typ MUST be dpop+jwt; alg MUST be asymmetric and supported.
      typ: 'dpop+jwt',
      algorithms: [...settings.algorithms],
    });
    payload = verified.payload;
    jwk = verified.protectedHeader.jwk!;
  } catch (cause) {
    if (cause instanceof OAuthError) throw cause;
    const code = (cause as { code?: unknown }).code;
    throw invalid(`${typeof code === 'string' ? code + ': ' : ''}${cause instanceof Error ? cause.message : String(cause)}`, cause);
  }

  const { jti, iat, htm, htu, nonce, ath } = payload as JWTPayload & Record<string, unknown>;
  // RFC 9449 section 4.2: jti, htm, htu and iat are REQUIRED.
  if (typeof jti !== 'string' || jti === '' || jti.length > 256) throw invalid('jti is not a string of 1 to 256 characters');
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw invalid('iat is not a number');
  // RFC 9449 section 4.3: htm matches the method of the request.
  if (htm !== req.method.toUpperCase()) throw invalid(`htm ${JSON.stringify(htm)} is not ${req.method.toUpperCase()}`);
  // RFC 9449 section 4.3: htu matches the request URI, ignoring query and fragment, after normalization.
  const expectedHtu = normalizeHtu(req.url);
  if (typeof htu !== 'string' || expectedHtu === undefined || normalizeHtu(htu) !== expectedHtu) throw invalid(`htu ${JSON.stringify(htu)} is not ${req.url}`);
  // RFC 9449 section 4.3: the proof was created within an acceptable window.
  if (iat < now - settings.maxAge) throw invalid(`iat is ${now - iat}s old, more than ${settings.maxAge}s`);
  if (iat > now + settings.futureSkew) throw invalid(`iat is ${iat - now}s in the future`);
  if (req.accessToken !== undefined) {
    // RFC 9449 section 4.3: with an access token, ath MUST be the hash of that token.
    const expected = await sha256Base64url(req.accessToken);
    if (typeof ath !== 'string' || !safeEqual(ath, expected)) throw invalid('ath does not hash the access token');
  }
  if (nonce !== undefined && typeof nonce !== 'string') throw invalid('nonce is not a string');
  if (settings.nonces) {
    // RFC 9449 section 8: a missing or stale nonce is answered with use_dpop_nonce and a fresh one.
    if (nonce === undefined || !settings.nonces.accepts(nonce, now)) {
      throw new OAuthError('use_dpop_nonce', 'The DPoP proof must carry the server-provided nonce.', {
        detail: nonce === undefined ? 'no nonce' : 'stale nonce',
        headers: { 'dpop-nonce': settings.nonces.current(now) },
      });
    }
  }

  const jkt = await calculateJwkThumbprint(jwk, 'sha256');
  // RFC 9449 section 11.1: a proof is single use; remembered for as long as its iat is acceptable.
  const expiresAt = Math.floor(iat) + settings.maxAge;
  const first = await deps.store.consumeOnce('dpop:' + jkt, jti, expiresAt);
  settings.spent?.add(header, expiresAt);
  if (!first) throw invalid('jti replayed');
  return nonce === undefined ? { jkt, jti, iat } : { jkt, jti, iat, nonce };
}

/** Scheme and host lowercased, default port dropped, dot segments resolved, query and fragment removed. */
export function normalizeHtu(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  url.search = '';
  url.hash = '';
  return url.href;
}

async function sha256Base64url(value: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(value));
  return Buffer.from(digest).toString('base64url');
}
