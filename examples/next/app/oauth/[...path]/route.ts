/**
 * @refresh-grant/server in a Next.js app: one route handler answers every endpoint under
 * /oauth through the Fetch handler (Node.js runtime: the SQLite store and the signing thread
 * need it). Configure with REFRESH_GRANT_ISSUER (e.g. https://app.example/oauth) and
 * REFRESH_GRANT_DB.
 */
import { createAuthorizationServer, createFetchHandler, startMaintenance, type AuthorizationServer } from '@refresh-grant/server';
import { openSqliteStore } from '@refresh-grant/server/sqlite';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

async function start(): Promise<(request: Request) => Promise<Response>> {
  const db = process.env.REFRESH_GRANT_DB ?? './refresh-grant.db';
  const store = await openSqliteStore(db);
  const server = await createAuthorizationServer({
    issuer: process.env.REFRESH_GRANT_ISSUER ?? 'http://127.0.0.1:3000/oauth',
    store,
    kek: { file: `${db}.kek` },
    signingThread: true,
  });
  startMaintenance(server);
  (globalThis as { refreshGrantServer?: AuthorizationServer }).refreshGrantServer = server;
  return createFetchHandler(server);
}

// One server per process, started by the first request (not at build time). Kept on
// globalThis: Next.js may load this module more than once.
const state = globalThis as { refreshGrant?: Promise<(request: Request) => Promise<Response>> };
const handle = async (request: Request) => (await (state.refreshGrant ??= start()))(request);

export { handle as GET, handle as POST, handle as OPTIONS };
