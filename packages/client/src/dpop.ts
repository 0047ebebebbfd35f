import { base64url, utf8 } from './base64url.ts';
import { internal, type Configuration } from './configuration.ts';

/**
 * A DPoP (RFC 9449) proof-generation and nonce-management handle: what `options.DPoP` of
 * {@link refreshTokenGrant} and the token manager's `DPoP` option take. openid-client's
 * `getDPoPHandle` result fits the same shape.
 */
export interface DPoPHandle {
  /**
   * Signs a proof for one request and sets it as the `DPoP` header: `htm`, `htu` (the URL without
   * query and fragment), a fresh `jti`, `iat`, the nonce last seen from the URL's origin, and with
   * `accessToken` its hash `ath` (resource requests).
   */
  addProof(url: URL, headers: Headers, htm: string, accessToken?: string): Promise<void>;
  /** Remembers a response's `DPoP-Nonce` for the URL's origin. */
  cacheNonce(response: { headers: Headers }, url: URL): void;
  /** The RFC 7638 SHA-256 thumbprint of the public key (what `cnf.jkt` and `--dpop-jkt` carry). */
  calculateThumbprint(): Promise<string>;
}

/** Options of {@link getDPoPHandle}. */
export interface DPoPHandleOptions {
  /** Change the proof's header or claims right before it is signed. */
  modifyAssertion?: (header: Record<string, unknown>, payload: Record<string, unknown>) => void;
}

type Signing = [alg: string, params: AlgorithmIdentifier | EcdsaParams | RsaPssParams];

// RFC 7638 section 3.2: the thumbprint covers the required members only, in lexicographic order.
const requiredMembers: Record<string, string[]> = { EC: ['crv', 'kty', 'x', 'y'], OKP: ['crv', 'kty', 'x'], RSA: ['e', 'kty', 'n'] };

function signingOf(key: CryptoKey): Signing {
  const algorithm = key.algorithm as { name: string; hash?: { name: string }; namedCurve?: string };
  const bits = algorithm.hash?.name.slice(4);
  switch (algorithm.name) {
    case 'ECDSA': {
      const size = algorithm.namedCurve!.slice(2);
      return [`ES${size === '521' ? 512 : size}`, { name: 'ECDSA', hash: `SHA-${size === '521' ? 512 : size}` }];
    }
    case 'Ed25519':
      return ['Ed25519', 'Ed25519'];
    case 'RSASSA-PKCS1-v1_5':
      return [`RS${bits}`, algorithm.name];
    case 'RSA-PSS':
      return [`PS${bits}`, { name: algorithm.name, saltLength: Number(bits) / 8 }];
  }
  throw new TypeError(`unsupported DPoP key algorithm ${algorithm.name}`);
}

const sha256 = async (value: string): Promise<string> => base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', utf8(value))));

/**
 * Creates a DPoP handle from a key pair, like openid-client v6's `getDPoPHandle`. The private key
 * may be (and in browsers should be) non-extractable; the public key goes in every proof's header.
 * Nonces (RFC 9449 section 8) are remembered per origin, for the last 100 origins.
 *
 * @example
 * const keyPair = await randomDPoPKeyPair()            // or a persisted one: createBrowserStore().dpopKeyPair('default')
 * const DPoP = getDPoPHandle(config, keyPair)
 * const tokens = await refreshTokenGrant(config, refreshToken, undefined, { DPoP })
 * tokens.token_type // 'dpop'
 */
export function getDPoPHandle(config: Configuration, keyPair: CryptoKeyPair, options?: DPoPHandleOptions): DPoPHandle {
  internal(config);
  const { privateKey, publicKey } = keyPair ?? {};
  if (!(privateKey instanceof CryptoKey) || privateKey.type !== 'private') throw new TypeError('"keyPair.privateKey" must be a private CryptoKey');
  if (!(publicKey instanceof CryptoKey) || publicKey.type !== 'public') throw new TypeError('"keyPair.publicKey" must be a public CryptoKey');
  const [alg, params] = signingOf(privateKey);
  const nonces = new Map<string, string>();
  let jwk: Promise<Record<string, unknown>> | undefined;
  let thumbprint: Promise<string> | undefined;
  const publicJwk = () =>
    (jwk ??= crypto.subtle.exportKey('jwk', publicKey).then((full) => {
      const members = requiredMembers[full.kty!];
      if (!members) throw new TypeError(`unsupported DPoP key type ${full.kty}`);
      return Object.fromEntries(members.map((name) => [name, full[name as keyof JsonWebKey]]));
    }));

  return {
    async addProof(url, headers, htm, accessToken) {
      // RFC 9449 section 4.2: typ dpop+jwt, an asymmetric alg, and the public key as jwk.
      const header: Record<string, unknown> = { typ: 'dpop+jwt', alg, jwk: await publicJwk() };
      const payload: Record<string, unknown> = {
        iat: Math.floor(Date.now() / 1000),
        jti: base64url(crypto.getRandomValues(new Uint8Array(16))),
        htm,
        // RFC 9449 section 4.2: htu is the request URI without query and fragment.
        htu: url.origin + url.pathname,
        nonce: nonces.get(url.origin),
        // RFC 9449 section 4.2: with an access token, ath is its base64url SHA-256.
        ath: accessToken === undefined ? undefined : await sha256(accessToken),
      };
      options?.modifyAssertion?.(header, payload);
      const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
      const signature = new Uint8Array(await crypto.subtle.sign(params, privateKey, utf8(input)));
      headers.set('dpop', `${input}.${base64url(signature)}`);
    },
    cacheNonce(response, url) {
      const nonce = response.headers.get('dpop-nonce');
      if (!nonce) return;
      nonces.delete(url.origin);
      if (nonces.size >= 100) nonces.delete(nonces.keys().next().value!);
      nonces.set(url.origin, nonce);
    },
    calculateThumbprint() {
      return (thumbprint ??= publicJwk().then((members) => sha256(JSON.stringify(members))));
    },
  };
}

/**
 * Generates a key pair for DPoP proofs: ES256 (P-256) by default, `Ed25519`, `ES384`, `RS256` or
 * `PS256`. The private key is not extractable unless asked for.
 *
 * @example
 * const keyPair = await randomDPoPKeyPair('ES256')
 * keyPair.privateKey.extractable // false
 */
export async function randomDPoPKeyPair(alg = 'ES256', options?: { extractable?: boolean }): Promise<CryptoKeyPair> {
  const rsa = { modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
  const algorithms: Record<string, RsaHashedKeyGenParams | EcKeyGenParams | Algorithm> = {
    ES256: { name: 'ECDSA', namedCurve: 'P-256' },
    ES384: { name: 'ECDSA', namedCurve: 'P-384' },
    Ed25519: { name: 'Ed25519' },
    EdDSA: { name: 'Ed25519' },
    RS256: { name: 'RSASSA-PKCS1-v1_5', ...rsa },
    PS256: { name: 'RSA-PSS', ...rsa },
  };
  const algorithm = algorithms[alg];
  if (!algorithm) throw new TypeError(`unsupported DPoP algorithm ${alg}`);
  return crypto.subtle.generateKey(algorithm, options?.extractable ?? false, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}
