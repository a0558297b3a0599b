// Loads every page of the console of a lookout that runs its embedded default configuration
// and is fed by the example shop, in Debian's headless chromium (through playwright-core: no
// browser download), and checks that each shows what the shop sent. tests/console_shop.rs
// starts lookout and the shop, waits for the latency episode and a complete trace, and runs
// this with:
//
//   LOOKOUT_CONSOLE_URL   the admin listener, e.g. http://127.0.0.1:8888
//   LOOKOUT_TRACE_ID      a trace across the shop's services (32 hex digits)
//   LOOKOUT_TRACE_SPANS   spans it holds, `service:name` comma-separated
//   LOOKOUT_TRACE_LOGS    log lines it holds, `service:text` comma-separated: each must be
//                         shown inline on a span of that service
//   LOOKOUT_ROOT_SERVICE  the service whose spans start the traces (the Overview lists it)
//   LOOKOUT_SERVICES      every service of the shop, comma-separated (the Services page lists
//                         them)
//   LOOKOUT_FAULTY        the service with injected latency: its latency episode must be on
//                         the Anomalies page and marked as a band on the Services page
//   LOOKOUT_VERDICTS      the verdict kinds (comma-separated) one of the known trace's spans of
//                         LOOKOUT_FAULTY must show in the waterfall
//   LOOKOUT_INJECTED_MIN_MS  the least duration (ms) of a span slowed by the injected latency:
//                         the span with that verdict, and the worst duration the episode
//                         observed, must reach it
//   LOOKOUT_EPISODE_KIND  the kind of that episode (`shift`, `degradation`, `intermittent`)
//   LOOKOUT_EPISODE_OPERATION  the span name of its key
//   LOOKOUT_SCREENSHOTS   a folder for one PNG per page (optional)
//   LOOKOUT_CHROMIUM      the browser (default /usr/bin/chromium)
//
// Any console error or uncaught exception on any page fails the run. Exits 0 when every
// check passed; prints each failure otherwise.

import { env, openBrowser } from "./browser.mjs";

const pairs = (name) => env(name).split(",").map((p) => {
  const at = p.indexOf(":");
  return [p.slice(0, at), p.slice(at + 1)];
});

const base = env("LOOKOUT_CONSOLE_URL");
const traceId = env("LOOKOUT_TRACE_ID");
const traceSpans = pairs("LOOKOUT_TRACE_SPANS");
const traceLogs = pairs("LOOKOUT_TRACE_LOGS");
const rootService = env("LOOKOUT_ROOT_SERVICE");
const services = env("LOOKOUT_SERVICES").split(",");
const faulty = env("LOOKOUT_FAULTY");
const episodeKind = env("LOOKOUT_EPISODE_KIND");
const verdicts = env("LOOKOUT_VERDICTS").split(",");
const injectedMinMs = Number(env("LOOKOUT_INJECTED_MIN_MS"));
const episodeOperation = env("LOOKOUT_EPISODE_OPERATION");
const WAIT = { timeout: 20000 };
// The history pages redraw every 10 s and the store's RED is per minute.
const LONG = { timeout: 60000 };

const { page, check, finish } = await openBrowser();

/** Milliseconds of a duration as the console writes it (`1.23 ms`, `101 ms`, `1.20 s`, `950 µs`). */
function milliseconds(text) {
  const m = /([\d.]+)\s*(µs|us|ms|s)\b/.exec(text);
  if (!m) return NaN;
  return Number(m[1]) * { µs: 1e-3, us: 1e-3, ms: 1, s: 1000 }[m[2]];
}

/** The number of points a chart drew (its uPlot data, counted by charts.js). */
const chartPoints = (chart) => Number(document.querySelector(`.chart[data-chart="${chart}"]`)?.dataset.points || 0);

await check("shop-overview", async () => {
  await page.goto(`${base}/`);
  // The default config's pipelines, with spans flowing in.
  await page.waitForSelector('.pipeline[data-pipeline="traces"] .node[data-kind="receiver"]', WAIT);
  await page.waitForFunction(() => [...document.querySelectorAll('.pipeline[data-pipeline="traces"] [data-kind="receiver"] .rate')]
    .some((el) => Number(el.dataset.rate) > 0), null, WAIT);
  // The services table lists the traces' root service (the shop's entry point).
  const row = page.locator(`#services tr[data-service="${rootService}"]`);
  await row.waitFor(WAIT);
  const traces = Number((await row.locator("td").nth(1).textContent()).replace(/,/g, ""));
  if (!(traces > 0)) throw new Error(`${rootService} has ${traces} traces on the overview`);
  await page.waitForSelector('#alerts tr[data-processor="latency_anomaly"]', WAIT);
});

await check("shop-host", async () => {
  await page.goto(`${base}/#/host?window=15m`);
  // hostmetrics scrapes every 10 s on the default config: memory has points from the first.
  await page.waitForFunction((c) => Number(document.querySelector(`.chart[data-chart="${c}"]`)?.dataset.points) > 0, "memory", LONG);
  if (!(await page.locator('.chart[data-chart="memory"] canvas').count())) throw new Error("no canvas in the memory chart");
  const charts = ["cpu", "memory", "load", "filesystem", "disk", "network"];
  const counts = await Promise.all(charts.map((c) => page.evaluate(chartPoints, c)));
  console.log(`     host chart points: ${charts.map((c, i) => `${c}=${counts[i]}`).join(" ")}`);
});

