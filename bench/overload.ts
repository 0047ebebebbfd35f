/**
 * The benchmark's overload part (`npm run bench -- --parts overload`): what `refresh-grant serve`
 * does when offered more than it can answer. Its capacity is measured first (closed loop, C=64),
 * then an open-loop generator (`bench/open-loop.ts`) offers twice that for 30 s: goodput (200s
 * per second), p99 latency of the answered requests, what was shed (503 + Retry-After), the
 * server's RSS, and how long after the load stops the server answers promptly again. Then the
 * same offered load for 10 s from clients that honour `Retry-After` (a refused client waits
 * before it sends again), and the curve: offered load from 0.5x to 3x capacity, and what was
 * answered and shed at each.
 *
 * The server runs pinned to one CPU and the generators to the other (`taskset`, when the machine
 * has two or more), so that the generator does not take the server's CPU.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { LoadConfig, LoadResult } from './load.ts';
import type { OpenLoopConfig, OpenLoopResult } from './open-loop.ts';
import { root } from './processes.ts';
import { fixed, int } from './stats.ts';

/** Settings of the overload part. */
export interface OverloadOptions {
  /** Length of the run at `multiple` x capacity, in seconds (30). */
  seconds: number;
  /** Offered load of the main run, as a multiple of the measured capacity (2). */
  multiple: number;
  /** Length of the run at `multiple` x capacity from clients that honour `Retry-After`, in seconds (10). */
  politeSeconds: number;
  /** Points of the curve, as multiples of capacity, each `curveSeconds` long. */
  curve: number[];
  curveSeconds: number;
  /** `serve --max-in-flight`; the server's default when undefined. */
  maxInFlight?: number;
  /** `serve --max-event-loop-delay`; the server's default when undefined. */
  maxEventLoopDelayMs?: number;
  workDir: string;
  log: (line: string) => void;
}

const cli = join(root, 'packages/cli/bin/refresh-grant.js');
const scope = 'offline_access api';

/** `taskset -c CPU` before a command when pinning is possible, else nothing. */
function pinning(): { server: string[]; load: string[]; note: string } {
  if (availableParallelism() >= 2 && existsSync('/usr/bin/taskset')) {
    return { server: ['taskset', '-c', '0'], load: ['taskset', '-c', '1'], note: 'server pinned to CPU 0 (taskset; so no signing thread), load generators to CPU 1' };
  }
  return { server: [], load: [], note: 'not pinned (taskset or a second CPU missing): server and load generator share the CPUs' };
}

/** Runs a command to completion; resolves with its stdout. */
function run(command: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0], command.slice(1), { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err = (err + chunk).slice(-2000)));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command.join(' ')} exited with ${code}: ${err}`))));
  });
}

/** Starts `serve`; resolves with its issuer, its pid and a stop function. */
function serve(args: string[], prefix: string[]): Promise<{ issuer: string; pid: number; stop(): Promise<void> }> {
  const command = [...prefix, process.execPath, cli, 'serve', '--port', '0', '--no-demo', '--quiet', ...args];
  const child = spawn(command[0], command.slice(1), { cwd: root, env: { ...process.env, NODE_ENV: 'production' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err = (err + chunk).slice(-2000)));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const line = out.split('\n')[0];
      if (out.includes('\n')) resolve({ issuer: line, pid: child.pid!, stop });
    });
    void exited.then(() => reject(new Error(`serve exited before listening: ${err}`)));
  });
}

/** Runs a generator (`bench/load.ts` or `bench/open-loop.ts`) on `config`, pinned like the load. */
async function generate<T>(script: string, config: unknown, workDir: string, prefix: string[]): Promise<T> {
  const file = join(workDir, `overload-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(config));
  try {
    return JSON.parse(await run([...prefix, process.execPath, script, file])) as T;
  } finally {
    rmSync(file, { force: true });
  }
}

/**
 * Runs the overload part; returns its report as Markdown lines.
 *
 * @example
 * ```ts
 * const lines = await runOverload({ seconds: 30, multiple: 2, curve: [0.5, 1, 1.5, 2, 3], curveSeconds: 5, workDir, log })
 * ```
 */
