/**
 * A client replaying one DPoP proof in a flood (issue 11, finding 2: 16 connections replaying
 * one proof sent 212,000 requests in 10 s and slowed another client's /jwks to seconds). Every
 * replay after the first round is refused for the price of a hash: no signature verification,
 * no store write; the flood's connections are bounded like any others; another client's /jwks
 * goes on being answered meanwhile.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { Store } from '../../src/core/store.ts';
import { createNodeHandler } from '../../src/http/node-handler.ts';
import { createNodeServer } from '../../src/http/node-server.ts';
import { createAuthorizationServer } from '../../src/server.ts';
import { openSqliteStore } from '../../src/stores/sqlite-store.ts';
import { parseAnswers, rawRequest, type RawAnswer } from '../support/raw-http.ts';

const dir = mkdtempSync(join(tmpdir(), 'rg-dpop-flood-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Sends `request` `times` times on one connection, each after the previous answer (a closed loop). */
function closedLoop(port: number, request: string, times: number, onAnswer: (answer: RawAnswer) => void = () => {}): Promise<RawAnswer[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const answers: RawAnswer[] = [];
    let buffer: Buffer = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      const parsed = parseAnswers(Buffer.concat([buffer, chunk]));
      buffer = parsed.rest;
      for (const answer of parsed.answers) {
        answers.push(answer);
        onAnswer(answer);
        if (answers.length === times) {
          socket.destroy();
          return resolve(answers);
        }
        socket.write(request);
      }
    });
    socket.write(request);
  });
}

describe('a DPoP replay flood', () => {
  it('is refused without signature checks or store writes after the first round, and /jwks is answered meanwhile', async () => {
    const real = await openSqliteStore(join(dir, 'flood.db'));
    // The real store, counting the single-use writes the flood causes (every call goes through).
    let consumeOnceCalls = 0;
    const store = new Proxy(real, {
      get(target, name) {
        const value = Reflect.get(target, name, target);
        if (name === 'consumeOnce') return (...args: Parameters<Store['consumeOnce']>) => (consumeOnceCalls++, target.consumeOnce(...args));
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as Store;
    // The event loop delay bound is lifted: this test is about the replay cache keeping the flood
    // off the store, and whether a busy machine makes that bound shed a request is not (the
    // bound has its own tests in test/http/node-server.test.ts).
    const node = createNodeServer((req, res) => handler(req, res), { maxEventLoopDelayMs: 60_000 });
    await new Promise<void>((resolve) => node.http.listen(0, '127.0.0.1', resolve));
    const port = (node.http.address() as { port: number }).port;
    const issuer = `http://127.0.0.1:${port}`;
    const server = await createAuthorizationServer({ issuer, store, kek: new Uint8Array(randomBytes(32)), log: false });
    const handler = createNodeHandler(server);
    try {
      await server.registerClient({ clientId: 'spa', authMethod: 'none' });
      const { publicKey, privateKey } = await generateKeyPair('ES256');
      const proof = await new SignJWT({ htm: 'POST', htu: `${issuer}/token`, jti: randomUUID() })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(publicKey) })
        .setIssuedAt()
        .sign(privateKey);
      const flood = rawRequest('POST', '/token', { 'content-type': 'application/x-www-form-urlencoded', dpop: proof }, 'grant_type=refresh_token&refresh_token=rg_rt_x&client_id=spa');

      let floodAnswers = 0;
      let floodDone = false;
      const connections = 16;
      const perConnection = 40;
      const flooding = Promise.all(Array.from({ length: connections }, () => closedLoop(port, flood, perConnection, () => floodAnswers++))).finally(() => (floodDone = true));
      // Another client, on its own connection, asks for the keys again and again while the flood runs.
      const jwksDuringFlood: number[] = [];
      const jwks = (async () => {
        await new Promise((resolve) => setImmediate(resolve));
        while (!floodDone) {
          const [answer] = await closedLoop(port, rawRequest('GET', '/jwks'), 1);
          if (!floodDone) jwksDuringFlood.push(answer.status);
        }
      })();
      const answers = (await flooding).flat();
      await jwks;

      assert.equal(answers.length, connections * perConnection);
      // The first use of the proof got past it (then failed on the made-up refresh token); every other one is a replay.
      assert.equal(answers.filter((a) => a.json.error === 'invalid_grant').length, 1);
      assert.equal(answers.filter((a) => a.json.error === 'invalid_dpop_proof').length, answers.length - 1);
      // At most the first request of each connection reached the store (they ran together); none after.
      assert.ok(consumeOnceCalls <= connections, `${consumeOnceCalls} single-use writes for one replayed proof`);
      assert.ok(jwksDuringFlood.length > 0, 'the other client got no /jwks answer while the flood ran');
      assert.ok(jwksDuringFlood.every((status) => status === 200), `/jwks answered ${jwksDuringFlood.join(', ')}`);
      assert.equal(floodAnswers, answers.length);
    } finally {
      node.http.closeAllConnections();
      await new Promise<void>((resolve) => node.http.close(() => resolve()));
      await server.close();
      await real.close();
    }
  });
});
