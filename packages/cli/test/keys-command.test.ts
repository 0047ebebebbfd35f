/**
 * `keys rotate|list` through the real bin: the rotation says when servers publish and sign, a
 * running server publishes the key on SIGHUP, and the listing's columns mean what they say (a
 * key replaced before it activated never signs).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli, serve, type Serving } from './support.ts';

describe('keys', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rg-keys-'));
  const db = join(dir, 'keys.db');
  let server: Serving;
  before(async () => {
    server = await serve(['--port', '0', '--db', db, '--no-demo']);
  });
  after(async () => {
    await server.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('rotate says when servers publish the key and when it signs; SIGHUP publishes it at once', async () => {
    const jwks = async () => ((await (await fetch(`${server.issuer}/jwks`)).json()) as { keys: Array<{ kid: string }> }).keys;
    const before = await jwks();
    const text = await cli(['keys', 'rotate', '--db', db]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^new signing key (\S+)\n  published: by .* UTC on every running server \(they reload keys every minute; SIGHUP reloads at once\)\n  signs from: .* UTC \(in 120 s\)\n  \S+ stops signing then, and stays published until .* UTC\n$/);
    assert.equal(text.stderr, '');
    const kid = /^new signing key (\S+)/.exec(text.stdout)![1];
    server.child.kill('SIGHUP');
    let keys = await jwks();
    for (let i = 0; i < 100 && !keys.some((k) => k.kid === kid); i++) {
      await new Promise((r) => setTimeout(r, 20));
      keys = await jwks();
    }
    assert.equal(keys.length, before.length + 1);
    assert.ok(keys.some((k) => k.kid === kid));
    assert.ok(server.logs().some((l) => l.type === 'keys.reloaded'), 'the reload is logged');
  });

  it('list: status and times that mean what they say; a key replaced before it activated never signs', async () => {
    const soon = await cli(['keys', 'rotate', '--db', db, '--activate-after', '0', '--json']);
    assert.match(soon.stderr, /^warning: the key signs in less than 60 s/);
    const rotated = JSON.parse(soon.stdout);
    assert.ok(rotated.kid && rotated.published_by && rotated.activates_at);
    const listed = JSON.parse((await cli(['keys', 'list', '--db', db, '--json'])).stdout) as Array<{ kid: string; status: string; signs_from: number; signs_until?: number }>;
    assert.deepEqual(listed.map((k) => k.status), ['retired', 'signing', 'never signs']);
    assert.equal(listed[1].kid, rotated.kid);
    assert.equal(listed[0].signs_until, listed[1].signs_from, 'the old key stops when the new one starts');
    for (const k of listed.filter((k) => k.signs_until !== undefined)) assert.ok(k.signs_until! >= k.signs_from, 'a key stops signing after it started');
    assert.deepEqual([listed[2].signs_from, listed[2].signs_until], [undefined, undefined]);
    const text = (await cli(['keys', 'list', '--db', db])).stdout;
    assert.match(text, /^kid +alg +status +signs_from +signs_until +published_until$/m);
    assert.match(text, /^\S+ +ES256 +never signs {2,}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/m);
    assert.match(text, /^\S+ +ES256 +signing +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC +\(while it signs\)$/m);
  });
});
