import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { BARE_BUDGET, measure, scenarios } from '../../../scripts/size.ts';

test(`the bare refresh path fits its ${BARE_BUDGET} B min+gzip budget, without jose`, async () => {
  const [name, source] = Object.entries(scenarios)[0];
  assert.match(name, /bare refresh path/);
  const { initial, lazy } = await measure(source);
  assert.ok(initial > 1000 && initial <= BARE_BUDGET, `bare refresh path: ${initial} B`);
  assert.ok(lazy > 3000, 'id_token validation (jose) is split into a lazily loaded chunk');
});

test('no Node built-in on any import path of the package index (file-store.ts is a separate entry)', () => {
  const src = new URL('../src/', import.meta.url);
  for (const file of readdirSync(src).filter((f) => f.endsWith('.ts') && f !== 'file-store.ts')) {
    const text = readFileSync(new URL(file, src), 'utf8');
    assert.doesNotMatch(text, /from ['"]node:|import\(['"]node:|require\(/, file);
    assert.doesNotMatch(text, /file-store\.ts/, `${file} must not import the file store`);
    assert.doesNotMatch(text, /\b(Buffer|process)\./, `${file} uses a Node global`);
  }
});

test('the sign-in code (authorization URL, PAR, code exchange) is tree-shaken out of the bare refresh path and the token manager', async () => {
  const markers = ['authorization_code', 'pushed_authorization_request_endpoint', 'code_verifier', 'AuthorizationResponseError', 'skipStateCheck'];
  const [flowName, flowSource] = Object.entries(scenarios).find(([name]) => /authorization code flow/.test(name))!;
  const flow = await measure(flowSource);
  // The markers are real: the code flow's bundle carries every one of them, jose still lazily loaded.
  for (const marker of markers) assert.ok(flow.code.includes(marker), `${flowName} lacks ${marker}`);
  assert.ok(flow.lazy > 3000);
  for (const [name, source] of Object.entries(scenarios).slice(0, 2)) {
    const { code } = await measure(source);
    for (const marker of markers) assert.ok(!code.includes(marker), `${name} carries ${marker}`);
  }
});
