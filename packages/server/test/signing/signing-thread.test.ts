import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { compactVerify, decodeProtectedHeader, jwtVerify } from 'jose';
import { JwsSigner, jwsSignature, type JwsKey } from '../../src/core/tokens/jws.ts';
import type { SigningAlg } from '../../src/core/types.ts';
import { SigningThread } from '../../src/signing/signing-thread.ts';

function keyPair(alg: SigningAlg): { key: JwsKey; publicKey: KeyObject } {
  const { privateKey, publicKey } =
    alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  return { key: { kid: randomBytes(8).toString('hex'), alg, privateKey }, publicKey };
}

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url);

/** Signs `count` distinct payloads at once and checks each with jose: signature and its own payload. */
async function signMany(signer: JwsSigner, publicKey: KeyObject, count: number): Promise<void> {
  const jwts = await Promise.all(Array.from({ length: count }, (_, n) => signer.sign({ sub: `user-${n}`, n }, 'at+jwt')));
  for (const [n, jwt] of jwts.entries()) {
    const { payload, protectedHeader } = await jwtVerify(jwt, publicKey, { typ: 'at+jwt' });
    assert.equal(payload.n, n);
    assert.equal(protectedHeader.kid, signer.kid);
  }
}

describe('SigningThread', () => {
  for (const alg of ['ES256', 'EdDSA'] as const) {
    it(`signs ${alg} on the thread: jose verifies every one of 300 concurrent tokens, each with its own payload`, async () => {
      const thread = SigningThread.start();
      const { key, publicKey } = keyPair(alg);
      try {
        await signMany(new JwsSigner(key, thread), publicKey, 300);
        assert.equal(thread.active, true);
      } finally {
        await thread.close();
      }
    });
  }

  it('gives the same signature format as signing inline (Ed25519 is deterministic)', async () => {
    const thread = SigningThread.start();
    const { key } = keyPair('EdDSA');
    try {
      assert.equal(await thread.signature(key, 'a.b'), jwsSignature(key, 'a.b'));
    } finally {
      await thread.close();
    }
  });

  it('keeps several keys apart', async () => {
    const thread = SigningThread.start();
    const a = keyPair('ES256');
    const b = keyPair('EdDSA');
    try {
      const [ja, jb] = await Promise.all([
        new JwsSigner(a.key, thread).sign({ k: 'a' }, 'JWT'),
        new JwsSigner(b.key, thread).sign({ k: 'b' }, 'JWT'),
      ]);
      await compactVerify(ja, a.publicKey);
      await compactVerify(jb, b.publicKey);
      assert.equal(decodeProtectedHeader(jb).alg, 'EdDSA');
    } finally {
      await thread.close();
    }
  });

  it('loses nothing when the thread dies: what it did not answer is signed here, and after 3 deaths it is given up', async () => {
    const thread = SigningThread.start({ workerUrl: fixture('exiting-worker.ts') });
    const { key, publicKey } = keyPair('ES256');
    const signer = new JwsSigner(key, thread);
    try {
      for (let round = 0; round < 3; round++) {
        assert.equal(thread.active, true);
        await signMany(signer, publicKey, 50);
      }
      assert.equal(thread.active, false);
      await signMany(signer, publicKey, 10);
    } finally {
      await thread.close();
    }
  });

  it('signs here a batch the thread answers with an error', async () => {
    const thread = SigningThread.start({ workerUrl: fixture('failing-worker.ts') });
    const { key, publicKey } = keyPair('ES256');
    try {
      await signMany(new JwsSigner(key, thread), publicKey, 20);
    } finally {
      await thread.close();
    }
  });

  it('close() waits for the answers under way; later signatures are computed inline', async () => {
    const thread = SigningThread.start();
    const { key, publicKey } = keyPair('ES256');
    const signer = new JwsSigner(key, thread);
    const pending = Promise.all(Array.from({ length: 100 }, (_, n) => signer.sign({ n }, 'JWT')));
    await thread.close();
    assert.equal(thread.active, false);
    for (const jwt of await pending) await compactVerify(jwt, publicKey);
    await signMany(signer, publicKey, 5);
  });

  it('does not keep an idle process alive', async () => {
    const started = Date.now();
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [new URL('./fixtures/unclosed-thread.ts', import.meta.url).pathname], { timeout: 20_000 }, (error, stdout) =>
        error ? reject(error) : resolve(stdout),
      );
    });
    assert.match(out, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    assert.ok(Date.now() - started < 20_000);
  });
});
