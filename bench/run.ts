/**
 * `npm run bench`: refresh throughput and latency of refresh-grant side by side with
 * oidc-provider and with the limit (a bare node:http server), the client's per-refresh
 * overhead, and how throughput grows with server processes. Writes `bench/results.md`.
 *
 * Every target and every load generator is its own process on 127.0.0.1. Measurements are
 * interleaved (run 1 of every target at C=1, then C=16, ...; then run 2 ...) so that the drift
 * of a shared machine hits every target alike, and ratios are taken run by run.
 *
 * Options:
 *   --quick                 1 run, C=16, 0.5 s warm-up + 1.5 s window (smoke test)
 *   --targets a,b           subset of: rg-jwt, rg-opaque, rg-openid, rg-pg, op, op-openid, limit, limit-sign,
 *                           limit-sign-thread
 *   --concurrency 1,16,64   virtual clients
 *   --runs 3                runs of each measurement
 *   --warmup 1000 --duration 4000   windows, in ms
 *   --parts main,scaling,client,cli what to run (cli: start-up time of the command line, bench/cli.ts)
 *   --driver net|http       load generator HTTP client (default net, see bench/load.ts)
 *   --profile               run refresh-grant servers with --cpu-prof (profiles in the work dir)
 *   --pg-url URL            PostgreSQL server (default postgres://root@127.0.0.1:5432/test)
 *   --baseline DIR          also run the refresh-grant targets from another checkout (as NAME@base),
 *                           side by side: before/after figures of a change
 *   --out FILE              results file (default bench/results.md for a full run, else a temp file)
 *
 * @example
 * ```sh
 * npm run bench                                   # everything, about 8 minutes
 * npm run bench -- --quick                        # smoke test, under a minute
 * npm run bench -- --targets rg-jwt,limit-sign --concurrency 64 --parts main
 * ```
 */
import { cpus, freemem, release, tmpdir, totalmem } from 'node:os';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import type { LoadConfig, LoadResult } from './load.ts';
import { root, runNode } from './processes.ts';
import { fixed, int, median } from './stats.ts';
import { startTarget, targetLabels, targetNames, type Target, type TargetName } from './targets.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    targets: { type: 'string' },
    concurrency: { type: 'string' },
    runs: { type: 'string' },
    warmup: { type: 'string' },
    duration: { type: 'string' },
    parts: { type: 'string' },
    driver: { type: 'string', default: 'net' },
    profile: { type: 'boolean', default: false },
    'pg-url': { type: 'string', default: process.env.PG_URL ?? 'postgres://root@127.0.0.1:5432/test' },
    out: { type: 'string' },
    baseline: { type: 'string' },
  },
});

const list = (value: string | undefined) => value?.split(',').map((s) => s.trim()).filter(Boolean);
const quick = values.quick;
const names = (list(values.targets) ?? [...targetNames]) as TargetName[];
for (const name of names) if (!targetNames.includes(name)) throw new Error(`unknown target ${name}; known: ${targetNames.join(', ')}`);
const concurrencies = (list(values.concurrency) ?? (quick ? ['16'] : ['1', '16', '64'])).map(Number);
const runs = Number(values.runs ?? (quick ? 1 : 3));
const warmupMs = Number(values.warmup ?? (quick ? 500 : 1000));
const durationMs = Number(values.duration ?? (quick ? 1500 : 4000));
const parts = new Set(list(values.parts) ?? ['main', 'scaling', 'client', 'cli']);
const driver = values.driver === 'http' ? 'http' : 'net';
const full = !quick && !values.targets && !values.concurrency && !values.runs && !values.parts && !values.warmup && !values.duration && !values.profile;
const workDir = mkdtempSync(join(tmpdir(), 'rg-bench-'));
const out = values.out ?? (full ? join(root, 'bench', 'results.md') : join(workDir, 'results.md'));
const scalingConcurrency = Math.max(...concurrencies);
const started = Date.now();

/** One measurement. */
interface Sample {
  target: string;
  processes: number;
  concurrency: number;
  run: number;
  result: LoadResult;
}

const samples: Sample[] = [];
const pending = new Map<string, string>();

function log(line: string): void {
  process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
}

