/**
 * `npm run bench`: refresh throughput and latency of refresh-grant side by side with
 * oidc-provider and with the limit (a bare node:http server), the same pinned (server on one
 * core, load generator on the other), alternatives of the PostgreSQL store side by side, how
 * throughput grows with 1, 2 and 3 server processes, and the client's per-refresh overhead.
 * Writes `bench/results.md` and `bench/results.json` for a full run, a file in the temp
 * directory otherwise (printed at the end, never deleted).
 *
 * Every target and every load generator is its own process on 127.0.0.1. Measurements are
 * interleaved (run 1 of every target at C=1, then C=16, ...; then run 2 ...) so that the drift
 * of a shared machine hits every target alike, and ratios are taken run by run. The CPU model
 * is printed first and recorded with the results: quote figures only with it.
 *
 * Options:
 *   --quick                 1 run, C=16, 0.5 s warm-up + 1.5 s window (smoke test)
 *   --targets a,b           subset of: rg-jwt, rg-opaque, rg-openid, rg-pg, op, op-openid, limit, limit-sign,
 *                           limit-sign-thread
 *   --variants a,b          PostgreSQL alternatives for the variants part (default all): rg-pg-nobatch,
 *                           rg-pg-inflight1, rg-pg-inflight4, rg-pg-pool4, rg-pg-postgresjs
 *   --concurrency 1,16,64   virtual clients
 *   --runs 3                runs of each measurement
 *   --warmup 1000 --duration 4000   windows, in ms
 *   --parts main,pinned,variants,scaling,client,cli   what to run (cli: start-up time of the command line, bench/cli.ts)
 *                           `overload` (not in the default set, see bench/overload.ts): open loop at 2x the
 *                           measured capacity, goodput, p99, RSS, recovery, the curve
 *   --overload-seconds 30   length of the overload run (5 with --quick)
 *   --max-in-flight N       `serve --max-in-flight` for the overload part (default: the server's)
 *   --max-event-loop-delay MS  `serve --max-event-loop-delay` for the overload part (default: the server's)
 *   --driver net|http       load generator HTTP client (default net, see bench/load.ts)
 *   --profile               run refresh-grant servers with --cpu-prof (profiles in the work dir)
 *   --pg-url URL            PostgreSQL server (default postgres://root@127.0.0.1:5432/test)
 *   --baseline DIR          also run the refresh-grant targets from another checkout (as NAME@base),
 *                           side by side: before/after figures of a change
 *   --out FILE              results file (default bench/results.md for a full run, else a temp file)
 *
 * @example
 * ```sh
 * npm run bench                                   # everything, about 15 minutes
 * npm run bench -- --quick                        # smoke test, about 2 minutes
 * npm run bench -- --targets rg-jwt,limit-sign --concurrency 64 --parts main
 * npm run bench -- --targets rg-pg,op --concurrency 64 --parts main,pinned,variants
 * ```
 */
import { cpus, freemem, release, tmpdir, totalmem } from 'node:os';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import type { LoadConfig, LoadResult } from './load.ts';
import { pinProcess, root, runNode } from './processes.ts';
import { fixed, int, median } from './stats.ts';
import { startTarget, targetLabels, targetNames, variantNames, type Target, type TargetName } from './targets.ts';
import { runOverload } from './overload.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    targets: { type: 'string' },
    variants: { type: 'string' },
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
    'overload-seconds': { type: 'string' },
    'max-in-flight': { type: 'string' },
    'max-event-loop-delay': { type: 'string' },
  },
});

const list = (value: string | undefined) => value?.split(',').map((s) => s.trim()).filter(Boolean);
const quick = values.quick;
const names = (list(values.targets) ?? [...targetNames]) as TargetName[];
for (const name of names) if (!(targetNames as readonly string[]).includes(name)) throw new Error(`unknown target ${name}; known: ${targetNames.join(', ')}`);
const variants = (list(values.variants) ?? [...variantNames]) as TargetName[];
for (const name of variants) if (!(variantNames as readonly string[]).includes(name)) throw new Error(`unknown variant ${name}; known: ${variantNames.join(', ')}`);
const concurrencies = (list(values.concurrency) ?? (quick ? ['16'] : ['1', '16', '64'])).map(Number);
const runs = Number(values.runs ?? (quick ? 1 : 3));
const warmupMs = Number(values.warmup ?? (quick ? 500 : 1000));
const durationMs = Number(values.duration ?? (quick ? 1500 : 4000));
const parts = new Set(list(values.parts) ?? ['main', 'pinned', 'variants', 'scaling', 'client', 'cli']);
const driver = values.driver === 'http' ? 'http' : 'net';
const full =
  !quick && !values.targets && !values.variants && !values.concurrency && !values.runs && !values.parts && !values.warmup &&
  !values.duration && !values.profile && !values.baseline;
