/**
 * `refresh-grant serve` as real child processes for end-to-end tests: start one on a free
 * loopback port, read its JSON event lines, kill it (SIGKILL for a crash, SIGTERM for a stop),
 * and make sure none outlives the test file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { ServerEvent } from '../../../src/core/events.ts';
import { freePort } from '../../support/free-port.ts';

export { freePort };

/** The CLI entry point, run with the current Node (24, type stripping). */
export const cliPath = new URL('../../../../cli/bin/refresh-grant.js', import.meta.url).pathname;

/** What {@link startServe} needs. */
export interface ServeOptions {
  /** `--db`: a SQLite file path or a `postgres://` URL. */
  db: string;
  /** `--kek-file`: every instance sharing a database needs the same one. */
  kekFile: string;
  /** `--issuer`: every instance behind one load balancer needs the same one. */
  issuer?: string;
  /** `--quiet` (no event log on stderr). Default true. */
  quiet?: boolean;
}

/** A running `serve` process. */
export interface ServeProcess {
  /** Where this instance listens, e.g. `http://127.0.0.1:41234` (not the issuer). */
  url: string;
  /** The first stdout line: the issuer. */
  issuer: string;
  child: ChildProcess;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** The event log lines parsed so far (empty when quiet). */
  events(): ServerEvent[];
  /** True while the process runs. */
  running(): boolean;
  /** Sends `signal` (default SIGKILL) and resolves once the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const everyChild = new Set<ChildProcess>();
// Last resort: if the test process dies without its `after` hooks, take the servers with it.
process.once('exit', () => {
  for (const child of everyChild) child.kill('SIGKILL');
});


/**
 * Starts `refresh-grant serve --no-demo` on a free port and resolves once it listens (it has
 * printed its issuer). Picks the port here because an explicit `--issuer` hides the one
 * `--port 0` would choose; retries with another port if the chosen one was taken meanwhile.
 *
 * @example
 * ```ts
 * const a = await startServe({ db: 'postgres://root@127.0.0.1:5432/test?schema=s', kekFile, issuer: 'http://lb.test' })
 * const res = await fetch(`${a.url}/token`, { method: 'POST', body })
 * await a.kill()
 * ```
 */
export async function startServe(options: ServeOptions): Promise<ServeProcess> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await spawnServe(options, port);
    } catch (error) {
      if (attempt < 5 && /EADDRINUSE/.test((error as Error).message)) continue;
      throw error;
    }
  }
}

function spawnServe(options: ServeOptions, port: number): Promise<ServeProcess> {
  const args = [cliPath, 'serve', '--db', options.db, '--kek-file', options.kekFile, '--host', '127.0.0.1', '--port', String(port), '--no-demo'];
  if (options.issuer !== undefined) args.push('--issuer', options.issuer);
  if (options.quiet ?? true) args.push('--quiet');
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  everyChild.add(child);
  let stderr = '';
  const events: ServerEvent[] = [];
  // 'close': exited and its output fully read.
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  void exited.then(() => everyChild.delete(child));
  createInterface({ input: child.stderr! }).on('line', (line) => {
    if (stderr.length < 1_000_000) stderr += line + '\n';
    if (!line.startsWith('{')) return;
    try {
      events.push(JSON.parse(line) as ServerEvent);
    } catch {
      // not an event line
    }
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (running()) child.kill(signal);
    await exited;
  };
  return new Promise<ServeProcess>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => {
      void kill().then(() => reject(new Error(`serve did not start within 20 s\n${stderr}`)));
    }, 20_000);
    lines.once('line', (issuer) => {
      clearTimeout(timer);
      resolve({
        url: `http://127.0.0.1:${port}`,
        issuer,
        child,
        stderr: () => stderr,
        events: () => events,
        running,
        kill,
      });
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${child.exitCode ?? child.signalCode}) before listening\n${stderr}`));
    });
  });
}

/** Kills every given process that still runs (SIGKILL) and waits for them; for `after` hooks. */
export async function killAll(processes: Array<ServeProcess | undefined>): Promise<void> {
  await Promise.all(processes.map((p) => p?.kill('SIGKILL')));
}
