/**
 * The PostgreSQL store alone, without HTTP: C concurrent rotating chains through
 * `store.useRefreshToken` (with the core's own `decideRefresh`), for each variant of the store's
 * options, interleaved run by run. Reports rotations/s, this process's CPU per rotation and the
 * CPU of its PostgreSQL backends per rotation (found by their `application_name`, read from
 * `/proc`), which the machine's noise disturbs much less than throughput. A steering tool for
 * the store's design (group commit, batches in flight, pool size), not a benchmark to quote.
 *
 * Run: `npx node bench/pg-store.ts [--concurrency 64] [--duration 3000] [--runs 3]
 *   [--variants default,batch1,inflight1,inflight4,inflight8,pool4,pool20,postgresjs] [--pg-url URL]`
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { refreshTokenKey, randomId, timeOrderedHandle, tokenPrefixes } from '../packages/server/src/core/crypto.ts';
import { decideRefresh, type RefreshRules } from '../packages/server/src/core/grants/refresh-token.ts';
import { clientDefaults, type ClientRecord } from '../packages/server/src/core/types.ts';
import type { Store } from '../packages/server/src/core/store.ts';
import { openPostgresStore, type PostgresStoreOptions } from '../packages/server/src/stores/postgres-store.ts';
import { openPostgresJsStore } from './servers/postgresjs-store.ts';
import { fixed, int, median } from './stats.ts';

const { values } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '64' },
    duration: { type: 'string', default: '3000' },
    runs: { type: 'string', default: '3' },
    variants: { type: 'string', default: 'default,batch1,inflight1,inflight4' },
    'pg-url': { type: 'string', default: process.env.PG_URL ?? 'postgres://root@127.0.0.1:5432/test' },
  },
});

/** The variants: store options by name. */
const variants: Record<string, PostgresStoreOptions> = {
  default: {},
  batch1: { maxBatch: 1, maxBatchesInFlight: 10 },
  inflight1: { maxBatchesInFlight: 1 },
  inflight4: { maxBatchesInFlight: 4 },
  inflight8: { maxBatchesInFlight: 8 },
  pool4: { poolSize: 4, maxBatchesInFlight: 2 },
  pool20: { poolSize: 20, maxBatchesInFlight: 4 },
  /** The hot path on the `postgres` package, a transaction per refresh (bench/servers/postgresjs-store.ts). */
  postgresjs: {},
};

const concurrency = Number(values.concurrency);
const durationMs = Number(values.duration);
const names = values.variants.split(',');
for (const name of names) if (!variants[name]) throw new Error(`unknown variant ${name}; known: ${Object.keys(variants).join(', ')}`);
const schema = `rg_bench_${randomId().replace(/\W/g, '').toLowerCase().slice(0, 10)}`;
const admin = new pg.Client({ connectionString: values['pg-url'] });
await admin.connect();

/** CPU time (user + system) of a process, in µs, from /proc. */
function cpuUs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100;
  } catch {
    return 0;
  }
}

const client: ClientRecord = { ...clientDefaults, clientId: 'bench', authMethod: 'client_secret_basic', scope: 'api offline_access', resources: [], createdAt: 0 };

async function measure(name: string): Promise<{ rate: number; nodeUs: number; pgUs: number }> {
  const application = `rg_bench_${name}_${randomId().slice(0, 6)}`;
  const url = new URL(values['pg-url']);
  url.searchParams.set('application_name', application);
  const store: Store =
    name === 'postgresjs'
      ? await openPostgresJsStore(url.href, { schema })
      : await openPostgresStore(url.href, { schema, purgeIntervalMs: 0, ...variants[name] });
  try {
    const now = Math.floor(Date.now() / 1000);
    const chains: string[] = [];
    for (let i = 0; i < concurrency; i++) {
      const token = timeOrderedHandle(tokenPrefixes.refreshToken);
      await store.createGrant(
        { familyId: randomId(), clientId: 'bench', subject: 's', scope: 'api offline_access', resources: [], authTime: now, createdAt: now, expiresAt: now + 86_400 },
        { tokenHash: refreshTokenKey(token), expiresAt: now + 3600 },
      );
      chains.push(token);
    }
    let count = 0;
    let measuring = false;
    let stop = false;
    const chain = async (i: number) => {
      while (!stop) {
        const presented = chains[i];
        let successor: { token: string; tokenHash: string; sealed: string } | undefined;
        const rules: RefreshRules = {
          client, now: Math.floor(Date.now() / 1000), requestedScope: [], requestedResources: [],
          successor: () => {
            const token = timeOrderedHandle(tokenPrefixes.refreshToken);
            return (successor ??= { token, tokenHash: refreshTokenKey(token), sealed: 'sealed-' + token.slice(-20) });
          },
        };
        const { decision } = await store.useRefreshToken(refreshTokenKey(presented), (s) => decideRefresh(s, rules));
        if (decision.action !== 'rotate') throw new Error(`chain ${i}: ${decision.action}`);
        chains[i] = successor!.token;
        if (measuring) count++;
      }
    };
    const running = chains.map((_, i) => chain(i));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const { rows } = await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [application]);
    const pgPids = rows.map((row) => row.pid);
    const pgCpu = () => pgPids.reduce((sum, pid) => sum + cpuUs(pid), 0);
    const startCpu = process.cpuUsage();
    const startPg = pgCpu();
    const started = performance.now();
    measuring = true;
    await new Promise((resolve) => setTimeout(resolve, durationMs));
    measuring = false;
    const elapsed = performance.now() - started;
    const nodeCpu = process.cpuUsage(startCpu);
    const pgUsed = pgCpu() - startPg;
    stop = true;
    await Promise.all(running);
    return { rate: (count * 1000) / elapsed, nodeUs: (nodeCpu.user + nodeCpu.system) / count, pgUs: pgUsed / count };
  } finally {
    await store.close();
  }
}

const results = new Map<string, Array<{ rate: number; nodeUs: number; pgUs: number }>>();
try {
  process.stderr.write(`CPU: ${cpus()[0]?.model ?? 'unknown'} x ${cpus().length}; C=${concurrency}, ${durationMs} ms windows\n`);
  for (let run = 1; run <= Number(values.runs); run++) {
    for (const name of names) {
      const r = await measure(name);
      (results.get(name) ?? results.set(name, []).get(name)!).push(r);
      process.stderr.write(`run ${run} ${name.padEnd(10)} ${int(r.rate).padStart(7)}/s  node ${fixed(r.nodeUs, 0)} µs  postgres ${fixed(r.pgUs, 0)} µs per rotation\n`);
    }
  }
} finally {
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
}
console.log('| variant | rotations/s | node CPU µs/rotation | PostgreSQL backends CPU µs/rotation |\n|---|---:|---:|---:|');
for (const [name, rs] of results) {
  console.log(`| ${name} | ${int(median(rs.map((r) => r.rate)))} | ${fixed(median(rs.map((r) => r.nodeUs)), 0)} | ${fixed(median(rs.map((r) => r.pgUs)), 0)} |`);
}
