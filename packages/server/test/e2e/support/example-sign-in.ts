/**
 * Drives the example SPA's sign-in in a real browser, as a user would: the Sign in button, the
 * application's own sign-in page (a username), its consent page (Allow) when asked, and back to
 * the app, which exchanges the code. Every wait is for a document loaded after the action (the
 * old one is marked stale first), never for a delay.
 */
import type { Page } from 'playwright-core';

declare global {
  interface Window {
    /** Set on a document before an action that navigates away from it. */
    __stale?: boolean;
  }
}

/** How a sign-in in the example ended, as the page reports it. */
export interface SignInResult {
  subject?: string;
  error?: string;
  /** True when the consent page was shown (and allowed). */
  consented: boolean;
}

/** Waits for the example page to have settled (its `finishSignIn` ran). */
export function ready(page: Page): Promise<unknown> {
  return page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
}

/** Marks the current document, so that the next wait only accepts a newer one. */
export function markStale(page: Page): Promise<void> {
  return page.evaluate(() => {
    window.__stale = true;
  });
}

/** Waits for a newer document than the marked one: the app settled, or one of `selectors` shown. */
export async function nextDocument(page: Page, selectors: string[] = []): Promise<void> {
  await page.waitForFunction(
    (wanted) => !window.__stale && (document.body?.dataset.ready === 'true' || wanted.some((s) => document.querySelector(s) !== null)),
    selectors,
    { timeout: 15_000 },
  );
}

/** Starts a sign-in from the app (`prompt` as given) and waits for the next document. */
export async function startSignIn(page: Page, prompt?: string): Promise<void> {
  await markStale(page);
  if (prompt === undefined) await page.click('#sign-in');
  else await page.evaluate((p) => void window.demo.signIn({ prompt: p }), prompt);
  await nextDocument(page, ['#username', '#allow']);
}

/**
 * Clicks Sign in; on the sign-in page types `username` (unless the application's session signs
 * in without a page), allows the consent if it is asked, and waits for the app.
 */
export async function signInThroughPages(page: Page, username: string): Promise<SignInResult> {
  await startSignIn(page);
  if (await page.locator('#username').count()) {
    await page.fill('#username', username);
    await markStale(page);
    await page.click('#sign-in');
    await nextDocument(page, ['#allow']);
  }
  let consented = false;
  if (await page.locator('#allow').count()) {
    consented = true;
    await markStale(page);
    await page.click('#allow');
    await nextDocument(page);
  }
  const last = await page.evaluate(() => window.demo.lastSignIn);
  return { ...last, consented };
}