const workDir = mkdtempSync(join(tmpdir(), 'rg-bench-'));
const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
// Outside the work directory, which is removed at the end: a quick run's results stay.
const out = values.out ?? (full ? join(root, 'bench', 'results.md') : join(tmpdir(), `rg-bench-results-${stamp}.md`));
const scalingConcurrency = Math.max(...concurrencies);
const started = Date.now();
const cpuModel = cpus()[0]?.model ?? 'unknown';
const nproc = cpus().length;

/** Pinned measurements: the server processes on CPU 0, the load generator on CPU 1. */
const pinning = { server: '0', load: '1', all: `0-${nproc - 1}` };

/** Which table a measurement belongs to. */
type Part = 'main' | 'pinned' | 'variants' | 'scaling';

/** One measurement. */
interface Sample {
  part: Part;
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
async function measure(part: Part, target: Target, urls: string[], concurrency: number, run: number, label = target.name): Promise<void> {
  const pids = urls.map((url) => target.pids.get(url)).filter((pid) => pid !== undefined);
  const config: LoadConfig = { urls, authorization: target.authorization, chains: await target.take(concurrency), warmupMs, durationMs, driver, pids, database: target.database };
  const file = join(workDir, `load-${++configCount}.json`);
  writeFileSync(file, JSON.stringify(config));
  const result = JSON.parse(await runNode(['bench/load.ts', file], {}, part === 'pinned' ? { cpus: pinning.load } : {})) as LoadResult;
  rmSync(file);
  samples.push({ part, target: label, processes: urls.length, concurrency, run, result });
  const errors = result.errors || result.deadChains ? `  errors ${result.errors} (dead chains ${result.deadChains}) ${JSON.stringify(result.errorKinds)}` : '';
  const database = Number.isFinite(result.databaseCpuUs) ? `  PostgreSQL CPU ${fixed(result.databaseCpuUs, 0)} µs/refresh` : '';
  log(
    `${part.padEnd(8)} run ${run} C=${String(concurrency).padEnd(3)} ${label.padEnd(16)} ${int(result.throughput).padStart(7)}/s  p50 ${fixed(result.p50, 2)} ms  p99 ${fixed(result.p99, 2)} ms  server CPU ${fixed(result.serverCpuUs, 0)} µs/refresh${database}${errors}`,
  );
}

/** Pins every server process of `target` to `cpus`; false if any could not be. */
function pinTarget(target: Target, cpus: string): boolean {
  return [...target.pids.values()].map((pid) => pinProcess(pid, cpus)).every(Boolean);
}

log(`CPU: ${cpuModel}, ${nproc} vCPU; Node ${process.version}`);

// --- start the targets ---------------------------------------------------------------------
const perMeasurement = (part: string, count: number) => (parts.has(part) ? count : 0);
const mainChains = perMeasurement('main', runs * concurrencies.reduce((a, b) => a + b, 0));
const pinnedChains = perMeasurement('pinned', runs * scalingConcurrency);
const variantChains = perMeasurement('variants', runs * scalingConcurrency);
const scalingChains = perMeasurement('scaling', 3 * runs * scalingConcurrency);
/** What the main table measures, in order: each target, and with --baseline its `@base` twin. */
const measured: string[] = names.flatMap((name) => (values.baseline && name.startsWith('rg-') ? [name, `${name}@base`] : [name]));
const baseName = (name: string) => name.replace(/@base$/, '') as TargetName;
const labelOf = (name: string) => targetLabels[baseName(name)] + (name.endsWith('@base') ? ' — baseline' : '');
const variantsMeasured: string[] = parts.has('variants') && names.includes('rg-pg') ? ['rg-pg', ...variants] : [];
const scalable = (['rg-jwt', 'rg-pg'] as const).filter((name) => names.includes(name));
const targets = new Map<string, Target>();
const needed = new Set<string>([...(parts.has('main') || parts.has('pinned') ? measured : []), ...variantsMeasured, ...(parts.has('scaling') ? scalable : [])]);
for (const name of needed) {
  try {
    log(`starting ${name}`);
    const chains =
      (measured.includes(name) ? mainChains + pinnedChains : 0) +
      (variantsMeasured.includes(name) ? variantChains : 0) +
      ((scalable as readonly string[]).includes(name) ? scalingChains : 0) +
      8;
    const checkout = name.endsWith('@base') ? values.baseline : undefined;
    const target = await startTarget(baseName(name), { chains, pgUrl: values['pg-url'], serverFlags: values.profile ? ['--cpu-prof'] : [], workDir, root: checkout });
    targets.set(name, { ...target, name });
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0].slice(0, 300);
    pending.set(name, reason);
    log(`${name} is pending: ${reason}`);
  }
}

