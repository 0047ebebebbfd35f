import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createFileStore } from '../src/file-store.ts';
import type { StoredTokens } from '../src/token-store.ts';
import { startTokenServer } from './helpers/token-server.ts';

const dir = mkdtempSync(join(tmpdir(), 'refresh-grant-file-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = () => join(dir, `tokens-${++n}.json`);
const tokens = (version: number, refreshToken = `rt-${version}`): StoredTokens => ({ refreshToken, accessToken: `at-${version}`, version, issuedAt: 1 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The lock file a store uses for `key` (found by looking while holding it). */
async function lockFileOf(path: string, key = 'default'): Promise<string> {
  let name = '';
  await createFileStore({ path }).lock(key, async () => {
    name = readdirSync(dir).find((f) => f.startsWith(path.split('/').pop()!) && f.endsWith('.lock'))!;
  });
  return join(dir, name);
}

test('set/get/delete, a version guard, atomic replacement, mode 0600, no temp files left', async () => {
  const path = file();
  const store = createFileStore({ path });
  assert.equal(await store.get('default'), undefined);
  assert.equal(await store.set('default', tokens(1)), true);
  assert.equal(await store.set('other', tokens(5)), true);
  assert.equal(await store.set('default', tokens(1, 'stale')), false);
  assert.equal(await store.set('default', tokens(2)), true);
  assert.deepEqual(await createFileStore({ path }).get('default'), tokens(2));
  assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { format: 1, tokens: { default: tokens(2), other: tokens(5) } });
  assert.equal(statSync(path).mode & 0o777, 0o600);
  await store.delete('other');
  assert.equal(await store.get('other'), undefined);
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp') || f.endsWith('.lock')), []);
});

test('concurrent writers from several store instances never lose an update', async () => {
  const path = file();
  const stores = [createFileStore({ path }), createFileStore({ path }), createFileStore({ path })];
  await Promise.all(Array.from({ length: 30 }, (_, i) => stores[i % 3].set(`k${i}`, tokens(1))));
  assert.equal(Object.keys(JSON.parse(readFileSync(path, 'utf8')).tokens).length, 30);
});

test('with an encryptionKey the file holds no token in plaintext; the wrong key cannot read it', async () => {
  const path = file();
  const key = crypto.getRandomValues(new Uint8Array(32));
  const store = createFileStore({ path, encryptionKey: key });
  await store.set('default', tokens(1, 'super-secret-refresh-token'));
  assert.equal(readFileSync(path, 'utf8').includes('super-secret'), false);
  assert.equal((await createFileStore({ path, encryptionKey: key }).get('default'))!.refreshToken, 'super-secret-refresh-token');
  await assert.rejects(createFileStore({ path, encryptionKey: new Uint8Array(32) }).get('default'));
  await assert.rejects(createFileStore({ path }).get('default'), /encryptionKey/);
  assert.throws(() => createFileStore({ path, encryptionKey: new Uint8Array(16) }), TypeError);
});

test('the lock excludes other holders (other store instances, like other processes) and is kept fresh while held', async () => {
  const path = file();
  const log: string[] = [];
  const hold = (name: string, ms: number) => async () => {
    log.push(`${name} in`);
    await sleep(ms);
    log.push(`${name} out`);
  };
  // staleLockMs 90: without the heartbeat, a 300 ms hold would look abandoned.
  const a = createFileStore({ path, staleLockMs: 90 });
  const b = createFileStore({ path, staleLockMs: 90 });
  const first = a.lock('default', hold('a', 300));
  await sleep(30);
  await Promise.all([first, b.lock('default', hold('b', 1)), a.lock('default', hold('a2', 1))]);
  assert.equal(log.slice(0, 2).join(), 'a in,a out');
  assert.deepEqual(log.filter((l) => l.endsWith('in')).length, 3);
  for (let i = 0; i < log.length; i += 2) assert.equal(log[i].replace(' in', ''), log[i + 1].replace(' out', ''));
  // Another key is not blocked by it.
  const slow = a.lock('default', () => sleep(200));
  let otherRan = false;
  await b.lock('another', async () => void (otherRan = true));
  assert.equal(otherRan, true);
  await slow;
});

test('a lock left by a dead process is recovered; an old untouched lock is recovered; a live one times out', async () => {
  const path = file();
  const lock = await lockFileOf(path);
  const dead = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => dead.on('exit', r));
  writeFileSync(lock, JSON.stringify({ id: 'x', pid: dead.pid, host: hostname() }));
  assert.equal(await createFileStore({ path }).lock('default', async () => 'recovered'), 'recovered');
  assert.equal(existsSync(lock), false);
  writeFileSync(lock, JSON.stringify({ id: 'y', pid: 1, host: 'another-host' }));
  utimesSync(lock, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
  assert.equal(await createFileStore({ path, staleLockMs: 30_000 }).lock('default', async () => 'old'), 'old');
  writeFileSync(lock, JSON.stringify({ id: 'z', pid: process.pid, host: hostname() }));
  await assert.rejects(createFileStore({ path, lockTimeoutMs: 150 }).lock('default', async () => 'never'), /timed out/);
  assert.equal(JSON.parse(readFileSync(lock, 'utf8')).id, 'z', 'a live lock is left alone');
  rmSync(lock);
});

const worker = fileURLToPath(new URL('./fixtures/file-store-worker.ts', import.meta.url));

test('OS processes sharing one file store make exactly one refresh per expiry and never see invalid_grant', async () => {
  const server = await startTokenServer({ retryWindow: false });
  const path = file();
  const children: ChildProcessWithoutNullStreams[] = [];
  try {
    server.seed('rt-0');
    await createFileStore({ path }).set('default', { refreshToken: 'rt-0', version: 1, issuedAt: Date.now() });
    const lines: Array<AsyncIterator<string>> = [];
    for (let i = 0; i < 3; i++) {
      const child = spawn(process.execPath, [worker, path, server.tokenEndpoint], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.on('exit', (code) => code && console.error(`worker exited ${code}: ${stderr}`));
      children.push(child);
      lines.push(createInterface({ input: child.stdout })[Symbol.asyncIterator]());
    }
    for (const it of lines) assert.equal((await it.next()).value, 'ready');
    const rounds = 3;
    for (let round = 1; round <= rounds; round++) {
      for (const child of children) child.stdin.write(JSON.stringify({ round, calls: 25 }) + '\n');
      const results = await Promise.all(lines.map(async (it) => JSON.parse((await it.next()).value)));
      for (const result of results) {
        assert.deepEqual(result.failures, []);
        assert.deepEqual(result.errors, []);
        assert.deepEqual(result.tokens, [`at-${round}`], `round ${round}: every process got the one new token`);
      }
      assert.equal(server.refreshes(), round, `round ${round}: exactly one refresh`);
    }
    assert.equal(server.rejections(), 0);
    assert.equal((await createFileStore({ path }).get('default'))!.refreshToken, `rt-${rounds}`);
  } finally {
    for (const child of children) child.stdin.end();
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.on('exit', r)) : undefined)));
    await server.close();
  }
});
