// What the console drivers (drive.mjs, drive_shop.mjs) share: settings read from the
// environment, one page of Debian's headless chromium (through playwright-core) that records
// every console error and uncaught exception, named checks that screenshot the page, and the
// exit status.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

/** The variable `name`, else `fallback`; exits 2 naming it when neither is there. */
export const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) {
    console.error(`${name} is not set`);
    process.exit(2);
  }
  return value;
};

/**
 * Starts the browser (LOOKOUT_CHROMIUM, default /usr/bin/chromium) on a fresh profile. Returns
 * its page, `check(name, run, shot = true)` — runs one named check, records its failure,
 * screenshots the page into LOOKOUT_SCREENSHOTS (when set and `shot`) — and `finish(done)`,
 * which closes the browser and exits 1 listing every failure and every console error or
 * uncaught exception seen on any page, else prints `done`.
 */
export async function openBrowser() {
  const screenshots = process.env.LOOKOUT_SCREENSHOTS || "";
  const executablePath = env("LOOKOUT_CHROMIUM", "/usr/bin/chromium");
  const profile = mkdtempSync(join(tmpdir(), "lookout-console-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
    ],
  });
  const failures = [];
  const page = context.pages()[0] ?? (await context.newPage());
  let current = "start";
  page.on("console", (message) => {
    if (message.type() === "error") failures.push(`${current}: console error: ${message.text()}`);
  });
  page.on("pageerror", (error) => failures.push(`${current}: uncaught: ${error.message}`));

  async function check(name, run, shot = true) {
    current = name;
    try {
      await run();
      if (screenshots && shot) await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });
      console.log(`ok   ${name}`);
    } catch (error) {
      failures.push(`${name}: ${error.message.split("\n")[0]}`);
      console.log(`FAIL ${name}`);
    }
  }

  async function finish(done) {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
    if (failures.length) {
      console.error(failures.join("\n"));
      process.exit(1);
    }
    console.log(done);
  }

  return { page, check, finish };
}
