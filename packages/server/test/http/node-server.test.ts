/**
 * `createNodeServer` holds under overload and hostile input (issue 11): requests in flight and
 * pipelining bounded with an immediate 503 (finding 2), a connection cap that closes the idlest
 * connection, every refusal of the HTTP parser a JSON error with its status (finding 5), and an
 * answer for a client that half-closed its connection (finding 9). Requests are held in flight
 * by the store's write lock, taken by another connection, or the event loop by a handler that
 * keeps it busy: every assertion is about order and counts, none about how long anything took.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { AuthorizationServer } from '../../src/core/authorization-server.ts';
import { createNodeHandler } from '../../src/http/node-handler.ts';
import { createNodeServer, nodeServerDefaults, type NodeServer, type NodeServerOptions } from '../../src/http/node-server.ts';
import { createAuthorizationServer } from '../../src/server.ts';
import { openSqliteStore, type SqliteStore } from '../../src/stores/sqlite-store.ts';
import { basicAuth, postForm } from '../support/harness.ts';
import { exchange, rawRequest } from '../support/raw-http.ts';

interface Guarded {
  node: NodeServer;
  server: AuthorizationServer;
  store: SqliteStore;
  port: number;
  url: string;
  auth: Record<string, string>;
  /** Takes the store's write lock from another connection: refreshes wait in flight until `release`. */
  hold(): { release(): void };
  refreshToken(): Promise<string>;
  close(): Promise<void>;
}

const dirs: string[] = [];
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

async function startGuarded(limits: NodeServerOptions = {}): Promise<Guarded> {
  const dir = mkdtempSync(join(tmpdir(), 'rg-node-server-'));
  dirs.push(dir);
  const path = join(dir, 'store.db');
  // A long busy timeout: held requests wait for the lock (without blocking the event loop), they do not fail.
  const store = await openSqliteStore(path, { busyTimeoutMs: 60_000 });
  const node = createNodeServer((req, res) => handler(req, res), limits);
  await new Promise<void>((resolve) => node.http.listen(0, '127.0.0.1', resolve));
  const port = (node.http.address() as { port: number }).port;
  const url = `http://127.0.0.1:${port}`;
  const server = await createAuthorizationServer({ issuer: url, store, kek: new Uint8Array(randomBytes(32)), log: false });
  const handler = createNodeHandler(server);
  const { clientSecret } = await server.registerClient({ clientId: 'app', authMethod: 'client_secret_basic', scope: 'api' });
  return {
    node, server, store, port, url,
    auth: basicAuth('app', clientSecret!),
    hold() {
      const holder = new DatabaseSync(path);
      holder.exec('BEGIN IMMEDIATE');
      return {
        release() {
          holder.exec('ROLLBACK');
          holder.close();
        },
      };
    },
    async refreshToken() {
      return (await server.issueGrant({ clientId: 'app', subject: 'alice', scope: 'api' })).tokens.refresh_token!;
    },
    async close() {
      node.http.closeAllConnections();
      await new Promise<void>((resolve) => node.http.close(() => resolve()));
      await server.close();
      await store.close();
    },
  };
}

