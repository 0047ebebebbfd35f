/**
 * `serve` as a real process: the first-start banner in plain words (and a curl that works as
 * printed), /health and /ready, /metrics only when asked (or on its own port), JSON log lines at
 * the chosen level with an optional access log, settings from REFRESH_GRANT_* variables,
 * requests during start-up answered (never left hanging), CORS, SIGTERM.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import { DatabaseSync } from 'node:sqlite';
import { exchange } from '../../server/test/support/raw-http.ts';
import { bin, cli, serve } from './support.ts';
import { freePort } from '../../server/test/support/free-port.ts';

const dir = mkdtempSync(join(tmpdir(), 'rg-serve-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const run = promisify(execFile);

describe('serve', () => {
  it('first start: the issuer, then the demo in plain words and in one piece before any log line; its curl works as printed', async () => {
    const db = join(dir, 'demo.db');
    const out = join(dir, 'demo.out');
    // stdout and stderr into one file, as a terminal shows them.
    const child = spawn('bash', ['-c', `exec "${process.execPath}" "${bin}" serve --port 0 --db "${db}" > "${out}" 2>&1`], { stdio: 'ignore' });
    try {
      let text = '';
      for (let i = 0; i < 400 && !/"type":"server.started"/.test(text); i++) {
        await new Promise((r) => setTimeout(r, 25));
        text = readFileSync(out, 'utf8');
      }
      const lines = text.split('\n');
      assert.match(lines[0], /^http:\/\/127\.0\.0\.1:\d+$/);
      const firstLog = lines.findIndex((l) => l.startsWith('{'));
      const banner = lines.slice(1, firstLog).join('\n');
      assert.match(banner, /Stop with Ctrl-C\.\n*$/, 'the banner is complete before the first log line');
      assert.ok(lines.slice(firstLog).every((l) => l === '' || l.startsWith('{')), 'after the banner, only JSON log lines');
      assert.doesNotMatch(banner, /seed/i);
      assert.match(banner, /This refresh token works once: every refresh answers with the next one/);
      assert.match(banner, /To get a fresh grant:\n  npx refresh-grant grants issue --db \S+ --issuer http:\/\/127\.0\.0\.1:\d+ --client demo --subject demo-user --scope "openid offline_access profile"/);
      const curl = banner.slice(banner.indexOf('curl -i'), banner.indexOf("scope=openid'") + "scope=openid'".length);
      const { stdout } = await run('bash', ['-c', curl.replace('curl -i', 'curl -s')]);
      const body = JSON.parse(stdout);
      assert.match(body.refresh_token, /^rg_rt_/);
      assert.equal(body.token_type, 'Bearer');
      assert.equal(statSync(`${db}.kek`).mode & 0o777, 0o600);
      // "Get another": the printed command works against this server's store.
      const hint = /npx refresh-grant grants issue (.*)/.exec(banner)![1].match(/"[^"]*"|\S+/g)!.map((a) => a.replace(/^"|"$/g, ''));
      const issued = await cli(['grants', 'issue', ...hint, '--json']);
      assert.equal(issued.code, 0, issued.stderr);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('/health and /ready answer JSON; /metrics is off by default; SIGTERM logs the stop and exits 0', async () => {
    const s = await serve(['--port', '0', '--db', join(dir, 'health.db'), '--no-demo']);
    assert.deepEqual(await (await fetch(`${s.issuer}/health`)).json(), { status: 'ok' });
    const ready = await fetch(`${s.issuer}/ready`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready', checks: { store: 'ok', signing_keys: 'ok' } });
    assert.equal((await fetch(`${s.issuer}/metrics`)).status, 404);
    assert.equal(await s.stop('SIGTERM'), 0);
    const types = s.logs().map((l) => l.type);
    assert.deepEqual(types, ['server.started', 'server.stopping', 'server.stopped']);
    for (const line of s.stderr().trim().split('\n')) assert.doesNotThrow(() => JSON.parse(line), line);
  });

  it('--metrics serves /metrics; --metrics-port on its own port only', async () => {
    const a = await serve(['--port', '0', '--db', join(dir, 'metrics.db'), '--no-demo', '--metrics', '--quiet']);
    try {
      const res = await fetch(`${a.issuer}/metrics`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /^refresh_grant_refreshes_total|^# HELP refresh_grant_refreshes_total/m);
    } finally {
      await a.stop('SIGKILL');
    }
    const port = await freePort();
    const b = await serve(['--port', '0', '--db', join(dir, 'metrics.db'), '--no-demo', '--metrics-port', String(port)]);
    try {
      assert.equal((await fetch(`${b.issuer}/metrics`)).status, 404);
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /# TYPE refresh_grant_http_request_duration_seconds histogram/);
      assert.equal((await fetch(`http://127.0.0.1:${port}/token`)).status, 404);
      assert.equal(b.logs()[0].metrics, `127.0.0.1:${port}/metrics`);
    } finally {
      await b.stop('SIGKILL');
    }
  });

  it('--log-level and --access-log: JSON lines at or above the level; an access line per request, never the query', async () => {
    const quiet = await serve(['--port', '0', '--db', join(dir, 'logs.db'), '--no-demo', '--log-level', 'warn']);
    await fetch(`${quiet.issuer}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'x', client_id: 'ghost' }) });
    await quiet.stop('SIGTERM');
    assert.deepEqual(quiet.logs().map((l) => [l.level, l.type]), [['warn', 'client_auth.failed']]);
    const loud = await serve(['--port', '0', '--db', join(dir, 'logs.db'), '--no-demo', '--access-log']);
    await fetch(`${loud.issuer}/jwks?x=secret-in-query`);
    await loud.stop('SIGTERM');
    const access = loud.logs().filter((l) => l.type === 'http.request');
    assert.deepEqual(access.map((l) => [l.level, l.method, l.path, l.status]), [['info', 'GET', '/jwks', 200]]);
    assert.doesNotMatch(loud.stderr(), /secret-in-query/);
  });

  it('settings from REFRESH_GRANT_* variables (and PORT)', async () => {
    const port = await freePort();
    const s = await serve([], { env: { PORT: String(port), REFRESH_GRANT_DB: join(dir, 'env.db'), REFRESH_GRANT_NO_DEMO: '1', REFRESH_GRANT_LOG_LEVEL: 'error', REFRESH_GRANT_ISSUER: 'http://auth.test' } });
    try {
      assert.equal(s.issuer, 'http://auth.test');
      const metadata = await (await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`)).json();
      assert.equal(metadata.issuer, 'http://auth.test');
      assert.equal(s.stdout(), 'http://auth.test\n', 'no demo');
    } finally {
      assert.equal(await s.stop('SIGTERM'), 0);
    }
    assert.equal(s.stderr(), '', 'log level error: nothing to say');
  });

  it('takes requests only once it can answer them: every request during start-up is answered or refused, none hangs', async () => {
    for (let attempt = 0; ; attempt++) {
      const port = await freePort();
      const child = spawn(process.execPath, [bin, 'serve', '--port', String(port), '--db', join(dir, `start-${attempt}.db`), '--no-demo', '--quiet'], { stdio: 'ignore' });
      try {
        const outcomes: string[] = [];
        while (!outcomes.includes('200') || outcomes.length < 50) {
          const outcome = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(15_000) }).then(
            (res) => String(res.status),
            (error: Error) => (error.name === 'TimeoutError' ? 'hung' : 'refused'),
          );
          outcomes.push(outcome);
          if (outcomes.length > 5000) break;
        }
        if (outcomes.every((o) => o === 'refused') && child.exitCode !== null && attempt < 3) continue; // the port was taken meanwhile
        assert.ok(!outcomes.includes('hung'), 'a request during start-up was left without an answer');
        assert.ok(outcomes.includes('200'));
        assert.deepEqual([...new Set(outcomes.slice(outcomes.indexOf('200')))], ['200'], 'once answering, always answering');
        return;
      } finally {
        child.kill('SIGKILL');
      }
    }
  });

  it('--cors-origin answers browsers on that origin (repeatable; * for any)', async () => {
    for (const [flags, origin, expected] of [
      [['--cors-origin', 'https://a.example', '--cors-origin', 'https://b.example'], 'https://b.example', 'https://b.example'],
      [['--cors-origin', '*'], 'https://c.example', '*'],
    ] as const) {
      const s = await serve(['--port', '0', '--db', join(dir, 'cors.db'), '--no-demo', '--quiet', ...flags]);
      try {
        const res = await fetch(`${s.issuer}/token`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });
        assert.equal(res.status, 204);
        assert.equal(res.headers.get('access-control-allow-origin'), expected);
      } finally {
        await s.stop('SIGKILL');
      }
    }
  });

  it('--dev-login prints the URL to try, last and marked development only; through it, a refresh token that rotates', async () => {
    const s = await serve(['--port', '0', '--db', join(dir, 'dev.db'), '--dev-login', '--quiet'], { until: /\/dev-login\/start$/ });
    try {
      assert.match(s.stdout(), /DEVELOPMENT LOGIN IS ON \(--dev-login\): for development only\./);
      const start = s.stdout().trim().split('\n').at(-1)!.trim();
      assert.equal(start, `${s.issuer}/dev-login/start`, 'the last line printed is the URL to try');
      const go = (url: string, init: RequestInit = {}) => fetch(url, { redirect: 'manual', ...init });
      const started = await go(start);
      const cookie = started.headers.get('set-cookie')!.split(';')[0];
      const loginUrl = (await go(started.headers.get('location')!)).headers.get('location')!;
      const form = await (await go(loginUrl)).text();
      assert.match(form, /name="subject"/);
      const field = (html: string) => /name="interaction" value="([^"]+)"/.exec(html)![1];
      const post = (fields: Record<string, string>) => go(loginUrl.split('?')[0], { method: 'POST', body: new URLSearchParams(fields) });
      const consentUrl = (await post({ interaction: field(form), subject: 'newcomer' })).headers.get('location')!;
      const consent = await (await go(consentUrl)).text();
      assert.match(consent, /offline_access/);
      const callback = (await post({ interaction: field(consent), decision: 'allow' })).headers.get('location')!;
      const page = await (await go(callback, { headers: { cookie } })).text();
      const rt = /name="refresh_token" value="([^"]+)"/.exec(page)![1];
      assert.match(rt, /^rg_rt_/);
      const refreshed = await (await fetch(`${s.issuer}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', client_id: 'dev-login-demo', refresh_token: rt }) })).json();
      assert.match(refreshed.refresh_token, /^rg_rt_/);
      assert.notEqual(refreshed.refresh_token, rt);
    } finally {
      await s.stop('SIGKILL');
    }
  });

  it('without --dev-login there is no development login', async () => {
    const s = await serve(['--port', '0', '--db', join(dir, 'nodev.db'), '--no-demo', '--quiet']);
    try {
      assert.doesNotMatch(s.stdout(), /dev-login/);
      assert.equal((await fetch(`${s.issuer}/dev-login/start`)).status, 404);
    } finally {
      await s.stop('SIGKILL');
    }
  });

  it('runs with V8\'s young generation capped at 16 MB per semi-space (same process, re-executed once), unless a size was chosen', async () => {
    // Under load V8 grew it to 64 MB per semi-space and kept it: about 100 MB of RSS (overload benchmark).
    const args = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const db = join(dir, 'semi-space.db');
    const capped = await serve(['--port', '0', '--db', db, '--no-demo', '--quiet']);
    try {
      assert.ok(args(capped.child.pid!).includes('--max-semi-space-size=16'), args(capped.child.pid!).join(' '));
      assert.equal((await fetch(`${capped.issuer}/health`)).status, 200);
    } finally {
      assert.equal(await capped.stop(), 0);
    }
    const chosen = await serve(['--port', '0', '--db', db, '--no-demo', '--quiet'], { env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --max-semi-space-size=8` } });
    try {
      assert.ok(!args(chosen.child.pid!).some((arg) => arg.startsWith('--max-semi-space-size')), 'the size chosen in NODE_OPTIONS is kept');
    } finally {
      await chosen.stop();
    }
  });

  it('--max-in-flight sheds with 503 at once (probes still answered, counted in /metrics); the parser\'s refusals are JSON', async () => {
    const db = join(dir, 'limits.db');
    const added = JSON.parse((await cli(['clients', 'add', '--db', db, '--id', 'app', '--auth-method', 'client_secret_post', '--any-scope', '--json'])).stdout);
    const s = await serve(['--port', '0', '--db', db, '--no-demo', '--quiet', '--metrics'], { env: { REFRESH_GRANT_MAX_IN_FLIGHT: '1' } });
    try {
      const issue = async () => JSON.parse((await cli(['grants', 'issue', '--db', db, '--issuer', s.issuer, '--client', 'app', '--subject', 'u', '--scope', 'read', '--json'])).stdout).refresh_token as string;
      const [first, second] = [await issue(), await issue()];
      const refresh = (rt: string) => fetch(`${s.issuer}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rt, client_id: 'app', client_secret: added.client_secret }) });
      // Another process holds the store's write lock: the first refresh waits for it, in flight.
      const holder = new DatabaseSync(db);
      holder.exec('BEGIN IMMEDIATE');
      const held = refresh(first);
      try {
        // Metrics are never shed: they tell when the first refresh is in flight.
        const inFlight = async () => Number(/^refresh_grant_requests_in_flight (\d+)$/m.exec(await (await fetch(`${s.issuer}/metrics`)).text())?.[1]);
        while ((await inFlight()) !== 1);
        const shed = await refresh(second);
        assert.equal(shed.status, 503);
        assert.equal(shed.headers.get('retry-after'), '1');
        assert.equal((await shed.json()).error, 'temporarily_unavailable');
        assert.equal((await fetch(`${s.issuer}/health`)).status, 200, 'probes are never shed');
      } finally {
        holder.exec('ROLLBACK');
        holder.close();
      }
      assert.equal((await held).status, 200);
      assert.match(await (await fetch(`${s.issuer}/metrics`)).text(), /^refresh_grant_requests_shed_total [1-9]\d*$/m);
      const { port } = new URL(s.issuer);
      const { answers } = await exchange(Number(port), 'GARBAGE\r\n\r\n', { untilClose: true });
      assert.equal(answers[0].status, 400);
      assert.equal(answers[0].json.error, 'invalid_request');
    } finally {
      await s.stop('SIGKILL');
    }
    const bad = await cli(['serve', '--db', db, '--port', '0', '--max-in-flight', '0']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--max-in-flight/);
    const badDelay = await cli(['serve', '--db', db, '--port', '0', '--max-event-loop-delay', '0']);
    assert.equal(badDelay.code, 2);
    assert.match(badDelay.stderr, /--max-event-loop-delay/);
  });
});