let pinnedUnavailable = '';
try {
  // --- main table: interleaved runs ---------------------------------------------------------
  if (parts.has('main')) {
    for (let run = 1; run <= runs; run++) {
      for (const concurrency of concurrencies) {
        for (const name of measured) {
          const target = targets.get(name);
          if (target) await measure('main', target, target.urls, concurrency, run);
        }
      }
    }
  }

  // --- pinned: server processes on CPU 0, the load generator on CPU 1 -------------------------
  if (parts.has('pinned')) {
    try {
      execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    } catch {
      pinnedUnavailable = 'taskset (util-linux) not found';
    }
    if (nproc < 2) pinnedUnavailable = 'needs at least 2 CPUs';
    for (let run = 1; run <= runs && !pinnedUnavailable; run++) {
      for (const name of measured) {
        const target = targets.get(name);
        if (!target) continue;
        if (!pinTarget(target, pinning.server)) {
          pinnedUnavailable = `could not pin ${name} with taskset`;
          break;
        }
        try {
          await measure('pinned', target, target.urls, scalingConcurrency, run);
        } finally {
          pinTarget(target, pinning.all);
        }
      }
    }
  }

  // --- variants: alternatives of the PostgreSQL store, side by side with rg-pg ---------------
  for (let run = 1; run <= runs; run++) {
    for (const name of variantsMeasured) {
      const target = targets.get(name);
      if (target) await measure('variants', target, target.urls, scalingConcurrency, run);
    }
  }

  // --- scaling: 1, 2 and 3 server processes on one store ---------------------------------------
  const scaled: Array<{ target: Target; urls: string[] }> = [];
  if (parts.has('scaling')) {
    for (const name of scalable) {
      const target = targets.get(name);
      if (!target?.addProcess) continue;
      try {
        scaled.push({ target, urls: [target.urls[0], await target.addProcess(), await target.addProcess()] });
      } catch (error) {
        pending.set(`${name} x3`, (error as Error).message.split('\n')[0]);
      }
    }
    for (let run = 1; run <= runs; run++) {
      for (const { target, urls } of scaled) {
        for (const n of [1, 2, 3]) await measure('scaling', target, urls.slice(0, n), scalingConcurrency, run, `${target.name} x${n}`);
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

// --- overload: open loop beyond capacity (bench/overload.ts) ---------------------------------------
let overloadReport: string[] = [];
if (parts.has('overload')) {
  overloadReport = await runOverload({
    seconds: Number(values['overload-seconds'] ?? (quick ? 5 : 30)),
    multiple: 2,
    politeSeconds: quick ? 3 : 10,
    curve: [0.5, 1, 1.5, 2, 3],
    curveSeconds: quick ? 2 : 5,
    maxInFlight: values['max-in-flight'] === undefined ? undefined : Number(values['max-in-flight']),
    maxEventLoopDelayMs: values['max-event-loop-delay'] === undefined ? undefined : Number(values['max-event-loop-delay']),
    workDir,
    log,
  });
}

// --- report ----------------------------------------------------------------------------------
function group(part: Part, target: string, concurrency: number): Sample[] {
  return samples.filter((s) => s.part === part && s.target === target && s.concurrency === concurrency);
}

/** Median over runs of `of(a) / of(b)` in the same run (throughput by default). */
function ratio(part: Part, a: string, b: string, concurrency: number, of = (r: LoadResult) => r.throughput): number {
  const rs: number[] = [];
  for (const sa of group(part, a, concurrency)) {
    const sb = group(part, b, concurrency).find((s) => s.run === sa.run);
    if (sb && of(sb.result) > 0) rs.push(of(sa.result) / of(sb.result));
  }
  return median(rs);
}

const throughputOf = (g: Sample[]) => median(g.map((s) => s.result.throughput));
const p99Of = (g: Sample[]) => median(g.map((s) => s.result.p99));
const cpuOf = (g: Sample[]) => median(g.map((s) => s.result.serverCpuUs));
const databaseCpuOf = (g: Sample[]) => median(g.map((s) => s.result.databaseCpuUs));
const serverCpu = (r: LoadResult) => r.serverCpuUs;
const cell = (value: number, digits = 0) => (Number.isFinite(value) ? fixed(value, digits) : '–');

const command = 'npm run bench' + (process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : '');
const lines: string[] = [];
lines.push('# Benchmark results', '');
lines.push(`Generated by \`${command}\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC in ${Math.round((Date.now() - started) / 1000)} s.`, '');
lines.push(`**CPU: ${cpuModel}**, ${nproc} vCPU (\`nproc\`), ${Math.round(totalmem() / 2 ** 30)} GiB RAM (${Math.round(freemem() / 2 ** 30)} GiB free at the end), Linux ${release()}, Node ${process.version}. Quote these figures only with this CPU model. Shared with other work: absolute figures drift between invocations; ratios are taken run by run from measurements made side by side.`, '');
lines.push(`Method: every target is its own process on 127.0.0.1; the load generator is another process (${driver === 'net' ? 'a minimal keep-alive HTTP/1.1 client on raw sockets' : 'node:http with a keep-alive Agent'}) with C virtual clients, each on its own connection and its own refresh token chain, every request presenting the refresh token the previous response returned. ${warmupMs} ms warm-up, then a ${durationMs} ms measuring window; ${runs} run(s) of everything, interleaved; medians of the runs. Throughput counts successful refreshes completed in the window; latency is per request, in ms; CPU per refresh is the processes' CPU time between the window's edges divided by the refreshes completed between them (server: the server processes, threads included; PostgreSQL: the backends of the target's own database). See docs/benchmarks.md.`, '');

const ratioPairs: Array<[string, string]> = [
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

if (parts.has('main')) {
  lines.push('## Refresh throughput and latency', '');
  lines.push('| target | C | refreshes/s (median) | runs (min–max) | p50 ms | p99 ms | server CPU µs/refresh | PostgreSQL CPU µs/refresh | errors |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const name of measured) {
    if (pending.has(name)) {
      lines.push(`| ${labelOf(name)} | – | pending | – | – | – | – | – | ${pending.get(name)!.replace(/\|/g, '/').slice(0, 120)} |`);
      continue;
    }
    for (const concurrency of concurrencies) {
      const g = group('main', name, concurrency);
      if (g.length === 0) continue;
      const tps = g.map((s) => s.result.throughput);
      const errors = g.reduce((n, s) => n + s.result.errors, 0);
      lines.push(
        `| ${labelOf(name)} | ${concurrency} | **${int(throughputOf(g))}** | ${int(Math.min(...tps))}–${int(Math.max(...tps))} | ${fixed(median(g.map((s) => s.result.p50)), 2)} | ${fixed(p99Of(g), 2)} | ${cell(cpuOf(g))} | ${cell(databaseCpuOf(g))} | ${errors} |`,
      );
    }
  }
  lines.push('');
  const shown = ratioPairs.filter(([a, b]) => targets.has(a) && targets.has(b));
  if (shown.length) {
    lines.push('## Ratios (median of run-by-run ratios of throughput)', '');
    lines.push(`| ratio | ${concurrencies.map((c) => `C=${c}`).join(' | ')} |`, `|---|${concurrencies.map(() => '---:').join('|')}|`);
    for (const [a, b] of shown) lines.push(`| ${a} / ${b} | ${concurrencies.map((c) => fixed(ratio('main', a, b, c), 2)).join(' | ')} |`);
    if (targets.has('rg-pg') && targets.has('rg-jwt')) {
      lines.push(`| server CPU per refresh: rg-pg / rg-jwt | ${concurrencies.map((c) => fixed(ratio('main', 'rg-pg', 'rg-jwt', c, serverCpu), 2)).join(' | ')} |`);
    }
    lines.push('');
  }
  const c = scalingConcurrency;
  const checks: string[] = [];
  const check = (label: string, value: number, ok: boolean) => checks.push(`- ${ok ? 'met' : '**missed**'}: ${label} (${fixed(value, 2)})`);
  const has = (...list: string[]) => list.every((name) => targets.has(name));
  if (has('rg-jwt', 'op')) check(`issues 5, 14: rg-jwt / oidc-provider >= 3 at C=${c}`, ratio('main', 'rg-jwt', 'op', c), ratio('main', 'rg-jwt', 'op', c) >= 3);
  if (has('rg-jwt', 'limit-sign')) check(`issue 5: rg-jwt / limit-sign >= 0.8 at C=${c}`, ratio('main', 'rg-jwt', 'limit-sign', c), ratio('main', 'rg-jwt', 'limit-sign', c) >= 0.8);
  if (has('rg-opaque', 'op')) check(`issue 5: rg-opaque / oidc-provider >= 5 at C=${c}`, ratio('main', 'rg-opaque', 'op', c), ratio('main', 'rg-opaque', 'op', c) >= 5);
  for (const name of ['rg-jwt', 'rg-opaque', 'rg-openid'] as const) {
    if (has(name)) check(`issue 5: p99 of ${name} <= 10 ms at C=${c}, ms`, p99Of(group('main', name, c)), p99Of(group('main', name, c)) <= 10);
  }
  if (has('rg-pg', 'op')) check(`issue 14: rg-pg / oidc-provider >= 2 at C=${c}`, ratio('main', 'rg-pg', 'op', c), ratio('main', 'rg-pg', 'op', c) >= 2);
  if (has('rg-pg', 'rg-jwt')) {
    const cpu = ratio('main', 'rg-pg', 'rg-jwt', c, serverCpu);
    check(`issue 14: server CPU per refresh of rg-pg / rg-jwt <= 2 at C=${c}`, cpu, cpu <= 2);
  }
  if (has('rg-pg')) check(`issue 14: p99 of rg-pg <= 30 ms at C=${c}, ms`, p99Of(group('main', 'rg-pg', c)), p99Of(group('main', 'rg-pg', c)) <= 30);
  if (checks.length) lines.push(`## Targets (C=${c}, unpinned)`, '', ...checks, '');
}

if (parts.has('pinned')) {
  const c = scalingConcurrency;
  lines.push(`## Pinned: each server on CPU ${pinning.server}, the load generator on CPU ${pinning.load} (C=${c})`, '');
  if (pinnedUnavailable) lines.push(`Not measured: ${pinnedUnavailable}.`, '');
  else {
    lines.push(
      'Per-core figures: every thread of the server (event loop, signing thread, checkpointer) shares one core, so the signing thread cannot add a core as it does unpinned. PostgreSQL itself is not pinned (its backends run on either core).',
      '',
      '| target | refreshes/s per core (median) | p99 ms | server CPU µs/refresh | PostgreSQL CPU µs/refresh | unpinned / pinned throughput |',
      '|---|---:|---:|---:|---:|---:|',
    );
    for (const name of measured) {
      const g = group('pinned', name, c);
      if (g.length === 0) continue;
      const unpinned = throughputOf(group('main', name, c));
      lines.push(`| ${labelOf(name)} | **${int(throughputOf(g))}** | ${fixed(p99Of(g), 2)} | ${cell(cpuOf(g))} | ${cell(databaseCpuOf(g))} | ${Number.isFinite(unpinned) ? fixed(unpinned / throughputOf(g), 2) : '–'} |`);
    }
    lines.push('');
    const shown = ratioPairs.filter(([a, b]) => group('pinned', a, c).length && group('pinned', b, c).length);
    if (shown.length) {
      lines.push('| ratio, pinned (run by run) | throughput | server CPU per refresh |', '|---|---:|---:|');
      for (const [a, b] of shown) lines.push(`| ${a} / ${b} | ${fixed(ratio('pinned', a, b, c), 2)} | ${fixed(ratio('pinned', a, b, c, serverCpu), 2)} |`);
      lines.push('');
    }
  }
}

if (variantsMeasured.length) {
  const c = scalingConcurrency;
  lines.push(`## PostgreSQL store alternatives, side by side (C=${c})`, '');
  lines.push('| target | refreshes/s (median) | p99 ms | server CPU µs/refresh | PostgreSQL CPU µs/refresh | / rg-pg (run by run) |', '|---|---:|---:|---:|---:|---:|');
  for (const name of variantsMeasured) {
    if (pending.has(name)) {
      lines.push(`| ${labelOf(name)} | pending | – | – | – | ${pending.get(name)!.replace(/\|/g, '/').slice(0, 100)} |`);
      continue;
    }
    const g = group('variants', name, c);
    if (g.length === 0) continue;
    lines.push(`| ${name === 'rg-pg' ? `${labelOf(name)} (shipped: group commit, 2 in flight, pool 10)` : labelOf(name)} | **${int(throughputOf(g))}** | ${fixed(p99Of(g), 2)} | ${cell(cpuOf(g))} | ${cell(databaseCpuOf(g))} | ${name === 'rg-pg' ? '1.00' : fixed(ratio('variants', name, 'rg-pg', c), 2)} |`);
  }
  lines.push('');
}

if (parts.has('scaling')) {
  const c = scalingConcurrency;
  lines.push(`## Scaling: server processes on one store (C=${c}, chains split evenly)`, '');
  lines.push('| store | processes | refreshes/s (median) | p99 ms | server CPU µs/refresh (all processes) | PostgreSQL CPU µs/refresh | / x1 (run by run) |', '|---|---:|---:|---:|---:|---:|---:|');
  for (const name of scalable) {
    const store = name === 'rg-pg' ? 'PostgreSQL' : 'SQLite (one file)';
    if (pending.has(`${name} x3`) || pending.has(name)) {
      lines.push(`| ${store} | – | pending | – | – | – | ${(pending.get(`${name} x3`) ?? pending.get(name))!.slice(0, 100)} |`);
      continue;
    }
    for (const n of [1, 2, 3]) {
      const g = group('scaling', `${name} x${n}`, c);
      if (!g.length) continue;
      lines.push(`| ${store} | ${n} | ${int(throughputOf(g))} | ${fixed(p99Of(g), 2)} | ${cell(cpuOf(g))} | ${cell(databaseCpuOf(g))} | ${n === 1 ? '' : fixed(ratio('scaling', `${name} x${n}`, `${name} x1`, c), 2)} |`);
    }
  }
  lines.push('');
}

if (clientReport) lines.push(clientReport.trim(), '');
if (cliReport) lines.push(cliReport.trim(), '');
if (overloadReport.length) lines.push(...overloadReport);
if (pending.size) lines.push('## Pending', '', ...[...pending].map(([k, v]) => `- ${k}: ${v}`), '');

writeFileSync(out, lines.join('\n'));
writeFileSync(
  out.replace(/\.md$/, '.json'),
  JSON.stringify({ command, machine: { cpu: cpuModel, nproc, node: process.version }, warmupMs, durationMs, runs, driver, pinning, samples, pending: Object.fromEntries(pending) }, null, 1) + '\n',
);
if (!values.profile) rmSync(workDir, { recursive: true, force: true });
else log(`profiles in ${join(workDir, 'profiles')}`);
process.stdout.write(lines.join('\n') + '\n');
log(`CPU: ${cpuModel}, ${nproc} vCPU`);
log(`wrote ${relative(process.cwd(), out)} and ${relative(process.cwd(), out.replace(/\.md$/, '.json'))}`);
