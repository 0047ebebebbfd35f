/**
 * The server's signing keys: generated, sealed under the key-encryption key (KEK), stored,
 * rotated, published as a JWKS, and used to sign and verify the tokens the server issues.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import type { JsonWebKey, KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import type { JWTPayload } from 'jose';
import { seal, unseal } from '../crypto.ts';
import type { Store } from '../store.ts';
import type { Jwk, SigningAlg, SigningKeyRecord } from '../types.ts';
import { JwsSigner, type SignatureStats, type SignatureWorker } from './jws.ts';

/** The store operations a key ring needs. */
export type KeyStore = Pick<Store, 'listSigningKeys' | 'addSigningKey'>;

/** Additional authenticated data binding a sealed private JWK to its `kid`. */
function sealContext(kid: string): string {
  return 'signing-key:' + kid;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * True when `kek` opens the sealed private key of `record` (the KEK it was sealed under).
 *
 * @example
 * ```ts
 * if (!opensSigningKey((await store.listSigningKeys()).at(-1)!, kek)) throw new Error('wrong KEK')
 * ```
 */
export function opensSigningKey(record: SigningKeyRecord, kek: Uint8Array): boolean {
  try {
    unseal(kek, record.privateSealed, sealContext(record.kid));
    return true;
  } catch {
    return false;
  }
}

/** The public members of a JWK for `alg` (what a thumbprint and a JWKS carry). */
function publicMembers(jwk: Record<string, unknown>): Record<string, unknown> {
  return jwk.kty === 'EC'
    ? { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }
    : { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
}

/**
 * Creates a new signing key record, its private JWK sealed under `kek`, without storing it.
 * The `kid` is the key's RFC 7638 JWK thumbprint.
 *
 * @example
 * ```ts
 * const record = await generateSigningKey('ES256', kek, Math.floor(Date.now() / 1000))
 * await store.addSigningKey(record, now + 3600)
 * ```
 */
export async function generateSigningKey(alg: SigningAlg, kek: Uint8Array, now: number): Promise<SigningKeyRecord> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, crv: alg === 'EdDSA' ? 'Ed25519' : undefined });
  const pub = publicMembers(await exportJWK(publicKey));
  const kid = await calculateJwkThumbprint(pub as Jwk);
  const publicJwk: Jwk = { ...(pub as Jwk), kid, alg, use: 'sig' };
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
  // The private key is never stored in plaintext.
  const privateSealed = seal(kek, JSON.stringify(privateJwk), sealContext(kid));
  return { kid, alg, publicJwk, privateSealed, createdAt: now };
}

/** A stored key with what was imported from it (once). */
interface LoadedKey {
  record: SigningKeyRecord;
  publicKey: KeyObject;
}

/** Options of {@link KeyRing.load}. */
export interface KeyRingOptions {
  /** Algorithm of the first key, when the store has none (default ES256). */
  alg?: SigningAlg;
  /** The first key's creation time (seconds); defaults to the clock. */
  now?: number;
  /** Seconds since the epoch (default: the system clock). */
  clock?: () => number;
  /** Computes signatures elsewhere (a worker thread); default: on the calling thread. */
  signatures?: SignatureWorker;
}

/** How long a first key lost in a race between processes stays published (see {@link KeyRing.load}). */
const firstKeyRaceGrace = 24 * 3600;

/**
 * The signing keys, loaded once and kept as imported KeyObjects.
 *
 * @example
 * ```ts
 * const keys = await KeyRing.load(store, kek)
 * const jwt = await keys.sign({ iss, sub, aud, iat, exp }, 'at+jwt')
 * const payload = await keys.verify(jwt, 'at+jwt') // undefined when invalid or expired
 * ```
 */
export class KeyRing {
  readonly #store: KeyStore;
  readonly #kek: Uint8Array;
  #keys: LoadedKey[] = [];
  #byKid = new Map<string, LoadedKey>();
  /** Signers by kid; a private key is unsealed and imported the first time it signs. */
  readonly #signers = new Map<string, JwsSigner>();
  #current!: LoadedKey;
  /** When a published key that does not sign yet becomes current (publish-before-activate). */
  #switchAt: number | undefined;
  readonly #clock: () => number;
  readonly #signatures: SignatureWorker | undefined;

  /** Use {@link KeyRing.load}. */
  private constructor(store: KeyStore, kek: Uint8Array, clock: () => number, signatures?: SignatureWorker) {
    this.#signatures = signatures;
    this.#store = store;
    this.#kek = kek;
    this.#clock = clock;
  }

  /**
   * Loads the keys from `store`. When it has none, creates the first one (`alg`, default
   * ES256) and stores it.
   */
  static async load(store: KeyStore, kek: Uint8Array, options: KeyRingOptions = {}): Promise<KeyRing> {
    const ring = new KeyRing(store, kek, options.clock ?? nowSeconds, options.signatures);
    if ((await store.listSigningKeys()).length === 0) {
      const now = options.now ?? ring.#clock();
      // Two processes starting on an empty store may both get here; the later one retires the
      // earlier key, which must stay published until whatever it signed meanwhile expires.
      await store.addSigningKey(await generateSigningKey(options.alg ?? 'ES256', kek, now), now + firstKeyRaceGrace);
    }
    await ring.reload();
    return ring;
  }

  /** The current signing key's kid and alg (the newest key that signs at this moment). */
  get current(): { kid: string; alg: SigningAlg } {
    const current = this.#currentKey();
    return { kid: current.record.kid, alg: current.record.alg };
  }

