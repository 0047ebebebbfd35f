/**
 * Compact JWS signing (RFC 7515 section 7.1) straight on node:crypto, for the two algorithms
 * the server signs with. This is the one place that does not go through jose: signing sits on
 * the token endpoint's hot path and `bench/jwt-sign.ts` measures what it saves. Verification
 * always goes through jose (see `keyring.ts`).
 */
import { sign as cryptoSign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { SigningAlg } from '../core/types.ts';

/** A private key ready to sign, with the `kid` and `alg` its JWS header carries. */
export interface JwsKey {
  kid: string;
  alg: SigningAlg;
  /** An imported private KeyObject: P-256 for ES256, Ed25519 for EdDSA. */
  privateKey: KeyObject;
}

/**
 * Signs compact JWS with one key. The base64url header is encoded once per `typ` and reused.
 *
 * @example
 * ```ts
 * const signer = new JwsSigner({ kid, alg: 'ES256', privateKey })
 * const jwt = signer.sign({ iss, sub, exp }, 'at+jwt')
 * ```
 */
export class JwsSigner {
  readonly kid: string;
  readonly alg: SigningAlg;
  readonly #privateKey: KeyObject;
  readonly #headers = new Map<string, string>();

  constructor(key: JwsKey) {
    this.kid = key.kid;
    this.alg = key.alg;
    this.#privateKey = key.privateKey;
  }

  /** The compact serialization `header.payload.signature` of `payload` with header `{alg, kid, typ}`. */
  sign(payload: Record<string, unknown>, typ: string): string {
    let header = this.#headers.get(typ);
    if (header === undefined) {
      header = Buffer.from(JSON.stringify({ alg: this.alg, kid: this.kid, typ })).toString('base64url');
      this.#headers.set(typ, header);
    }
    const signingInput = header + '.' + Buffer.from(JSON.stringify(payload)).toString('base64url');
    const data = Buffer.from(signingInput);
    const signature =
      this.alg === 'ES256'
        ? // RFC 7518 section 3.4: the signature is R || S (64 octets), not DER.
          cryptoSign('sha256', data, { key: this.#privateKey, dsaEncoding: 'ieee-p1363' })
        : // RFC 8037 section 3.1: Ed25519 signs the input itself, no pre-hash.
          cryptoSign(null, data, this.#privateKey);
    return signingInput + '.' + signature.toString('base64url');
  }
}
