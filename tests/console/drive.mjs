// Loads each page of a running lookout's console in Debian's headless chromium (through
// playwright-core: no browser download) and checks what it shows. tests/console.rs starts
// lookout, sends the data and runs this with:
//
//   LOOKOUT_CONSOLE_URL   the admin listener, e.g. http://127.0.0.1:8888
//   LOOKOUT_TRACE_ID      a trace in the correlate window (32 hex digits)
//   LOOKOUT_SPAN_NAMES    its span names, comma-separated
//   LOOKOUT_LOG_LINE      text of one of its log lines, shown on its span
//   LOOKOUT_SERVICE       its root span's service.name
//   LOOKOUT_VERDICT_SPAN  the name of its span tagged anomalous (kind `spike`)
//   LOOKOUT_SCREENSHOTS   a folder for one PNG per page (optional)
//   LOOKOUT_CHROMIUM      the browser (default /usr/bin/chromium)
//   LOOKOUT_EXPECT        `no-correlate`: lookout runs without correlate; each page must say
//                         how to get traces instead (the trace variables are then unused);
//                         `anomalies`: check the Anomalies & alerts page and the live log tail
//                         with the variables below
//   LOOKOUT_EPISODE_SERVICE  (anomalies) the service of an open latency episode
//   LOOKOUT_ALERT_NAME    (anomalies) the alertname of a firing alert
//   LOOKOUT_LOG_FILE      (anomalies) the file lookout's filelog tails: the driver appends a
//                         line to it (on LOOKOUT_TRACE_ID) once the Logs page has loaded
//   LOOKOUT_RED_SERVICE   (anomalies, optional) lookout has a store and hostmetrics: check the
//                         Host page's charts have points, and that the Services page lists
//                         this service (with LOOKOUT_RED_COUNT spans), its operation
//                         LOOKOUT_RED_OPERATION, and the band of its open latency episode
//   LOOKOUT_EXPECT=reports  check the Reports page (a store runs) with LOOKOUT_SERVICE
//
// Any console error or uncaught exception on any page fails the run. Exits 0 when every
// check passed; prints each failure otherwise.

import { appendFileSync } from "node:fs";
import { env, openBrowser } from "./browser.mjs";


const base = env("LOOKOUT_CONSOLE_URL");
const bare = process.env.LOOKOUT_EXPECT === "no-correlate";
const anomalies = process.env.LOOKOUT_EXPECT === "anomalies";
const reports = process.env.LOOKOUT_EXPECT === "reports";
const full = !bare && !anomalies && !reports;
const traceId = bare || reports ? "" : env("LOOKOUT_TRACE_ID");
const spanNames = full ? env("LOOKOUT_SPAN_NAMES").split(",") : [];
const logLine = full ? env("LOOKOUT_LOG_LINE") : "";
const service = full ? env("LOOKOUT_SERVICE") : "";
const verdictSpan = full ? env("LOOKOUT_VERDICT_SPAN") : "";
const WAIT = { timeout: 20000 };

const { page, check, finish } = await openBrowser();

if (bare) {
  await checkBare();
} else if (anomalies) {
  await checkAnomalies();
} else if (reports) {
  await checkReports();
} else {
  await checkAll();
}

/** The Reports page shows the store's report of the chosen window, with download links. */
async function checkReports() {
  const reportService = env("LOOKOUT_SERVICE");
  await check("reports", async () => {
    await page.goto(`${base}/#/reports`);
    await page.waitForSelector("#report-frame", WAIT);
    const html = await page.$eval("#report-frame", (el) => el.srcdoc);
    if (!html.includes(reportService)) throw new Error(`the report does not show ${reportService}`);
    if (!html.includes("Forecasts")) throw new Error("the report has no forecasts section");
    const href = await page.getAttribute("#report-download-json", "href");
    if (href !== "/api/v1/report?since=24h&format=json&download=1") throw new Error(`download link ${href}`);
    const json = await page.evaluate(async (u) => (await fetch(u)).json(), href);
    if (json.services?.[0]?.service !== reportService) throw new Error(`downloaded JSON: ${JSON.stringify(json).slice(0, 300)}`);
    // Another window: the page follows the choice.
    await page.selectOption("#report-since", "1h");
    await page.waitForFunction(() => location.hash === "#/reports?since=1h", null, WAIT);
    await page.waitForFunction(() => (document.getElementById("report-download-html")?.getAttribute("href") || "").includes("since=1h"), null, WAIT);
    await page.waitForSelector("#report-frame", WAIT);
  });
}

