import { existsSync } from 'node:fs';
import { mkdirSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = process.env.HOLDFAST_CHROMIUM ?? '/usr/bin/chromium';
/** Screenshots and other artefacts of test runs (gitignored). */
export const TEST_OUTPUT = new URL('../../test-output/', import.meta.url);

/**
 * Launches Debian's chromium headless through playwright-core, or skips the test with
 * a one-line notice naming what to install. With HOLDFAST_REQUIRE_ALL=1 (set by
 * .ci/run) a missing chromium fails the test instead.
 */
export async function chromiumOrSkip(t: { skip(message: string): void }, extraArgs: readonly string[] = []): Promise<Browser | undefined> {
  if (!existsSync(CHROMIUM_PATH)) {
    const message = `needs chromium at ${CHROMIUM_PATH} (install it: apt-get install chromium)`;
    if (process.env.HOLDFAST_REQUIRE_ALL === '1') throw new Error(`${message}; HOLDFAST_REQUIRE_ALL=1 makes this a failure`);
    t.skip(message);
    return undefined;
  }
  mkdirSync(TEST_OUTPUT, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    // The machine has no network beyond loopback: keep chromium from reaching for it.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', ...extraArgs],
  });
}
