/**
 * Client micro-benchmark: the per-refresh cost of `refreshTokenGrant` from @refresh-grant/client,
 * of openid-client's `refreshTokenGrant`, and of a raw `fetch` of the same request, against the
 * same local server in its own process (`bench/servers/limit.ts`: it answers a fixed token
 * response, so only the client side differs). One refresh at a time, in blocks of `n`
 * refreshes: every round runs one block of each contender (in a rotating order), `runs` rounds;
 * ratios are taken round by round (the machine drifts less within a round), then medians.
 * Reported: wall time per refresh and the client process's CPU time per refresh.
 *
 * Run: `npx node --expose-gc bench/client.ts [--n 500] [--runs 15] [--quick] [--markdown]`
 * (also `npm run bench -- --parts client`).
 */
import { parseArgs } from 'node:util';
import * as openidClient from 'openid-client';
import { allowInsecureRequests, ClientSecretBasic, Configuration, refreshTokenGrant } from '@refresh-grant/client';
import { startNode } from './processes.ts';
import { fixed, median } from './stats.ts';

const { values } = parseArgs({
  options: {
    n: { type: 'string' },
    runs: { type: 'string' },
    quick: { type: 'boolean', default: false },
    markdown: { type: 'boolean', default: false },
  },
});
const n = Number(values.n ?? 500);
const runs = Number(values.runs ?? (values.quick ? 5 : 15));

const server = startNode(['bench/servers/limit.ts'], { NODE_ENV: 'production' });
const [origin] = await server.lines(1);
const tokenEndpoint = `${origin}/token`;
const clientId = 'bench';
const clientSecret = 'bench-secret-0123456789-0123456789-0123456789';
const refreshToken = 'rg_rt_' + 'x'.repeat(43);
const metadata = { issuer: origin, token_endpoint: tokenEndpoint };

const ours = new Configuration(metadata, clientId, clientSecret, ClientSecretBasic());
allowInsecureRequests(ours);
const theirs = new openidClient.Configuration(metadata, clientId, clientSecret, openidClient.ClientSecretBasic());
openidClient.allowInsecureRequests(theirs);
// What both libraries send for client_secret_basic: form-urlencoded id and secret, base64.
const basic = 'Basic ' + Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64');

type Contender = { name: string; refresh: () => Promise<string | undefined> };
const contenders: Contender[] = [
  {
    name: 'raw fetch',
    refresh: async () => {
      const response = await fetch(tokenEndpoint, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8', accept: 'application/json' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }).toString(),
      });
      if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
      return ((await response.json()) as { refresh_token?: string }).refresh_token;
    },
  },
  { name: '@refresh-grant/client refreshTokenGrant', refresh: async () => (await refreshTokenGrant(ours, refreshToken)).refresh_token },
  { name: 'openid-client 6 refreshTokenGrant', refresh: async () => (await openidClient.refreshTokenGrant(theirs, refreshToken)).refresh_token },
];

/** One block of `n` sequential refreshes: wall and CPU µs per refresh. */
async function run(contender: Contender): Promise<{ wall: number; cpu: number }> {
  // Start every block without the garbage of the previous one (with --expose-gc).
  (globalThis as { gc?: () => void }).gc?.();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    if (!(await contender.refresh())) throw new Error(`${contender.name}: no refresh_token`);
  }
  const wall = ((performance.now() - t0) * 1000) / n;
  const cpu = process.cpuUsage(cpu0);
  return { wall, cpu: (cpu.user + cpu.system) / n };
}

const results = new Map(contenders.map((c) => [c.name, { wall: [] as number[], cpu: [] as number[] }]));
try {
  // Warm-up: JIT, connection pool, lazy imports.
  for (const c of contenders) for (let i = 0; i < 300; i++) await c.refresh();
  for (let r = 0; r < runs; r++) {
    // Rotate the order so that drift hits every contender alike.
    for (let k = 0; k < contenders.length; k++) {
      const c = contenders[(r + k) % contenders.length];
      const { wall, cpu } = await run(c);
      results.get(c.name)!.wall.push(wall);
      results.get(c.name)!.cpu.push(cpu);
    }
  }
} finally {
  await server.stop();
}

const base = results.get('raw fetch')!;
const ratio = (values: number[], baseline: number[]) => median(values.map((v, i) => v / baseline[i]));
const lines = [
  `## Client overhead per refresh (one at a time; ${runs} rounds of ${n} refreshes per client; medians)`,
  '',
  'Same local server (fixed token response, its own process), same request; only the client differs. Wall: time per refresh as the caller sees it. Client CPU: CPU time of the client process per refresh. Ratios are taken round by round against raw fetch.',
  '',
  '| client | wall µs/refresh | vs raw fetch | client CPU µs/refresh | vs raw fetch |',
  '|---|---:|---:|---:|---:|',
  ...contenders.map((c) => {
    const r = results.get(c.name)!;
    return `| ${c.name} | ${fixed(median(r.wall), 0)} | ${fixed(ratio(r.wall, base.wall), 2)} | ${fixed(median(r.cpu), 0)} | ${fixed(ratio(r.cpu, base.cpu), 2)} |`;
  }),
  '',
];
process.stdout.write(values.markdown ? lines.join('\n') : lines.join('\n'));
