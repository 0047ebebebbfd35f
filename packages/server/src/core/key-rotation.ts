/**
 * Signing key rotation without downtime: a new key is published first and signs only once every
 * instance has had time to publish it; the previous one stays published while tokens it signed live.
 */
import type { ServerContext } from './context.ts';
import type { Store } from './store.ts';
import { clientDefaults } from './types.ts';
import type { AuthorizationServer } from './authorization-server.ts';

/** Seconds between publishing a rotated key and signing with it: twice the key reload interval of `startMaintenance`. */
export const keyActivationDelay = 120;

/** The longest access token or id_token lifetime of any client (what a retired key may have signed). */
export async function longestTokenLifetime(store: Store): Promise<number> {
  let longest = Math.max(clientDefaults.accessTokenTtl, clientDefaults.idTokenTtl);
  for (const c of await store.listClients()) longest = Math.max(longest, c.accessTokenTtl, c.idTokenTtl);
  return longest;
}

/** Adds a new signing key that signs after `activateAfter` seconds; see {@link AuthorizationServer.rotateKeys}. */
export async function rotateKeys(ctx: ServerContext, options: { activateAfter?: number }): Promise<{ kid: string; activatesAt: number }> {
  const now = ctx.now();
  const activateAt = now + (options.activateAfter ?? keyActivationDelay);
  const longest = await longestTokenLifetime(ctx.store);
  const record = await ctx.keys.rotate({ now, activateAt, removeRetiredAfter: activateAt + longest });
  return { kid: record.kid, activatesAt: record.createdAt };
}
