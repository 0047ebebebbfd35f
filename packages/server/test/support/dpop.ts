/**
 * DPoP proofs (RFC 9449) for tests: a key pair with its thumbprint, and proofs signed with it.
 */
import { createHash, randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

/** A DPoP key: the private key signs, the public JWK goes in the header. */
export interface ProofKey {
  privateKey: CryptoKey;
  jwk: JWK;
  jkt: string;
}

/** A new ES256 DPoP key. */
export async function proofKey(): Promise<ProofKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) };
}

/** A fresh proof for `method` at `url`; with `accessToken`, its `ath`; with `nonce`, the server's nonce. */
export function proof(key: ProofKey, method: string, url: string, accessToken?: string, nonce?: string): Promise<string> {
  const payload: Record<string, unknown> = { htm: method, htu: url, jti: randomUUID() };
  if (nonce !== undefined) payload.nonce = nonce;
  if (accessToken !== undefined) payload.ath = createHash('sha256').update(accessToken).digest('base64url');
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk })
    .setIssuedAt()
    .sign(key.privateKey);
}
