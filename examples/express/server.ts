/**
 * @refresh-grant/server in an Express app, under /oauth, behind an app-wide body parser.
 * Register a client and issue grants with the CLI on the same database:
 *   npx refresh-grant clients add --db ./refresh-grant.db --id app --auth-method client_secret_basic
 *   npx refresh-grant grants issue --db ./refresh-grant.db --issuer http://127.0.0.1:3000/oauth --client app --subject alice --scope "openid offline_access"
 * or call `server.issueGrant(...)` after your own login.
 */
import express from 'express';
import { createAuthorizationServer, createNodeHandler, startMaintenance } from '@refresh-grant/server';
import { openSqliteStore } from '@refresh-grant/server/sqlite';

const port = Number(process.env.PORT ?? 3000);
const db = process.env.REFRESH_GRANT_DB ?? './refresh-grant.db';

const store = await openSqliteStore(db);
const server = await createAuthorizationServer({
  issuer: `http://127.0.0.1:${port}/oauth`, // endpoints under /oauth: /oauth/token, /oauth/jwks, ...
  store,
  kek: { file: `${db}.kek` }, // created on first start; every instance on this database needs the same
  signingThread: true, // JWS signatures on a worker thread; server.close() stops it
});
const maintenance = startMaintenance(server); // key reload and purge of expired rows, in the background

const oauth = createNodeHandler(server);
const app = express();
app.use(express.urlencoded({ extended: false })); // app-wide: the handler takes the form it parsed
app.use('/oauth', oauth);
app.get('/.well-known/oauth-authorization-server/oauth', oauth); // RFC 8414 metadata for an issuer with a path
app.get('/', (req, res) => void res.send('Your application.'));

const listener = app.listen(port, '127.0.0.1', () => console.log(`${server.issuer}`));
process.once('SIGTERM', () => {
  // Finish in-flight requests, then stop the background work, the signing thread and the store.
  listener.close(async () => {
    await maintenance.stop();
    await server.close();
    await store.close();
  });
  listener.closeIdleConnections();
});
