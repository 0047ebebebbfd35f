/**
 * Remote client key sets for `private_key_jwt` clients registered with a `jwks_uri`: the I/O
 * half of client authentication (the core only calls the resolver it is given).
 */
import { createRemoteJWKSet } from 'jose';
import type { JWTVerifyGetKey } from 'jose';

/** Options of {@link createRemoteJwksResolver}. */
export interface RemoteJwksResolverOptions {
  /** Minimum time between two fetches triggered by an unknown `kid` (default 30 000). */
  cooldownMs?: number;
  /** Fetch timeout (default 5 000). */
  timeoutMs?: number;
  /** How long a fetched set is used before it is fetched again (default 600 000). */
  cacheMaxAgeMs?: number;
}

/**
 * Returns a resolver that keeps one jose `createRemoteJWKSet` per URI, so that a client's key
 * set is fetched once and shared by every verification. jose refetches when a JWT names a key
 * the cached set lacks (key rotation), at most once per cooldown, and when the set is older
 * than `cacheMaxAgeMs`. Only `http:` and `https:` URIs are accepted (a `TypeError` otherwise);
 * requiring `https:` is the registration's job.
 *
 * @example
 * ```ts
 * const resolveRemoteJwks = createRemoteJwksResolver({ cooldownMs: 30_000 })
 * await authenticateClient(request, { store, kek, resolveRemoteJwks })
 * ```
 */
export function createRemoteJwksResolver(
  options: RemoteJwksResolverOptions = {},
): (jwksUri: string) => JWTVerifyGetKey {
  const sets = new Map<string, JWTVerifyGetKey>();
  return (jwksUri) => {
    const url = new URL(jwksUri);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new TypeError(`jwks_uri must be an http(s) URL, got ${url.protocol}`);
    }
    const key = url.href;
    let set = sets.get(key);
    if (set === undefined) {
      set = withEd25519Alias(
        createRemoteJWKSet(url, {
          cooldownDuration: options.cooldownMs,
          timeoutDuration: options.timeoutMs,
          cacheMaxAge: options.cacheMaxAgeMs,
        }),
      );
      sets.set(key, set);
    }
    return set;
  };
}

/** RFC 9864: `Ed25519` and the older `EdDSA` name the same signatures on Ed25519 keys. */
const ed25519Alias: Record<string, string> = { Ed25519: 'EdDSA', EdDSA: 'Ed25519' };

/**
 * A key set that, for a JWS signed as `Ed25519` (oauth4webapi's name) finds a key published as
 * `EdDSA`, and the other way round: jose selects keys by `alg`, so either name alone would miss
 * keys declared with the other. Inline key sets get the same treatment in `core/client-auth.ts`.
 */
function withEd25519Alias(set: ReturnType<typeof createRemoteJWKSet>): JWTVerifyGetKey {
  return async (header, token) => {
    try {
      return await set(header, token);
    } catch (error) {
      const alias = header.alg === undefined ? undefined : ed25519Alias[header.alg];
      if (alias === undefined || (error as { code?: unknown }).code !== 'ERR_JWKS_NO_MATCHING_KEY') throw error;
      return set({ ...header, alg: alias }, token);
    }
  };
}