/** The Anomalies & alerts page lists the open episode and the firing alert; the Logs page
 * follows a line written after it loaded. */
async function checkAnomalies() {
  const episodeService = env("LOOKOUT_EPISODE_SERVICE");
  const alertName = env("LOOKOUT_ALERT_NAME");
  const logFile = env("LOOKOUT_LOG_FILE");
  await check("anomalies", async () => {
    await page.goto(`${base}/#/anomalies`);
    const episode = page.locator("tr.episode.open", { hasText: episodeService }).first();
    await episode.waitFor(WAIT);
    const cells = await episode.locator("td").allTextContents();
    const [baseline, observed] = [cells[3], cells[4]].map((t) => parseFloat(t));
    if (!(observed > baseline && baseline > 0)) throw new Error(`baseline ${cells[3]} vs observed ${cells[4]}`);
    const kind = await episode.getAttribute("data-kind");
    if (!["shift", "degradation", "intermittent"].includes(kind)) throw new Error(`episode kind ${kind}`);
    if (!/\d/.test(cells[6])) throw new Error(`no duration: ${cells[6]}`);
    const alert = page.locator(`tr.alert.firing[data-alertname="${alertName}"]`).first();
    await alert.waitFor(WAIT);
    const acells = await alert.locator("td").allTextContents();
    if (!acells[2].includes("severity=critical")) throw new Error(`alert labels: ${acells[2]}`);
    if (acells[6].trim() !== "log") throw new Error(`alert notifiers: ${acells[6]}`);
  });
  await check("anomalies-to-trace", async () => {
    const link = page.locator("tr.episode.open a.trace-link").first();
    const href = await link.getAttribute("href");
    if (!/^#\/traces\/[0-9a-f]{32}$/.test(href || "")) throw new Error(`example trace link ${href}`);
    await link.click();
    await page.waitForSelector(".wf-row.span", WAIT);
  }, false);
  await check("logs-tail", async () => {
    await page.goto(`${base}/#/logs`);
    await page.waitForFunction(() => !/Loading/.test(document.getElementById("tail-state")?.textContent || "Loading"), null, WAIT);
    // Written after the page loaded: it must arrive through the page's polling alone.
    const line = `tail line written at ${Date.now()}`;
    appendFileSync(logFile, JSON.stringify({ msg: line, level: "warn", trace_id: traceId, span_id: "00000000000000aa" }) + "\n");
    const row = page.locator("tr.log-row", { hasText: line }).first();
    await row.waitFor(WAIT);
    const href = await row.locator("a").getAttribute("href");
    if (href !== `#/traces/${traceId}`) throw new Error(`the line links to ${href}, not its trace`);
    // A filter the line does not pass hides it (the server filters).
    await page.goto(`${base}/#/logs?severity=error`);
    await page.waitForFunction(() => !/Loading/.test(document.getElementById("tail-state")?.textContent || "Loading"), null, WAIT);
    if (await page.locator("tr.log-row", { hasText: line }).count()) throw new Error("a warn line passed severity=error");
    await page.goto(`${base}/#/logs?contains=${encodeURIComponent("TAIL LINE")}`);
    await page.locator("tr.log-row", { hasText: line }).first().waitFor(WAIT);
  });
  if (process.env.LOOKOUT_RED_SERVICE) await checkHistory(episodeService);
}

/** The number of points a chart drew (its uPlot data, counted by charts.js). */
function points(chart) {
  return page.$eval(`.chart[data-chart="${chart}"]`, (el) => Number(el.dataset.points || 0));
}

/** The Host page charts host metrics with points; the Services page lists the service, its
 * count and operation, and marks its open episode on the charts. */
async function checkHistory(episodeService) {
  const redService = env("LOOKOUT_RED_SERVICE");
  const redOperation = env("LOOKOUT_RED_OPERATION");
  const redCount = env("LOOKOUT_RED_COUNT");
  const LONG = { timeout: 60000 };
  await check("host", async () => {
    await page.goto(`${base}/#/host?window=15m`);
    for (const chart of ["memory", "load", "filesystem", "network"]) {
      await page.waitForFunction((c) => Number(document.querySelector(`.chart[data-chart="${c}"]`)?.dataset.points) > 0, chart, WAIT);
      if (!(await page.locator(`.chart[data-chart="${chart}"] canvas`).count())) throw new Error(`no canvas in the ${chart} chart`);
    }
    // CPU is a rate of system.cpu.time: it needs two 10 s steps, the page redraws every 10 s.
    await page.waitForFunction(() => Number(document.querySelector('.chart[data-chart="cpu"]')?.dataset.points) > 0, null, LONG);
    const legend = await page.locator('.chart[data-chart="memory"] .u-legend').textContent();
    if (!/used/.test(legend) || !/iB/.test(legend)) throw new Error(`memory legend without states or units: ${legend}`);
    const charts = ["cpu", "memory", "load", "filesystem", "disk", "network"];
    const counts = await Promise.all(charts.map(points));
    console.log(`     host chart points: ${charts.map((c, i) => `${c}=${counts[i]}`).join(" ")}`);
  });
  await check("services", async () => {
    await page.goto(`${base}/#/services?window=15m`);
    const row = page.locator(`tr.service-row[data-service="${redService}"]`);
    await row.waitFor(WAIT);
    const count = (await row.locator("td.count").textContent()).replace(/,/g, "");
    if (count !== redCount) throw new Error(`${redService} has ${count} spans, not ${redCount}`);
    const rate = parseFloat(await row.locator("td.rate").textContent());
    if (!(rate > 0)) throw new Error(`${redService}'s rate is ${rate}`);
    await row.locator("a").first().click();
    const op = page.locator(`tr.operation-row[data-operation="${redOperation}"]`);
    await op.waitFor(WAIT);
    const opCount = (await op.locator("td.count").textContent()).replace(/,/g, "");
    if (opCount !== redCount) throw new Error(`operation ${redOperation} has ${opCount} spans, not ${redCount}`);
    for (const chart of ["rate", "errors", "p95"]) {
      await page.waitForFunction((c) => Number(document.querySelector(`.chart[data-chart="${c}"]`)?.dataset.points) > 0, chart, WAIT);
    }
    // The open episode is a band on each chart.
    await page.waitForFunction((svc) => document.querySelectorAll(`.chart .episode-band.open[data-service="${svc}"]`).length === 3,
      episodeService, WAIT);
  });
}

/** Without correlate: the graph still draws, and every trace-backed part says what to add. */
async function checkBare() {
  const note = async (selector) => {
    await page.waitForFunction((sel) => (document.querySelector(sel)?.textContent || "").includes("correlate"), selector, WAIT);
  };
  await check("bare-overview", async () => {
    await page.goto(`${base}/`);
    await page.waitForSelector('.pipeline[data-pipeline="traces"] .node[data-kind="receiver"]', WAIT);
    await note("#services .note");
  }, false);
  await check("bare-traces", async () => {
    await page.goto(`${base}/#/traces`);
    await note("#results .note");
  }, false);
  await check("bare-trace", async () => {
    await page.goto(`${base}/#/traces/${"ab".repeat(16)}`);
    await note("#trace .note");
  }, false);
  await check("bare-logs", async () => {
    await page.goto(`${base}/#/logs`);
    await note("#tail-state");
  }, false);
  await check("bare-host", async () => {
    await page.goto(`${base}/#/host`);
    await page.waitForFunction(() => (document.querySelector("#host-state .no-store")?.textContent || "").includes("/api/v1/metrics/series"), null, WAIT);
    if (await page.locator(".chart").count()) throw new Error("the Host page draws charts without a store");
  }, false);
  await check("bare-services", async () => {
    await page.goto(`${base}/#/services`);
    await page.waitForFunction(() => (document.querySelector("#services-state .no-store")?.textContent || "").includes("/api/v1/services/red"), null, WAIT);
    if (await page.locator(".chart").count()) throw new Error("the Services page draws charts without a store");
  }, false);
  await check("bare-anomalies", async () => {
    await page.goto(`${base}/#/anomalies`);
    await page.waitForFunction(() => (document.querySelector("#episodes .note")?.textContent || "").includes("Neither"), null, WAIT);
  }, false);
  await check("bare-reports", async () => {
    await page.goto(`${base}/#/reports`);
    await page.waitForFunction(() => (document.querySelector("#report-body .note")?.textContent || "").includes("store"), null, WAIT);
  }, false);
}

async function checkAll() {
  await check("overview", async () => {
    await page.goto(`${base}/`);
    await page.waitForSelector('.pipeline[data-pipeline="traces"] .node[data-kind="receiver"]', WAIT);
    // The receiver's accepted rate is live and above zero (the spans were just sent).
    await page.waitForFunction(() => [...document.querySelectorAll('.pipeline[data-pipeline="traces"] [data-kind="receiver"] .rate')]
      .some((el) => Number(el.dataset.rate) > 0), null, WAIT);
    await page.waitForFunction(() => [...document.querySelectorAll('.pipeline[data-pipeline="traces"] [data-kind="exporter"] .rate')]
      .some((el) => Number(el.dataset.rate) > 0), null, WAIT);
    await page.waitForSelector(`tr[data-service="${service}"]`, WAIT);
    await page.waitForFunction(() => /\d/.test(document.getElementById("rss")?.textContent || ""), null, WAIT);
    await page.waitForSelector("#chart .uplot", WAIT);
    // The latency_anomaly processor reports its episodes (none open).
    await page.waitForSelector('#alerts tr[data-processor="latency_anomaly"]', WAIT);
    // Two polls, so the chart has a line.
    await page.waitForTimeout(2500);
  });

  await check("traces", async () => {
    await page.goto(`${base}/#/traces?service=${encodeURIComponent(service)}`);
    await page.waitForSelector(`tr.trace-row[data-trace="${traceId}"]`, WAIT);
  });

  await check("trace", async () => {
    await page.click(`tr.trace-row[data-trace="${traceId}"] a`);
    await page.waitForSelector(".wf-row.span", WAIT);
    const names = await page.$$eval(".wf-row.span .wf-name", (els) => els.map((el) => el.textContent));
    for (const name of spanNames) {
      if (!names.some((n) => n.includes(name))) throw new Error(`span ${name} not in the waterfall: ${names}`);
    }
    const spanLogs = await page.$$eval(".wf-row.span .wf-logs", (els) => els.map((el) => el.textContent));
    if (!spanLogs.some((text) => text.includes(logLine))) {
      throw new Error(`log line "${logLine}" not inline on a span: ${spanLogs}`);
    }
    const verdicts = await page.$$eval(".wf-row.span .wf-name", (els) => els
      .filter((el) => el.querySelector(".badge.anomaly"))
      .map((el) => el.textContent));
    if (verdicts.length !== 1 || !verdicts[0].includes(verdictSpan) || !verdicts[0].includes("spike")) {
      throw new Error(`the verdict (spike) is shown on ${verdictSpan} alone: ${verdicts}`);
    }
  });

  await check("logs", async () => {
    await page.goto(`${base}/#/logs`);
    const row = page.locator("tr.log-row", { hasText: logLine }).first();
    await row.waitFor(WAIT);
    const href = await row.locator("a").getAttribute("href");
    if (href !== `#/traces/${traceId}`) throw new Error(`the line links to ${href}, not its trace`);
    // The file has no service.name: correlate gave the line its span's.
    const cells = await row.locator("td").allTextContents();
    if (cells[1] !== service) throw new Error(`the line's service is ${cells[1]}, not ${service}`);
    // Filtering by another service hides it.
    await page.goto(`${base}/#/logs?service=nobody`);
    await page.waitForFunction(() => !/Loading/.test(document.getElementById("tail-state")?.textContent || "Loading"), null, WAIT);
    if (await page.locator("tr.log-row", { hasText: logLine }).count()) throw new Error("service=nobody shows the line");
    await page.goto(`${base}/#/logs?service=${encodeURIComponent(service)}`);
    await page.locator("tr.log-row", { hasText: logLine }).first().waitFor(WAIT);
  });

  await check("logs-to-trace", async () => {
    await page.locator("tr.log-row", { hasText: logLine }).first().locator("a").click();
    await page.waitForSelector(".wf-row.span", WAIT);
  }, false);
}

await finish("console: every page loaded without errors and showed the data");
