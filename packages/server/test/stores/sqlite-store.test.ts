import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { randomHandle, randomId, sealSuccessor, sha256, tokenPrefixes } from '../../src/core/crypto.ts';
import type { Store } from '../../src/core/store.ts';
import type { GrantRecord } from '../../src/core/types.ts';
import { sqliteMigrations } from '../../src/stores/sqlite-schema.ts';
import { openSqliteStore, type SqliteStore } from '../../src/stores/sqlite-store.ts';
import { runStoreConformance } from './conformance/index.ts';

const childScript = fileURLToPath(new URL('./fixtures/sqlite-child.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'refresh-grant-sqlite-'));
const children = new Set<ChildProcess>();

after(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** A child that hangs fails its test instead of the whole run. */
const childTimeout = { timeout: 20_000 };

const now = (): number => Math.floor(Date.now() / 1000);

function dbFile(): string {
  return join(dir, `${randomId()}.db`);
}

function grant(overrides: Partial<GrantRecord> = {}): GrantRecord {
  return {
    familyId: randomId(), clientId: 'app', subject: 'alice', scope: 'openid', resources: [], authTime: now(),
    createdAt: now(), expiresAt: now() + 86_400, ...overrides,
  };
}

/** A running child with its stdout split into lines. */
interface Child {
  process: ChildProcess;
  lines: string[];
  /** Resolves with the exit code (or signal) when the child exits. */
  exited: Promise<number | string>;
  /** Resolves once `n` lines have been printed. */
  waitForLines(n: number): Promise<void>;
  stderr(): string;
}

function startChild(...args: string[]): Child {
  const proc = spawn(process.execPath, [childScript, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(proc);
  const lines: string[] = [];
  let partial = '';
  let err = '';
  const waiters: Array<{ n: number; resolve: () => void; reject: (e: Error) => void }> = [];
  const check = () => {
    for (const w of [...waiters]) {
      if (lines.length >= w.n) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    check();
  });
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<number | string>((resolve) => {
    proc.on('exit', (code, signal) => {
      children.delete(proc);
      for (const w of waiters.splice(0)) w.reject(new Error(`child exited early (${code ?? signal}): ${err}`));
      resolve(code ?? signal ?? -1);
    });
  });
  return {
    process: proc,
    lines,
    exited,
    waitForLines: (n) =>
      lines.length >= n ? Promise.resolve() : new Promise((resolve, reject) => waiters.push({ n, resolve, reject })),
    stderr: () => err,
  };
}

function go(...kids: Child[]): void {
  for (const kid of kids) kid.process.stdin!.end('go\n');
}

function rawRows<T>(path: string, sql: string, ...params: string[]): T[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

runStoreConformance('sqlite', async () => {
  const path = dbFile();
  const handles: Store[] = [await openSqliteStore(path)];
  return {
    store: handles[0],
    reopen: async () => {
      const store = await openSqliteStore(path);
      handles.push(store);
      return store;
    },
    cleanup: async () => {
      for (const store of handles) await store.close();
    },
  };
});

describe('SqliteStore', () => {
  it('opens in WAL mode with the latest schema version', async () => {
    const path = dbFile();
    const store = await openSqliteStore(path, { synchronous: 'full', busyTimeoutMs: 1000 });
    await store.close();
    const [{ journal_mode }] = rawRows<{ journal_mode: string }>(path, 'PRAGMA journal_mode');
    assert.equal(journal_mode, 'wal');
    const [{ user_version }] = rawRows<{ user_version: number }>(path, 'PRAGMA user_version');
    assert.equal(user_version, sqliteMigrations.length);
  });

  it('migrations are idempotent on reopen and keep the data', async () => {
    const path = dbFile();
    const schemaOf = () => rawRows<{ sql: string }>(path, 'SELECT sql FROM sqlite_master ORDER BY name');
    const first = await openSqliteStore(path);
    const g = grant();
    await first.createGrant(g, { tokenHash: sha256('t'), expiresAt: now() + 60 });
    await first.close();
    const schema = schemaOf();

    const a = await openSqliteStore(path);
    const b = await openSqliteStore(path); // a second handle open at the same time
    assert.deepStrictEqual(await b.getGrant(g.familyId), g);
    await a.close();
    await b.close();
    assert.deepStrictEqual(schemaOf(), schema);
    const [{ user_version }] = rawRows<{ user_version: number }>(path, 'PRAGMA user_version');
    assert.equal(user_version, sqliteMigrations.length);
  });

  it('later migrations keep the clients of a version 1 file, without the fields they never had', async () => {
    const path = dbFile();
    const db = new DatabaseSync(path);
    db.exec(sqliteMigrations[0]);
    db.exec('PRAGMA user_version = 1');
    db.prepare(
      "INSERT INTO clients VALUES ('old', 'client_secret_basic', 'hash', NULL, NULL, NULL, 'openid', '[]', 1, 30, 100, 1000, 60, 'jwt', 120, 7)",
    ).run();
    db.close();
    const store = await openSqliteStore(path);
    try {
      assert.deepStrictEqual(await store.getClient('old'), {
        clientId: 'old', authMethod: 'client_secret_basic', secretHash: 'hash', scope: 'openid', resources: [], rotation: true,
        retryWindow: 30, idleTtl: 100, absoluteTtl: 1000, accessTokenTtl: 60, accessTokenFormat: 'jwt', idTokenTtl: 120, createdAt: 7,
      });
      assert.equal(await store.getConsent('old', 'anyone'), undefined);
    } finally {
      await store.close();
    }
  });

  it('refuses a file whose schema is newer than this code', async () => {
    const path = dbFile();
    const db = new DatabaseSync(path);
    db.exec(`PRAGMA user_version = ${sqliteMigrations.length + 1}`);
    db.close();
    await assert.rejects(openSqliteStore(path), /newer/);
  });

  it('two processes opening a new file at once both succeed and migrate it once', childTimeout, async () => {
    for (let round = 0; round < 3; round++) {
      const path = dbFile();
      const kids = [startChild('open', path, 'first'), startChild('open', path, 'second')];
      await Promise.all(kids.map((k) => k.waitForLines(1)));
      go(...kids);
      const codes = await Promise.all(kids.map((k) => k.exited));
      assert.deepStrictEqual(codes, [0, 0], kids.map((k) => k.stderr()).join('\n'));
      assert.deepStrictEqual(kids.map((k) => k.lines), [['ready', 'ok'], ['ready', 'ok']]);
      const store = await openSqliteStore(path);
      assert.deepStrictEqual((await store.listClients()).map((c) => c.clientId), ['first', 'second']);
      await store.close();
      const [{ user_version }] = rawRows<{ user_version: number }>(path, 'PRAGMA user_version');
      assert.equal(user_version, sqliteMigrations.length);
    }
  });

  it('two processes racing on the same tokens rotate each exactly once', childTimeout, async (t) => {
    const path = dbFile();
    const store = await openSqliteStore(path);
    const hashes: string[] = [];
    for (let i = 0; i < 300; i++) {
      const tokenHash = sha256(randomHandle(tokenPrefixes.refreshToken));
      hashes.push(tokenHash);
      await store.createGrant(grant(), { tokenHash, expiresAt: now() + 3600 });
    }
    const hashesFile = join(dir, `${randomId()}.json`);
    writeFileSync(hashesFile, JSON.stringify(hashes));
    const kids = [startChild('race', path, hashesFile), startChild('race', path, hashesFile)];
    await Promise.all(kids.map((k) => k.waitForLines(1)));
    go(...kids);
    const codes = await Promise.all(kids.map((k) => k.exited));
    assert.deepStrictEqual(codes, [0, 0], kids.map((k) => k.stderr()).join('\n'));

    const results = kids.map((k) => JSON.parse(k.lines[1]) as { rotated: Record<string, string>; replayed: number });
    const [a, b] = results;
    assert.equal(Object.keys(a.rotated).length + Object.keys(b.rotated).length, hashes.length);
    assert.equal(a.replayed + b.replayed, hashes.length);
    t.diagnostic(`rotations per process: ${Object.keys(a.rotated).length} / ${Object.keys(b.rotated).length}`);
    for (const hash of hashes) {
      const winner = a.rotated[hash] ?? b.rotated[hash];
      assert.ok(winner, 'every token rotated once');
      assert.ok(!(hash in a.rotated && hash in b.rotated), 'no token rotated by both');
      const snap = await store.findRefreshToken(hash);
      assert.equal(snap?.token.state, 'rotated');
      assert.equal(snap?.token.successorHash, winner);
      assert.equal(snap?.successor?.generation, 2);
    }
    const counts = rawRows<{ n: number }>(path, 'SELECT count(*) AS n FROM refresh_tokens');
    assert.equal(counts[0].n, hashes.length * 2);
    await store.close();
  });

  it('a kill -9 mid-chain loses no committed rotation and breaks no chain', childTimeout, async (t) => {
    const path = dbFile();
    const store = await openSqliteStore(path);
    const g = grant();
    const firstHash = sha256(randomHandle(tokenPrefixes.refreshToken));
    await store.createGrant(g, { tokenHash: firstHash, expiresAt: now() + 3600 });
    await store.close();

    const kid = startChild('chain', path, firstHash);
    await kid.waitForLines(200 + Math.floor(Math.random() * 300));
    kid.process.kill('SIGKILL');
    assert.equal(await kid.exited, 'SIGKILL', kid.stderr());
    const printed = kid.lines.slice(); // complete lines only: each was printed after its commit

    const reopened = await openSqliteStore(path);
    try {
      // Walk the chain from generation 1 through successor hashes.
      const chain: string[] = [];
      for (let hash: string | undefined = firstHash; hash !== undefined; ) {
        const snap: Awaited<ReturnType<SqliteStore['findRefreshToken']>> = await reopened.findRefreshToken(hash);
        assert.ok(snap, `chain broken at generation ${chain.length + 1}`);
        assert.equal(snap.token.generation, chain.length + 1);
        assert.equal(snap.token.familyId, g.familyId);
        assert.equal(snap.token.state, snap.token.successorHash === undefined ? 'active' : 'rotated');
        chain.push(hash);
        hash = snap.token.successorHash;
      }
      // Every printed successor is there, in order: printed[i] is generation i + 2.
      assert.ok(chain.length - 1 >= printed.length, `${printed.length} printed, ${chain.length - 1} committed`);
      assert.deepStrictEqual(chain.slice(1, printed.length + 1), printed);
      t.diagnostic(`${printed.length} rotations printed, ${chain.length - 1} committed before the kill`);
      // The family holds exactly the chain: each generation once, none rotated twice.
      const rows = rawRows<{ generation: number; n: number; rotated: number }>(
        path,
        "SELECT generation, count(*) AS n, sum(state = 'rotated') AS rotated FROM refresh_tokens WHERE family_id = ? GROUP BY generation ORDER BY generation",
        g.familyId,
      );
      assert.equal(rows.length, chain.length);
      rows.forEach((row, i) => {
        assert.equal(row.generation, i + 1);
        assert.equal(row.n, 1);
        assert.equal(row.rotated, i + 1 < chain.length ? 1 : 0);
      });
    } finally {
      await reopened.close();
    }
  });

  it('never writes a refresh token in plaintext', async () => {
    const path = dbFile();
    const store = await openSqliteStore(path);
    const token = randomHandle(tokenPrefixes.refreshToken);
    const successor = randomHandle(tokenPrefixes.refreshToken);
    const g = grant();
    await store.createGrant(g, { tokenHash: sha256(token), expiresAt: now() + 60 });
    await store.useRefreshToken(sha256(token), () => ({
      action: 'rotate',
      successor: { tokenHash: sha256(successor), expiresAt: now() + 60 },
      successorSealed: sealSuccessor(token, successor),
    }));
    const files = () => [path, `${path}-wal`].filter(existsSync).map((f) => readFileSync(f));
    const assertAbsent = () => {
      const bytes = files();
      // The test itself must be able to see what the store wrote: the hash is there.
      assert.ok(bytes.some((b) => b.includes(sha256(successor))));
      for (const b of bytes) {
        assert.equal(b.indexOf(token), -1);
        assert.equal(b.indexOf(successor), -1);
        assert.equal(b.indexOf(token.slice(tokenPrefixes.refreshToken.length)), -1);
      }
    };
    assertAbsent(); // while open (data in the WAL)
    await store.close();
    assertAbsent(); // after the checkpoint on close
  });
});