await check("shop-services", async () => {
  await page.goto(`${base}/#/services?window=15m&service=${encodeURIComponent(faulty)}`);
  for (const service of services) {
    const row = page.locator(`tr.service-row[data-service="${service}"]`);
    await row.waitFor(LONG);
    const count = Number((await row.locator("td.count").textContent()).replace(/,/g, ""));
    if (!(count > 0)) throw new Error(`${service} has ${count} spans on the Services page`);
  }
  for (const chart of ["rate", "errors", "p95"]) {
    await page.waitForFunction((c) => Number(document.querySelector(`.chart[data-chart="${c}"]`)?.dataset.points) > 0, chart, LONG);
  }
  // The faulty service's episode is a band on each of the three charts, and listed below.
  await page.waitForFunction((svc) => document.querySelectorAll(`.chart .episode-band[data-service="${svc}"]`).length >= 3,
    faulty, LONG);
  await page.locator(`tr.episode-mark[data-service="${faulty}"]`).first().waitFor(WAIT);
});

await check("shop-traces", async () => {
  await page.goto(`${base}/#/traces?service=${encodeURIComponent(faulty)}`);
  await page.waitForSelector("tr.trace-row", WAIT);
  const rows = await page.locator("tr.trace-row").count();
  if (!(rows > 0)) throw new Error(`no trace of ${faulty} listed`);
});

await check("shop-trace", async () => {
  await page.goto(`${base}/#/traces/${traceId}`);
  await page.waitForSelector(".wf-row.span", WAIT);
  const rows = await page.$$eval(".wf-row.span", (els) => els.map((el) => ({
    name: el.querySelector(".wf-name")?.textContent.replace(/\s+/g, " ").trim() || "",
    logs: el.querySelector(".wf-logs")?.textContent || "",
    bar: el.querySelector(".wf-bar")?.title || "",
  }))).then((rows) => rows.map((r) => ({ ...r, ms: milliseconds(r.bar) })));
  for (const [service, name] of traceSpans) {
    if (!rows.some((r) => r.name.startsWith(`${service} ${name}`))) {
      throw new Error(`span ${service} ${name} not in the waterfall: ${rows.map((r) => r.name).join(" | ")}`);
    }
  }
  for (const [service, line] of traceLogs) {
    if (!rows.some((r) => r.name.startsWith(`${service} `) && r.logs.includes(line))) {
      throw new Error(`log line "${line}" not inline on a span of ${service}`);
    }
  }
  // The detector's verdict on the faulty service's slow spans: a sustained change.
  const judged = rows.filter((r) => r.name.startsWith(`${faulty} `) && r.ms >= injectedMinMs && verdicts.some((k) => r.name.includes(`anomaly: ${k}`)));
  if (!judged.length) {
    throw new Error(`no span of ${faulty} of ${injectedMinMs} ms or more shows a ${verdicts.join("/")} verdict: ${rows.map((r) => `${r.name} (${r.ms} ms)`).join(" | ")}`);
  }
  const services = new Set(rows.map((r) => r.name.split(" ")[0]));
  console.log(`     trace ${traceId}: ${rows.length} spans from ${[...services].join(", ")}`);
});

await check("shop-logs", async () => {
  await page.goto(`${base}/#/logs?service=${encodeURIComponent(faulty)}`);
  const row = page.locator("tr.log-row", { has: page.locator('a[href^="#/traces/"]') }).first();
  await row.waitFor(WAIT);
  const cells = await row.locator("td").allTextContents();
  if (cells[1] !== faulty) throw new Error(`a line of ${cells[1]} under service=${faulty}`);
  const href = await row.locator("a").getAttribute("href");
  if (!/^#\/traces\/[0-9a-f]{32}$/.test(href || "")) throw new Error(`the line links to ${href}, not a trace`);
});

await check("shop-anomalies", async () => {
  await page.goto(`${base}/#/anomalies`);
  const episode = page.locator(`tr.episode[data-kind="${episodeKind}"]`, { hasText: `${faulty} ${episodeOperation}` }).first();
  await episode.waitFor(WAIT);
  const cells = await episode.locator("td").allTextContents();
  if (!cells[1].startsWith(faulty)) throw new Error(`the episode's key is ${cells[1]}`);
  const [baseline, observed] = [cells[3], cells[4]].map((t) => parseFloat(t));
  if (!(observed > baseline && baseline > 0 && observed >= injectedMinMs)) throw new Error(`baseline ${cells[3]} vs observed ${cells[4]}`);
  const href = await episode.locator("a.trace-link").first().getAttribute("href");
  if (!/^#\/traces\/[0-9a-f]{32}$/.test(href || "")) throw new Error(`example trace link ${href}`);
  const kinds = await page.$$eval("tr.episode", (rows) => rows.map((r) => `${r.children[1].textContent.replace(/\s+/g, " ").trim()}: ${r.dataset.kind}`));
  console.log(`     episode of ${cells[1].replace(/\s+/g, " ").trim()}: ${cells[0]}, ${episodeKind}, baseline ${cells[3]}, observed ${cells[4]}`);
  console.log(`     every episode: ${kinds.join("; ")}`);
});

await check("shop-anomalies-to-trace", async () => {
  const episode = page.locator(`tr.episode[data-kind="${episodeKind}"]`, { hasText: `${faulty} ${episodeOperation}` }).first();
  await episode.locator("a.trace-link").first().click();
  await page.waitForSelector(".wf-row.span", WAIT);
  const names = await page.$$eval(".wf-row.span .wf-name", (els) => els.map((el) => el.textContent));
  if (!names.some((n) => n.includes(faulty))) throw new Error(`the example trace has no span of ${faulty}: ${names}`);
});

await finish("console: every page loaded without errors and showed the shop's data");