export async function runOverload(options: OverloadOptions): Promise<string[]> {
  const pin = pinning();
  const dir = mkdtempSync(join(options.workDir, 'overload-'));
  const store = ['--db', join(dir, 'bench.db'), '--kek-file', join(dir, 'bench.kek')];
  const added = JSON.parse(await run([process.execPath, cli, 'clients', 'add', '--id', 'bench', '--auth-method', 'client_secret_basic', '--scope', scope, '--json', ...store])) as { client_secret: string };
  const authorization = 'Basic ' + Buffer.from(`bench:${encodeURIComponent(added.client_secret)}`).toString('base64');
  const limits = [
    ...(options.maxInFlight === undefined ? [] : ['--max-in-flight', String(options.maxInFlight)]),
    ...(options.maxEventLoopDelayMs === undefined ? [] : ['--max-event-loop-delay', String(options.maxEventLoopDelayMs)]),
  ];
  const server = await serve([...store, ...limits], pin.server);
  const url = `${server.issuer}/token`;
  try {
    const poolSize = 2048;
    const chainCount = 1 + 64 + 3 * poolSize;
    options.log(`overload: provisioning ${chainCount} chains`);
    const issued = await run([process.execPath, cli, 'grants', 'issue', '--client', 'bench', '--subject', 'bench-user', '--scope', scope, '--count', String(chainCount), '--issuer', server.issuer, '--json', ...store]);
    const chains = issued.trim().split('\n').map((line) => (JSON.parse(line) as { refresh_token: string }).refresh_token);
    const take = (n: number) => chains.splice(0, n);

    options.log('overload: one client alone (latency floor)');
    const alone = await generate<LoadResult>(join(root, 'bench/load.ts'), { urls: [url], authorization, chains: take(1), warmupMs: 500, durationMs: 2000, driver: 'net' } satisfies LoadConfig, options.workDir, pin.load);
    options.log('overload: capacity (closed loop, C=64)');
    const capacityRun = await generate<LoadResult>(join(root, 'bench/load.ts'), { urls: [url], authorization, chains: take(64), warmupMs: 1000, durationMs: 4000, driver: 'net', pids: [server.pid] } satisfies LoadConfig, options.workDir, pin.load);
    const capacity = capacityRun.throughput;
    options.log(`overload: capacity ${int(capacity)}/s, p99 ${fixed(capacityRun.p99, 2)} ms; offering ${options.multiple}x for ${options.seconds} s`);

    // Answered promptly again: a few requests in a row within what the server answers under full closed-loop load.
    const promptMs = Math.max(5, capacityRun.p99);
    const main = await generate<OpenLoopResult>(join(root, 'bench/open-loop.ts'), {
      url, authorization, chains: take(poolSize), maxConnections: poolSize, prewarm: poolSize, pid: server.pid,
      phases: [{ name: 'overload', rate: Math.round(options.multiple * capacity), durationMs: options.seconds * 1000 }],
      recovery: { maxMs: 15_000, latencyMs: promptMs, inARow: 5 },
    } satisfies OpenLoopConfig, options.workDir, pin.load);
    options.log(`overload: goodput ${int(main.phases[0].ok / options.seconds)}/s, p99 ${fixed(main.phases[0].p99, 1)} ms, recovery ${fixed(main.recoveryMs / 1000, 2)} s; the curve`);

    // The same offered load from clients that honour Retry-After: what goodput the server gives
    // when refused clients wait instead of sending again at once.
    options.log(`overload: ${options.multiple}x for ${options.politeSeconds} s from clients that honour Retry-After`);
    const polite = await generate<OpenLoopResult>(join(root, 'bench/open-loop.ts'), {
      url, authorization, chains: take(poolSize), maxConnections: poolSize, prewarm: poolSize, pid: server.pid, honourRetryAfter: true,
      phases: [{ name: 'polite', rate: Math.round(options.multiple * capacity), durationMs: options.politeSeconds * 1000 }],
    } satisfies OpenLoopConfig, options.workDir, pin.load);

    const curve = await generate<OpenLoopResult>(join(root, 'bench/open-loop.ts'), {
      url, authorization, chains: take(poolSize), maxConnections: poolSize, prewarm: poolSize, pid: server.pid,
      phases: options.curve.flatMap((multiple) => [
        { name: `${multiple}x`, rate: Math.round(multiple * capacity), durationMs: options.curveSeconds * 1000 },
        { name: `rest after ${multiple}x`, rate: 0, durationMs: 2000 },
      ]),
    } satisfies OpenLoopConfig, options.workDir, pin.load);

    return report(options, pin.note, alone, capacityRun, main, polite, curve);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(options: OverloadOptions, pinNote: string, alone: LoadResult, capacityRun: LoadResult, main: OpenLoopResult, polite: OpenLoopResult, curve: OpenLoopResult): string[] {
  const capacity = capacityRun.throughput;
  const m = main.phases[0];
  const perSecond = (n: number, seconds: number) => int(n / seconds);
  const lines: string[] = [];
  lines.push(`## Overload: open loop at ${options.multiple}x capacity`, '');
  lines.push(
    `\`refresh-grant serve\` on SQLite, JWT access tokens, max in flight ${options.maxInFlight ?? 'default'}, max event loop delay ${options.maxEventLoopDelayMs === undefined ? 'default' : `${options.maxEventLoopDelayMs} ms`}; ${pinNote}. ` +
      `Capacity, closed loop at C=64 over 4 s: **${int(capacity)} refreshes/s** (p99 ${fixed(capacityRun.p99, 2)} ms); one client alone: p50 ${fixed(alone.p50, 2)} ms, p99 ${fixed(alone.p99, 2)} ms. ` +
      `Then an open-loop generator offers ${options.multiple}x that for ${options.seconds} s, as a crowd of 2,048 connected clients: every request due is sent on time on an idle connection, whatever the answers (latency counts from when it was due; a request due while every connection or chain is busy is counted as not sent); each is a real refresh of its own chain.`,
    '',
  );
  lines.push('| measure | value | issue 11 target |', '|---|---:|---|');
  lines.push(`| offered | ${perSecond(m.offered, options.seconds)}/s (${int(m.offered - m.sent)} could not be sent: no free chain or connection) | |`);
  lines.push(`| goodput (200 answers) | ${perSecond(m.ok, options.seconds)}/s = ${fixed((100 * m.ok) / options.seconds / capacity, 0)}% of capacity | >= 90% |`);
  lines.push(`| shed (503 + Retry-After) | ${perSecond(m.shed, options.seconds)}/s | |`);
  lines.push(`| other failures | ${int(m.errors)} ${JSON.stringify(main.errorKinds)} | none |`);
  lines.push(`| p50 / p99 of answered requests | ${fixed(m.p50, 1)} / **${fixed(m.p99, 1)} ms** | p99 < 100 ms |`);
  lines.push(`| server RSS before / peak / after | ${fixed(main.rss.beforeMb, 0)} / **${fixed(main.rss.peakMb, 0)}** / ${fixed(main.rss.afterMb, 0)} MB | < 300 MB |`);
  lines.push(`| recovery: load stopped until 5 answers in a row within ${fixed(Math.max(5, capacityRun.p99), 1)} ms | **${Number.isFinite(main.recoveryMs) ? fixed(main.recoveryMs / 1000, 2) + ' s' : 'not within 15 s'}** | < 5 s |`);
  lines.push(`| connections the generator opened | ${int(main.connectionsOpened)} | |`);
  lines.push(`| TCP on the machine: SYNs dropped from a full listen queue / segments retransmitted | ${int(main.tcp.listenOverflows)} / ${int(main.tcp.retransmitted)} | |`);
  lines.push(`| CPU, in % of one CPU: server / load generator | ${fixed(main.cpu.serverPercent, 0)} / ${fixed(main.cpu.generatorPercent, 0)}${main.cpu.generatorPercent > 90 ? ' (the generator was saturated: it could not offer the load it was asked to)' : ''} | |`, '');

  const p = polite.phases[0];
  const ps = options.politeSeconds;
  lines.push(`### The same ${options.multiple}x from clients that honour Retry-After (${ps} s)`, '');
  lines.push(
    'Above, a refused client sends again as soon as its next request is due, so every refusal is paid again and again. ' +
      'Here each client refused with 503 waits `Retry-After` seconds before it sends again (RFC 9110 section 10.2.3); the requests due meanwhile find no free client and are not sent.',
    '',
  );
  lines.push('| measure | clients retry at once (above) | clients honour Retry-After |', '|---|---:|---:|');
  lines.push(`| offered | ${perSecond(m.offered, options.seconds)}/s | ${perSecond(p.offered, ps)}/s |`);
  lines.push(`| sent (not sent: every client busy or waiting) | ${perSecond(m.sent, options.seconds)}/s | ${perSecond(p.sent, ps)}/s |`);
  lines.push(`| goodput (200 answers) | ${perSecond(m.ok, options.seconds)}/s = ${fixed((100 * m.ok) / options.seconds / capacity, 0)}% of capacity | ${perSecond(p.ok, ps)}/s = **${fixed((100 * p.ok) / ps / capacity, 0)}%** of capacity |`);
  lines.push(`| shed (503 + Retry-After) | ${perSecond(m.shed, options.seconds)}/s | ${perSecond(p.shed, ps)}/s |`);
  lines.push(`| p50 / p99 of answered requests | ${fixed(m.p50, 1)} / ${fixed(m.p99, 1)} ms | ${fixed(p.p50, 1)} / ${fixed(p.p99, 1)} ms |`);
  lines.push(`| CPU, in % of one CPU: server / load generator | ${fixed(main.cpu.serverPercent, 0)} / ${fixed(main.cpu.generatorPercent, 0)} | ${fixed(polite.cpu.serverPercent, 0)} / ${fixed(polite.cpu.generatorPercent, 0)} |`, '');

  lines.push(`### The curve (each point ${options.curveSeconds} s, 2 s of rest between)`, '');
  lines.push('| offered x capacity | offered/s | answered (200)/s | shed (503)/s | other/s | p99 of answered, ms | server RSS, MB |', '|---:|---:|---:|---:|---:|---:|---:|');
  for (const phase of curve.phases.filter((p) => p.rate > 0)) {
    const s = phase.durationMs / 1000;
    lines.push(`| ${phase.name} | ${perSecond(phase.offered, s)} | ${perSecond(phase.ok, s)} | ${perSecond(phase.shed, s)} | ${perSecond(phase.errors, s)} | ${fixed(phase.p99, 1)} | ${fixed(phase.rssMb, 0)} |`);
  }
  lines.push('');
  lines.push(`### Second by second at ${options.multiple}x (answers counted in the second their request was due)`, '');
  lines.push('| second | offered | answered | shed | other | p99 ms | RSS MB |', '|---:|---:|---:|---:|---:|---:|---:|');
  for (const t of main.timeline) lines.push(`| ${t.second + 1} | ${int(t.offered)} | ${int(t.ok)} | ${int(t.shed)} | ${int(t.errors)} | ${fixed(t.p99, 1)} | ${fixed(t.rssMb, 0)} |`);
  lines.push('');
  return lines;
}
