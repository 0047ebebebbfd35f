/**
 * Prometheus metrics over real HTTP: every refresh outcome counted from events, client
 * authentication failures by method, token endpoint latency, store operation latency, the
 * signing thread, the load source and a store's connection pool, as GET /metrics
 * serves them; and the sign-in's events: codes issued and replayed, consents, failures.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMetrics } from '../../src/operations/metrics.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../src/stores/sqlite-store.ts';
import { authorizeUrl, codeRequest, exchange, loginPage, pkce, signIn, visit } from '../support/authorize.ts';
import { basicAuth, postForm, startHarness } from '../support/harness.ts';
import { sample, startOperated } from './support.ts';

describe('metrics', () => {
  it('counts every refresh outcome, client authentication failures by method, and times the token endpoint and the store', async () => {
    const metrics = createMetrics({ processMetrics: false, load: () => ({ inFlight: 3, shed: 7, connections: 2 }) });
    const ops = await startOperated({ metrics });
    try {
      const { server } = ops;
      const token = `${ops.url}/token`;
      const { clientSecret } = await server.registerClient({ clientId: 'app', authMethod: 'client_secret_basic' });
      await server.registerClient({ clientId: 'keeper', authMethod: 'client_secret_post', rotation: false });
      const auth = basicAuth('app', clientSecret!);
      const refresh = (rt: string, headers = auth) => postForm(token, { grant_type: 'refresh_token', refresh_token: rt }, headers);

      const first = (await server.issueGrant({ clientId: 'app', subject: 'alice', scope: 'read' })).tokens.refresh_token!;
      const second = (await refresh(first)).json.refresh_token; // rotated
      assert.equal((await refresh(first)).json.refresh_token, second); // replayed (retry window)
      const third = (await refresh(second)).json.refresh_token; // rotated
      assert.ok(third);
      assert.equal((await refresh(first)).status, 400); // reuse detected: the family is revoked
      assert.equal((await refresh('rg_rt_nosuch')).status, 400); // rejected: unknown
      assert.equal((await refresh(third)).status, 400); // rejected: revoked
      // Shadowing: replays of two successive generations (someone refreshing in step with the client).
      const s1 = (await server.issueGrant({ clientId: 'app', subject: 'carol', scope: 'read' })).tokens.refresh_token!;
      const s2 = (await refresh(s1)).json.refresh_token; // rotated
      assert.equal((await refresh(s1)).status, 200); // replayed
      assert.equal((await refresh(s2)).status, 200); // rotated
      assert.equal((await refresh(s2)).status, 400); // shadowing detected: the family is revoked
      const kept = (await server.issueGrant({ clientId: 'keeper', subject: 'bob', scope: 'read' })).tokens.refresh_token!;
      const { clientSecret: keeperSecret } = await server.rotateClientSecret('keeper');
      assert.equal((await postForm(token, { grant_type: 'refresh_token', refresh_token: kept, client_id: 'keeper', client_secret: keeperSecret })).status, 200); // kept
      assert.equal((await refresh(kept, basicAuth('app', 'wrong'))).status, 401); // client_secret_basic failure
      assert.equal((await postForm(token, { grant_type: 'refresh_token', refresh_token: kept, client_id: 'ghost', client_secret: 'x' })).status, 401);
      assert.equal((await postForm(token, { grant_type: 'refresh_token', refresh_token: kept, client_id: 'ghost' })).status, 401);
      assert.equal((await postForm(token, { grant_type: 'refresh_token', refresh_token: kept })).status, 401);
      assert.equal((await postForm(token, { grant_type: 'client_credentials' }, auth)).status, 400); // unsupported_grant_type

      const res = await fetch(`${ops.url}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      const expected: Record<string, number> = {
        'refresh_grant_refreshes_total{outcome="rotated"}': 4,
        'refresh_grant_refreshes_total{outcome="replayed"}': 2,
        'refresh_grant_refreshes_total{outcome="shadowing_detected"}': 1,
        'refresh_grant_grants_revoked_total{reason="shadowing"}': 1,
        'refresh_grant_refreshes_total{outcome="kept"}': 1,
        'refresh_grant_refreshes_total{outcome="reuse_detected"}': 1,
        'refresh_grant_refreshes_total{outcome="rejected",reason="unknown"}': 1,
        'refresh_grant_refreshes_total{outcome="rejected",reason="revoked"}': 1,
        'refresh_grant_grants_issued_total': 3,
        'refresh_grant_grants_revoked_total{reason="reuse"}': 1,
        'refresh_grant_client_auth_failures_total{method="client_secret_basic"}': 1,
        'refresh_grant_client_auth_failures_total{method="client_secret_post"}': 1,
        'refresh_grant_client_auth_failures_total{method="none"}': 1,
        'refresh_grant_client_auth_failures_total{method="unknown"}': 1,
        'refresh_grant_request_errors_total{endpoint="/token",error="unsupported_grant_type"}': 1,
        'refresh_grant_http_requests_total{endpoint="/token",status="200"}': 7,
        'refresh_grant_http_requests_total{endpoint="/token",status="400"}': 5,
        'refresh_grant_http_requests_total{endpoint="/token",status="401"}': 4,
        'refresh_grant_http_request_duration_seconds_count{endpoint="/token"}': 16,
        'refresh_grant_requests_in_flight': 3,
        'refresh_grant_requests_shed_total': 7,
        'refresh_grant_connections': 2,
        'refresh_grant_store_pool_connections': 0,
      };
      for (const [series, value] of Object.entries(expected)) assert.equal(sample(text, series), value, series);
      // Every refresh that reached the grant took the store's lock once: 11 of them.
      assert.equal(sample(text, 'refresh_grant_store_operation_duration_seconds_count{operation="useRefreshToken"}'), 11);
      assert.ok(sample(text, 'refresh_grant_store_operation_duration_seconds_sum{operation="useRefreshToken"}')! > 0);
      assert.ok(sample(text, 'refresh_grant_signatures_total{where="thread"}')! >= 1, 'signatures on the signing thread');
      assert.equal(sample(text, 'refresh_grant_signing_queue_depth'), 0);
      // Latency buckets are cumulative and end with every request.
      assert.equal(sample(text, 'refresh_grant_http_request_duration_seconds_bucket{le="+Inf",endpoint="/token"}'), 16);
      // The metrics endpoint itself and the health checks are not counted as OAuth requests.
      assert.equal(sample(text, 'refresh_grant_http_requests_total{endpoint="other",status="404"}'), undefined);
      assert.doesNotMatch(text, /rg_rt_|rg_cs_|alice/, 'no token, secret or subject in the metrics');
    } finally {
      await ops.close();
    }
  });

  it('process metrics are on by default, each registry has its own', async () => {
    const a = createMetrics();
    const b = createMetrics({ processMetrics: false });
    assert.match((await a.response()).body, /^process_cpu_user_seconds_total /m);
    assert.doesNotMatch((await b.response()).body, /process_cpu/);
  });
});

describe('metrics of a store with a connection pool', () => {
  // The Store contract's optional stats(): the PostgreSQL store reports its pool there (added on
  // another branch); here a real SQLite store is given the method, to test what metrics read.
  it('report the pool at each scrape: open, idle, waiting', async () => {
    const metrics = createMetrics({ processMetrics: false });
    const dir = mkdtempSync(join(tmpdir(), 'rg-pool-'));
    const pool = { size: 4, idle: 1, waiting: 0 };
    const store = Object.assign(await openSqliteStore(join(dir, 'pool.db')), { stats: () => ({ pool: { ...pool } }) });
    const ops = await startOperated({ store, metrics });
    try {
      let text = (await metrics.response()).body;
      assert.equal(sample(text, 'refresh_grant_store_pool_connections'), 4);
      assert.equal(sample(text, 'refresh_grant_store_pool_idle_connections'), 1);
      assert.equal(sample(text, 'refresh_grant_store_pool_waiting'), 0);
      pool.waiting = 5;
      text = (await metrics.response()).body;
      assert.equal(sample(text, 'refresh_grant_store_pool_waiting'), 5);
    } finally {
      await ops.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('metrics of the sign-in', () => {
  it('count codes issued and replayed, consents granted and authorization failures by error, from the events', async () => {
    const h = await startHarness({ interactionUrl: loginPage });
    const metrics = createMetrics({ processMetrics: false });
    metrics.observe(h.server);
    try {
      const redirectUri = 'https://app.example/cb';
      await h.client({ clientId: 'spa', authMethod: 'none', scope: 'openid offline_access', redirectUris: [redirectUri] });
      const user = { subject: 'alice', authTime: Math.floor(Date.now() / 1000) };
      const { verifier, challenge } = pkce();
      // The first sign-in asks for consent (granted); the second finds it and asks nothing.
      const first = await signIn(h, codeRequest('spa', redirectUri, challenge), user);
      const code = first.searchParams.get('code')!;
      assert.ok(code, first.href);
      assert.ok((await signIn(h, codeRequest('spa', redirectUri, challenge), user)).searchParams.get('code'));
      const fields = { client_id: 'spa', code, redirect_uri: redirectUri, code_verifier: verifier };
      assert.equal((await exchange(h, fields)).status, 200);
      assert.equal((await exchange(h, fields)).status, 400); // replayed: the family is revoked
      // Failures: the user says no at the consent of another user's first sign-in; a request
      // for another response type, answered at the redirection URI; an unknown client, on a page.
      const denied = await signIn(h, codeRequest('spa', redirectUri, challenge), { ...user, subject: 'bob' }, false);
      assert.equal(denied.searchParams.get('error'), 'access_denied');
      const unsupported = await visit(authorizeUrl(h, codeRequest('spa', redirectUri, challenge, { response_type: 'token' })));
      assert.equal(unsupported.location?.searchParams.get('error'), 'unsupported_response_type');
      assert.equal((await visit(authorizeUrl(h, codeRequest('nosuch', redirectUri, challenge)))).status, 400);

      const text = (await metrics.response()).body;
      const expected: Record<string, number> = {
        'refresh_grant_authorization_codes_issued_total': 2,
        'refresh_grant_authorization_codes_replayed_total': 1,
        'refresh_grant_consents_granted_total': 1,
        'refresh_grant_authorization_failures_total{error="access_denied"}': 1,
        'refresh_grant_authorization_failures_total{error="unsupported_response_type"}': 1,
        'refresh_grant_authorization_failures_total{error="invalid_client"}': 1,
        'refresh_grant_grants_issued_total': 1,
        'refresh_grant_grants_revoked_total{reason="code_replay"}': 1,
      };
      for (const [series, value] of Object.entries(expected)) assert.equal(sample(text, series), value, series);
      // One increment per event: nothing counted twice, nothing missed.
      const failures = h.events.filter((e) => e.type === 'authorization.failed').length;
      assert.equal(failures, 3, JSON.stringify(h.events.filter((e) => e.type === 'authorization.failed')));
      assert.doesNotMatch(text, /rg_ac_|alice|bob/, 'no code or subject in the metrics');
    } finally {
      await h.close();
    }
  });
});
