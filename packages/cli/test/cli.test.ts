/**
 * The `refresh-grant` CLI: `serve` as a real process (first-start demo with a working curl,
 * SIGTERM), and `clients`, `grants`, `keys` against the same SQLite file while it serves.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createInterface } from 'node:readline';
import { main } from '../src/main.ts';

const cliPath = new URL('../bin/refresh-grant.js', import.meta.url).pathname;
const run = promisify(execFile);

/** Runs the CLI in-process and captures its output. */
async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) });
  return { code, stdout, stderr };
}

describe('CLI', () => {
  let dir: string;
  let db: string;
  let proc: ChildProcess;
  let issuer = '';
  let startup = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rg-cli-'));
    db = join(dir, 'cli.db');
    proc = spawn(process.execPath, [cliPath, 'serve', '--port', '0', '--db', db, '--quiet'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = createInterface({ input: proc.stdout! });
    // One listener from the start: readline may emit every line of a chunk in one go.
    await new Promise<void>((resolve, reject) => {
      proc.once('exit', (code) => reject(new Error(`serve exited early with ${code}`)));
      lines.on('line', (line) => {
        if (!issuer) issuer = line;
        else startup += line + '\n';
        if (line.includes("-d 'grant_type=refresh_token")) resolve();
      });
    });
  }, { timeout: 20_000 });
  after(async () => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('serve prints the issuer URL once listening (--port 0 picks a free port)', () => {
    assert.match(issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('first start with an empty store: a demo client and grant, and a curl that works as printed', async () => {
    const curl = startup.slice(startup.indexOf('curl -i'));
    const command = curl.slice(0, curl.indexOf("scope=openid'") + "scope=openid'".length);
    const { stdout } = await run('bash', ['-c', command.replace('curl -i', 'curl -s')]);
    const body = JSON.parse(stdout);
    assert.match(body.refresh_token, /^rg_rt_/);
    assert.ok(body.id_token);
    assert.equal(body.scope, 'openid');
  });

  it('the KEK file is created with mode 0600', () => {
    assert.equal(statSync(`${db}.kek`).mode & 0o777, 0o600);
  });

  it('clients add / grants issue --count / list / revoke, against the file the server is using', async () => {
    const added = await cli('clients', 'add', '--db', db, '--id', 'batch', '--auth-method', 'client_secret_post', '--scope', 'openid offline_access read', '--json');
    assert.equal(added.code, 0, added.stderr);
    const client = JSON.parse(added.stdout);
    assert.equal(client.client_id, 'batch');
    assert.match(client.client_secret, /^rg_cs_/);
    assert.equal(client.token_endpoint_auth_method, 'client_secret_post');

    const issued = await cli('grants', 'issue', '--db', db, '--issuer', issuer, '--client', 'batch', '--subject', 'zoe', '--scope', 'openid offline_access read', '--count', '3', '--json');
    assert.equal(issued.code, 0, issued.stderr);
    const lines = issued.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 3);
    assert.equal(new Set(lines.map((l) => l.refresh_token)).size, 3);
    for (const l of lines) assert.ok(l.access_token && l.id_token && l.expires_in && l.token_type && l.scope);

    // The running server accepts a refresh token issued by the CLI.
    const res = await fetch(`${issuer}/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: lines[0].refresh_token, client_id: 'batch', client_secret: client.client_secret }),
    });
    assert.equal(res.status, 200);

    const listed = await cli('grants', 'list', '--db', db, '--subject', 'zoe', '--json');
    const grants = JSON.parse(listed.stdout);
    assert.equal(grants.length, 3);
    const revoked = await cli('grants', 'revoke', '--db', db, '--family', grants[0].family_id, '--json');
    assert.equal(revoked.code, 0);
    assert.equal(JSON.parse(revoked.stdout).revoked, true);
    const clients = JSON.parse((await cli('clients', 'list', '--db', db, '--json')).stdout);
    assert.deepEqual(clients.map((c: { client_id: string }) => c.client_id).sort(), ['batch', 'demo']);
    assert.ok(!/rg_cs_|secret_hash|secretHash|secret_sealed/.test(JSON.stringify(clients)), 'secrets are never listed');
  });

  it('grants list shows last use, generation and DPoP binding; grants revoke --subject / --client end every session, against the running server', async () => {
    const added = JSON.parse((await cli('clients', 'add', '--db', db, '--id', 'sessions', '--auth-method', 'client_secret_post', '--json')).stdout);
    const issue = async (subject: string) =>
      JSON.parse((await cli('grants', 'issue', '--db', db, '--issuer', issuer, '--client', 'sessions', '--subject', subject, '--scope', 'read', '--json')).stdout).refresh_token as string;
    const refresh = (rt: string) =>
      fetch(`${issuer}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rt, client_id: 'sessions', client_secret: added.client_secret }) });
    const used = await issue('yves');
    await issue('yves');
    const other = await issue('xena');
    assert.equal((await refresh(used)).status, 200);

    const listed = JSON.parse((await cli('grants', 'list', '--db', db, '--subject', 'yves', '--json')).stdout);
    assert.deepEqual(listed.map((g: { generation: number }) => g.generation).sort(), [1, 2]);
    const refreshed = listed.find((g: { generation: number }) => g.generation === 2);
    assert.equal(typeof refreshed.last_used_at, 'number');
    assert.equal(refreshed.dpop_bound, 'false');
    assert.equal(listed.find((g: { generation: number }) => g.generation === 1).last_used_at, undefined);
    assert.match((await cli('grants', 'list', '--db', db, '--subject', 'yves')).stdout, /last_used_at\s+generation\s+dpop_bound/);

    const bySubject = await cli('grants', 'revoke', '--db', db, '--subject', 'yves', '--reason', 'logout_everywhere', '--json');
    assert.equal(bySubject.code, 0, bySubject.stderr);
    assert.equal(JSON.parse(bySubject.stdout).revoked.length, 2);
    const after = JSON.parse((await cli('grants', 'list', '--db', db, '--subject', 'yves', '--json')).stdout);
    assert.deepEqual(after.map((g: { revoked_reason: string }) => g.revoked_reason), ['logout_everywhere', 'logout_everywhere']);
    assert.equal((await refresh(used)).status, 400, 'the server refuses what the CLI revoked');
    assert.equal((await refresh(other)).status, 200, 'another subject is untouched');

    const byClient = await cli('grants', 'revoke', '--db', db, '--client', 'sessions');
    assert.equal(byClient.code, 0, byClient.stderr);
    assert.match(byClient.stdout, /^revoked 1 grant\n/);
    const none = await cli('grants', 'revoke', '--db', db, '--family', 'f', '--subject', 'yves');
    assert.equal(none.code, 2);
    assert.equal((await cli('grants', 'revoke', '--db', db)).code, 2);
  });

  it('keys rotate adds a key; the server publishes it after SIGHUP, with the old one', async () => {
    const before = (await (await fetch(`${issuer}/jwks`)).json()).keys.length;
    const rotated = await cli('keys', 'rotate', '--db', db, '--json');
    assert.equal(rotated.code, 0, rotated.stderr);
    const { kid } = JSON.parse(rotated.stdout);
    proc.kill('SIGHUP');
    let keys: Array<{ kid: string }> = [];
    for (let i = 0; i < 50 && !keys.some((k) => k.kid === kid); i++) {
      await new Promise((r) => setTimeout(r, 20));
      keys = (await (await fetch(`${issuer}/jwks`)).json()).keys;
    }
    assert.ok(keys.some((k) => k.kid === kid));
    assert.equal(keys.length, before + 1);
  });

  it('usage errors exit 2 on stderr; unknown client is an error', async () => {
    const unknown = await cli('frobnicate');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command/);
    const bad = await cli('clients', 'add', '--db', db, '--auth-method', 'nope');
    assert.equal(bad.code, 2);
    const noClient = await cli('grants', 'issue', '--db', db, '--client', 'ghost', '--subject', 's', '--scope', 'a');
    assert.equal(noClient.code, 2);
    assert.match(noClient.stderr, /unknown client/);
    const badThread = await cli('serve', '--db', db, '--port', '0', '--signing-thread', 'sometimes');
    assert.equal(badThread.code, 2);
    assert.match(badThread.stderr, /--signing-thread must be auto, on or off/);
    const badOrigin = await cli('serve', '--db', db, '--port', '0', '--cors-origin', 'https://app.example/');
    assert.equal(badOrigin.code, 2);
    assert.match(badOrigin.stderr, /--cors-origin: .* is not an origin/);
  });

  it('serve --cors-origin answers browsers on that origin (repeatable; * for any)', async () => {
    for (const [flags, origin, expected] of [
      [['--cors-origin', 'https://a.example', '--cors-origin', 'https://b.example'], 'https://b.example', 'https://b.example'],
      [['--cors-origin', '*'], 'https://c.example', '*'],
    ] as const) {
      const child = spawn(process.execPath, [cliPath, 'serve', '--port', '0', '--db', join(dir, 'cors.db'), '--no-demo', '--quiet', ...flags], { stdio: ['ignore', 'pipe', 'inherit'] });
      try {
        const [url] = (await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve))).split('\n');
        const res = await fetch(`${url}/token`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });
        assert.equal(res.status, 204);
        assert.equal(res.headers.get('access-control-allow-origin'), expected);
      } finally {
        child.kill('SIGKILL');
      }
    }
  });

  it('SIGTERM finishes and exits 0', async () => {
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    proc.kill('SIGTERM');
    assert.equal(await exited, 0);
  });
});
