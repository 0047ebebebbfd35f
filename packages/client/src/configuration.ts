import { ClientSecretJwt } from './client-assertion.ts';
import { ClientSecretBasic, ClientSecretPost, None, type ClientAuth } from './client-auth.ts';

/** Authorization server metadata (RFC 8414 section 2, OIDC Discovery section 3), wire names. */
export interface ServerMetadata {
  /** The issuer identifier. */
  issuer: string;
  /** Where refresh requests go; required by {@link refreshTokenGrant}. */
  token_endpoint?: string;
  /** The server's JWKS; required to validate id_tokens. */
  jwks_uri?: string;
  id_token_signing_alg_values_supported?: string[];
  token_endpoint_auth_methods_supported?: string[];
  [parameter: string]: unknown;
}

/** Client metadata (RFC 7591 section 2), wire names. */
export interface ClientMetadata {
  client_id: string;
  client_secret?: string;
  /** Picks the default client authentication when none is passed. */
  token_endpoint_auth_method?: string;
  /** Expected id_token `alg`; else the server's advertised ones, else RS256. */
  id_token_signed_response_alg?: string;
  [parameter: string]: unknown;
}

/** Options given to a {@link CustomFetch} (same as openid-client's). */
export interface CustomFetchOptions {
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
  redirect: 'manual';
  signal?: AbortSignal;
}

/** A `fetch`-compatible function for all requests made for a {@link Configuration}. */
export type CustomFetch = (url: string, options: CustomFetchOptions) => Promise<Response>;

/**
 * Property key for a custom fetch on a {@link Configuration}: `config[customFetch] = myFetch`.
 * Use it for proxies, mTLS agents, logging (never log the request body: it holds the refresh token).
 */
export const customFetch: unique symbol = /* @__PURE__ */ Symbol('customFetch');

interface Internals {
  server: Readonly<ServerMetadata>;
  client: Readonly<ClientMetadata>;
  auth: ClientAuth;
  insecure?: boolean;
  /** The token endpoint, parsed and checked (never handed out: callers get copies). */
  token?: URL;
}

const internals = /* @__PURE__ */ new WeakMap<Configuration, Internals>();

/** The private state of a Configuration; a TypeError for anything else. */
export function internal(config: Configuration): Internals {
  const value = internals.get(config);
  if (!value) throw new TypeError('"config" must be a Configuration');
  return value;
}

/**
 * An authorization server plus this client's registration. Build it with {@link discovery}, or by
 * hand from the server's metadata for servers without discovery (GitHub). Client authentication
 * defaults to the registered `token_endpoint_auth_method`, else `client_secret_basic` when there is
 * a secret, else `none`.
 *
 * @example
 * const github = new Configuration(
 *   { issuer: 'https://github.com', token_endpoint: 'https://github.com/login/oauth/access_token' },
 *   clientId,
 *   clientSecret,
 * )
 */
export class Configuration {
  /** Timeout of each HTTP request, in seconds. */
  timeout = 30;
  /** Custom fetch for every request made for this configuration. */
  [customFetch]?: CustomFetch;

  /**
   * @param server Authorization server metadata (wire names).
   * @param clientId The client identifier.
   * @param metadata Client metadata, or just the client secret.
   * @param clientAuthentication How to authenticate at the token endpoint (default: see above).
   */
  constructor(server: ServerMetadata, clientId: string, metadata?: Partial<ClientMetadata> | string, clientAuthentication?: ClientAuth) {
    if (typeof server?.issuer !== 'string') throw new TypeError('"server.issuer" must be a string');
    if (typeof clientId !== 'string' || !clientId) throw new TypeError('"clientId" must be a non-empty string');
    const client: ClientMetadata = {
      ...(typeof metadata === 'string' ? { client_secret: metadata } : metadata),
      client_id: clientId,
    };
    internals.set(this, {
      server: Object.freeze({ ...server }),
      client: Object.freeze(client),
      auth: clientAuthentication ?? defaultAuth(client),
    });
  }

  /** The authorization server metadata. */
  serverMetadata(): Readonly<ServerMetadata> {
    return internal(this).server;
  }

  /** The client metadata. */
  clientMetadata(): Readonly<ClientMetadata> {
    return internal(this).client;
  }
}

function defaultAuth(client: ClientMetadata): ClientAuth {
  switch (client.token_endpoint_auth_method ?? (client.client_secret ? 'client_secret_basic' : 'none')) {
    case 'client_secret_basic':
      return ClientSecretBasic();
    case 'client_secret_post':
      return ClientSecretPost();
    case 'client_secret_jwt':
      return ClientSecretJwt();
    case 'none':
      return None();
  }
  throw new TypeError(`pass the client authentication for ${client.token_endpoint_auth_method} explicitly (e.g. PrivateKeyJwt(key))`);
}

/**
 * Allows plain `http:` URLs for this configuration. Loopback hosts (`localhost`, `127.0.0.0/8`,
 * `[::1]`) are always allowed; anything else needs this opt-in.
 *
 * @example
 * const config = await discovery(new URL('http://auth.internal'), 'id', 'secret', undefined, { execute: [allowInsecureRequests] })
 */
export function allowInsecureRequests(config: Configuration): void {
  internal(config).insecure = true;
}

/** A metadata URL, checked: present, parseable, and https (unless loopback or opted in). */
export function endpoint(config: Configuration, name: string, value = internal(config).server[name]): URL {
  if (typeof value !== 'string') throw new TypeError(`the server metadata has no ${name}`);
  const url = new URL(value);
  if (
    url.protocol !== 'https:' &&
    !(url.protocol === 'http:' && (internal(config).insecure || /^(localhost|127(\.\d+){3}|\[::1\])$/.test(url.hostname)))
  ) {
    throw new TypeError(`${name} must be an https: URL (see allowInsecureRequests)`);
  }
  return url;
}
