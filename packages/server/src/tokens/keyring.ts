/**
 * The server's signing keys: generated, sealed under the key-encryption key (KEK), stored,
 * rotated, published as a JWKS, and used to sign and verify the tokens the server issues.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import type { JsonWebKey, KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import type { JWTPayload } from 'jose';
import { seal, unseal } from '../core/crypto.ts';
import type { Store } from '../core/store.ts';
import type { Jwk, SigningAlg, SigningKeyRecord } from '../core/types.ts';
import { JwsSigner } from './jws.ts';

/** The store operations a key ring needs. */
export type KeyStore = Pick<Store, 'listSigningKeys' | 'addSigningKey'>;

/** Additional authenticated data binding a sealed private JWK to its `kid`. */
function sealContext(kid: string): string {
  return 'signing-key:' + kid;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
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

/** How long a first key lost in a race between processes stays published (see {@link KeyRing.load}). */
const firstKeyRaceGrace = 24 * 3600;

/**
 * The signing keys, loaded once and kept as imported KeyObjects.
 *
 * @example
 * ```ts
 * const keys = await KeyRing.load(store, kek)
 * const jwt = keys.sign({ iss, sub, aud, iat, exp }, 'at+jwt')
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

  /** Use {@link KeyRing.load}. */
  private constructor(store: KeyStore, kek: Uint8Array) {
    this.#store = store;
    this.#kek = kek;
  }

  /**
   * Loads the keys from `store`. When it has none, creates the first one (`alg`, default
   * ES256) and stores it.
   */
  static async load(store: KeyStore, kek: Uint8Array, options: { alg?: SigningAlg; now?: number } = {}): Promise<KeyRing> {
    const ring = new KeyRing(store, kek);
    if ((await store.listSigningKeys()).length === 0) {
      const now = options.now ?? nowSeconds();
      // Two processes starting on an empty store may both get here; the later one retires the
      // earlier key, which must stay published until whatever it signed meanwhile expires.
      await store.addSigningKey(await generateSigningKey(options.alg ?? 'ES256', kek, now), now + firstKeyRaceGrace);
    }
    await ring.reload();
    return ring;
  }

  /** The current signing key's kid and alg (the newest key not retired). */
  get current(): { kid: string; alg: SigningAlg } {
    return { kid: this.#current.record.kid, alg: this.#current.record.alg };
  }

  /**
   * Signs `payload` as a compact JWS with the current key, header `{alg, kid, typ}`.
   * Synchronous: the private key was imported once.
   */
  sign(payload: Record<string, unknown>, typ: string): string {
    return this.#signer(this.#current).sign(payload, typ);
  }

  /** The public JWKS: every key not past its `removeAfter` at `now`. */
  jwks(now: number = nowSeconds()): { keys: Jwk[] } {
    return { keys: this.#keys.filter((k) => published(k.record, now)).map((k) => ({ ...publicMembers(k.record.publicJwk), use: 'sig', alg: k.record.alg, kid: k.record.kid }) as Jwk) };
  }

  /**
   * Verifies a token this server signed (signature with a published key, `typ`, `exp`/`nbf`
   * at `now`). Returns the payload, or undefined when it is invalid or expired.
   */
  async verify(token: string, typ: string, now: number = nowSeconds()): Promise<Record<string, unknown> | undefined> {
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
   * Adds a new signing key, which becomes current, and retires the previous one. The retired
   * key stays published until `removeRetiredAfter`: now plus the longest lifetime of a token
   * it may have signed.
   */
  async rotate(options: { now: number; removeRetiredAfter: number; alg?: SigningAlg }): Promise<SigningKeyRecord> {
    const record = await generateSigningKey(options.alg ?? this.#current.record.alg, this.#kek, options.now);
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
    // Oldest first; the newest key not retired signs (the newest of all if every key is retired).
    keys.sort((a, b) => a.record.createdAt - b.record.createdAt);
    const active = keys.filter((k) => k.record.retiredAt == null);
    const candidates = active.length > 0 ? active : keys;
    const current = candidates[candidates.length - 1];
    this.#signer(current); // unseal and import now, so that sign() never fails later
    this.#keys = keys;
    this.#byKid = new Map(keys.map((k) => [k.record.kid, k]));
    this.#current = current;
    for (const kid of this.#signers.keys()) if (!this.#byKid.has(kid)) this.#signers.delete(kid);
  }

  #signer(key: LoadedKey): JwsSigner {
    let signer = this.#signers.get(key.record.kid);
    if (signer === undefined) {
      const jwk = JSON.parse(unseal(this.#kek, key.record.privateSealed, sealContext(key.record.kid))) as JsonWebKey;
      signer = new JwsSigner({ kid: key.record.kid, alg: key.record.alg, privateKey: createPrivateKey({ key: jwk, format: 'jwk' }) });
      this.#signers.set(key.record.kid, signer);
    }
    return signer;
  }
}

function published(record: SigningKeyRecord, now: number): boolean {
  return record.removeAfter == null || record.removeAfter > now;
}
