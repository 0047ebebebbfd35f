/**
 * The framework examples (examples/express, fastify, hono), each run as its own process as a
 * user runs it, mounted under /oauth, and exercised over HTTP with our client: discovery at the
 * issuer with a path (and RFC 8414's inserted form), a confidential client's refresh with an
 * id_token, a DPoP-bound public client's refresh (the proof's `htu` names the full path under
 * the prefix), the application's own routes untouched, and a clean stop on SIGTERM. Express runs
 * with an app-wide `express.urlencoded()` before the mount; a body that no parser left behind
 * gets an immediate JSON error naming the cause.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import express from 'express';
import { createAuthorizationServer, createNodeHandler } from '@refresh-grant/server';
import { openSqliteStore } from '@refresh-grant/server/sqlite';
import { ClientSecretBasic, discovery, getDPoPHandle, None, randomDPoPKeyPair, refreshTokenGrant } from '@refresh-grant/client';
import { main } from '../packages/cli/src/main.ts';
import { freePort } from '../packages/server/test/support/free-port.ts';

const scope = 'openid offline_access read';

/** Runs the CLI in this process; resolves with what it printed. */
async function cli(...argv: string[]): Promise<string> {
  let out = '';
  let err = '';
  const code = await main(argv, { stdout: (s) => void (out += s), stderr: (s) => void (err += s) });
  assert.equal(code, 0, err);
  return out;
}

