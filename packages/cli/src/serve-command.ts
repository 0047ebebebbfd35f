/**
 * `refresh-grant serve`: the authorization server on `node:http` (`createNodeServer`: requests in
 * flight and connections bounded, JSON for every refusal), with `/health` and `/ready` (and
 * `/metrics` with `--metrics`) at the root. The first line on stdout is the issuer URL;
 * logs are JSON lines on stderr. SIGTERM/SIGINT: `/ready` turns 503, in-flight requests finish,
 * the store closes. On a first start with an empty store it creates a demo client and grant and
 * prints, in plain words, how to use them.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { availableParallelism } from 'node:os';
import {
  createAuthorizationServer,
  createHealthChecks,
  createJsonLogger,
  createNodeHandler,
  createNodeServer,
  createOperationsListener,
  startMaintenance,
  type AuthorizationServer,
  type CorsOptions,
  type LogLevel,
  type ResponseInfo,
} from '@refresh-grant/server';
import { devLoginClientId, validateCors } from '@refresh-grant/server/core';
import { defaultKekFile, openStore } from './open-store.ts';
import { UsageError, type CliIo, type Options } from './options.ts';

type Listener = (req: IncomingMessage, res: ServerResponse) => unknown;

/** The root paths of the operations endpoints: never shed, so that probes and scrapes work under load. */
const operationsPaths = new Set(['/health', '/ready', '/metrics']);

