/**
 * The real `refresh-grant` bin as a child process, for the CLI tests: one command run to its
 * end, or `serve` kept running until the test stops it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** The bin, as installed users run it (with the repository's source condition from .npmrc). */
export const bin = new URL('../bin/refresh-grant.js', import.meta.url).pathname;

/** What one command run printed, and its exit code. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `refresh-grant ...args` to its end. */
export function cli(args: string[], options: { env?: Record<string, string | undefined>; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: { ...process.env, ...options.env }, cwd: options.cwd, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** A running `serve`. */
export interface Serving {
  child: ChildProcess;
  /** The first stdout line. */
  issuer: string;
  /** Everything on stdout so far. */
  stdout(): string;
  /** Everything on stderr so far. */
  stderr(): string;
  /** The JSON log lines so far. */
  logs(): Array<Record<string, unknown>>;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `refresh-grant serve ...args` and resolves once it printed its issuer (and, with `until`, a stdout line matching it). */
export function serve(args: string[], options: { env?: Record<string, string | undefined>; cwd?: string; until?: RegExp } = {}): Promise<Serving> {
  const child = spawn(process.execPath, [bin, 'serve', ...args], { env: { ...process.env, ...options.env }, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  process.once('exit', () => child.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    let issuer = '';
    createInterface({ input: child.stdout! }).on('line', (line) => {
      out += line + '\n';
      if (!issuer) issuer = line;
      if (issuer && (!options.until || options.until.test(line))) {
        resolve({
          child,
          issuer,
          stdout: () => out,
          stderr: () => err,
          logs: () => err.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)),
          stop: async (signal = 'SIGTERM') => {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            return exited;
          },
        });
      }
    });
    void exited.then((code) => reject(new Error(`serve exited with ${code} before it was ready:\n${err}`)));
  });
}
