/**
 * The key-encryption key: created once with mode 0600, complete even when several processes
 * create it at the same moment, and refused when malformed; created only for a store with
 * nothing sealed yet, and refused, with one line naming it, when it is missing or another one
 * while the store holds sealed material (issue 11, finding 7).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { seal } from '../src/core/crypto.ts';
import { clientDefaults } from '../src/core/types.ts';
import { KekError, loadKek } from '../src/kek.ts';
import { createAuthorizationServer } from '../src/server.ts';
import { openSqliteStore } from '../src/stores/sqlite-store.ts';
import { cliPath } from './e2e/support/processes.ts';

const kekModule = new URL('../src/kek.ts', import.meta.url).href;

describe('loadKek', () => {
  it('creates a 32-byte key once (mode 0600) and reads the same key afterwards', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rg-kek-'));
    try {
      const file = join(dir, 'k.kek');
      const a = loadKek({ file });
      const b = loadKek({ file });
      assert.equal(a.length, 32);
      assert.deepEqual(a, b);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.deepEqual(readdirSync(dir), ['k.kek'], 'no temporary file left behind');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('eight processes creating it at once all load one complete key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rg-kek-'));
    try {
      const file = join(dir, 'race.kek');
      const script = `import { loadKek } from ${JSON.stringify(kekModule)}; process.stdout.write(Buffer.from(loadKek({ file: ${JSON.stringify(file)} })).toString('hex'));`;
      const outputs = await Promise.all(
        Array.from({ length: 8 }, () =>
          new Promise<string>((resolve, reject) => {
            const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
            let out = '';
            let err = '';
            child.stdout.on('data', (d) => (out += d));
            child.stderr.on('data', (d) => (err += d));
            child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(err))));
          }),
        ),
      );
      assert.equal(new Set(outputs).size, 1);
      assert.equal(outputs[0].length, 64);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a malformed key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rg-kek-'));
    try {
      const file = join(dir, 'bad.kek');
      writeFileSync(file, 'c2hvcnQ\n');
      assert.throws(() => loadKek({ file }), /32 bytes/);
      assert.throws(() => loadKek({ value: 'abc' }), /32 bytes/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the KEK of a store', () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
  const fresh = () => {
    const dir = mkdtempSync(join(tmpdir(), 'rg-kek-store-'));
    dirs.push(dir);
    return { db: join(dir, 'store.db'), kekFile: join(dir, 'store.db.kek') };
  };
  /** Opens the store and a server on it with `kek`, then closes both. */
  const start = async (db: string, kek: Parameters<typeof createAuthorizationServer>[0]['kek']) => {
    const store = await openSqliteStore(db);
    try {
      const server = await createAuthorizationServer({ issuer: 'http://127.0.0.1:1', store, kek, log: false });
      await server.close();
    } finally {
      await store.close();
    }
  };
  /** One line naming the KEK, where it was expected, and how to restore it. */
  const refusal = (pattern: RegExp) => (err: unknown) => {
    assert.ok(err instanceof KekError, String(err));
    assert.doesNotMatch(err.message, /\n/);
    assert.match(err.message, /key-encryption key \(KEK\)/);
    assert.match(err.message, /Restore/);
    assert.match(err.message, pattern);
    return true;
  };

  it('is created for a new store, and found again on the next start', async () => {
    const { db, kekFile } = fresh();
    await start(db, { file: kekFile });
    const created = readFileSync(kekFile, 'utf8');
    await start(db, { file: kekFile });
    assert.equal(readFileSync(kekFile, 'utf8'), created);
  });

  it('missing while the store holds sealed signing keys: refused, naming the file, and not recreated', async () => {
    const { db, kekFile } = fresh();
    await start(db, { file: kekFile });
    rmSync(kekFile);
    await assert.rejects(start(db, { file: kekFile }), refusal(new RegExp(`missing: it was expected in the file ${kekFile.replace(/[.]/g, '\\.')}, and this store holds material sealed under it \\(1 signing key\\)`)));
    assert.equal(existsSync(kekFile), false, 'no new KEK was created');
  });

  it('another KEK (a file, a value, the option) is refused, naming where it came from', async () => {
    const { db, kekFile } = fresh();
    await start(db, { file: kekFile });
    const other = join(dirs.at(-1)!, 'other.kek');
    writeFileSync(other, randomBytes(32).toString('base64url'));
    await assert.rejects(start(db, { file: other }), refusal(new RegExp(`from the file ${other.replace(/[.]/g, '\\.')} does not open the material this store holds sealed \\(1 signing key\\)`)));
    await assert.rejects(start(db, { value: randomBytes(32).toString('base64url') }), refusal(/from the KEK value passed in/));
    await assert.rejects(start(db, new Uint8Array(randomBytes(32))), refusal(/from the kek option/));
  });

  it('a sealed client_secret_jwt secret alone also counts as sealed material', async () => {
    const { db, kekFile } = fresh();
    const kek = new Uint8Array(randomBytes(32));
    const store = await openSqliteStore(db);
    await store.saveClient({ clientId: 'hs', authMethod: 'client_secret_jwt', secretSealed: seal(kek, 'secret', 'client-secret:hs'), scope: '', resources: [], ...clientDefaults, createdAt: 1 });
    await store.close();
    await assert.rejects(start(db, { file: kekFile }), refusal(/client_secret_jwt secret of client hs/));
    assert.equal(existsSync(kekFile), false);
    await start(db, kek);
  });

  it('`refresh-grant serve` refuses to start with one line on stderr (exit 1)', async () => {
    const { db, kekFile } = fresh();
    await start(db, { file: kekFile });
    rmSync(kekFile);
    const run = promisify(execFile);
    const failed = await run(process.execPath, [cliPath, 'serve', '--db', db, '--port', '0', '--no-demo'], { env: { ...process.env, REFRESH_GRANT_KEK: '' } }).then(
      () => assert.fail('serve started without its KEK'),
      (error: { code: number; stderr: string }) => error,
    );
    assert.equal(failed.code, 1);
    assert.equal(failed.stderr.trim().split('\n').length, 1, failed.stderr);
    assert.match(failed.stderr, new RegExp(`^refresh-grant: the key-encryption key \\(KEK\\) is missing: it was expected in the file ${kekFile.replace(/[.]/g, '\\.')}`));
  });
});
