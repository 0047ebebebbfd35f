/**
 * A full disk under a rotating load (issue 11, finding 6): the SQLite store lives on a small
 * tmpfs that this test mounts itself, filled up while clients keep refreshing. Every refusal is
 * a 503 `temporarily_unavailable` with Retry-After (never a 500), no rotation that was refused
 * committed, no rotation that was answered is lost, the server answers other requests all along,
 * and once space is back every chain goes on. Skipped, with the reason printed, only where the
 * test cannot mount a filesystem (not root, or no CAP_SYS_ADMIN).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, rmdirSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { refreshTokenKey } from '../../src/core/crypto.ts';
import { openSqliteStore } from '../../src/stores/sqlite-store.ts';
import { startHarness, type Harness } from '../support/harness.ts';

const mountPoint = mkdtempSync(join(tmpdir(), 'rg-disk-full-'));

/** Mounts a 4 MiB tmpfs at `mountPoint`; the reason why not, when it cannot. */
function mountSmallFilesystem(): string | undefined {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', mountPoint], { stdio: 'pipe' });
    return undefined;
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    return `cannot mount a tmpfs here (${stderr || (error as Error).message}); run as root with CAP_SYS_ADMIN to test a full disk`;
  }
}

const cannotMount = mountSmallFilesystem();
if (cannotMount) process.stdout.write(`# skipped: ${cannotMount}\n`);

after(() => {
  if (!cannotMount) execFileSync('umount', ['-l', mountPoint]);
  rmdirSync(mountPoint);
});

/** Writes a file until the filesystem is full; returns its path. */
function fillDisk(path: string): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(16 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
}

describe('SQLite on a full disk, under a rotating load', { skip: cannotMount }, () => {
  let h: Harness;
  after(async () => h?.close());

  it('answers 503 + Retry-After for what cannot be written, loses nothing it answered, and recovers', async () => {
    h = await startHarness({ store: await openSqliteStore(join(mountPoint, 'store.db')) });
    // Retry window off: a refused rotation that had committed after all would make the next
    // presentation of the same token a reuse, and revoke the family.
    const { clientId, clientSecret } = await h.client({ clientId: 'app', retryWindow: 0, scope: 'api' });
    const auth = h.basic(clientId, clientSecret);
    const chains: string[] = [];
    for (let i = 0; i < 16; i++) chains.push((await h.server.issueGrant({ clientId, subject: `user-${i}`, scope: 'api' })).tokens.refresh_token!);
    const answered: string[] = [];
    let refused = 0;

    /** One round: every chain refreshes once, concurrently; checks each answer. */
    const round = async () => {
      await Promise.all(chains.map(async (token, i) => {
        const res = await h.post('/token', { grant_type: 'refresh_token', refresh_token: token }, auth);
        if (res.status === 200) {
          chains[i] = res.json.refresh_token;
          answered.push(res.json.refresh_token);
          return;
        }
        assert.equal(res.status, 503, res.text);
        assert.equal(res.json.error, 'temporarily_unavailable');
        assert.match(res.headers.get('retry-after') ?? '', /^\d+$/);
        refused++;
        // The refused rotation did not commit: the token presented is still the active one.
        const stored = await h.store.findRefreshToken(refreshTokenKey(token));
        assert.equal(stored?.token.state, 'active');
      }));
    };

    await round();
    assert.equal(refused, 0);
    const filler = join(mountPoint, 'filler');
    fillDisk(filler);
    // Every rotation adds a row: the full disk shows up within a bounded number of rounds.
    for (let i = 0; i < 400 && refused < 32; i++) await round();
    assert.ok(refused >= 32, `only ${refused} refusals after filling the disk`);
    // Reads need no space: the server still answers.
    assert.equal((await fetch(`${h.issuer}/jwks`)).status, 200);

    rmSync(filler);
    await round();
    await round();
    const before = answered.length;
    await round();
    assert.equal(answered.length, before + chains.length, 'every chain refreshes again once space is back');
    // No answered rotation was lost: every successor handed out is in the store.
    for (const token of answered) assert.ok(await h.store.findRefreshToken(refreshTokenKey(token)), 'an answered successor is missing');
    assert.equal(h.events.filter((e) => e.type === 'refresh_token.reuse_detected').length, 0);
  });
});
