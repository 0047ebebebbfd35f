/**
 * `client_secret_basic` and `client_secret_post` (RFC 6749 section 2.3.1): the client id and secret
 * from the Basic header (RFC 7617) or the body; the secret's SHA-256 compared in constant time with
 * the stored hash.
 */
import { safeEqual, sha256 } from '../crypto.ts';
import type { AuthenticatedClient, ClientAuthDeps } from './client-auth.ts';
import { dummyHash, methodMismatch, type Fail } from './client-auth-failure.ts';

/**
 * Parses `Authorization: Basic ...` (RFC 7617, RFC 6749 section 2.3.1): base64, split at the
 * first colon, each part form-urldecoded.
 */
export function parseBasic(header: string, fail: Fail): { clientId: string; secret: string } {
  const match = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header);
  if (!match) throw fail('Authorization header is not Basic with a base64 token');
  const encoded = match[1];
  const bytes = Buffer.from(encoded, 'base64');
  if (bytes.toString('base64').replace(/=+$/, '') !== encoded.replace(/=+$/, '')) {
    throw fail('Basic credentials are not canonical base64');
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (cause) {
    throw fail('Basic credentials are not UTF-8', cause);
  }
  const colon = text.indexOf(':');
  if (colon < 0) throw fail('Basic credentials have no colon');
  // RFC 6749 section 2.3.1: the client identifier and password are encoded with
  // application/x-www-form-urlencoded before Basic encoding, so they are decoded here.
  const clientId = formDecode(text.slice(0, colon), 'user-id', fail);
  const secret = formDecode(text.slice(colon + 1), 'password', fail);
  if (clientId === '') throw fail('Basic credentials have an empty client id');
  if (secret === '') throw fail('Basic credentials have an empty secret');
  return { clientId, secret };
}

/** application/x-www-form-urlencoded decoding that refuses bad percent escapes. */
function formDecode(value: string, part: string, fail: Fail): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch (cause) {
    throw fail(`Basic ${part} has invalid percent-encoding`, cause);
  }
}

/** client_secret_basic and client_secret_post: SHA-256 of the secret against the stored hash. */
export async function authenticateSecret(
  presented: { method: 'client_secret_basic' | 'client_secret_post'; clientId: string; secret: string },
  deps: ClientAuthDeps,
  fail: Fail,
): Promise<AuthenticatedClient> {
  const { method, clientId, secret } = presented;
  const client = await deps.store.getClient(clientId);
  const expected = client?.authMethod === method ? client.secretHash : undefined;
  // Always one constant-time comparison, so timing reveals neither existence nor method.
  const matches = safeEqual(sha256(secret), expected ?? dummyHash) && expected !== undefined;
  if (!client) throw fail(`unknown client ${JSON.stringify(clientId)}`);
  if (client.authMethod !== method) throw fail(methodMismatch(client, method));
  if (client.secretHash === undefined) throw fail(`client ${clientId} has no secret hash`);
  if (!matches) throw fail(`wrong client secret for ${clientId} (${method})`);
  return { client, method };
}
