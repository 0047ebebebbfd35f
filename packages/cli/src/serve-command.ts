/**
 * `refresh-grant serve`: the token endpoint on `node:http`. Prints the issuer URL once
 * listening; SIGTERM/SIGINT finish in-flight requests and close the store. On a first start
 * with an empty store it creates a demo client and grant and prints a ready-to-paste curl.
 */
import { createServer } from 'node:http';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { createAuthorizationServer, createNodeHandler, startMaintenance, type AuthorizationServer, type CorsOptions } from '@refresh-grant/server';
import { validateCors } from '@refresh-grant/server/core';
import { defaultKekFile, openStore } from './open-store.ts';
import { commonOptions, dbOption, UsageError, type CliIo } from './common.ts';

export const serveUsage = `Usage:
  refresh-grant serve [--port 8080] [--host 127.0.0.1] [--db ./refresh-grant.db | postgres://...]
      [--issuer URL] [--kek-file FILE] [--dpop-nonce] [--signing-thread auto|on|off] [--cors-origin ORIGIN]...
      [--no-demo] [--quiet]

  --signing-thread  sign tokens on a worker thread (auto: when the machine has more than one CPU)
  --cors-origin     let browser apps on this origin (https://app.example, or *) call the endpoints; repeatable
`;

/** Runs `serve`; resolves with the exit code once the server has shut down. */
export async function serveCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...commonOptions,
      port: { type: 'string', default: process.env.PORT ?? '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      'no-demo': { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      'dpop-nonce': { type: 'boolean', default: false },
      'signing-thread': { type: 'string', default: 'auto' },
      'cors-origin': { type: 'string', multiple: true },
    },
  });
  if (values.help) return io.stdout(serveUsage), 0;
  if (!/^\d+$/.test(values.port) || Number(values.port) > 65535) throw new UsageError('--port must be 0-65535');
  const signingThread = values['signing-thread'];
  if (!['auto', 'on', 'off'].includes(signingThread)) throw new UsageError('--signing-thread must be auto, on or off');
  const corsOrigins = values['cors-origin'];
  const cors: CorsOptions | undefined = corsOrigins && { origins: corsOrigins.includes('*') ? '*' : corsOrigins };
  if (cors) {
    // Checked before the store opens, so that a bad flag is a usage error (exit 2).
    try {
      validateCors(cors);
    } catch (error) {
      throw new UsageError(`--cors-origin: ${(error as Error).message}`);
    }
  }
  const db = dbOption(values.db);
  const store = await openStore(db);
  const http = createServer({ keepAliveTimeout: 65_000 });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(Number(values.port), values.host, () => resolve());
  });
  const address = http.address();
  const port = typeof address === 'object' && address ? address.port : Number(values.port);
  const host = values.host.includes(':') ? `[${values.host}]` : values.host;
  const issuer = values.issuer ?? process.env.REFRESH_GRANT_ISSUER ?? `http://${host}:${port}`;
  let server: AuthorizationServer;
  try {
    server = await createAuthorizationServer({
      issuer,
      store,
      kek: { file: values['kek-file'] ?? defaultKekFile(db) },
      log: values.quiet ? false : undefined,
      // RFC 9449 section 8: require server-provided nonces in DPoP proofs.
      dpop: values['dpop-nonce'] ? { requireNonce: true } : undefined,
      signingThread: signingThread === 'on' || (signingThread === 'auto' && availableParallelism() > 1),
      cors,
    });
  } catch (err) {
    http.close();
    await store.close();
    throw err;
  }
  http.on('request', createNodeHandler(server));
  io.stdout(`${server.issuer}\n`);
  if (!values['no-demo'] && (await store.listClients()).length === 0) {
    io.stdout(await createDemo(server));
  } else if (!values['no-demo'] && !values.quiet) {
    io.stdout(`Store ${db} already has clients. Issue a grant to try it: npx refresh-grant grants issue --db ${db} --issuer ${server.issuer} --client ID --subject SUB --scope "..."\n`);
  }

  // Key reload (every minute, and on SIGHUP) and the purge of expired rows: the same call an
  // embedding application makes.
  const maintenance = startMaintenance(server);
  const reload = () => void maintenance.reloadKeys();
  process.on('SIGHUP', reload);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      process.off('SIGHUP', reload);
      // Finish in-flight requests, then close the store.
      http.close(() => {
        maintenance.stop().then(() => server.close()).then(() => store.close()).then(
          () => resolve(0),
          () => resolve(1),
        );
      });
      http.closeIdleConnections();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

/** Registers the demo client and grant and returns the text that shows how to use them. */
async function createDemo(server: AuthorizationServer): Promise<string> {
  const { client, clientSecret } = await server.registerClient({ clientId: 'demo', authMethod: 'client_secret_basic', scope: 'openid offline_access profile' });
  const { tokens } = await server.issueGrant({ clientId: client.clientId, subject: 'demo-user', scope: 'openid offline_access profile' });
  const basic = Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(clientSecret!)}`).toString('base64');
  return `
First start with an empty store: created the demo client "demo" (client_secret_basic) and a grant for "demo-user".
client_secret: ${clientSecret}   (shown once: only its hash is stored)

Refresh it (seed 003's first request); the response carries the rotated refresh token:

curl -i \\
  -H 'Authorization: Basic ${basic}' \\
  -H 'Content-Type: application/x-www-form-urlencoded;charset=UTF-8' \\
  --request POST ${server.endpoints.token} \\
  -d 'grant_type=refresh_token&refresh_token=${tokens.refresh_token}&scope=openid'

`;
}
