import { None, type ClientAuth } from './client-auth.ts';
import { Configuration, customFetch, endpoint, type ClientMetadata, type CustomFetch, type ServerMetadata } from './configuration.ts';
import { InvalidResponseError } from './errors.ts';
import { send } from './http.ts';

/** Options of {@link discovery} (openid-client's `DiscoveryRequestOptions`). */
export interface DiscoveryRequestOptions {
  /** `oidc`: `{issuer}/.well-known/openid-configuration`; `oauth2`: RFC 8414's `/.well-known/oauth-authorization-server{path}`. Default: OIDC, then RFC 8414 on a 404. */
  algorithm?: 'oidc' | 'oauth2';
  /** Request timeout in seconds (also set on the returned Configuration). */
  timeout?: number;
  /** Custom fetch (also set on the returned Configuration). */
  [customFetch]?: CustomFetch;
  /** Functions run on the Configuration before discovery, e.g. `allowInsecureRequests`. */
  execute?: Array<(config: Configuration) => void>;
  /** Aborts the discovery request. */
  signal?: AbortSignal;
}

/**
 * Fetches the server's metadata (OIDC Discovery or RFC 8414), checks that its `issuer` is the one
 * asked for, and returns a {@link Configuration}. Arguments as in openid-client v6.
 *
 * @example
 * const config = await discovery(new URL('https://auth.example.com'), 'my-client', 's3cret')
 * const tokens = await refreshTokenGrant(config, refreshToken)
 */
export async function discovery(
  server: URL,
  clientId: string,
  metadata?: Partial<ClientMetadata> | string,
  clientAuthentication?: ClientAuth,
  options?: DiscoveryRequestOptions,
): Promise<Configuration> {
  if (!(server instanceof URL)) throw new TypeError('"server" must be a URL');
  const setup = (config: Configuration) => {
    if (options?.timeout !== undefined) config.timeout = options.timeout;
    if (options?.[customFetch]) config[customFetch] = options[customFetch];
    options?.execute?.forEach((fn) => fn(config));
    return config;
  };
  const probe = setup(new Configuration({ issuer: server.href }, clientId, undefined, None()));
  const { pathname, origin } = server;
  const wellKnown = pathname.indexOf('/.well-known/');
  const expected =
    wellKnown === -1
      ? server.href
      : pathname.startsWith('/.well-known/oauth-authorization-server')
        ? origin + pathname.slice('/.well-known/oauth-authorization-server'.length)
        : origin + pathname.slice(0, wellKnown);
  const path = pathname.replace(/\/$/, '');
  const oidc = new URL(`${path}/.well-known/openid-configuration`, origin);
  // RFC 8414 section 3.1: the well-known segment goes between the host and the issuer's path.
  const oauth2 = new URL(`/.well-known/oauth-authorization-server${path}`, origin);
  const urls = wellKnown !== -1 ? [server] : options?.algorithm === 'oauth2' ? [oauth2] : options?.algorithm === 'oidc' ? [oidc] : [oidc, oauth2];
  let url: URL;
  let response;
  for (url of urls) {
    response = await send(probe, endpoint(probe, 'discovery URL', url.href), 'GET', new Headers({ accept: 'application/json' }), undefined, options?.signal);
    if (response.status !== 404) break;
  }
  let document: ServerMetadata | undefined;
  try {
    document = JSON.parse(response!.bodyText);
  } catch {}
  if (response!.status !== 200 || typeof document?.issuer !== 'string') {
    throw new InvalidResponseError(`no valid metadata document at ${url!.href} (HTTP ${response!.status})`, response!.status);
  }
  // RFC 8414 section 3.3 / OIDC Discovery section 4.3: the issuer MUST be identical to the one used for discovery.
  const bare = (issuer: string) => issuer.replace(/^([a-z]+:\/\/[^/?#]+)\/$/i, '$1');
  if (bare(document.issuer) !== bare(expected)) {
    throw new InvalidResponseError(`discovered issuer ${document.issuer} is not the expected ${expected}`, 200);
  }
  return setup(new Configuration(document, clientId, metadata, clientAuthentication));
}
