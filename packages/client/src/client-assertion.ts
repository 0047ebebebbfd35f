import { base64url, utf8 } from './base64url.ts';
import { secretOf, type ClientAuth } from './client-auth.ts';
import type { ClientMetadata, ServerMetadata } from './configuration.ts';

/** A private key for {@link PrivateKeyJwt}: a `CryptoKey`, or one with the `kid` to put in the header. */
export type PrivateKey = CryptoKey | { key: CryptoKey; kid?: string };

/** Options of {@link ClientSecretJwt} and {@link PrivateKeyJwt}. */
export interface ClientAssertionOptions {
  /**
   * The assertion's `aud` (RFC 7523 section 3: it identifies the authorization server): its
   * `issuer` (default), or its `token_endpoint`, which some servers require (Authlib, glewlwyd).
   */
  audience?: 'issuer' | 'token_endpoint';
  /** Change the assertion's header or claims right before it is signed. */
  modifyAssertion?: (header: Record<string, unknown>, payload: Record<string, unknown>) => void;
}

type SignParams = AlgorithmIdentifier | RsaPssParams | EcdsaParams;

async function assert(
  as: ServerMetadata,
  client: ClientMetadata,
  body: URLSearchParams,
  header: Record<string, unknown>,
  key: CryptoKey,
  params: SignParams,
  options?: ClientAssertionOptions,
): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  // RFC 7523 section 3: iss and sub are the client_id, aud identifies the authorization server, exp limits the lifetime, jti is unique.
  const payload: Record<string, unknown> = {
    iss: client.client_id,
    sub: client.client_id,
    aud: as[options?.audience ?? 'issuer'],
    jti: crypto.randomUUID(),
    iat: now,
    exp: now + 60,
  };
  options?.modifyAssertion?.(header, payload);
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
  const signature = new Uint8Array(await crypto.subtle.sign(params, key, utf8(input)));
  body.set('client_id', client.client_id);
  // RFC 7523 section 2.2: client_assertion_type is this exact URN.
  body.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
  body.set('client_assertion', `${input}.${base64url(signature)}`);
}

/**
 * `client_secret_jwt`: an HS256 client assertion (RFC 7523) keyed with the client secret.
 *
 * @example
 * const config = new Configuration(serverMetadata, 'my-client', undefined, ClientSecretJwt('s3cret'))
 */
export function ClientSecretJwt(clientSecret?: string, options?: ClientAssertionOptions): ClientAuth {
  return async (as, client, body) => {
    const key = await crypto.subtle.importKey('raw', utf8(secretOf(clientSecret, client)), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    await assert(as, client, body, { alg: 'HS256' }, key, 'HMAC', options);
  };
}

/**
 * `private_key_jwt`: a client assertion (RFC 7523) signed with the client's private key. The JWS
 * algorithm follows the key: RS*, PS*, ES256/384/512 or Ed25519.
 *
 * @example
 * const { privateKey } = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])
 * const config = new Configuration(serverMetadata, 'my-client', undefined, PrivateKeyJwt({ key: privateKey, kid: 'k1' }))
 */
export function PrivateKeyJwt(clientPrivateKey: PrivateKey, options?: ClientAssertionOptions): ClientAuth {
  const { key, kid } = 'key' in clientPrivateKey ? clientPrivateKey : { key: clientPrivateKey, kid: undefined };
  if (!(key instanceof CryptoKey) || key.type !== 'private') throw new TypeError('PrivateKeyJwt needs a private CryptoKey');
  const [alg, params] = jwsAlgorithm(key);
  return (as, client, body) => assert(as, client, body, { alg, ...(kid && { kid }) }, key, params, options);
}

function jwsAlgorithm(key: CryptoKey): [string, SignParams] {
  const algorithm = key.algorithm as { name: string; hash?: { name: string }; namedCurve?: string };
  const bits = algorithm.hash?.name.slice(4);
  switch (algorithm.name) {
    case 'RSASSA-PKCS1-v1_5':
      return [`RS${bits}`, algorithm.name];
    case 'RSA-PSS':
      return [`PS${bits}`, { name: algorithm.name, saltLength: Number(bits) / 8 }];
    case 'ECDSA': {
      const size = algorithm.namedCurve!.slice(2);
      return [`ES${size === '521' ? 512 : size}`, { name: algorithm.name, hash: `SHA-${size === '521' ? 512 : size}` }];
    }
    case 'Ed25519':
      return ['Ed25519', algorithm.name];
  }
  throw new TypeError(`unsupported private key algorithm ${algorithm.name}`);
}