let configCount = 0;
async function measure(target: Target, urls: string[], concurrency: number, run: number, label = target.name): Promise<void> {
  const pids = urls.map((url) => target.pids.get(url)).filter((pid) => pid !== undefined);
  const config: LoadConfig = { urls, authorization: target.authorization, chains: await target.take(concurrency), warmupMs, durationMs, driver, pids };
  const file = join(workDir, `load-${++configCount}.json`);
  writeFileSync(file, JSON.stringify(config));
  const result = JSON.parse(await runNode(['bench/load.ts', file])) as LoadResult;
  rmSync(file);
  samples.push({ target: label, processes: urls.length, concurrency, run, result });
  const errors = result.errors || result.deadChains ? `  errors ${result.errors} (dead chains ${result.deadChains}) ${JSON.stringify(result.errorKinds)}` : '';
  log(`run ${run} C=${String(concurrency).padEnd(3)} ${label.padEnd(14)} ${int(result.throughput).padStart(7)}/s  p50 ${fixed(result.p50, 2)} ms  p99 ${fixed(result.p99, 2)} ms  server CPU ${fixed(result.serverCpuUs, 0)} µs/refresh${errors}`);
}

// --- start the targets ---------------------------------------------------------------------
const mainChains = parts.has('main') ? runs * concurrencies.reduce((a, b) => a + b, 0) : 0;
const scalingChains = parts.has('scaling') ? 2 * runs * scalingConcurrency : 0;
/** What the main table measures, in order: each target, and with --baseline its `@base` twin. */
const measured: string[] = names.flatMap((name) => (values.baseline && name.startsWith('rg-') ? [name, `${name}@base`] : [name]));
const baseName = (name: string) => name.replace(/@base$/, '') as TargetName;
const labelOf = (name: string) => targetLabels[baseName(name)] + (name.endsWith('@base') ? ' — baseline' : '');
const targets = new Map<string, Target>();
const needed = new Set<string>(parts.has('main') ? measured : []);
if (parts.has('scaling')) for (const name of ['rg-jwt', 'rg-pg'] as const) if (names.includes(name)) needed.add(name);
for (const name of needed) {
  try {
    log(`starting ${name}`);
    const chains = mainChains + (name === 'rg-jwt' || name === 'rg-pg' ? scalingChains : 0) + 8;
    const root = name.endsWith('@base') ? values.baseline : undefined;
    const target = await startTarget(baseName(name), { chains, pgUrl: values['pg-url'], serverFlags: values.profile ? ['--cpu-prof'] : [], workDir, root });
    targets.set(name, { ...target, name });
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0].slice(0, 300);
    pending.set(name, reason);
    log(`${name} is pending: ${reason}`);
  }
}

try {
  // --- main table: interleaved runs ---------------------------------------------------------
  if (parts.has('main')) {
    for (let run = 1; run <= runs; run++) {
      for (const concurrency of concurrencies) {
        for (const name of measured) {
          const target = targets.get(name);
          if (target) await measure(target, target.urls, concurrency, run);
        }
      }
    }
  }

  // --- scaling: 1 and 2 server processes on one store -----------------------------------------
  const scaled: Array<{ target: Target; both: string[] }> = [];
  if (parts.has('scaling')) {
    for (const name of ['rg-jwt', 'rg-pg'] as const) {
      const target = targets.get(name);
      if (!target?.addProcess) continue;
      try {
        scaled.push({ target, both: [target.urls[0], await target.addProcess()] });
      } catch (error) {
        pending.set(`${name} x2`, (error as Error).message.split('\n')[0]);
      }
    }
    for (let run = 1; run <= runs; run++) {
      for (const { target, both } of scaled) {
        await measure(target, [both[0]], scalingConcurrency, run, `${target.name} x1`);
        await measure(target, both, scalingConcurrency, run, `${target.name} x2`);
      }
    }
  }
} finally {
  for (const target of targets.values()) await target.stop();
}

// --- client micro-benchmark --------------------------------------------------------------------
let clientReport = '';
if (parts.has('client')) {
  log('client micro-benchmark');
  clientReport = await runNode(['--expose-gc', 'bench/client.ts', ...(quick ? ['--quick'] : []), '--markdown']);
}