  /**
   * Signs `payload` as a compact JWS with the current key, header `{alg, kid, typ}`. The
   * private key was imported once; the signature is computed on this thread, or on the
   * {@link SignatureWorker} the ring was loaded with.
   */
  sign(payload: Record<string, unknown>, typ: string): Promise<string> {
    return this.#signer(this.#currentKey()).sign(payload, typ);
  }

  /** What the signature worker has done, or undefined when signatures are computed inline. */
  signatureStats(): SignatureStats | undefined {
    return this.#signatures?.stats?.();
  }

  /** Stops the signature worker, if any (pending signatures complete first). */
  async close(): Promise<void> {
    await this.#signatures?.close();
  }

  /** The key that signs now; switches to a pending key once its activation time has come. */
  #currentKey(): LoadedKey {
    if (this.#switchAt !== undefined && this.#clock() >= this.#switchAt) this.#select();
    return this.#current;
  }

  /** The public JWKS: every key not past its `removeAfter` at `now`. */
  jwks(now: number = this.#clock()): { keys: Jwk[] } {
    return { keys: this.#keys.filter((k) => published(k.record, now)).map((k) => ({ ...publicMembers(k.record.publicJwk), use: 'sig', alg: k.record.alg, kid: k.record.kid }) as Jwk) };
  }

  /**
   * Verifies a token this server signed (signature with a published key, `typ`, `exp`/`nbf`
   * at `now`). Returns the payload, or undefined when it is invalid or expired.
   */
  async verify(token: string, typ: string, now: number = this.#clock()): Promise<Record<string, unknown> | undefined> {
    try {
      const { payload } = await jwtVerify(
        token,
        (header) => {
          const key = header.kid === undefined ? undefined : this.#byKid.get(header.kid);
          // RFC 8725 section 3.1: only the algorithm the key was made for.
          if (key === undefined || header.alg !== key.record.alg || !published(key.record, now)) {
            throw new Error('unknown signing key');
          }
          return key.publicKey;
        },
        { typ, algorithms: ['ES256', 'EdDSA'], currentDate: new Date(now * 1000) },
      );
      return payload as JWTPayload & Record<string, unknown>;
    } catch {
      return undefined;
    }
  }

  /**
   * Adds a new signing key and retires the previous one. The new key is published at once and
   * signs from `activateAt` (default `now`): with several instances, an activation later than
   * their key reload interval means every instance publishes a key before any token it signed
   * exists. The retired key stays published until `removeRetiredAfter`: its retirement plus
   * the longest lifetime of a token it may have signed.
   */
  async rotate(options: { now: number; removeRetiredAfter: number; alg?: SigningAlg; activateAt?: number }): Promise<SigningKeyRecord> {
    const record = await generateSigningKey(options.alg ?? this.#current.record.alg, this.#kek, Math.max(options.now, options.activateAt ?? options.now));
    await this.#store.addSigningKey(record, options.removeRetiredAfter);
    await this.reload();
    return record;
  }

  /** Re-reads the store, e.g. after `refresh-grant keys rotate` in another process. */
  async reload(): Promise<void> {
    const records = await this.#store.listSigningKeys();
    if (records.length === 0) throw new Error('no signing keys in the store');
    const keys: LoadedKey[] = [];
    for (const record of records) {
      const known = this.#byKid.get(record.kid);
      // Imported once; the record is refreshed because retiredAt/removeAfter may have changed.
      keys.push({ record, publicKey: known?.publicKey ?? createPublicKey({ key: publicMembers(record.publicJwk) as JsonWebKey, format: 'jwk' }) });
    }
    // Oldest first (by when each signs from).
    keys.sort((a, b) => a.record.createdAt - b.record.createdAt);
    for (const key of keys) if (key.record.createdAt > this.#clock()) this.#signer(key); // import pending keys ahead of time
    this.#keys = keys;
    this.#byKid = new Map(keys.map((k) => [k.record.kid, k]));
    this.#select();
    for (const kid of this.#signers.keys()) if (!this.#byKid.has(kid)) this.#signers.delete(kid);
  }

  /**
   * Picks the signing key at this moment: the newest key that has started signing and is not
   * retired (the newest started one if every key is retired), and notes when a pending key
   * takes over.
   */
  #select(): void {
    const now = this.#clock();
    const started = this.#keys.filter((k) => k.record.createdAt <= now);
    const candidates = started.length > 0 ? started : this.#keys;
    const active = candidates.filter((k) => k.record.retiredAt == null || k.record.retiredAt > now);
    const current = (active.length > 0 ? active : candidates).at(-1)!;
    this.#signer(current); // unseal and import now, so that sign() never fails later
    this.#current = current;
    const pending = this.#keys.filter((k) => k.record.createdAt > now).map((k) => k.record.createdAt);
    this.#switchAt = pending.length > 0 ? Math.min(...pending) : undefined;
  }

  #signer(key: LoadedKey): JwsSigner {
    let signer = this.#signers.get(key.record.kid);
    if (signer === undefined) {
      const jwk = JSON.parse(unseal(this.#kek, key.record.privateSealed, sealContext(key.record.kid))) as JsonWebKey;
      signer = new JwsSigner({ kid: key.record.kid, alg: key.record.alg, privateKey: createPrivateKey({ key: jwk, format: 'jwk' }) }, this.#signatures);
      this.#signers.set(key.record.kid, signer);
    }
    return signer;
  }
}

function published(record: SigningKeyRecord, now: number): boolean {
  return record.removeAfter == null || record.removeAfter > now;
}
