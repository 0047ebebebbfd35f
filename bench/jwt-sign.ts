/**
 * Micro-benchmark: signing a JWT access token with jose `SignJWT` vs `JwsSigner`
 * (packages/server/src/core/tokens/jws.ts, node:crypto directly), for ES256 and EdDSA.
 * Each run signs the same claims N times; 5 runs; reports the medians and the ratio.
 *
 * Run: `npx node bench/jwt-sign.ts [N]` (default N = 5000).
 */
import { createPrivateKey } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { SigningAlg } from '../packages/server/src/core/types.ts';
import { JwsSigner } from '../packages/server/src/core/tokens/jws.ts';

const n = Number(process.argv[2] ?? 5000);
const runs = 5;
const now = Math.floor(Date.now() / 1000);
const claims = {
  iss: 'https://as.example.com',
  sub: 'user-1234',
  aud: 'https://api.example.com',
  client_id: 'app',
  scope: 'openid profile offline_access',
  jti: 'b0rSsVtq7oH3Wj2iNyB6aA',
  iat: now,
  exp: now + 900,
  sid: 'Xq0mXbGx0kq8vM1u2h5ZbA',
  auth_time: now - 60,
};

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function bench(alg: SigningAlg): Promise<void> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, crv: alg === 'EdDSA' ? 'Ed25519' : undefined });
  const keyObject = createPrivateKey({ key: (await exportJWK(privateKey)) as import('node:crypto').JsonWebKey, format: 'jwk' });
  const kid = 'bench';
  const signer = new JwsSigner({ kid, alg, privateKey: keyObject });
  const viaJose = () => new SignJWT(claims).setProtectedHeader({ alg, kid, typ: 'at+jwt' }).sign(privateKey);
  const viaJws = () => signer.sign(claims, 'at+jwt');

  // Warm up both paths so that JIT and lazy initialisation do not count.
  for (let i = 0; i < 200; i++) {
    await viaJose();
    viaJws();
  }
  const jose: number[] = [];
  const jws: number[] = [];
  for (let r = 0; r < runs; r++) {
    // Alternate so that drift (thermal, GC) hits both alike.
    jose.push(await time(viaJose));
    jws.push(await time(viaJws));
  }
  const mJose = median(jose);
  const mJws = median(jws);
  const perOp = (ms: number) => ((ms * 1000) / n).toFixed(1) + ' µs/op';
  console.log(
    `${alg.padEnd(6)} N=${n} x ${runs} runs  jose SignJWT median ${mJose.toFixed(1)} ms (${perOp(mJose)})  ` +
      `jws.ts median ${mJws.toFixed(1)} ms (${perOp(mJws)})  ratio ${(mJose / mJws).toFixed(2)}x`,
  );
}

await bench('ES256');
await bench('EdDSA');
