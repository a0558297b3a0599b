// Reports: the report of docs/reports.md for a chosen window, from /api/v1/report (served
// when a `store` exporter runs), shown in a sandboxed frame, with download links for HTML,
// JSON and CSV.

import { esc } from "./api.js";
import { missingStoreRoutes } from "./charts.js";

const WINDOWS = ["1h", "6h", "24h", "7d", "30d"];

export function render(main, { query }) {
  const since = WINDOWS.includes(query.get("since")) ? query.get("since") : "24h";
  const options = WINDOWS.map((w) => `<option${w === since ? " selected" : ""}>${w}</option>`).join("");
  main.innerHTML = `<h2>Report</h2>
    <div class="card"><label>Window <select id="report-since">${options}</select></label>
    <span id="report-links"></span></div>
    <div id="report-body" class="card"><p class="muted">Loading…</p></div>`;
  const select = main.querySelector("#report-since");
  select.addEventListener("change", () => { location.hash = `#/reports?since=${select.value}`; });
  const url = (format, download) =>
    `/api/v1/report?since=${encodeURIComponent(since)}&format=${format}${download ? "&download=1" : ""}`;
  let stopped = false;
  (async () => {
    const body = main.querySelector("#report-body");
    try {
      // Only a running store serves the route: ask which routes exist first, so that a
      // console without one never requests a missing route.
      const missing = await missingStoreRoutes(["/api/v1/report"]);
      if (stopped) return;
      if (missing.length) {
        body.innerHTML = `<p class="note">Reports read the history store: add a <code>store</code> exporter to your pipelines (the embedded default config has one).</p>`;
        return;
      }
      main.querySelector("#report-links").innerHTML = " Download: " +
        ["html", "json", "csv"].map((f) => `<a id="report-download-${f}" href="${url(f, true)}">${f.toUpperCase()}</a>`).join(" · ");
      const response = await fetch(url("html", false));
      if (stopped) return;
      if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
      const html = await response.text();
      if (stopped) return;
      const frame = document.createElement("iframe");
      frame.id = "report-frame";
      frame.title = `Lookout report, last ${since}`;
      // The report is a static page: no script, no same-origin access.
      frame.setAttribute("sandbox", "");
      frame.style.cssText = "width:100%;height:80vh;border:0;background:#fff";
      frame.srcdoc = html;
      body.innerHTML = "";
      body.appendChild(frame);
    } catch (err) {
      body.innerHTML = `<p class="bad">${esc(err.message)}</p>`;
    }
  })();
  return () => { stopped = true; };
}
