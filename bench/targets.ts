/**
 * The benchmark's targets: how each one is started (its own process on 127.0.0.1, port 0), how
 * its refresh token chains are provisioned, and how it is stopped.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { root as thisRoot, runNode, startNode, type NodeProcess } from './processes.ts';

/** Target names, in table order. */
export const targetNames = ['rg-jwt', 'rg-opaque', 'rg-openid', 'rg-pg', 'op', 'op-openid', 'limit', 'limit-sign', 'limit-sign-thread'] as const;
/**
 * Alternatives for the PostgreSQL store, measured side by side with `rg-pg` (the `variants`
 * part): without group commit, other numbers of batches in flight, a smaller pool, and the
 * hot path on the `postgres` package instead of `pg`.
 */
export const variantNames = ['rg-pg-nobatch', 'rg-pg-inflight1', 'rg-pg-inflight4', 'rg-pg-pool4', 'rg-pg-postgresjs'] as const;
export type TargetName = (typeof targetNames)[number] | (typeof variantNames)[number];

/** What each target is, for the tables. */
export const targetLabels: Record<TargetName, string> = {
  'rg-pg-nobatch': 'rg-pg without group commit: one transaction per refresh (`max_batch=1`, 10 in flight)',
  'rg-pg-inflight1': 'rg-pg with one group commit in flight (`batches_in_flight=1`)',
  'rg-pg-inflight4': 'rg-pg with four group commits in flight (`batches_in_flight=4`)',
  'rg-pg-pool4': 'rg-pg with a pool of 4 connections (`pool_size=4`)',
  'rg-pg-postgresjs': 'rg-pg with the hot path on the `postgres` package (pipelined, prepared; one transaction per refresh)',
  'rg-jwt': 'refresh-grant, SQLite, JWT (ES256) access token',
  'rg-opaque': 'refresh-grant, SQLite, opaque access token',
  'rg-openid': 'refresh-grant, SQLite, JWT + id_token (`openid offline_access`)',
  'rg-pg': 'refresh-grant, PostgreSQL, JWT (ES256) access token',
  op: 'oidc-provider 9, in-memory, rotation on',
  'op-openid': 'oidc-provider 9, in-memory, rotation on, + id_token (`openid`)',
  limit: 'limit: bare node:http, same form, fixed JSON of the same size',
  'limit-sign': 'limit + one ES256 signature per request',
  'limit-sign-thread': 'limit + one ES256 signature per request, on a signing thread (as `serve` signs)',
};

/** A started target. */
export interface Target {
  name: string;
  /** Token endpoint URLs (one per server process). */
  urls: string[];
  /** Process id of the server behind each URL (for CPU time). */
  pids: Map<string, number>;
  /** `Authorization: Basic ...` of its client. */
  authorization: string;
  /** Takes `n` unused chains (first refresh tokens). */
  take(n: number): Promise<string[]>;
  /** Starts one more server process on the same store (scaling); returns its token endpoint. */
  addProcess?(): Promise<string>;
  /** The target's own PostgreSQL database (its backends' CPU time is measured). */
  database?: string;
  stop(): Promise<void>;
}

/** Settings shared by the targets. */
export interface TargetOptions {
  /** How many chains to provision up front. */
  chains: number;
  /** Base PostgreSQL URL; the benchmark creates and drops its own database on that server. */
  pgUrl: string;
  /** Extra `node` flags for refresh-grant server processes (e.g. `--cpu-prof`). */
  serverFlags: string[];
  /** Where profiles go when `serverFlags` profile. */
  workDir: string;
  /** Another checkout whose refresh-grant to run instead of this one (before/after comparisons). */
  root?: string;
}

const cliPath = 'packages/cli/bin/refresh-grant.js';
const subject = 'bench-user-0001';
const scopes = { plain: 'offline_access api', openid: 'openid offline_access api' };

function pool(tokens: string[]): (n: number) => Promise<string[]> {
  let next = 0;
  return async (n) => {
    if (next + n > tokens.length) throw new Error(`out of provisioned chains (${tokens.length})`);
    next += n;
    return tokens.slice(next - n, next);
  };
}

