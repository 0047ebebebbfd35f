/**
 * CLI start-up time: `refresh-grant --help`, `--version` and `clients list` against a bare
 * `node -e 0`, each a fresh process, wall time. What an installed user runs: the built package
 * (dist/, built here first unless --no-build), the source condition off. Steady state with
 * Node's compile cache (the bin turns it on; one warm-up run fills it), and for comparison
 * without it (NODE_DISABLE_COMPILE_CACHE=1), and from the repository's TypeScript sources.
 * Runs interleaved (one of each case per round), medians. Part `cli` of `npm run bench`.
 *
 * @example
 * ```sh
 * node bench/cli.ts                 # prints a table
 * node bench/cli.ts --rounds 30 --markdown --no-build
 * ```
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { root } from './processes.ts';
import { fixed, median } from './stats.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '20' }, markdown: { type: 'boolean', default: false }, 'no-build': { type: 'boolean', default: false } } });
const rounds = Number(values.rounds);
const work = mkdtempSync(join(tmpdir(), 'rg-bench-cli-'));
const bin = join(root, 'packages/cli/bin/refresh-grant.js');
const db = join(work, 'bench.db');

if (!values['no-build']) execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'ignore' });
// Environment of an installed user: no source condition, a compile cache of its own.
const base: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '', NODE_COMPILE_CACHE: join(work, 'cache') };
delete base.npm_config_node_options;
const source: NodeJS.ProcessEnv = { ...base, NODE_OPTIONS: '--conditions=refresh-grant-source' };
const cold: NodeJS.ProcessEnv = { ...base, NODE_DISABLE_COMPILE_CACHE: '1' };
for (const id of ['a', 'b', 'c']) execFileSync(process.execPath, [bin, 'clients', 'add', '--db', db, '--id', id, '--auth-method', 'none', '--any-scope'], { env: base, stdio: 'ignore' });

interface Case { name: string; args: string[]; env: NodeJS.ProcessEnv }
const cases: Case[] = [
  { name: 'node -e 0', args: ['-e', '0'], env: base },
  { name: 'refresh-grant --help', args: [bin, '--help'], env: base },
  { name: 'refresh-grant --version', args: [bin, '--version'], env: base },
  { name: 'refresh-grant clients list', args: [bin, 'clients', 'list', '--db', db], env: base },
  { name: 'refresh-grant --help, no compile cache', args: [bin, '--help'], env: cold },
  { name: 'refresh-grant clients list, no compile cache', args: [bin, 'clients', 'list', '--db', db], env: cold },
  { name: 'refresh-grant --help, TypeScript sources', args: [bin, '--help'], env: source },
  { name: 'refresh-grant clients list, TypeScript sources', args: [bin, 'clients', 'list', '--db', db], env: source },
];
const times = new Map<string, number[]>(cases.map((c) => [c.name, []]));
const once = (c: Case) => {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, c.args, { env: c.env, stdio: 'ignore' });
  if (result.status !== 0) throw new Error(`${c.name} exited with ${result.status}`);
  return Number(process.hrtime.bigint() - started) / 1e6;
};
for (const c of cases) once(c); // fills the compile cache
for (let round = 0; round < rounds; round++) for (const c of cases) times.get(c.name)!.push(once(c));
rmSync(work, { recursive: true, force: true });

const bare = median(times.get('node -e 0')!);
const rows = cases.map((c) => {
  const t = times.get(c.name)!;
  return `| ${c.name} | ${fixed(median(t), 0)} | ${fixed(Math.min(...t), 0)}–${fixed(Math.max(...t), 0)} | ${fixed(median(t) / bare, 2)} |`;
});
const command = `node bench/cli.ts${process.argv.length > 2 ? ' ' + process.argv.slice(2).join(' ') : ''}`;
const report = [
  '## CLI start-up',
  '',
  `\`${command}\`: ${rounds} interleaved rounds of fresh processes, wall time, medians; ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}. Built package (dist/), compile cache filled by one warm-up run, unless noted. Target: --help and clients list within 1.5x of node -e 0.`,
  '',
  '| command | median ms | min–max ms | / node -e 0 |',
  '|---|---:|---:|---:|',
  ...rows,
  '',
].join('\n');
process.stdout.write(values.markdown ? report : report.replace(/^## .*\n\n/, ''));