// --- CLI start-up --------------------------------------------------------------------------------
let cliReport = '';
if (parts.has('cli')) {
  log('CLI start-up');
  cliReport = await runNode(['bench/cli.ts', '--markdown', ...(quick ? ['--rounds', '5'] : [])]);
}

// --- report ----------------------------------------------------------------------------------
function group(target: string, concurrency: number, processes?: number): Sample[] {
  return samples.filter((s) => s.target === target && s.concurrency === concurrency && (processes === undefined || s.processes === processes));
}

/** Median over runs of target a's throughput divided by target b's in the same run. */
function ratio(a: string, b: string, concurrency: number): number {
  const rs: number[] = [];
  for (const sa of group(a, concurrency)) {
    const sb = group(b, concurrency).find((s) => s.run === sa.run);
    if (sb && sb.result.throughput > 0) rs.push(sa.result.throughput / sb.result.throughput);
  }
  return median(rs);
}

const throughputOf = (g: Sample[]) => median(g.map((s) => s.result.throughput));
const p99Of = (g: Sample[]) => median(g.map((s) => s.result.p99));

const cpu = cpus()[0]?.model ?? 'unknown';
const nodeVersion = process.version;
const command = 'npm run bench' + (process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : '');
const lines: string[] = [];
lines.push('# Benchmark results', '');
lines.push(`Generated by \`${command}\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC in ${Math.round((Date.now() - started) / 1000)} s.`, '');
lines.push(`Machine: ${cpus().length} vCPU (\`nproc\`), ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM (${Math.round(freemem() / 2 ** 30)} GiB free at the end), Linux ${release()}, Node ${nodeVersion}. Shared with other work: absolute figures drift between invocations; ratios are taken run by run from measurements made side by side.`, '');
lines.push(`Method: every target is its own process on 127.0.0.1; the load generator is another process (${driver === 'net' ? 'a minimal keep-alive HTTP/1.1 client on raw sockets' : 'node:http with a keep-alive Agent'}) with C virtual clients, each on its own connection and its own refresh token chain, every request presenting the refresh token the previous response returned. ${warmupMs} ms warm-up, then a ${durationMs} ms measuring window; ${runs} run(s) of everything, interleaved; medians of the runs. Throughput counts successful refreshes completed in the window; latency is per request, in ms. See docs/benchmarks.md.`, '');

