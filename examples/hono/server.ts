/**
 * @refresh-grant/server in a Hono app on Node (@hono/node-server), under /oauth, through the
 * Fetch handler: the same app runs on Bun and Deno with their own `serve`.
 */
import { Hono } from 'hono';
import { serve } from '@hono/node-server';
import { createAuthorizationServer, createFetchHandler, startMaintenance } from '@refresh-grant/server';
import { openSqliteStore } from '@refresh-grant/server/sqlite';

const port = Number(process.env.PORT ?? 3000);
const db = process.env.REFRESH_GRANT_DB ?? './refresh-grant.db';

const store = await openSqliteStore(db);
const server = await createAuthorizationServer({ issuer: `http://127.0.0.1:${port}/oauth`, store, kek: { file: `${db}.kek` }, signingThread: true });
const maintenance = startMaintenance(server);

const oauth = createFetchHandler(server);
const app = new Hono();
app.all('/oauth/*', (c) => oauth(c.req.raw));
app.get('/.well-known/oauth-authorization-server/oauth', (c) => oauth(c.req.raw)); // RFC 8414, issuer with a path
app.get('/', (c) => c.text('Your application.'));

const listener = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => console.log(server.issuer));
process.once('SIGTERM', () => {
  listener.close(async () => {
    await maintenance.stop();
    await server.close();
    await store.close();
  });
});
