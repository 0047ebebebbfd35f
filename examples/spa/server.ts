/**
 * The example single-page app's server, on one origin (no CORS):
 *
 * | path              | what                                                                  |
 * | ----------------- | --------------------------------------------------------------------- |
 * | `/`, `/app.js`    | the SPA (also its redirection URI); `app.ts` is bundled with esbuild when the server starts |
 * | `/oauth/...`      | our authorization server (issuer `<origin>/oauth`), DPoP nonces required |
 * | `/login`          | the application's own sign-in and consent pages, on `server.interactions` (`login.ts`) |
 * | `GET /api/me`     | a protected resource: a DPoP-bound JWT access token, checked against the JWKS, and a proof with `ath` |
 *
 * Run it with `npx node examples/spa/server.ts` (`PORT`, default 8081) and open the printed URL.
 *
 * @example
 * ```ts
 * const app = await startExampleServer({ port: 0 })
 * console.log(app.url) // http://127.0.0.1:PORT/
 * await app.close()
 * ```
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { AuthorizationServer } from '../../packages/server/src/core/authorization-server.ts';
import { dpopDefaults, dpopSigningAlgs, verifyDpopProof } from '../../packages/server/src/core/auth/dpop.ts';
import { OAuthError } from '../../packages/server/src/core/errors.ts';
import type { ServerEvent } from '../../packages/server/src/core/events.ts';
import type { Store } from '../../packages/server/src/core/store.ts';
import { createNodeHandler } from '../../packages/server/src/http/node-handler.ts';
import { createAuthorizationServer } from '../../packages/server/src/server.ts';
import { openSqliteStore } from '../../packages/server/src/stores/sqlite-store.ts';
import { createLoginPages } from './login.ts';

/** Options of {@link startExampleServer}. */
export interface ExampleServerOptions {
  /** @default 8081 (0 picks a free port) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** Print lifecycle events on stderr. @default false */
  log?: boolean;
}

/** A running example. */
export interface ExampleServer {
  /** The SPA's URL, `http://host:port/`. */
  url: string;
  /** The authorization server's issuer, `<origin>/oauth`. */
  issuer: string;
  server: AuthorizationServer;
  store: Store;
  /** Every lifecycle event of the authorization server, in order. */
  events: ServerEvent[];
  close(): Promise<void>;
}

/** The public client the SPA is; its tokens are DPoP-bound. */
export const clientId = 'example-spa';
const scope = 'openid offline_access api';

/** Bundles the browser code (our client library included) with esbuild. */
async function bundle(): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('./app.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0].text;
}

/** Starts the example on a fresh SQLite store in a temporary directory. */
export async function startExampleServer(options: ExampleServerOptions = {}): Promise<ExampleServer> {
  const dir = mkdtempSync(join(tmpdir(), 'rg-example-spa-'));
  const store = await openSqliteStore(join(dir, 'example.db'));
  const http = createServer();
  await new Promise<void>((resolve) => http.listen(options.port ?? 8081, options.host ?? '127.0.0.1', resolve));
  const { address, port } = http.address() as { address: string; port: number };
  const origin = `http://${address}:${port}`;
  const issuer = `${origin}/oauth`;
  const events: ServerEvent[] = [];
  const server = await createAuthorizationServer({
    issuer,
    store,
    kek: new Uint8Array(randomBytes(32)),
    log: options.log ? undefined : false,
    onEvent: (e) => events.push(e),
    // RFC 9449 section 8: every proof at the token endpoint must carry a current server nonce.
    dpop: { requireNonce: true },
    // The authorization endpoint sends the browser to this application's own sign-in page.
    interactionUrl: `${origin}/login`,
  });
  // A public client whose redirection URI is the page itself.
  await server.registerClient({ clientId, authMethod: 'none', scope, resources: [`${origin}/api`], redirectUris: [`${origin}/`] });
  const login = createLoginPages(server);

  const html = readFileSync(new URL('./index.html', import.meta.url), 'utf8');
  const script = await bundle();
  const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
  const dpopSettings = { algorithms: dpopSigningAlgs, maxAge: dpopDefaults.maxAge, futureSkew: dpopDefaults.futureSkew };

  /** The protected resource: RFC 9449 section 7 on top of an RFC 9068 JWT access token. */
  async function resource(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const challenge = (error: string, description: string) =>
      send(res, 401, { error, error_description: description }, {
        // RFC 9449 section 7.1: the DPoP scheme's challenge, with the algorithms accepted.
        'www-authenticate': `DPoP error="${error}", error_description="${description}", algs="${dpopSigningAlgs.join(' ')}"`,
      });
    const [scheme, accessToken] = (req.headers.authorization ?? '').split(' ');
    if (scheme !== 'DPoP' || !accessToken) return challenge('invalid_token', 'a DPoP-bound access token is required');
    let claims;
    try {
      ({ payload: claims } = await jwtVerify(accessToken, jwks, { issuer, audience: `${origin}/api`, typ: 'at+jwt' }));
    } catch {
      return challenge('invalid_token', 'the access token is invalid or expired');
    }
    const jkt = (claims.cnf as { jkt?: unknown } | undefined)?.jkt;
    if (typeof jkt !== 'string') return challenge('invalid_token', 'the access token is not DPoP-bound');
    try {
      const proof = await verifyDpopProof(
        // Several DPoP headers arrive joined with commas, which verifyDpopProof refuses.
        { header: [req.headers.dpop ?? []].flat().join(', ') || undefined, method: req.method ?? 'GET', url: `${origin}/api/me`, now: Math.floor(Date.now() / 1000), accessToken },
        { settings: dpopSettings, store },
      );
      // RFC 9449 section 7.1: the proof's key must be the one the token is bound to.
      if (!proof || proof.jkt !== jkt) return challenge('invalid_dpop_proof', 'the proof is missing or by another key');
    } catch (error) {
      if (error instanceof OAuthError) return challenge('invalid_dpop_proof', error.description);
      throw error;
    }
    send(res, 200, { sub: claims.sub, scope: claims.scope, jkt, at: new Date().toISOString() });
  }

  async function app(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/') return send(res, 200, html, { 'content-type': 'text/html; charset=utf-8' });
    if (req.method === 'GET' && path === '/app.js') return send(res, 200, script, { 'content-type': 'text/javascript; charset=utf-8' });
    if (req.method === 'GET' && path === '/api/me') return resource(req, res);
    if (path === '/login') {
      let body = '';
      for await (const chunk of req) body += chunk;
      const answer = await login({ method: req.method ?? 'GET', url: new URL(req.url ?? '/', origin), cookie: req.headers.cookie, body });
      res.writeHead(answer.status, answer.headers);
      return void res.end(answer.body);
    }
    send(res, 404, { error: 'not_found' });
  }

  const oauth = createNodeHandler(server, {
    notFound: (req, res) => void app(req, res).catch(() => send(res, 500, { error: 'server_error' })),
  });
  http.on('request', oauth);

  return {
    url: `${origin}/`,
    issuer,
    server,
    store,
    events,
    async close() {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(text);
}

if (import.meta.main) {
  const example = await startExampleServer({ port: Number(process.env.PORT ?? 8081), log: true });
  console.log(`example SPA: ${example.url}  (authorization server: ${example.issuer})`);
  const stop = () => void example.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