if (parts.has('main')) {
  lines.push('## Refresh throughput and latency', '');
  lines.push('| target | C | refreshes/s (median) | runs (min–max) | p50 ms | p99 ms | server CPU µs/refresh | errors |', '|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const name of measured) {
    if (pending.has(name)) {
      lines.push(`| ${labelOf(name)} | – | pending | – | – | – | – | ${pending.get(name)!.replace(/\|/g, '/').slice(0, 120)} |`);
      continue;
    }
    for (const concurrency of concurrencies) {
      const g = group(name, concurrency, 1);
      if (g.length === 0) continue;
      const tps = g.map((s) => s.result.throughput);
      const errors = g.reduce((n, s) => n + s.result.errors, 0);
      lines.push(
        `| ${labelOf(name)} | ${concurrency} | **${int(throughputOf(g))}** | ${int(Math.min(...tps))}–${int(Math.max(...tps))} | ${fixed(median(g.map((s) => s.result.p50)), 2)} | ${fixed(p99Of(g), 2)} | ${fixed(median(g.map((s) => s.result.serverCpuUs)), 0)} | ${errors} |`,
      );
    }
  }
  lines.push('');
  const pairs: Array<[string, string]> = [
    ['rg-jwt', 'op'],
    ['rg-opaque', 'op'],
    ['rg-openid', 'op-openid'],
    ['rg-pg', 'op'],
    ['rg-jwt', 'limit-sign'],
    ['rg-jwt', 'limit-sign-thread'],
    ['rg-jwt', 'limit'],
    ['rg-opaque', 'limit'],
    ...names.filter((n) => n.startsWith('rg-')).map((n): [string, string] => [n, `${n}@base`]),
  ];
  const shown = pairs.filter(([a, b]) => targets.has(a) && targets.has(b));
  if (shown.length) {
    lines.push('## Ratios (median of run-by-run ratios of throughput)', '');
    lines.push(`| ratio | ${concurrencies.map((c) => `C=${c}`).join(' | ')} |`, `|---|${concurrencies.map(() => '---:').join('|')}|`);
    for (const [a, b] of shown) lines.push(`| ${a} / ${b} | ${concurrencies.map((c) => fixed(ratio(a, b, c), 2)).join(' | ')} |`);
    lines.push('');
  }
  const c = scalingConcurrency;
  const checks: string[] = [];
  const check = (label: string, value: number, ok: boolean) => checks.push(`- ${ok ? 'met' : '**missed**'}: ${label} (${fixed(value, 2)})`);
  if (targets.has('rg-jwt') && targets.has('op')) check(`JWT: rg-jwt / oidc-provider >= 3 at C=${c}`, ratio('rg-jwt', 'op', c), ratio('rg-jwt', 'op', c) >= 3);
  if (targets.has('rg-jwt') && targets.has('limit-sign')) check(`JWT: rg-jwt / limit-sign >= 0.8 at C=${c}`, ratio('rg-jwt', 'limit-sign', c), ratio('rg-jwt', 'limit-sign', c) >= 0.8);
  if (targets.has('rg-opaque') && targets.has('op')) check(`opaque: rg-opaque / oidc-provider >= 5 at C=${c}`, ratio('rg-opaque', 'op', c), ratio('rg-opaque', 'op', c) >= 5);
  for (const name of ['rg-jwt', 'rg-opaque', 'rg-openid', 'rg-pg'] as const) {
    if (targets.has(name)) check(`p99 of ${name} <= 10 ms at C=${c}, ms`, p99Of(group(name, c, 1)), p99Of(group(name, c, 1)) <= 10);
  }
  if (checks.length) lines.push(`## Targets (C=${c})`, '', ...checks, '');
}

if (parts.has('scaling')) {
  lines.push(`## Scaling: server processes on one store (C=${scalingConcurrency}, chains split evenly)`, '');
  lines.push('| store | processes | refreshes/s (median) | p99 ms | x2 / x1 (run by run) |', '|---|---:|---:|---:|---:|');
  for (const name of ['rg-jwt', 'rg-pg']) {
    const one = group(`${name} x1`, scalingConcurrency);
    const two = group(`${name} x2`, scalingConcurrency);
    if (pending.has(`${name} x2`) || pending.has(name)) {
      if (names.includes(name as TargetName)) lines.push(`| ${name === 'rg-pg' ? 'PostgreSQL' : 'SQLite'} | – | pending | – | ${(pending.get(`${name} x2`) ?? pending.get(name))!.slice(0, 100)} |`);
      continue;
    }
    if (!one.length) continue;
    const store = name === 'rg-pg' ? 'PostgreSQL' : 'SQLite (one file)';
    lines.push(`| ${store} | 1 | ${int(throughputOf(one))} | ${fixed(p99Of(one), 2)} | |`);
    lines.push(`| ${store} | 2 | ${int(throughputOf(two))} | ${fixed(p99Of(two), 2)} | ${fixed(ratio(`${name} x2`, `${name} x1`, scalingConcurrency), 2)} |`);
  }
  lines.push('');
}

if (clientReport) lines.push(clientReport.trim(), '');
if (cliReport) lines.push(cliReport.trim(), '');
if (pending.size) lines.push('## Pending', '', ...[...pending].map(([k, v]) => `- ${k}: ${v}`), '');

writeFileSync(out, lines.join('\n'));
writeFileSync(out.replace(/\.md$/, '.json'), JSON.stringify({ command, machine: { nproc: cpus().length, cpu, node: nodeVersion }, warmupMs, durationMs, runs, driver, samples, pending: Object.fromEntries(pending) }, null, 1) + '\n');
log(`wrote ${relative(process.cwd(), out)}`);
if (!values.profile) rmSync(workDir, { recursive: true, force: true });
else log(`profiles in ${join(workDir, 'profiles')}`);
process.stdout.write(lines.join('\n') + '\n');