/** refresh-grant via its CLI: `clients add`, `serve`, `grants issue --count N --json`. */
async function startRefreshGrant(
  name: string,
  options: TargetOptions,
  settings: {
    db?: string;
    accessToken: 'jwt' | 'opaque';
    scope: string;
    cleanup?: () => Promise<void>;
    database?: string;
    /** Serve with `bench/servers/refresh-grant-variant.ts --store NAME` instead of `refresh-grant serve`. */
    variantStore?: string;
  },
): Promise<Target> {
  const cli = join(options.root ?? thisRoot, cliPath);
  const dir = mkdtempSync(join(tmpdir(), `rg-bench-${name.replace(/\W/g, '_')}-`));
  const db = settings.db ?? join(dir, 'bench.db');
  const store = ['--db', db, '--kek-file', join(dir, 'bench.kek')];
  const added = JSON.parse(
    await runNode([cli, 'clients', 'add', '--id', 'bench', '--auth-method', 'client_secret_basic', '--scope', scopes.openid, '--access-token', settings.accessToken, '--json', ...store]),
  ) as { client_secret: string };
  const servers: NodeProcess[] = [];
  const pids = new Map<string, number>();
  const serve = async (): Promise<string> => {
    const flags = options.serverFlags.length ? [...options.serverFlags, `--cpu-prof-dir=${join(options.workDir, 'profiles', name)}`] : [];
    const command = settings.variantStore
      ? ['bench/servers/refresh-grant-variant.ts', '--store', settings.variantStore, ...store]
      : [cli, 'serve', '--port', '0', '--no-demo', '--quiet', ...store];
    const server = startNode([...flags, ...command], { NODE_ENV: 'production' });
    servers.push(server);
    const [issuer] = await server.lines(1);
    pids.set(`${issuer}/token`, server.child.pid!);
    return issuer;
  };
  try {
    const issuer = await serve();
    const issued = await runNode([cli, 'grants', 'issue', '--client', 'bench', '--subject', subject, '--scope', settings.scope, '--count', String(options.chains), '--issuer', issuer, '--json', ...store]);
    const tokens = issued.trim().split('\n').map((line) => (JSON.parse(line) as { refresh_token: string }).refresh_token);
    return {
      name,
      urls: [`${issuer}/token`],
      pids,
      authorization: 'Basic ' + Buffer.from(`bench:${encodeURIComponent(added.client_secret)}`).toString('base64'),
      take: pool(tokens),
      addProcess: async () => `${await serve()}/token`,
      database: settings.database,
      async stop() {
        await Promise.all(servers.map((s) => s.stop()));
        rmSync(dir, { recursive: true, force: true });
        await settings.cleanup?.();
      },
    };
  } catch (error) {
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** The benchmark's own database for one target (a baseline checkout gets another). */
const benchDatabase = (name: string, options: TargetOptions) =>
  `refresh_grant_bench_${name.replace(/\W/g, '_')}${options.root ? '_base' : ''}`;

/** A refresh-grant target on a fresh PostgreSQL database of its own; `params` go into the `--db` URL. */
async function startOnPostgres(name: TargetName, options: TargetOptions, params = '', variantStore?: string): Promise<Target> {
  const database = benchDatabase(name, options);
  const url = await freshPostgresDatabase(options.pgUrl, database);
  return startRefreshGrant(name, options, {
    db: url + (params ? (url.includes('?') ? '&' : '?') + params : ''),
    accessToken: 'jwt',
    scope: scopes.plain,
    variantStore,
    database,
    cleanup: () => onPostgres(options.pgUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`),
  });
}

/** Runs one statement on the PostgreSQL server of `baseUrl` (through the database it names). */
async function onPostgres(baseUrl: string, sql: string): Promise<void> {
  const admin = new pg.Client({ connectionString: baseUrl, connectionTimeoutMillis: 3000 });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

/** A fresh database on the PostgreSQL server of `baseUrl` for this benchmark run. */
async function freshPostgresDatabase(baseUrl: string, name: string): Promise<string> {
  await onPostgres(baseUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await onPostgres(baseUrl, `CREATE DATABASE ${name}`);
  const url = new URL(baseUrl);
  url.pathname = '/' + name;
  return url.href;
}

async function startOidcProvider(name: string, scope: string): Promise<Target> {
  const server = startNode(['bench/servers/oidc-provider.ts', '--scope', scope], { NODE_ENV: 'production' });
  try {
    const [url, authorization, mintUrl] = await server.lines(3);
    const take = async (n: number) => {
      const response = await fetch(`${mintUrl}?count=${n}`);
      if (!response.ok) throw new Error(`minting oidc-provider refresh tokens failed: ${await response.text()}`);
      return (await response.text()).split('\n');
    };
    return { name, urls: [url], pids: new Map([[url, server.child.pid!]]), authorization, take, stop: () => server.stop() };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

async function startLimit(name: string, sign: '' | '--sign' | '--sign-thread'): Promise<Target> {
  const server = startNode(['bench/servers/limit.ts', ...(sign ? [sign] : [])], { NODE_ENV: 'production' });
  const [url] = await server.lines(1);
  // The limit does not rotate: any token string will do.
  return {
    name,
    urls: [`${url}/token`],
    pids: new Map([[`${url}/token`, server.child.pid!]]),
    authorization: 'Basic ' + Buffer.from('bench:bench-secret').toString('base64'),
    take: async (n) => Array.from({ length: n }, (_, i) => `rg_rt_limit${i}`),
    stop: () => server.stop(),
  };
}

/**
 * Starts a target by name.
 *
 * @example
 * ```ts
 * const target = await startTarget('rg-jwt', { chains: 300, pgUrl, serverFlags: [], workDir })
 * const chains = target.take(64)
 * await target.stop()
 * ```
 */
export async function startTarget(name: TargetName, options: TargetOptions): Promise<Target> {
  switch (name) {
    case 'rg-jwt':
      return startRefreshGrant(name, options, { accessToken: 'jwt', scope: scopes.plain });
    case 'rg-opaque':
      return startRefreshGrant(name, options, { accessToken: 'opaque', scope: scopes.plain });
    case 'rg-openid':
      return startRefreshGrant(name, options, { accessToken: 'jwt', scope: scopes.openid });
    case 'rg-pg':
      return startOnPostgres(name, options);
    case 'rg-pg-nobatch':
      return startOnPostgres(name, options, 'max_batch=1&batches_in_flight=10');
    case 'rg-pg-inflight1':
      return startOnPostgres(name, options, 'batches_in_flight=1');
    case 'rg-pg-inflight4':
      return startOnPostgres(name, options, 'batches_in_flight=4');
    case 'rg-pg-pool4':
      return startOnPostgres(name, options, 'pool_size=4');
    case 'rg-pg-postgresjs':
      return startOnPostgres(name, options, '', 'postgresjs');
    case 'op':
      return startOidcProvider(name, scopes.plain);
    case 'op-openid':
      return startOidcProvider(name, scopes.openid);
    case 'limit':
      return startLimit(name, '');
    case 'limit-sign':
      return startLimit(name, '--sign');
    case 'limit-sign-thread':
      return startLimit(name, '--sign-thread');
  }
}
