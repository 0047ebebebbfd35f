/**
 * `grants issue|list|revoke` through the real bin: --json complete (the family id), readable
 * text, revocation seen by a running server.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli, serve, type Serving } from './support.ts';

describe('grants', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rg-grants-'));
  const db = join(dir, 'grants.db');
  let server: Serving;
  let secret = '';
  before(async () => {
    server = await serve(['--port', '0', '--db', db, '--no-demo', '--quiet']);
    secret = JSON.parse((await cli(['clients', 'add', '--db', db, '--id', 'batch', '--auth-method', 'client_secret_post', '--scope', 'openid offline_access read', '--json'])).stdout).client_secret;
  });
  after(async () => {
    await server.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('issue --json: one complete line per grant, with its family id; the running server refreshes them', async () => {
    const issued = await cli(['grants', 'issue', '--db', db, '--issuer', server.issuer, '--client', 'batch', '--subject', 'zoe', '--scope', 'openid offline_access read', '--count', '3', '--json']);
    assert.equal(issued.code, 0, issued.stderr);
    const lines = issued.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 3);
    for (const l of lines) {
      assert.match(l.family_id, /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
      assert.ok(l.access_token && l.id_token && l.expires_in && l.scope && l.refresh_token);
      assert.equal(l.token_type, 'Bearer');
    }
    assert.equal(new Set(lines.map((l) => l.family_id)).size, 3);
    const res = await fetch(`${server.issuer}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: lines[0].refresh_token, client_id: 'batch', client_secret: secret }) });
    assert.equal(res.status, 200);
    const listed = JSON.parse((await cli(['grants', 'list', '--db', db, '--subject', 'zoe', '--json'])).stdout);
    assert.deepEqual(listed.map((g: { family_id: string }) => g.family_id).sort(), lines.map((l) => l.family_id).sort());
  });

  it('issue in text: the family id and readable fields; with openid and without offline_access, says why there is no refresh token', async () => {
    const text = await cli(['grants', 'issue', '--db', db, '--issuer', server.issuer, '--client', 'batch', '--subject', 'ann', '--scope', 'read']);
    assert.match(text.stdout, /^family_id: +\S{22}$/m);
    assert.match(text.stdout, /^expires_in: +900 s \(until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)$/m);
    const noRt = await cli(['grants', 'issue', '--db', db, '--client', 'batch', '--subject', 'ann', '--scope', 'openid']);
    assert.match(noRt.stdout, /^refresh_token: +\(none: with openid, a refresh token needs offline_access\)$/m);
  });

  it('revoke: the family stops working at the running server; again: says it was already revoked; list shows when and why', async () => {
    const { family_id: family, refresh_token: rt } = JSON.parse((await cli(['grants', 'issue', '--db', db, '--issuer', server.issuer, '--client', 'batch', '--subject', 'rex', '--scope', 'read', '--json'])).stdout);
    const revoked = await cli(['grants', 'revoke', '--db', db, '--family', family]);
    assert.deepEqual([revoked.code, revoked.stdout], [0, `revoked family ${family}\n`]);
    const res = await fetch(`${server.issuer}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rt, client_id: 'batch', client_secret: secret }) });
    assert.equal(res.status, 400);
    const again = await cli(['grants', 'revoke', '--db', db, '--family', family, '--json']);
    assert.equal(again.code, 0);
    assert.deepEqual(JSON.parse(again.stdout), { family_id: family, revoked: false, revoked_at: JSON.parse(again.stdout).revoked_at, revoked_reason: 'admin' });
    const list = (await cli(['grants', 'list', '--db', db, '--subject', 'rex'])).stdout;
    assert.match(list, /^family_id +client_id +sub +scope +created +last_used +generation +dpop +expires +revoked$/m);
    assert.match(list, / \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(admin\)$/m);
  });

  it('list shows last use, generation and DPoP binding; revoke --subject / --client end every session, against the running server', async () => {
    const added = JSON.parse((await cli(['clients', 'add', '--db', db, '--id', 'sessions', '--auth-method', 'client_secret_post', '--any-scope', '--json'])).stdout);
    const issue = async (subject: string) =>
      JSON.parse((await cli(['grants', 'issue', '--db', db, '--issuer', server.issuer, '--client', 'sessions', '--subject', subject, '--scope', 'read', '--json'])).stdout).refresh_token as string;
    const refresh = (rt: string) =>
      fetch(`${server.issuer}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rt, client_id: 'sessions', client_secret: added.client_secret }) });
    const used = await issue('yves');
    await issue('yves');
    const other = await issue('xena');
    assert.equal((await refresh(used)).status, 200);

    const listed = JSON.parse((await cli(['grants', 'list', '--db', db, '--subject', 'yves', '--json'])).stdout);
    assert.deepEqual(listed.map((g: { generation: number }) => g.generation).sort(), [1, 2]);
    const refreshed = listed.find((g: { generation: number }) => g.generation === 2);
    assert.equal(typeof refreshed.last_used_at, 'number');
    assert.equal(refreshed.dpop_bound, false);
    assert.equal(refreshed.active, true);
    assert.equal(listed.find((g: { generation: number }) => g.generation === 1).last_used_at, undefined);
    assert.match((await cli(['grants', 'list', '--db', db, '--subject', 'yves'])).stdout, / \(never\) +1 /);

    const bySubject = await cli(['grants', 'revoke', '--db', db, '--subject', 'yves', '--reason', 'logout_everywhere', '--json']);
    assert.equal(bySubject.code, 0, bySubject.stderr);
    assert.equal(JSON.parse(bySubject.stdout).revoked.length, 2);
    const after = JSON.parse((await cli(['grants', 'list', '--db', db, '--subject', 'yves', '--json'])).stdout);
    assert.deepEqual(after.map((g: { revoked_reason: string }) => g.revoked_reason), ['logout_everywhere', 'logout_everywhere']);
    assert.equal((await refresh(used)).status, 400, 'the server refuses what the CLI revoked');
    assert.equal((await refresh(other)).status, 200, 'another subject is untouched');

    const byClient = await cli(['grants', 'revoke', '--db', db, '--client', 'sessions']);
    assert.equal(byClient.code, 0, byClient.stderr);
    assert.match(byClient.stdout, /^revoked 1 grant\n/);
    for (const args of [['--family', 'f', '--subject', 'yves'], [], ['--subject', 'yves', '--reason', 'two words']]) {
      const refused = await cli(['grants', 'revoke', '--db', db, ...args]);
      assert.equal(refused.code, 2, args.join(' '));
      assert.match(refused.stderr, /\nsee: refresh-grant grants revoke --help\n$/);
    }
  });
});
