/**
 * Compact JWS signing (RFC 7515 section 7.1) straight on node:crypto, for the two algorithms
 * the server signs with. This is the one place that does not go through jose: signing sits on
 * the token endpoint's hot path and `bench/jwt-sign.ts` measures what it saves. Verification
 * always goes through jose (see `keyring.ts`).
 */
import { sign as cryptoSign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { SigningAlg } from '../types.ts';

/** A private key ready to sign, with the `kid` and `alg` its JWS header carries. */
export interface JwsKey {
  kid: string;
  alg: SigningAlg;
  /** An imported private KeyObject: P-256 for ES256, Ed25519 for EdDSA. */
  privateKey: KeyObject;
}

/**
 * Where signatures are computed when not on the calling thread (`signing-thread.ts` runs them
 * on a worker thread). It must return exactly what signing on the calling thread returns.
 */
export interface SignatureWorker {
  /** The base64url signature of `signingInput` with `key` (whose `kid` never changes meaning). */
  signature(key: JwsKey, signingInput: string): Promise<string>;
  /** Stops the worker; pending signatures still complete. */
  close(): Promise<void>;
  /** Counts since the worker started, for metrics and tests. */
  stats?(): SignatureStats;
}

/** What a {@link SignatureWorker} has done: signatures computed off the calling thread, inline, and waiting. */
export interface SignatureStats {
  /** Signatures computed on the worker. */
  onThread: number;
  /** Signatures computed on the calling thread (the worker failed, refused or was closed). */
  inline: number;
  /** Signatures queued or sent and not yet answered. */
  pending: number;
}

/**
 * Signs compact JWS with one key. The base64url header is encoded once per `typ` and reused.
 * The signature itself is computed here or, given a {@link SignatureWorker}, there.
 *
 * @example
 * ```ts
 * const signer = new JwsSigner({ kid, alg: 'ES256', privateKey })
 * const jwt = await signer.sign({ iss, sub, exp }, 'at+jwt')
 * ```
 */
export class JwsSigner {
  readonly kid: string;
  readonly alg: SigningAlg;
  readonly #key: JwsKey;
  readonly #worker: SignatureWorker | undefined;
  readonly #headers = new Map<string, string>();

  constructor(key: JwsKey, worker?: SignatureWorker) {
    this.kid = key.kid;
    this.alg = key.alg;
    this.#key = key;
    this.#worker = worker;
  }

  /** The compact serialization `header.payload.signature` of `payload` with header `{alg, kid, typ}`. */
  async sign(payload: Record<string, unknown>, typ: string): Promise<string> {
    let header = this.#headers.get(typ);
    if (header === undefined) {
      header = Buffer.from(JSON.stringify({ alg: this.alg, kid: this.kid, typ })).toString('base64url');
      this.#headers.set(typ, header);
    }
    const signingInput = header + '.' + Buffer.from(JSON.stringify(payload)).toString('base64url');
    const signature = this.#worker
      ? await this.#worker.signature(this.#key, signingInput)
      : jwsSignature(this.#key, signingInput);
    return signingInput + '.' + signature;
  }
}

/**
 * The base64url JWS signature (RFC 7515 section 5.1) of `signingInput` with `key`.
 *
 * @example
 * ```ts
 * const jws = input + '.' + jwsSignature({ kid, alg: 'ES256', privateKey }, input)
 * ```
 */
export function jwsSignature(key: JwsKey, signingInput: string): string {
  return jwsSignatureWith(cryptoSign, derToRaw, key, signingInput);
}

/**
 * {@link jwsSignature} with its two dependencies passed in. It uses nothing but its parameters
 * and `Buffer`, so that the signing thread runs this very function from its source text
 * (`signing/signing-thread-worker.ts`): one implementation, no worker file to resolve.
 */
export function jwsSignatureWith(sign: typeof cryptoSign, toRaw: typeof derToRaw, key: JwsKey, signingInput: string): string {
  const data = Buffer.from(signingInput);
  const signature =
    key.alg === 'ES256'
      ? // RFC 7518 section 3.4: the signature is R || S (64 octets), not DER. Signing with the
        // bare KeyObject (DER out) and converting here costs half of asking node:crypto for
        // `dsaEncoding: 'ieee-p1363'` through an options object (Node 24).
        toRaw(sign('sha256', data, key.privateKey), 32)
      : // RFC 8037 section 3.1: Ed25519 signs the input itself, no pre-hash.
        sign(null, data, key.privateKey);
  return signature.toString('base64url');
}

/**
 * An ECDSA signature from DER (`SEQUENCE { INTEGER r, INTEGER s }`, RFC 3279 section 2.2.3) to
 * the JWS form R || S, each left-padded to `size` octets (RFC 7518 section 3.4).
 *
 * @example
 * ```ts
 * const jwsSignature = derToRaw(sign('sha256', data, p256PrivateKey), 32) // 64 octets
 * ```
 */
export function derToRaw(der: Buffer, size: number): Buffer {
  let at = 2;
  if (der[0] !== 0x30) throw new Error('ECDSA signature is not a DER SEQUENCE');
  if (der[1] & 0x80) at += der[1] & 0x7f; // long-form length (never for P-256, handled anyway)
  const raw = Buffer.alloc(2 * size);
  for (let i = 0; i < 2; i++) {
    if (der[at] !== 0x02) throw new Error('ECDSA signature component is not a DER INTEGER');
    const length = der[at + 1];
    const end = at + 2 + length;
    // Drop the sign octet (or leading zeros) of a 33-octet INTEGER; left-pad a short one.
    const start = Math.max(at + 2, end - size);
    der.copy(raw, (i + 1) * size - (end - start), start, end);
    at = end;
  }
  return raw;
}
