/**
 * @refresh-grant/server in a Fastify app, under /oauth. The node handler reads the request body
 * itself, so it takes the request over in an `onRequest` hook, before Fastify parses anything.
 */
import Fastify, { type onRequestHookHandler } from 'fastify';
import { createAuthorizationServer, createNodeHandler, startMaintenance } from '@refresh-grant/server';
import { openSqliteStore } from '@refresh-grant/server/sqlite';

const port = Number(process.env.PORT ?? 3000);
const db = process.env.REFRESH_GRANT_DB ?? './refresh-grant.db';

const store = await openSqliteStore(db);
const server = await createAuthorizationServer({ issuer: `http://127.0.0.1:${port}/oauth`, store, kek: { file: `${db}.kek` }, signingThread: true });
const maintenance = startMaintenance(server);

const oauth = createNodeHandler(server);
const app = Fastify();
const onRequest: onRequestHookHandler = (request, reply) => {
  reply.hijack(); // Fastify sends nothing for this request: the handler answers on the raw response
  oauth(request.raw, reply.raw);
};
const takeOver = { onRequest };
app.all('/oauth/*', takeOver, async () => {});
app.get('/.well-known/oauth-authorization-server/oauth', takeOver, async () => {}); // RFC 8414, issuer with a path
app.get('/', async () => 'Your application.');

await app.listen({ port, host: '127.0.0.1' });
console.log(server.issuer);
process.once('SIGTERM', async () => {
  await app.close();
  await maintenance.stop();
  await server.close();
  await store.close();
});
