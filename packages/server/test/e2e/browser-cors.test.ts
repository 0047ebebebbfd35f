/**
 * CORS in a real browser (Debian's headless Chromium): a page on another origin than the
 * authorization server refreshes a token through a preflighted request and reads the answer,
 * including an exposed `WWW-Authenticate`; a page on an origin that is not listed cannot.
 *
 * Without Chromium the suite is skipped locally, and fails under CI (`CI=true`): `.ci/run` installs it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { startHarness, type Harness } from '../support/harness.ts';
import { chromiumSkip, launchChromium } from './support/chromium.ts';


/** A page server on its own port, i.e. its own origin. */
async function pageServer(): Promise<{ origin: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>app</title><p>app</p>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

describe('CORS in headless Chromium', { skip: chromiumSkip }, () => {
  let allowed: { origin: string; server: Server };
  let refused: { origin: string; server: Server };
  let h: Harness;
  let browser: Browser;
  let basic: string;

  before(async () => {
    allowed = await pageServer();
    refused = await pageServer();
    h = await startHarness({ cors: { origins: [allowed.origin] } });
    const c = await h.client({ clientId: 'browser-app' });
    basic = h.basic(c.clientId, c.clientSecret).authorization;
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await h?.close();
    allowed?.server.close();
    refused?.server.close();
  });

  /** Runs a token request from a page at `origin`; the page reports what it could read. */
  async function refreshFrom(origin: string, authorization: string, refreshToken: string) {
    const page: Page = await browser.newPage();
    try {
      await page.goto(origin);
      return await page.evaluate(
        async ({ url, authorization, refreshToken }) => {
          try {
            // Authorization is not a CORS-safelisted header: the browser sends a preflight first.
            const res = await fetch(url, {
              method: 'POST',
              headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
              body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }).toString(),
            });
            return { status: res.status, body: await res.json(), wwwAuthenticate: res.headers.get('www-authenticate') };
          } catch (error) {
            return { failed: String(error) };
          }
        },
        { url: h.tokenEndpoint, authorization, refreshToken },
      );
    } finally {
      await page.close();
    }
  }

  it('a page on a listed origin refreshes, and reads errors with their WWW-Authenticate', async () => {
    const { refresh_token } = (await h.server.issueGrant({ clientId: 'browser-app', subject: 'ann', scope: 'a' })).tokens;
    const ok = await refreshFrom(allowed.origin, basic, refresh_token!);
    assert.equal(ok.status, 200, JSON.stringify(ok));
    assert.match(ok.body.refresh_token, /^rg_rt_/);
    const wrongSecret = await refreshFrom(allowed.origin, 'Basic ' + btoa('browser-app:wrong'), ok.body.refresh_token);
    assert.equal(wrongSecret.status, 401);
    assert.equal(wrongSecret.body.error, 'invalid_client');
    assert.match(wrongSecret.wwwAuthenticate ?? '', /^Basic/);
  });

  it('a page on another origin cannot read the answer (nor, after the refused preflight, send the request)', async () => {
    const { refresh_token } = (await h.server.issueGrant({ clientId: 'browser-app', subject: 'bob', scope: 'a' })).tokens;
    const before = h.events.filter((e) => e.type === 'refresh_token.rotated').length;
    const result = await refreshFrom(refused.origin, basic, refresh_token!);
    assert.match(result.failed ?? '', /TypeError|Failed to fetch/);
    // The preflight was refused, so the POST never reached the token endpoint.
    assert.equal(h.events.filter((e) => e.type === 'refresh_token.rotated').length, before);
  });
});
