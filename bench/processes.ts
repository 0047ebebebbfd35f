/**
 * Child processes for the benchmark: every target and every load generator runs in its own
 * Node 24 process (the one running this script), so that they compete for CPU like separate
 * programs and nothing is shared by accident.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const root = fileURLToPath(new URL('..', import.meta.url));

/** A spawned Node process whose stdout is collected as lines. */
export interface NodeProcess {
  child: ChildProcess;
  /** Resolves with the first `n` lines of stdout; rejects if the process exits first. */
  lines(n: number, timeoutMs?: number): Promise<string[]>;
  /** Resolves with all stdout once the process exits with code 0; rejects otherwise. */
  done(): Promise<string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts `node <args>` from the repository root.
 *
 * @example
 * ```ts
 * const limit = startNode(['bench/servers/limit.ts'])
 * const [url] = await limit.lines(1)
 * await limit.stop()
 * ```
 */
export function startNode(args: string[], env: NodeJS.ProcessEnv = {}, options: { cpus?: string } = {}): NodeProcess {
  // Pinned to CPUs: `taskset` execs node, so the child's pid is node's.
  const child = options.cpus
    ? spawn('taskset', ['-c', options.cpus, process.execPath, ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let exited: number | null | undefined;
  const waiters: Array<() => void> = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => ((out += chunk), wake()));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    // Keep the tail only: a target's log must not grow without bound.
    err = (err + chunk).slice(-4000);
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => ((exited = code), wake(), resolve(code))));
  const describe = () => `node ${args.join(' ')} exited with ${exited}: ${err.trim().slice(-1500)}`;
  return {
    child,
    lines(n, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timeout waiting for output of node ${args.join(' ')}: ${err.trim().slice(-500)}`)), timeoutMs);
        const check = () => {
          const lines = out.split('\n');
          if (lines.length > n) {
            clearTimeout(timer);
            resolve(lines.slice(0, n));
          } else if (exited !== undefined) {
            clearTimeout(timer);
            reject(new Error(describe()));
          } else waiters.push(check);
        };
        check();
      });
    },
    async done() {
      const code = await exit;
      if (code !== 0) throw new Error(describe());
      return out;
    },
    async stop(graceMs = 5000) {
      if (exited !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** Runs `node <args>` to completion (on `cpus` only, if given) and returns its stdout. */
export function runNode(args: string[], env: NodeJS.ProcessEnv = {}, options: { cpus?: string } = {}): Promise<string> {
  return startNode(args, env, options).done();
}

/**
 * Restricts a running process, every thread of it, to `cpus` (`taskset -a -p -c`, Linux);
 * false where that is impossible.
 */
export function pinProcess(pid: number, cpus: string): boolean {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
