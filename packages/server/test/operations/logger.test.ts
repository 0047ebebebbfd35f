/**
 * The JSON line log: levels, every line JSON with level/type/at, request-derived strings cut,
 * the access log (never a header, a query or a body), and each event's level.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventLevel, maxLogFieldLength, type ServerEvent } from '../../src/core/events.ts';
import { createJsonLogger } from '../../src/operations/logger.ts';
import { postForm } from '../support/harness.ts';
import { startOperated } from './support.ts';

function capture(level?: 'error' | 'warn' | 'info' | 'debug') {
  const lines: string[] = [];
  const logger = createJsonLogger({ level, write: (line) => lines.push(line) });
  return { logger, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('JSON line logger', () => {
  it('writes lines at or above its level only, each one JSON object ending in a newline', () => {
    for (const [level, written] of [['error', ['error']], ['warn', ['error', 'warn']], ['info', ['error', 'warn', 'info']], ['debug', ['error', 'warn', 'info', 'debug']]] as const) {
      const { logger, lines, records } = capture(level);
      for (const l of ['error', 'warn', 'info', 'debug'] as const) logger.log(l, `test.${l}`, { n: 1 });
      assert.deepEqual(records().map((r) => r.level), written, level);
      for (const line of lines) assert.match(line, /^\{"level":"\w+","type":"test\.\w+","at":\d+,"n":1\}\n$/);
    }
    assert.throws(() => createJsonLogger({ level: 'verbose' as never }), TypeError);
  });

  it('cuts long strings (request-derived text) to a bounded length', () => {
    const { logger, records } = capture();
    logger.events({ type: 'client_auth.failed', at: 1, error: 'invalid_client', detail: `unknown client "${'x'.repeat(10_000)}"`, authMethod: 'none' });
    const detail = records()[0].detail as string;
    assert.ok(detail.length < maxLogFieldLength + 30, `length ${detail.length}`);
    assert.match(detail, /\.\.\.\(10017 chars\)$/);
  });

  it('events go out at their level', () => {
    const cases: Array<[Partial<ServerEvent>, string]> = [
      [{ type: 'refresh_token.rotated' }, 'info'],
      [{ type: 'refresh_token.rejected', reason: 'expired' }, 'info'],
      [{ type: 'refresh_token.reuse_detected' }, 'warn'],
      [{ type: 'grant.revoked', reason: 'reuse' }, 'warn'],
      [{ type: 'refresh_token.shadowing_detected' }, 'warn'],
      [{ type: 'grant.revoked', reason: 'shadowing' }, 'warn'],
      [{ type: 'grant.dpop_bound' }, 'info'],
      [{ type: 'grant.revoked', reason: 'admin' }, 'info'],
      [{ type: 'client_auth.failed' }, 'warn'],
      [{ type: 'request.failed', error: 'invalid_request' }, 'info'],
      [{ type: 'request.failed', error: 'temporarily_unavailable' }, 'warn'],
      [{ type: 'request.failed', error: 'server_error' }, 'error'],
      [{ type: 'maintenance.failed' }, 'error'],
      [{ type: 'authorization_code.replayed' }, 'warn'],
      [{ type: 'grant.revoked', reason: 'code_replay' }, 'warn'],
      [{ type: 'authorization_code.issued' }, 'info'],
      [{ type: 'authorization.failed', error: 'access_denied' }, 'info'],
      [{ type: 'consent.granted' }, 'info'],
    ];
    for (const [event, level] of cases) assert.equal(eventLevel({ at: 0, ...event } as ServerEvent), level, JSON.stringify(event));
    const { logger, records } = capture('warn');
    logger.events({ type: 'refresh_token.rotated', at: 1 });
    logger.events({ type: 'refresh_token.reuse_detected', at: 2 });
    assert.deepEqual(records().map((r) => r.type), ['refresh_token.reuse_detected']);
  });

  it('the access log has method, path, status and duration; never headers, the query or the body', async () => {
    const { logger, records } = capture();
    const ops = await startOperated({ onResponse: logger.access });
    try {
      await postForm(`${ops.url}/token?refresh_token=rg_rt_in_query`, { grant_type: 'refresh_token', refresh_token: 'rg_rt_secret' }, { authorization: 'Basic c2VjcmV0OnNlY3JldA==', 'user-agent': `ua-${'y'.repeat(1000)}` });
      await fetch(`${ops.url}/nowhere`);
      await ops.get('/health'); // the probes are not in the access log
      const lines = records();
      assert.deepEqual(lines.map((l) => [l.type, l.method, l.path, l.status]), [['http.request', 'POST', '/token', 401], ['http.request', 'GET', '/nowhere', 404]]);
      assert.equal(typeof lines[0].durationMs, 'number');
      assert.equal(lines[0].remoteAddress, '127.0.0.1');
      assert.ok((lines[0].userAgent as string).length < maxLogFieldLength + 30);
      const all = JSON.stringify(lines);
      assert.doesNotMatch(all, /rg_rt_|c2VjcmV0|Basic|authorization/i);
    } finally {
      await ops.close();
    }
  });
});
