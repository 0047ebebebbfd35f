/**
 * `none` (RFC 6749 section 2.1): a public client, identified by its `client_id` alone, which
 * must be registered for no authentication.
 */
import type { AuthenticatedClient, ClientAuthDeps } from './client-auth.ts';
import { methodMismatch, type Fail } from './client-auth-failure.ts';

/** none: a public client identified by client_id only. */
export async function authenticateNone(clientId: string, deps: ClientAuthDeps, fail: Fail): Promise<AuthenticatedClient> {
  const client = await deps.store.getClient(clientId);
  if (!client) throw fail(`unknown client ${JSON.stringify(clientId)}`);
  if (client.authMethod !== 'none') throw fail(methodMismatch(client, 'none'));
  return { client, method: 'none' };
}
