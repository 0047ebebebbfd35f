/**
 * Redirection URIs: what a client may register (RFC 6749 section 3.1.2, RFC 8252 section 7,
 * RFC 9700 section 2.1) and how a presented one is matched against them: exactly, by simple
 * string comparison, except for the port of an `http` loopback URI (RFC 8252 section 7.3).
 */

/** Hosts of loopback redirects, on which a native app listens on any port it can get. */
const loopbackHosts = new Set(['127.0.0.1', '[::1]', 'localhost']);

function parse(uri: string): URL | undefined {
  try {
    return new URL(uri);
  } catch {
    return undefined;
  }
}

function isLoopback(url: URL): boolean {
  return url.protocol === 'http:' && loopbackHosts.has(url.hostname);
}

/**
 * Why `uri` cannot be registered as a redirection URI, or undefined when it can: an absolute URI
 * without a fragment (RFC 6749 section 3.1.2); `https`, `http` only on a loopback host
 * (RFC 9700 section 2.6), or a private-use scheme in reverse domain form (RFC 8252 section 7.1).
 *
 * @example
 * ```ts
 * redirectUriProblem('https://app.example/cb') // undefined
 * redirectUriProblem('http://app.example/cb')  // 'http is only allowed for loopback hosts ...'
 * ```
 */
export function redirectUriProblem(uri: string): string | undefined {
  const url = parse(uri);
  if (!url || uri.length > 2000) return 'is not an absolute URI (of at most 2000 characters)';
  // RFC 6749 section 3.1.2: the endpoint URI MUST NOT include a fragment component.
  if (uri.includes('#')) return 'has a fragment';
  if (url.username || url.password) return 'has user information';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') return isLoopback(url) ? undefined : 'http is only allowed for loopback hosts (127.0.0.1, [::1], localhost)';
  // RFC 8252 section 7.1: private-use URI schemes in reverse domain name notation.
  if (/^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(url.protocol)) return undefined;
  return `the scheme ${url.protocol} is not allowed (https, loopback http, or a reverse-domain private-use scheme)`;
}

/**
 * True when `presented` is one of `registered`: the same string, or, for an `http` loopback
 * URI, the same string once the port is ignored (RFC 8252 section 7.3).
 *
 * @example
 * ```ts
 * redirectUriMatches(['http://127.0.0.1/cb'], 'http://127.0.0.1:51004/cb') // true
 * redirectUriMatches(['https://app.example/cb'], 'https://app.example/cb/') // false
 * ```
 */
export function redirectUriMatches(registered: readonly string[], presented: string): boolean {
  // RFC 9700 section 2.1: exact string matching, no pattern, no normalization.
  if (registered.includes(presented)) return true;
  const url = parse(presented);
  if (!url || !isLoopback(url) || url.username || url.password) return false;
  const withoutPort = withoutLoopbackPort(presented, url);
  if (withoutPort === undefined) return false;
  return registered.some((candidate) => {
    const other = parse(candidate);
    return other !== undefined && isLoopback(other) && withoutLoopbackPort(candidate, other) === withoutPort;
  });
}

/** The URI string with its port removed (character for character otherwise), or undefined. */
function withoutLoopbackPort(uri: string, url: URL): string | undefined {
  const prefix = `http://${url.hostname}`;
  if (!uri.startsWith(prefix)) return undefined;
  const rest = uri.slice(prefix.length);
  const port = /^:\d{1,5}/.exec(rest);
  return prefix + (port ? rest.slice(port[0].length) : rest);
}
