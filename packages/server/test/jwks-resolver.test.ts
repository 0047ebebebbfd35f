import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import { createRemoteJwksResolver } from '../src/jwks-resolver.ts';

interface Served {
  /** Key set served per path; a missing path answers 404, `hang` never answers. */
  sets: Map<string, { keys: JWK[] } | 'hang'>;
  fetches: Map<string, number>;
}

const served: Served = { sets: new Map(), fetches: new Map() };
let server: Server;
let base: string;
const keys: { kid: string; privateKey: CryptoKey; publicJwk: JWK }[] = [];

async function newKey(kid: string) {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const key = { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256' } };
  keys.push(key);
  return key;
}

function sign(key: { kid: string; privateKey: CryptoKey }): Promise<string> {
  return new SignJWT({ sub: 'client' }).setProtectedHeader({ alg: 'ES256', kid: key.kid }).setExpirationTime('1m').sign(key.privateKey);
}

function fetches(path: string): number {
  return served.fetches.get(path) ?? 0;
}

before(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '';
    served.fetches.set(path, fetches(path) + 1);
    const set = served.sets.get(path);
    if (set === 'hang') return;
    if (!set) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify(set));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('createRemoteJwksResolver', () => {
  it('fetches a key set once for several verifications and returns one set per URI', async () => {
    const key = await newKey('cache-1');
    served.sets.set('/cache', { keys: [key.publicJwk] });
    const resolve = createRemoteJwksResolver();
    assert.equal(resolve(base + '/cache'), resolve(base + '/cache'));
    for (let i = 0; i < 4; i++) {
      const { payload } = await jwtVerify(await sign(key), resolve(base + '/cache'));
      assert.equal(payload.sub, 'client');
    }
    assert.equal(fetches('/cache'), 1);
  });

  it('keeps separate sets for separate URIs', async () => {
    const a = await newKey('sep-a');
    const b = await newKey('sep-b');
    served.sets.set('/sep-a', { keys: [a.publicJwk] });
    served.sets.set('/sep-b', { keys: [b.publicJwk] });
    const resolve = createRemoteJwksResolver();
    assert.notEqual(resolve(base + '/sep-a'), resolve(base + '/sep-b'));
    await jwtVerify(await sign(a), resolve(base + '/sep-a'));
    await jwtVerify(await sign(b), resolve(base + '/sep-b'));
    await assert.rejects(jwtVerify(await sign(b), resolve(base + '/sep-a')), { code: 'ERR_JWKS_NO_MATCHING_KEY' });
  });

  it('refetches on an unknown kid after the server rotates its key', async () => {
    const oldKey = await newKey('rot-1');
    served.sets.set('/rotate', { keys: [oldKey.publicJwk] });
    const resolve = createRemoteJwksResolver({ cooldownMs: 0 });
    await jwtVerify(await sign(oldKey), resolve(base + '/rotate'));
    assert.equal(fetches('/rotate'), 1);

    const newKeyPair = await newKey('rot-2');
    served.sets.set('/rotate', { keys: [newKeyPair.publicJwk] });
    const { payload } = await jwtVerify(await sign(newKeyPair), resolve(base + '/rotate'));
    assert.equal(payload.sub, 'client');
    assert.equal(fetches('/rotate'), 2);
    // The retired key is gone from the refreshed set.
    await assert.rejects(jwtVerify(await sign(oldKey), resolve(base + '/rotate')), { code: 'ERR_JWKS_NO_MATCHING_KEY' });
  });

  it('does not refetch for an unknown kid within the cooldown', async () => {
    const oldKey = await newKey('cool-1');
    served.sets.set('/cooldown', { keys: [oldKey.publicJwk] });
    const resolve = createRemoteJwksResolver({ cooldownMs: 600_000 });
    await jwtVerify(await sign(oldKey), resolve(base + '/cooldown'));
    const rotated = await newKey('cool-2');
    served.sets.set('/cooldown', { keys: [rotated.publicJwk] });
    await assert.rejects(jwtVerify(await sign(rotated), resolve(base + '/cooldown')), { code: 'ERR_JWKS_NO_MATCHING_KEY' });
    assert.equal(fetches('/cooldown'), 1);
  });

  it('refetches once the cached set is older than cacheMaxAgeMs', async () => {
    const key = await newKey('age-1');
    served.sets.set('/age', { keys: [key.publicJwk] });
    const resolve = createRemoteJwksResolver({ cacheMaxAgeMs: 0 });
    await jwtVerify(await sign(key), resolve(base + '/age'));
    await jwtVerify(await sign(key), resolve(base + '/age'));
    assert.equal(fetches('/age'), 2);
  });

  it('fails verification when the jwks_uri answers 404 or times out', async () => {
    const key = await newKey('err-1');
    const resolve = createRemoteJwksResolver({ timeoutMs: 100 });
    await assert.rejects(jwtVerify(await sign(key), resolve(base + '/missing')), { code: 'ERR_JOSE_GENERIC' });
    served.sets.set('/hang', 'hang');
    await assert.rejects(jwtVerify(await sign(key), resolve(base + '/hang')), { code: 'ERR_JWKS_TIMEOUT' });
  });

  it('refuses URIs that are not http(s)', () => {
    const resolve = createRemoteJwksResolver();
    assert.throws(() => resolve('file:///etc/passwd'), TypeError);
    assert.throws(() => resolve('not a url'), TypeError);
  });

  for (const [published, signed] of [['EdDSA', 'Ed25519'], ['Ed25519', 'EdDSA']] as const) {
    it(`verifies an ${signed} JWS with an Ed25519 key published as ${published} (RFC 9864 names)`, async () => {
      const { privateKey, publicKey } = await generateKeyPair('Ed25519', { extractable: true });
      const kid = `ed-${published}`;
      served.sets.set(`/ed-${published}`, { keys: [{ ...(await exportJWK(publicKey)), kid, alg: published }] });
      const jwt = await new SignJWT({ sub: 'client' }).setProtectedHeader({ alg: signed, kid }).setExpirationTime('1m').sign(privateKey);
      const { payload, protectedHeader } = await jwtVerify(jwt, createRemoteJwksResolver()(`${base}/ed-${published}`));
      assert.equal(payload.sub, 'client');
      assert.equal(protectedHeader.alg, signed);
      // Another algorithm is still refused.
      const es = await newKey(`es-${published}`);
      await assert.rejects(jwtVerify(await sign(es), createRemoteJwksResolver()(`${base}/ed-${published}`)), { code: 'ERR_JWKS_NO_MATCHING_KEY' });
    });
  }
});
