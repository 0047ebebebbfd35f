/**
 * The key-encryption key: created once with mode 0600, complete even when several processes
 * create it at the same moment, and refused when malformed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadKek } from '../src/kek.ts';

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
