/**
 * Events carry what requests sent (client ids, grant types, paths): every field is bounded, so
 * that an attacker's 60 KB `client_id` costs a log line of about a kilobyte, not 60 KB per
 * request (issue 11, finding 8).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { boundEvent, eventFieldLimits, jsonLineSink, type ServerEvent } from '../../src/core/events.ts';
import { startHarness, type Harness } from '../support/harness.ts';

describe('boundEvent', () => {
  it('cuts every long string field and says how much was cut; leaves short events as they are', () => {
    const event: ServerEvent = { type: 'client_auth.failed', at: 1, clientId: 'c'.repeat(5000), reason: '/token', detail: 'd'.repeat(70_000) };
    const bounded = boundEvent(event);
    assert.equal(bounded.clientId, `${'c'.repeat(eventFieldLimits.field)}... (${5000 - eventFieldLimits.field} more characters)`);
    assert.ok(bounded.detail!.startsWith('d'.repeat(eventFieldLimits.detail) + '...'));
    assert.equal(bounded.reason, '/token');
    assert.equal(event.clientId!.length, 5000, 'the original is not changed');
    const short: ServerEvent = { type: 'refresh_token.rotated', at: 1, clientId: 'app', familyId: 'f', generation: 2 };
    assert.equal(boundEvent(short), short);
  });
});

describe('event log lines under hostile input', () => {
  let h: Harness;
  const lines: string[] = [];
  before(async () => {
    h = await startHarness();
    h.server.onEvent(jsonLineSink((line) => lines.push(line)));
  });
  after(() => h.close());

  it('a 60 KB client_id, grant_type and path each give a short log line and a short event', async () => {
    const huge = 'x'.repeat(60_000);
    const { clientId, clientSecret } = await h.client({});
    const requests = [
      h.post('/token', { grant_type: 'refresh_token', refresh_token: 'rg_rt_x', client_id: huge }),
      h.post('/token', { grant_type: 'refresh_token', refresh_token: 'rg_rt_x', client_id: huge, client_secret: 'nope' }),
      h.post('/token', { grant_type: huge }, h.basic(clientId, clientSecret)),
      h.post(`/token?${huge.slice(0, 8000)}`, { grant_type: 'refresh_token' }, h.basic(huge.slice(0, 4000), 'secret')),
    ];
    const answers = await Promise.all(requests);
    assert.deepEqual(answers.map((a) => a.status), [401, 401, 400, 401]);
    assert.equal(lines.length, 4);
    for (const line of lines) assert.ok(line.length < 2 * eventFieldLimits.detail, `a log line of ${line.length} characters`);
    for (const event of h.events.slice(-4)) {
      for (const value of Object.values(event)) {
        if (typeof value === 'string') assert.ok(value.length <= eventFieldLimits.detail + 40, `an event field of ${value.length} characters`);
      }
    }
  });
});
