/**
 * Test harness: a real server on loopback over a real SQLite file in a temp directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { AuthorizationServer, RegisterClientInput } from '../../src/core/authorization-server.ts';
import type { CorsOptions } from '../../src/core/cors.ts';
import type { ServerEvent } from '../../src/core/events.ts';
import type { Store } from '../../src/core/store.ts';
import { createNodeHandler } from '../../src/http/node-handler.ts';
import { createAuthorizationServer, type AuthorizationServerOptions } from '../../src/server.ts';
import { openSqliteStore } from '../../src/stores/sqlite-store.ts';

/** A running server and helpers to talk to it. */
export interface Harness {
  issuer: string;
  tokenEndpoint: string;
  server: AuthorizationServer;
  store: Store;
  dir: string;
  events: ServerEvent[];
  /** Clock offset in seconds added to the real time (to move time forward). */
  advance(seconds: number): void;
  /** Registers a client and returns its id and secret. */
  client(input: Partial<RegisterClientInput> & { authMethod?: RegisterClientInput['authMethod'] }): Promise<{ clientId: string; clientSecret: string }>;
  /** POSTs a form (object, or raw string) to a path with optional headers. */
  post(path: string, form: Record<string, string | string[]> | string, headers?: Record<string, string>): Promise<{ status: number; headers: Headers; json: any; text: string }>;
  /** Basic authorization header for a client. */
  basic(clientId: string, secret: string): Record<string, string>;
  close(): Promise<void>;
}

/**
 * Starts a harness; `store` lets a test bring another backend. Tokens are signed on a signing
 * thread, as `serve` does on a machine with more than one CPU (`signingThread: false`: inline).
 */
export async function startHarness(
  options: { store?: Store; basePath?: string; signingThread?: boolean; cors?: CorsOptions; frozenClock?: boolean } & Pick<
    AuthorizationServerOptions,
    'interactionUrl' | 'devLogin' | 'userClaims' | 'verifyPassword' | 'dpop'
  > = {},
): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'rg-test-'));
  const store = options.store ?? (await openSqliteStore(join(dir, 'test.db')));
  const http: Server = createServer();
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as { port: number }).port;
  const issuer = `http://127.0.0.1:${port}${options.basePath ?? ''}`;
  let offset = 0;
  const frozenAt = options.frozenClock ? Math.floor(Date.now() / 1000) : undefined;
  const events: ServerEvent[] = [];
  const server = await createAuthorizationServer({
    issuer,
    store,
    kek: new Uint8Array(randomBytes(32)),
    log: false,
    onEvent: (e) => events.push(e),
    // frozenClock: time moves only through advance(), so tests asserting exact seconds never see one tick by.
    clock: frozenAt === undefined ? () => Math.floor(Date.now() / 1000) + offset : () => frozenAt + offset,
    signingThread: options.signingThread ?? true,
    cors: options.cors,
    interactionUrl: options.interactionUrl,
    devLogin: options.devLogin,
    userClaims: options.userClaims,
    verifyPassword: options.verifyPassword,
    dpop: options.dpop,
  });
  http.on('request', createNodeHandler(server));
  const h: Harness = {
    issuer,
    tokenEndpoint: `${issuer}/token`,
    server,
    store,
    dir,
    events,
    advance(seconds) {
      offset += seconds;
    },
    async client(input) {
      const { client, clientSecret } = await server.registerClient({ authMethod: 'client_secret_basic', ...input });
      return { clientId: client.clientId, clientSecret: clientSecret ?? '' };
    },
    post(path, form, headers = {}) {
      return postForm(`${issuer}${path}`, form, headers);
    },
    basic: basicAuth,
    async close() {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await server.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}

/** POSTs a form (an object, or a raw string) and reads the answer; rejects only when no response arrives. */
export async function postForm(
  url: string,
  form: Record<string, string | string[]> | string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; json: any; text: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: typeof form === 'string' ? form : toForm(form),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

/** RFC 6749 section 2.3.1: the Basic authorization header, form-encoding id and secret first. */
export function basicAuth(clientId: string, secret: string): Record<string, string> {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return { authorization: `Basic ${Buffer.from(`${enc(clientId)}:${enc(secret)}`).toString('base64')}` };
}

/** Form-encodes an object; array values repeat the parameter. */
export function toForm(form: Record<string, string | string[]>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(form)) {
    for (const value of Array.isArray(v) ? v : [v]) params.append(k, value);
  }
  return params.toString();
}
