/**
 * A server the way `serve` wires it, for the operations tests: a real SQLite (or given) store,
 * optionally timed by metrics, the node:http handler with its `onResponse` hook, and the
 * operations endpoints in front, on loopback.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuthorizationServer } from '../../src/core/authorization-server.ts';
import type { Store } from '../../src/core/store.ts';
import { createNodeHandler, type ResponseInfo } from '../../src/http/node-handler.ts';
import { createHealthChecks, type HealthChecks, type HealthOptions } from '../../src/operations/health.ts';
import type { Metrics } from '../../src/operations/metrics.ts';
import { createOperationsListener } from '../../src/operations/operations-listener.ts';
import { createAuthorizationServer } from '../../src/server.ts';
import { openSqliteStore } from '../../src/stores/sqlite-store.ts';

export interface Operated {
  url: string;
  server: AuthorizationServer;
  store: Store;
  health: HealthChecks;
  get(path: string): Promise<{ status: number; body: string; headers: Headers }>;
  close(): Promise<void>;
}

export async function startOperated(options: { store?: Store; metrics?: Metrics; onResponse?: (info: ResponseInfo) => void; health?: HealthOptions } = {}): Promise<Operated> {
  const dir = mkdtempSync(join(tmpdir(), 'rg-ops-'));
  const raw = options.store ?? (await openSqliteStore(join(dir, 'ops.db')));
  const store = options.metrics ? options.metrics.instrumentStore(raw) : raw;
  const http = createServer();
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
  const server = await createAuthorizationServer({ issuer: url, store, kek: new Uint8Array(randomBytes(32)), log: false, signingThread: true });
  options.metrics?.observe(server);
  const health = createHealthChecks(server, options.health);
  const observers = [options.metrics?.onResponse, options.onResponse].filter((f) => f !== undefined);
  const oauth = createNodeHandler(server, { onResponse: observers.length ? (info) => observers.forEach((f) => f(info)) : undefined });
  const operations = createOperationsListener({ health, metrics: options.metrics });
  http.on('request', (req, res) => void (operations(req, res) || oauth(req, res)));
  return {
    url,
    server,
    store,
    health,
    async get(path) {
      const res = await fetch(url + path);
      return { status: res.status, body: await res.text(), headers: res.headers };
    },
    async close() {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await server.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The value of one sample of a Prometheus text exposition (`name{labels}`), or undefined. */
export function sample(exposition: string, series: string): number | undefined {
  for (const line of exposition.split('\n')) {
    if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1));
  }
  return undefined;
}
