/**
 * The Next.js example (examples/next), built and started for real (`next build`, `next start`)
 * on the packed packages installed outside the repository, so that Next bundles the code a
 * user installs: a refresh through the route handler under /oauth, the signing thread working
 * under Next's bundling (a route the test adds reports `keys.signatureStats()`), and the CLI on
 * the same database.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ClientSecretBasic, discovery, refreshTokenGrant } from '@refresh-grant/client';
import { cleanEnv, installConsumer, repoRoot, type Consumer } from '../../test/support/packages.ts';
import { freePort } from '../../packages/server/test/support/free-port.ts';

const exec = promisify(execFile);
const scope = 'openid offline_access read';

describe('examples/next: next build + next start on the installed packages', () => {
  let consumer: Consumer;
  let app: ChildProcess | undefined;
  let origin: string;
  let issuer: string;
  let db: string;
  let output = '';
  const next = () => join(consumer.dir, 'node_modules', 'next', 'dist', 'bin', 'next');
  const cliBin = () => join(consumer.dir, 'node_modules', 'refresh-grant', 'bin', 'refresh-grant.js');

  // The build takes about a minute on 2 vCPU, several when the machine is busy: the hook has a
  // timeout of its own, and its signal stops the build and `next start` if the hook is abandoned
  // (a hook that timed out must not go on and leave a server running that nothing stops).
  before(async (t) => {
    const { signal } = t;
    // Next.js, React and TypeScript at the versions of the repository's exact devDependencies.
    const { devDependencies } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
    const names = ['next', 'react', 'react-dom', 'typescript', '@types/react', '@types/node'];
    consumer = await installConsumer(Object.fromEntries(names.map((name) => [name, devDependencies[name]])));
    const appDir = join(consumer.dir, 'next-app');
    cpSync(new URL('./app', import.meta.url).pathname, join(appDir, 'app'), { recursive: true });
    // A route of the test's own: what the signing thread did in this process.
    mkdirSync(join(appDir, 'app', 'signatures'));
    writeFileSync(
      join(appDir, 'app', 'signatures', 'route.ts'),
      `export const dynamic = 'force-dynamic';
export function GET() {
  const server = (globalThis as { refreshGrantServer?: { keys: { signatureStats(): unknown } } }).refreshGrantServer;
  return Response.json(server?.keys.signatureStats() ?? null);
}
`,
    );
    const env = cleanEnv({ NEXT_TELEMETRY_DISABLED: '1' });
    await exec(process.execPath, [next(), 'build'], { cwd: appDir, env, encoding: 'utf8', signal, maxBuffer: 64 * 1024 * 1024 }).catch((error) => {
      throw new Error(`next build failed:\n${error.stdout}\n${error.stderr}`);
    });

    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    issuer = `${origin}/oauth`;
    db = join(consumer.dir, 'next.db');
    signal.throwIfAborted();
    app = spawn(process.execPath, [next(), 'start', '--port', String(port), '--hostname', '127.0.0.1'], {
      signal,
      killSignal: 'SIGKILL',
      cwd: appDir,
      env: { ...env, REFRESH_GRANT_DB: db, REFRESH_GRANT_ISSUER: issuer },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    app.stdout!.on('data', (chunk) => (output += chunk));
    app.stderr!.on('data', (chunk) => (output += chunk));
    await new Promise<void>((resolve, reject) => {
      const ready = () => /Ready in/.test(output) && resolve();
      app!.stdout!.on('data', ready);
      app!.once('exit', (code) => reject(new Error(`next start exited with ${code}:\n${output}`)));
    });
  }, { timeout: 600_000 });
  // Last resort: if this file's process ends without its `after` hook, take the server with it.
  process.once('exit', () => app?.kill('SIGKILL'));
  after(async () => {
    if (app && app.exitCode === null && app.signalCode === null) {
      await new Promise((resolve) => {
        app!.once('exit', resolve);
        app!.kill('SIGTERM');
      });
    }
    consumer?.remove();
  });

  it('refreshes through the route handler, with the signatures on the signing thread', async () => {
    // The first request starts the server (and creates the store); the CLI then registers on it.
    const metadata = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
    assert.equal(metadata.token_endpoint, `${issuer}/token`);
    const run = async (...args: string[]) => (await exec(process.execPath, [cliBin(), ...args], { cwd: consumer.dir, env: cleanEnv(), encoding: 'utf8' })).stdout;
    const { client_secret: secret } = JSON.parse(await run('clients', 'add', '--db', db, '--id', 'app', '--auth-method', 'client_secret_basic', '--scope', scope, '--json'));
    const grant = JSON.parse(await run('grants', 'issue', '--db', db, '--issuer', issuer, '--client', 'app', '--subject', 'next-user', '--scope', scope, '--json'));

    const config = await discovery(new URL(issuer), 'app', undefined, ClientSecretBasic(secret));
    const tokens = await refreshTokenGrant(config, grant.refresh_token, { scope: 'openid read' }, { idToken: grant.id_token });
    assert.equal(tokens.claims()?.sub, 'next-user');
    const again = await refreshTokenGrant(config, tokens.refresh_token!);
    assert.equal(again.token_type, 'bearer');
    await assert.rejects(refreshTokenGrant(config, grant.refresh_token), { error: 'invalid_grant' });

    const stats = await (await fetch(`${origin}/signatures`)).json();
    // Two access tokens and an id_token, every one signed on the thread.
    assert.ok(stats && stats.onThread >= 3, `${JSON.stringify(stats)}\n${output}`);
    assert.equal(stats.inline, 0);
  });
});
