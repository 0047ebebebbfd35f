/**
 * Headless Chromium (Debian's, installed by .ci/run) for the browser suites: skipped with a
 * printed reason where it is missing outside CI, a failure where it is missing under CI.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

const executablePath = '/usr/bin/chromium';
const ci = process.env.CI === 'true' || process.env.CI === '1';
const missing = !existsSync(executablePath);

/** The `skip` option of a browser suite: a reason outside CI when Chromium is missing, else false. */
export const chromiumSkip: string | false = missing && !ci ? `no ${executablePath} (apt-get install chromium)` : false;

/** Launches headless Chromium; under CI a missing browser fails the suite, never skips it. */
export function launchChromium(): Promise<Browser> {
  if (missing) assert.fail(`${executablePath} is missing: CI must install Debian's chromium (.ci/run)`);
  return chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