for (const framework of ['express', 'fastify', 'hono']) {
  describe(`examples/${framework}`, () => {
    let dir: string;
    let db: string;
    let app: ChildProcess;
    let issuer: string;
    let origin: string;
    let stderr = '';

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), `rg-example-${framework}-`));
      db = join(dir, 'app.db');
      const port = await freePort();
      // The child inherits NODE_OPTIONS (the repository's source condition), as `npx node` gives it.
      app = spawn(process.execPath, [new URL(`./${framework}/server.ts`, import.meta.url).pathname], {
        env: { ...process.env, PORT: String(port), REFRESH_GRANT_DB: db },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      app.stderr!.on('data', (chunk) => (stderr += chunk));
      issuer = await new Promise<string>((resolve, reject) => {
        createInterface({ input: app.stdout! }).once('line', resolve);
        app.once('exit', (code) => reject(new Error(`${framework} example exited with ${code}: ${stderr}`)));
      });
      origin = `http://127.0.0.1:${port}`;
      assert.equal(issuer, `${origin}/oauth`);
    });
    after(() => {
      if (app.exitCode === null) app.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });

    it('serves metadata at the issuer with a path, in both well-known forms', async () => {
      for (const url of [`${issuer}/.well-known/openid-configuration`, `${origin}/.well-known/oauth-authorization-server/oauth`]) {
        const response = await fetch(url);
        assert.equal(response.status, 200, url);
        const metadata = await response.json();
        assert.equal(metadata.issuer, issuer);
        assert.equal(metadata.token_endpoint, `${issuer}/token`);
      }
      assert.equal(await (await fetch(`${origin}/`)).text(), 'Your application.');
      const unknown = await fetch(`${issuer}/nowhere`);
      assert.equal(unknown.status, 404);
    });

    it('refreshes a confidential client (id_token checked) and a DPoP-bound public client through the prefix', async () => {
      const { client_secret: secret } = JSON.parse(await cli('clients', 'add', '--db', db, '--id', 'app', '--auth-method', 'client_secret_basic', '--scope', scope, '--json'));
      const grant = JSON.parse(await cli('grants', 'issue', '--db', db, '--issuer', issuer, '--client', 'app', '--subject', 'alice', '--scope', scope, '--json'));
      const config = await discovery(new URL(issuer), 'app', undefined, ClientSecretBasic(secret));
      const tokens = await refreshTokenGrant(config, grant.refresh_token, { scope: 'openid read' }, { idToken: grant.id_token });
      assert.equal(tokens.claims()?.sub, 'alice');
      assert.equal(tokens.scope, 'openid read');
      assert.notEqual(tokens.refresh_token, grant.refresh_token);

      await cli('clients', 'add', '--db', db, '--id', 'spa', '--auth-method', 'none', '--scope', 'offline_access read');
      const spa = await discovery(new URL(issuer), 'spa', undefined, None());
      const DPoP = getDPoPHandle(spa, await randomDPoPKeyPair());
      const bound = JSON.parse(await cli('grants', 'issue', '--db', db, '--issuer', issuer, '--client', 'spa', '--subject', 'bob', '--scope', 'offline_access read', `--dpop-jkt=${await DPoP.calculateThumbprint()}`, '--json')); // '=': a base64url thumbprint may start with '-'
      const dpop = await refreshTokenGrant(spa, bound.refresh_token, undefined, { DPoP });
      assert.equal(dpop.token_type, 'dpop');
      await assert.rejects(refreshTokenGrant(spa, dpop.refresh_token!), { error: 'invalid_grant' });
    });

    it('answers a client\'s mistake with an RFC 6749 section 5.2 error, not a 500', async () => {
      const response = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=refresh_token&refresh_token=rg_rt_unknown&client_id=spa',
      });
      assert.equal(response.status, 400);
      assert.equal((await response.json()).error, 'invalid_grant');
      const json = await fetch(`${issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"grant_type":"refresh_token"}' });
      assert.equal(json.status, 400);
      assert.equal((await json.json()).error, 'invalid_request');
    });

    it('stops cleanly on SIGTERM', async () => {
      const exited = new Promise<number | null>((resolve) => app.once('exit', (code) => resolve(code)));
      app.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
    });
  });
}

describe('node handler behind Express body parsers', () => {
  let dir: string;
  let listener: import('node:http').Server;
  let origin: string;
  const servers: Array<import('@refresh-grant/server').AuthorizationServer> = [];
  let store: import('@refresh-grant/server').Store;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rg-express-parsers-'));
    store = await openSqliteStore(join(dir, 'app.db'));
    const app = express();
    listener = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => listener.once('listening', resolve));
    origin = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
    // One issuer per mount, each behind another parser; the last mount only drains the stream.
    const parsers: Record<string, express.RequestHandler> = {
      '/urlencoded': express.urlencoded({ extended: false }),
      '/extended': express.urlencoded({ extended: true }),
      '/text': express.text({ type: '*/*' }),
      '/raw': express.raw({ type: '*/*' }),
      '/drained': (req, _res, next) => {
        req.resume();
        req.once('end', () => next());
      },
    };
    for (const [path, parser] of Object.entries(parsers)) {
      const server = await createAuthorizationServer({ issuer: `${origin}${path}`, store, kek: new Uint8Array(32).fill(7), log: false });
      servers.push(server);
      app.use(path, parser, createNodeHandler(server));
    }
    await servers[0].registerClient({ clientId: 'spa', authMethod: 'none', scope: 'offline_access' });
  });
  after(async () => {
    await new Promise((resolve) => listener.close(resolve));
    for (const server of servers) await server.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (path: string, body: string) =>
    fetch(`${origin}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });

  it('takes the body a parser left: a form object of strings, a string, a Buffer', async () => {
    for (const [i, path] of ['/urlencoded', '/extended', '/text', '/raw'].entries()) {
      const { tokens } = await servers[i].issueGrant({ clientId: 'spa', subject: 'parsed', scope: 'offline_access' });
      const response = await post(`${path}/token`, new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: 'spa' }).toString());
      assert.equal(response.status, 200, `${path}: ${await response.clone().text()}`);
      assert.match((await response.json()).refresh_token, /^rg_rt_/);
    }
  });

  it('answers at once with a JSON error naming the cause when no parser left the body behind', async () => {
    const response = await post('/drained/token', 'grant_type=refresh_token&refresh_token=rg_rt_unknown&client_id=spa');
    assert.equal(response.status, 500);
    assert.equal(response.headers.get('content-type'), 'application/json');
    const body = await response.json();
    assert.equal(body.error, 'server_error');
    assert.match(body.error_description, /consumed by a body parser/);
  });
});
