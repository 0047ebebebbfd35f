/**
 * The packages as a stranger gets them: `npm pack` every workspace package (its `prepack`
 * builds it) and `npm install` the tarballs into a fresh project under the system's temporary
 * directory, outside this repository, in an environment without this repository's settings
 * (no NODE_OPTIONS, so no `refresh-grant-source` condition; no npm_* variables; none of the
 * repository's `node_modules/.bin` on PATH).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The repository's root directory. */
export const repoRoot = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');

/** The workspace packages, in build order (the CLI's build reads the server's declarations). */
export const workspaces = ['packages/client', 'packages/server', 'packages/cli'] as const;

/** A binary installed in the repository (`node_modules/.bin/NAME`). */
export function repoBin(name: string): string {
  return join(repoRoot, 'node_modules', '.bin', name);
}

/**
 * This process's environment without what the repository adds: NODE_OPTIONS (the
 * `refresh-grant-source` condition of `.npmrc`), npm's `npm_*` variables, and the
 * repository's `node_modules/.bin` on PATH.
 */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined || name === 'NODE_OPTIONS' || name === 'NODE_PATH' || /^npm_/i.test(name)) continue;
    env[name] = value;
  }
  env.PATH = (env.PATH ?? '')
    .split(':')
    .filter((dir) => dir !== '' && !dir.includes('node_modules'))
    .join(':');
  return { ...env, ...extra };
}

/**
 * Packs every workspace package into `destination` (each `prepack` builds `dist/` first) and
 * returns the tarballs' paths. Packing rebuilds `dist/` in the working tree, so processes of
 * one test run take turns through a lock directory.
 */
export async function packPackages(destination: string): Promise<string[]> {
  mkdirSync(destination, { recursive: true });
  await withLock(join(repoRoot, '.artifacts', 'pack.lock'), () =>
    run('npm', ['pack', '--silent', ...workspaces.flatMap((w) => ['-w', w]), '--pack-destination', destination], {
      cwd: repoRoot,
      encoding: 'utf8',
      maxBuffer: 16 * 1024 * 1024,
    }),
  );
  return readdirSync(destination)
    .filter((name) => name.endsWith('.tgz'))
    .map((name) => join(destination, name));
}

/** A fresh project under the temporary directory with the packed packages installed. */
export interface Consumer {
  /** The project's directory. */
  dir: string;
  /** The tarballs it installed. */
  tarballs: string[];
  /** A binary of the project (`node_modules/.bin/NAME`). */
  bin(name: string): string;
  /** Removes the project. */
  remove(): void;
}

/**
 * Packs the packages and installs them with `npm install` into a new project outside the
 * repository, with `extraDependencies` (exact versions, e.g. older Node binaries) beside them.
 */
export async function installConsumer(extraDependencies: Record<string, string> = {}): Promise<Consumer> {
  const dir = mkdtempSync(join(tmpdir(), 'refresh-grant-consumer-'));
  try {
    const tarballs = await packPackages(join(dir, 'tarballs'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2));
    const specs = [...tarballs, ...Object.entries(extraDependencies).map(([name, spec]) => `${name}@${spec}`)];
    await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...specs], {
      cwd: dir,
      env: cleanEnv(),
      encoding: 'utf8',
      maxBuffer: 16 * 1024 * 1024,
    });
    return {
      dir,
      tarballs,
      bin: (name) => join(dir, 'node_modules', '.bin', name),
      remove: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Runs `critical` while holding the lock directory `path` (taken over from a dead holder). */
async function withLock<T>(path: string, critical: () => Promise<T>): Promise<T> {
  mkdirSync(join(path, '..'), { recursive: true });
  for (;;) {
    try {
      mkdirSync(path);
      writeFileSync(join(path, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (!holderAlive(path)) rmSync(path, { recursive: true, force: true });
      else await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  try {
    return await critical();
  } finally {
    rmSync(path, { recursive: true, force: true });
  }
}

function holderAlive(lock: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(join(lock, 'pid'), 'utf8'));
  } catch {
    // No pid yet: the holder is between creating the lock and writing it, unless that was long ago.
    try {
      return Date.now() - statSync(lock).mtimeMs < 10_000;
    } catch {
      return false;
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
