import { base64 } from './base64url.ts';
import type { ClientMetadata, ServerMetadata } from './configuration.ts';

/**
 * Client authentication at the token endpoint: adds credentials to the request body and/or
 * headers. Same shape as openid-client's `ClientAuth`, so its implementations can be passed too.
 */
export type ClientAuth = (
  as: ServerMetadata,
  client: ClientMetadata,
  body: URLSearchParams,
  headers: Headers,
) => void | Promise<void>;

/** Options of {@link ClientSecretBasic}. */
export interface ClientSecretBasicOptions {
  /**
   * RFC 6749 section 2.3.1 form-urlencodes the client id and secret before base64. Some servers
   * skip the decoding; set `false` for those (only matters when the id or secret has characters
   * outside `A-Z a-z 0-9 * - . _`).
   * @default true
   */
  encode?: boolean;
}

/** The client secret passed in, else the one in the client metadata; a `TypeError` if neither. */
export function secretOf(secret: string | undefined, client: ClientMetadata): string {
  const value = secret ?? client.client_secret;
  if (typeof value !== 'string' || !value) throw new TypeError('a client_secret is required for this client authentication');
  return value;
}

/** The built-in client authentications: they only `set` headers, so a Map may stand in for the Headers. */
export const builtIn: WeakSet<ClientAuth> = /* @__PURE__ */ new WeakSet();

const register = (auth: ClientAuth): ClientAuth => (builtIn.add(auth), auth);

// RFC 6749 section 2.3.1: "encoded using the application/x-www-form-urlencoded encoding algorithm".
const formEncode = (value: string): string => new URLSearchParams([['', value]]).toString().slice(1);

/**
 * `client_secret_basic`: HTTP Basic with the form-urlencoded client id and secret.
 *
 * @example
 * const config = new Configuration(serverMetadata, 'my-client', undefined, ClientSecretBasic('s3cret'))
 */
export function ClientSecretBasic(clientSecret?: string, options?: ClientSecretBasicOptions): ClientAuth {
  // Encoded once per client metadata object (frozen in a Configuration), not on every request.
  let last: ClientMetadata | undefined;
  let value = '';
  return register((_as, client, _body, headers) => {
    if (client !== last || !Object.isFrozen(client)) {
      const encode = options?.encode === false ? (value: string) => value : formEncode;
      value = `Basic ${base64(`${encode(client.client_id)}:${encode(secretOf(clientSecret, client))}`)}`;
      last = client;
    }
    headers.set('authorization', value);
  });
}

/**
 * `client_secret_post`: `client_id` and `client_secret` in the request body.
 *
 * @example
 * const config = new Configuration(serverMetadata, 'my-client', undefined, ClientSecretPost('s3cret'))
 */
export function ClientSecretPost(clientSecret?: string): ClientAuth {
  return register((_as, client, body) => {
    body.set('client_id', client.client_id);
    body.set('client_secret', secretOf(clientSecret, client));
  });
}

/**
 * `none`: a public client sends only its `client_id` (like `@oslojs/oauth2`'s `setClientId`).
 *
 * @example
 * const config = new Configuration(serverMetadata, 'my-spa', undefined, None())
 */
export function None(): ClientAuth {
  return register((_as, client, body) => {
    body.set('client_id', client.client_id);
  });
}
