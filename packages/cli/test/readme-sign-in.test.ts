/**
 * The README's sign-in with curl, run as written (bash, curl, node, the CLI) against `serve
 * --dev-login` in a fresh directory: only the issuer's port and `npx refresh-grant` (the CLI
 * entry point, as npx resolves it in the repository) are substituted.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

const cliPath = new URL('../bin/refresh-grant.js', import.meta.url).pathname;
const readme = new URL('../../../README.md', import.meta.url);
const run = promisify(execFile);

/** The sh block that follows the `<!-- tested: ...readme-sign-in.test.ts -->` marker. */
function block(): string {
  const text = readFileSync(readme, 'utf8');
  const match = /<!-- tested: packages\/cli\/test\/readme-sign-in\.test\.ts -->\n```sh\n([\s\S]*?)\n```/.exec(text);
  assert.ok(match, 'the README has the marked block');
  return match[1];
}

describe('README: sign-in with curl through the development login', () => {
  let dir: string;
  let serve: ChildProcess;
  let issuer = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rg-readme-sign-in-'));
    // The default database in the working directory, as `npm start` and `npx refresh-grant clients add` share it.
    serve = spawn(process.execPath, [cliPath, 'serve', '--port', '0', '--dev-login', '--quiet', '--no-demo'], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
    issuer = await new Promise<string>((resolve, reject) => {
      createInterface({ input: serve.stdout! }).once('line', resolve);
      serve.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
    });
  });
  after(() => {
    serve?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs as written and ends with a refresh token that rotates', async () => {
    const script = block()
      .replaceAll('http://127.0.0.1:8080', issuer)
      .replaceAll('http%3A%2F%2F127.0.0.1%3A8080', encodeURIComponent(issuer))
      .replaceAll('npx refresh-grant', `${JSON.stringify(process.execPath)} ${JSON.stringify(cliPath)}`);
    const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', script], { cwd: dir, env: { ...process.env, PATH: `${join(process.execPath, '..')}:${process.env.PATH}` } });
    const lines = stdout.trim().split('\n');
    const back = new URL(lines.find((l) => l.startsWith('http://127.0.0.1:9999/callback'))!);
    assert.equal(back.searchParams.get('state'), 'xyz');
    assert.equal(back.searchParams.get('iss'), issuer);
    const tokens = JSON.parse(lines.at(-1)!);
    assert.match(tokens.refresh_token, /^rg_rt_/);
    assert.equal(tokens.scope, 'openid offline_access');
    const refreshed = await (await fetch(`${issuer}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', client_id: 'cli-app', refresh_token: tokens.refresh_token }) })).json();
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
    assert.match(refreshed.refresh_token, /^rg_rt_/);
  });
});
