/**
 * Maps a request path to the core's path, relative to where the server is mounted.
 */

const insertedWellKnown = '/.well-known/oauth-authorization-server';

/**
 * The core path for `pathname` when the server is mounted at `basePath`, or undefined when
 * the request is not for us. Accepts RFC 8414 section 3's inserted form
 * (`/.well-known/oauth-authorization-server/<issuer path>`).
 */
export function corePath(pathname: string, basePath: string): string | undefined {
  if (basePath === '') return pathname;
  if (pathname === insertedWellKnown + basePath) return insertedWellKnown;
  if (pathname.startsWith(basePath + '/')) return pathname.slice(basePath.length);
  return undefined;
}