/** Resolves once `condition()` holds, checking once per turn of the event loop. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

const refreshBody = (token: string) => `grant_type=refresh_token&refresh_token=${encodeURIComponent(token)}`;

describe('createNodeServer: requests in flight (finding 2)', () => {
  it('beyond maxInFlight, a request gets 503 temporarily_unavailable with Retry-After at once, never a queue', async () => {
    const g = await startGuarded({ maxInFlight: 4 });
    const tokens = await Promise.all(Array.from({ length: 9 }, () => g.refreshToken()));
    const lock = g.hold();
    try {
      let settled = 0;
      const held = tokens.slice(0, 4).map((token) => postForm(`${g.url}/token`, refreshBody(token), g.auth).finally(() => settled++));
      await until(() => g.node.stats().inFlight === 4);
      const extra = await Promise.all([
        ...tokens.slice(4).map((token) => postForm(`${g.url}/token`, refreshBody(token), g.auth)),
        fetch(`${g.url}/jwks`).then(async (res) => ({ status: res.status, headers: res.headers, json: await res.json() })),
      ]);
      // Answered while the four admitted ones still wait: refused at once, not queued behind them.
      assert.equal(settled, 0);
      for (const answer of extra) {
        assert.equal(answer.status, 503);
        assert.equal(answer.json.error, 'temporarily_unavailable');
        assert.equal(answer.headers.get('retry-after'), String(nodeServerDefaults.retryAfter));
        assert.equal(answer.headers.get('cache-control'), 'no-store');
      }
      assert.deepEqual({ ...g.node.stats(), connections: undefined }, { inFlight: 4, shed: 6, connections: undefined });
      lock.release();
      for (const answer of await Promise.all(held)) assert.equal(answer.status, 200, answer.text);
      await until(() => g.node.stats().inFlight === 0);
      assert.equal((await fetch(`${g.url}/jwks`)).status, 200);
    } finally {
      await g.close();
    }
  });

  it('a request whose client went away still counts in flight until its handler is done', async () => {
    const g = await startGuarded({ maxInFlight: 2 });
    const token = await g.refreshToken();
    const lock = g.hold();
    try {
      const socket = connect({ host: '127.0.0.1', port: g.port });
      socket.on('error', () => {});
      socket.write(rawRequest('POST', '/token', { ...g.auth, 'content-type': 'application/x-www-form-urlencoded' }, refreshBody(token)));
      await until(() => g.node.stats().inFlight === 1);
      socket.destroy();
      for (let turn = 0; turn < 10; turn++) await new Promise((resolve) => setImmediate(resolve));
      assert.equal(g.node.stats().inFlight, 1, 'its rotation is still waiting for the store');
      lock.release();
      await until(() => g.node.stats().inFlight === 0);
      await until(() => g.node.stats().connections === 0);
    } finally {
      await g.close();
    }
  });

  // Requests that arrive while the loop is busy wait unread in their sockets. The first request's
  // handler keeps the loop busy for 200 ms; the second was sent before it ran (read in the same
  // turn) or while it ran (read by the next turn, which follows without a break).
  const busyCases: Array<{ name: string; sentWhileBusy: boolean }> = [
    { name: 'read later in the same turn', sentWhileBusy: false },
    { name: 'read by the turn right after it (the loop did not pause)', sentWhileBusy: true },
  ];
  for (const { name, sentWhileBusy } of busyCases) {
    it(`a request that waited unread beyond maxEventLoopDelayMs while the loop was busy, ${name}, is refused at once; after a break, served`, async () => {
      const busyFor = (ms: number) => {
        const until = performance.now() + ms;
        while (performance.now() < until);
      };
      let whileBusy = () => {};
      const node = createNodeServer((req, res) => {
        if (req.url === '/busy') {
          whileBusy();
          busyFor(200);
        }
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' }).end('ok');
      }, { maxEventLoopDelayMs: 50 });
      await new Promise<void>((resolve) => node.http.listen(0, '127.0.0.1', resolve));
      const port = (node.http.address() as { port: number }).port;
      try {
        const open = async () => {
          const socket = connect({ host: '127.0.0.1', port });
          await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
          return socket;
        };
        const read = (socket: Socket) => new Promise<string>((resolve) => {
          let text = '';
          socket.on('data', (chunk: Buffer) => {
            text += chunk.toString('latin1');
            if (/\r\n\r\n[\s\S]*(ok|\})$/.test(text)) resolve(text);
          });
        });
        const [first, second] = [await open(), await open()];
        await until(() => node.stats().connections === 2);
        const answers = [read(first), read(second)];
        const sendSecond = () => second.write(rawRequest('GET', '/quick'));
        if (sentWhileBusy) whileBusy = sendSecond;
        first.write(rawRequest('GET', '/busy'));
        // Written before the server's next turn, both are in their sockets when it reads them.
        if (!sentWhileBusy) sendSecond();
        const [busy, late] = await Promise.all(answers);
        assert.match(busy, /^HTTP\/1\.1 200 /);
        assert.match(late, /^HTTP\/1\.1 503 /);
        assert.match(late, /\r\nretry-after: 1\r\n/i);
        assert.match(late, /"error":"temporarily_unavailable"/);
        assert.deepEqual({ ...node.stats(), connections: undefined }, { inFlight: 0, shed: 1, connections: undefined });
        // Sent after the loop had a break (a timer's worth of idle), the same request is served:
        // the delay is that of the turns that read it, not a state of the server.
        whileBusy = () => {};
        await new Promise((resolve) => setTimeout(resolve, 5));
        const again = read(second);
        sendSecond();
        assert.match(await again, /^HTTP\/1\.1 200 /);
        first.destroy();
        second.destroy();
      } finally {
        node.http.closeAllConnections();
        await new Promise<void>((resolve) => node.http.close(() => resolve()));
      }
    });
  }

  it('the counters have exactly the shape metrics read', async () => {
    const g = await startGuarded();
    try {
      assert.deepEqual(Object.keys(g.node.stats()).sort(), ['connections', 'inFlight', 'shed']);
      assert.equal(g.node.http.headersTimeout, nodeServerDefaults.headersTimeoutMs);
      assert.equal(g.node.http.requestTimeout, nodeServerDefaults.requestTimeoutMs);
      assert.equal(g.node.http.keepAliveTimeout, nodeServerDefaults.keepAliveTimeoutMs);
      assert.throws(() => createNodeServer(() => {}, { maxInFlight: 0 }), /maxInFlight must be a whole number >= 1/);
    } finally {
      await g.close();
    }
  });
});

describe('createNodeServer: pipelining and connections (finding 2)', () => {
  it('beyond maxPipelined unanswered requests on one connection: 503 with Connection: close, the rest dropped', async () => {
    const g = await startGuarded({ maxPipelined: 3 });
    const token = await g.refreshToken();
    const lock = g.hold();
    try {
      const request = rawRequest('POST', '/token', { ...g.auth, 'content-type': 'application/x-www-form-urlencoded' }, refreshBody(token));
      const pipelined = exchange(g.port, request.repeat(8), { count: 8 });
      await until(() => g.node.stats().shed === 1);
      assert.equal(g.node.stats().inFlight, 3);
      lock.release();
      const { answers, closed } = await pipelined;
      // Three handled (one rotation, then two retries of it in the retry window), one refused, then the connection closed.
      assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 503]);
      assert.equal(answers[3].headers.connection, 'close');
      assert.equal(answers[3].json.error, 'temporarily_unavailable');
      assert.equal(closed, true);
      assert.equal(g.node.stats().shed, 1);
    } finally {
      await g.close();
    }
  });

  it('a connection that goes on pipelining past 8 x maxPipelined refused requests is closed at once; its handled requests still count until done', async () => {
    const g = await startGuarded({ maxPipelined: 3 });
    const token = await g.refreshToken();
    const lock = g.hold();
    try {
      const request = rawRequest('POST', '/token', { ...g.auth, 'content-type': 'application/x-www-form-urlencoded' }, refreshBody(token));
      const { answers, closed } = await exchange(g.port, request.repeat(200), { count: 200 });
      assert.deepEqual(answers, []);
      assert.equal(closed, true);
      assert.equal(g.node.stats().inFlight, 3, 'the three admitted ones still wait for the store');
      lock.release();
      await until(() => g.node.stats().inFlight === 0);
    } finally {
      await g.close();
    }
  });

  it('at maxConnections, a new connection closes the one idle the longest; with every one busy, the new one is refused', async () => {
    const g = await startGuarded({ maxConnections: 3, maxInFlight: 10 });
    try {
      // Three idle connections (they never send anything), the oldest first.
      const idle = [];
      for (let i = 0; i < 3; i++) {
        const socket = connect({ host: '127.0.0.1', port: g.port });
        const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
        socket.on('error', () => {});
        idle.push({ socket, closed });
        await until(() => g.node.stats().connections === i + 1);
      }
      const answered = await exchange(g.port, rawRequest('GET', '/jwks'));
      assert.equal(answered.answers[0].status, 200);
      await idle[0].closed;
      assert.equal(idle[1].socket.destroyed || idle[2].socket.destroyed, false, 'only the idlest was closed');
      assert.ok(g.node.stats().connections <= 3);
      for (const { socket } of idle) socket.destroy();
      answered.socket.destroy();
      await until(() => g.node.stats().connections === 0);

      // Three connections, each with a request in flight: a fourth cannot be served now.
      const tokens = await Promise.all(Array.from({ length: 3 }, () => g.refreshToken()));
      const lock = g.hold();
      const busy = tokens.map((token) => exchange(g.port, rawRequest('POST', '/token', { ...g.auth, 'content-type': 'application/x-www-form-urlencoded' }, refreshBody(token))));
      await until(() => g.node.stats().inFlight === 3);
      const refused = await exchange(g.port, rawRequest('GET', '/jwks'));
      assert.deepEqual(refused.answers, []);
      assert.equal(refused.closed, true);
      lock.release();
      for (const { answers } of await Promise.all(busy)) assert.equal(answers[0].status, 200);
    } finally {
      await g.close();
    }
  });
});

describe('createNodeServer: every refusal of the HTTP parser is JSON with its status (finding 5)', () => {
  const corpus: Array<{ name: string; request: string; status: number }> = [
    { name: 'not HTTP at all', request: 'GARBAGE\r\n\r\n', status: 400 },
    { name: 'an unknown method token with a space in it', request: 'G ET /jwks HTTP/1.1\r\nHost: x\r\n\r\n', status: 400 },
    { name: 'a header line without a colon', request: 'GET /jwks HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n', status: 400 },
    { name: 'a control character in a header value', request: 'GET /jwks HTTP/1.1\r\nHost: x\r\nX-A: a\u0001b\r\n\r\n', status: 400 },
    { name: 'an invalid Content-Length', request: 'POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n', status: 400 },
    { name: 'Content-Length and Transfer-Encoding together', request: 'POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', status: 400 },
    { name: 'an invalid chunk size', request: 'POST /token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', status: 400 },
    { name: 'an unsupported HTTP version', request: 'GET /jwks HTTP/3.7\r\nHost: x\r\n\r\n', status: 400 },
    { name: 'HTTP/1.1 without Host', request: 'GET /jwks HTTP/1.1\r\n\r\n', status: 400 },
    { name: 'headers over 16 KiB', request: `GET /jwks HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, status: 431 },
    { name: 'a request line over 16 KiB', request: `GET /jwks?${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, status: 431 },
    { name: 'an expectation other than 100-continue', request: 'POST /token HTTP/1.1\r\nHost: x\r\nExpect: the-unexpected\r\nContent-Length: 0\r\n\r\n', status: 417 },
    { name: 'CONNECT', request: 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', status: 405 },
  ];
  let g: Guarded;
  after(() => g?.close());

  for (const { name, request, status } of corpus) {
    it(`${name}: ${status}`, async () => {
      g ??= await startGuarded();
      const { answers, closed } = await exchange(g.port, request, { untilClose: true });
      assert.equal(answers.length, 1, `answers: ${answers.map((a) => a.status).join(', ')}`);
      assert.equal(answers[0].status, status);
      assert.equal(answers[0].headers['content-type'], 'application/json');
      assert.equal(answers[0].headers['cache-control'], 'no-store');
      assert.equal(answers[0].json.error, 'invalid_request');
      assert.equal(typeof answers[0].json.error_description, 'string');
      assert.equal(closed, true, 'the connection closes after a refusal');
    });
  }

  it('headers that do not arrive within headersTimeoutMs: 408', async () => {
    const slow = await startGuarded({ headersTimeoutMs: 300, requestTimeoutMs: 300 });
    try {
      const { answers, closed } = await exchange(slow.port, 'GET /jwks HTTP/1.1\r\nHost: x\r\n', { untilClose: true });
      assert.equal(answers[0]?.status, 408);
      assert.equal(answers[0].json.error, 'invalid_request');
      assert.equal(closed, true);
    } finally {
      await slow.close();
    }
  });

  it('a connection that has sent nothing yet is idle, not late: no 408 at the headers timeout, served when it asks, closed without a word after keepAliveTimeoutMs', async () => {
    // Under load, a 408 on a connection opened ahead of need raced with the request being sent on
    // it, and its client reconnected (bench: connection churn, SYNs dropped from the listen queue).
    const slow = await startGuarded({ headersTimeoutMs: 100, requestTimeoutMs: 100 });
    try {
      const bytes: Buffer[] = [];
      const quiet = connect({ host: '127.0.0.1', port: slow.port });
      quiet.on('data', (chunk: Buffer) => bytes.push(chunk));
      await new Promise<void>((resolve) => quiet.once('connect', () => resolve()));
      await until(() => slow.node.stats().connections === 1);
      // Opened after it: when this one gets its 408, the headers timeout of the quiet one has passed too.
      const late = await exchange(slow.port, 'GET /jwks HTTP/1.1\r\nHost: x\r\n', { untilClose: true });
      assert.equal(late.answers[0]?.status, 408);
      assert.deepEqual(bytes, [], 'nothing was written to the connection that sent nothing');
      assert.equal(quiet.destroyed, false);
      const answered = new Promise<string>((resolve) => quiet.on('data', () => Buffer.concat(bytes).includes('\r\n\r\n') && resolve(Buffer.concat(bytes).toString('latin1'))));
      quiet.write(rawRequest('GET', '/jwks'));
      assert.match(await answered, /^HTTP\/1\.1 200 /);
      quiet.destroy();
    } finally {
      await slow.close();
    }
    const idle = await startGuarded({ headersTimeoutMs: 100, requestTimeoutMs: 100, keepAliveTimeoutMs: 200 });
    try {
      const { answers, closed } = await exchange(idle.port, '', { untilClose: true });
      assert.deepEqual(answers, []);
      assert.equal(closed, true);
      await until(() => idle.node.stats().connections === 0);
    } finally {
      await idle.close();
    }
  });

  it('Expect: 100-continue: 100, then the answer', async () => {
    g ??= await startGuarded();
    const token = await g.refreshToken();
    const { answers } = await exchange(g.port, rawRequest('POST', '/token', { ...g.auth, expect: '100-continue', 'content-type': 'application/x-www-form-urlencoded' }, refreshBody(token)));
    assert.deepEqual(answers.map((a) => a.status), [100, 200]);
  });
});

describe('createNodeServer: a client that half-closes after its request (finding 9)', () => {
  it('still gets its answer: the committed rotation is never lost to the closed half', async () => {
    const g = await startGuarded();
    try {
      const { clientSecret } = await g.server.registerClient({ clientId: 'strict', authMethod: 'client_secret_post', retryWindow: 0 });
      const token = (await g.server.issueGrant({ clientId: 'strict', subject: 'bob', scope: '' })).tokens.refresh_token!;
      const body = `${refreshBody(token)}&client_id=strict&client_secret=${encodeURIComponent(clientSecret!)}`;
      const serverSide: Socket[] = [];
      g.node.http.on('connection', (socket: Socket) => serverSide.push(socket));
      // The rotation waits for the store until the server has seen the client's FIN.
      const lock = g.hold();
      const exchanged = exchange(g.port, rawRequest('POST', '/token', { 'content-type': 'application/x-www-form-urlencoded' }, body), { halfClose: true, untilClose: true });
      await until(() => serverSide.length === 1 && serverSide[0].readableEnded && g.node.stats().inFlight === 1);
      lock.release();
      const { answers, closed } = await exchanged;
      assert.equal(answers.length, 1);
      assert.equal(answers[0].status, 200, answers[0].body);
      assert.match(answers[0].json.refresh_token, /^rg_rt_/);
      assert.equal(closed, true, 'the server closes its half after the answer');
      // The successor the client received is the live one (with the retry window off, a retry of the old one would have revoked the family).
      const next = await postForm(`${g.url}/token`, { grant_type: 'refresh_token', refresh_token: answers[0].json.refresh_token, client_id: 'strict', client_secret: clientSecret! });
      assert.equal(next.status, 200, next.text);
    } finally {
      await g.close();
    }
  });
});