/** `serve`; resolves with the exit code once the server has shut down. */
export async function serve(options: Options, io: CliIo): Promise<number> {
  const port = options.number('port')!;
  const host = options.required('host');
  const level = (options.flag('quiet') ? 'error' : options.required('log-level')) as LogLevel;
  const metricsPort = options.number('metrics-port');
  const withMetrics = options.flag('metrics') || metricsPort !== undefined;
  const corsOrigins = options.list('cors-origin');
  const cors: CorsOptions | undefined = corsOrigins && { origins: corsOrigins.includes('*') ? '*' : corsOrigins };
  if (cors) {
    // Checked before the store opens, so that a bad flag is a usage error (exit 2).
    try {
      validateCors(cors);
    } catch (error) {
      throw new UsageError(`--cors-origin: ${(error as Error).message}`);
    }
  }
  const logger = createJsonLogger({ level });
  const db = options.required('db');
  let load: (() => { inFlight: number; shed: number; connections: number }) | undefined;
  const metrics = withMetrics ? (await import('@refresh-grant/server/metrics')).createMetrics({ load: () => load!() }) : undefined;
  const opened = await openStore(db, { server: true });
  const store = metrics ? metrics.instrumentStore(opened) : opened;

  // Requests are only taken once the handler is in place: the server listens after it is set,
  // except with --port 0 and no --issuer, where the issuer needs the port first (and nobody
  // knows the port before it is printed); requests that still come early wait for the handler.
  let handle: Listener | undefined;
  const early: Array<[IncomingMessage, ServerResponse]> = [];
  // Limits on requests in flight, pipelining, connections and time; JSON for every refusal.
  const node = createNodeServer((req, res) => (handle ? handle(req, res) : void early.push([req, res])), {
    maxInFlight: options.number('max-in-flight'),
    maxEventLoopDelayMs: options.number('max-event-loop-delay'),
    maxConnections: options.number('max-connections'),
    exempt: (req) => operationsPaths.has((req.url ?? '').split('?')[0]),
  });
  const http = node.http;
  load = node.stats;
  const explicitIssuer = options.string('issuer');
  if (explicitIssuer === undefined && port === 0) await listen(http, port, host);
  const address = http.listening ? (http.address() as { port: number }) : { port };
  const issuer = explicitIssuer ?? `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;

  let server: AuthorizationServer;
  try {
    server = await createAuthorizationServer({
      issuer,
      store,
      kek: { file: options.string('kek-file') ?? defaultKekFile(db) },
      log: false,
      // RFC 9449 section 8: require server-provided nonces in DPoP proofs.
      dpop: options.flag('dpop-nonce') ? { requireNonce: true } : undefined,
      signingThread: options.required('signing-thread') === 'on' || (options.required('signing-thread') === 'auto' && availableParallelism() > 1),
      cors,
      devLogin: options.flag('dev-login'),
    });
  } catch (error) {
    http.close();
    await store.close();
    throw error;
  }
  metrics?.observe(server);
  const health = createHealthChecks(server);
  const observers = [metrics?.onResponse, options.flag('access-log') ? logger.access : undefined].filter((f) => f !== undefined);
  const oauth = createNodeHandler(server, {
    onResponse: observers.length === 0 ? undefined : observers.length === 1 ? observers[0] : (info: ResponseInfo) => observers.forEach((f) => f(info)),
  });
  const operations = createOperationsListener({ health, metrics: metricsPort === undefined ? metrics : undefined });
  // The OAuth handler's promise: a request counts in flight until its answer is out.
  handle = (req, res) => operations(req, res) || oauth(req, res);
  for (const [req, res] of early.splice(0)) handle(req, res);
  let metricsServer: Server | undefined;
  try {
    if (!http.listening) await listen(http, port, host);
    if (metrics && metricsPort !== undefined) {
      const serveMetrics = createOperationsListener({ metrics });
      metricsServer = createServer((req, res) => {
        if (!serveMetrics(req, res)) res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}');
      });
      await listen(metricsServer, metricsPort, host);
    }
  } catch (error) {
    http.close();
    await server.close();
    await store.close();
    throw error;
  }

  // stdout: the issuer on the first line, then (first start) the demo, in one piece; the log
  // (stderr) starts after it, so the two never interleave.
  io.stdout(`${server.issuer}\n`);
  if (!options.flag('no-demo')) {
    // The development login's demo client does not count: a store with only it is still empty.
    const clients = (await store.listClients()).filter((c) => c.clientId !== devLoginClientId);
    if (clients.length === 0) io.stdout(await createDemo(server, db));
    else if (level !== 'error') io.stdout(`The store ${db} already has clients, so no demo was created. ${grantHint(server, db, '--client ID --subject SUB --scope "..."')}\n`);
  }
  // Last, so that it is what a new user sees.
  if (options.flag('dev-login')) io.stdout(devLoginText(server));
  server.onEvent(logger.events);
  logger.log('info', 'server.started', {
    issuer: server.issuer,
    listen: `${host}:${(http.address() as { port: number }).port}`,
    db: redacted(db),
    metrics: metrics ? (metricsPort === undefined ? '/metrics' : `${host}:${(metricsServer!.address() as { port: number }).port}/metrics`) : false,
    logLevel: level,
  });

  // Key reload (every minute, and on SIGHUP) and the purge of expired rows: the same call an
  // embedding application makes.
  const maintenance = startMaintenance(server);
  const reload = () => void maintenance.reloadKeys().then(() => logger.log('info', 'keys.reloaded', { kid: server.keys.current.kid }));
  process.on('SIGHUP', reload);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.log('info', 'server.stopping', { signal });
      health.drain();
      process.off('SIGHUP', reload);
      metricsServer?.close();
      // Finish in-flight requests, then close the store.
      http.close(() => {
        maintenance
          .stop()
          .then(() => server.close())
          .then(() => store.close())
          .then(
            () => (logger.log('info', 'server.stopped'), resolve(0)),
            (error) => (logger.log('error', 'server.stop_failed', { detail: String(error) }), resolve(1)),
          );
      });
      http.closeIdleConnections();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** A `--db` value without its password, for the log. */
function redacted(db: string): string {
  if (!URL.canParse(db)) return db;
  const url = new URL(db);
  if (url.password) url.password = '***';
  return url.href;
}

/** The command that issues another grant against this server's store. */
function grantHint(server: AuthorizationServer, db: string, args: string): string {
  const flags = [db !== './refresh-grant.db' ? ` --db ${db}` : '', server.issuer !== 'http://127.0.0.1:8080' ? ` --issuer ${server.issuer}` : ''].join('');
  return `Issue a grant:\n  npx refresh-grant grants issue${flags} ${args}`;
}

/** What `--dev-login` prints: plainly marked as development only, and the URL to try. */
function devLoginText(server: AuthorizationServer): string {
  return `
DEVELOPMENT LOGIN IS ON (--dev-login): for development only. Anyone can sign in as any subject, without a password.
Try it in a browser, sign in with any subject, allow the consent, and get a refresh token that rotates:

  ${server.issuer}/dev-login/start

`;
}

/** Registers the demo client and grant and returns the text that shows how to use them. */
async function createDemo(server: AuthorizationServer, db: string): Promise<string> {
  const scope = 'openid offline_access profile';
  const { client, clientSecret } = await server.registerClient({ clientId: 'demo', authMethod: 'client_secret_basic', scope });
  const { tokens } = await server.issueGrant({ clientId: client.clientId, subject: 'demo-user', scope });
  const basic = Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(clientSecret!)}`).toString('base64');
  return `
The store was empty, so a demo is set up:
  client "demo", authenticating with client_secret_basic, secret ${clientSecret}
    (printed only now: the store keeps only its hash)
  a grant for the user "demo-user", scope "${scope}"

Refresh it: the answer holds a new access token, an id_token and the next refresh token.

curl -i \\
  -H 'Authorization: Basic ${basic}' \\
  -H 'Content-Type: application/x-www-form-urlencoded;charset=UTF-8' \\
  --request POST ${server.endpoints.token} \\
  -d 'grant_type=refresh_token&refresh_token=${tokens.refresh_token}&scope=openid'

This refresh token works once: every refresh answers with the next one, which replaces it.
Sent again later, it counts as stolen and revokes the whole grant (a retry within 30 s, while
the next one is unused, gets the same answer instead). To get a fresh grant:
  ${grantHint(server, db, `--client demo --subject demo-user --scope "${scope}"`).split('\n')[1].trim()}

Health: ${new URL('/health', server.issuer).href} and ${new URL('/ready', server.issuer).href}. Logs follow on stderr, one JSON line each. Stop with Ctrl-C.

`;
}
