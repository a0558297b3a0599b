// Services: RED (rate, error rate, p50/p95/p99) per service over a selectable window, and per
// operation of the selected service, from the `store`'s minute rollups
// (/api/v1/services/red); charts of rate, error rate and p95 per service over time, with the
// latency anomaly episodes of /api/v1/alerts marked as bands.

import { count, esc, getJSON } from "./api.js";
import { episodeBands, format, range, steps, storeServes, timeChart, windowOf, windowPicker } from "./charts.js";

const RED_ROUTE = "/api/v1/services/red";
/** Services charted at most (the busiest). */
const MAX_LINES = 8;

const CHARTS = [
  { id: "rate", title: "Request rate (spans/s)", unit: "/s", pick: (p) => p.rate, zero: true },
  { id: "errors", title: "Error rate (% of spans)", unit: "%", pick: (p) => 100 * p.error_rate, zero: false },
  { id: "p95", title: "p95 duration", unit: "ms", pick: (p) => p.p95_ms, zero: false },
];

export function render(main, { query }) {
  const win = windowOf(query.get("window"));
  const selected = query.get("service") || "";
  const href = (params) => `#/services?${new URLSearchParams(params)}`;
  main.innerHTML = `<h2>Services ${windowPicker(win, (id) => href(selected ? { window: id, service: selected } : { window: id }))}</h2>
    <div id="services-state"><p class="muted">Loading…</p></div>
    <div id="services-body">
      <div id="red" class="card"></div>
      <h2 id="operations-title"></h2><div id="operations" class="card"><p class="muted">Pick a service above to see its operations.</p></div>
      <div class="grid3">${CHARTS.map((c) => `
        <div class="card"><h3>${esc(c.title)}</h3><div class="chart" data-chart="${c.id}"></div></div>`).join("")}</div>
      <div id="episode-list"></div>
    </div>`;
  const plots = {};
  let timer = null;
  let stopped = false;
  const tick = async () => {
    const ok = await load(main, win, selected, href, plots, () => stopped);
    if (ok && !stopped) timer = setTimeout(tick, win.refresh * 1000);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
    for (const plot of Object.values(plots)) plot?.destroy();
  };
}

function redCells(r) {
  return `<td class="num count">${count(r.count)}</td><td class="num rate">${format("/s", r.rate)}</td>
    <td class="num ${r.errors ? "bad" : ""}">${(100 * r.error_rate).toFixed(1)} %</td>
    <td class="num">${format("ms", r.p50_ms)}</td><td class="num">${format("ms", r.p95_ms)}</td><td class="num">${format("ms", r.p99_ms)}</td>`;
}

const RED_HEAD = `<th class="num">spans</th><th class="num">rate</th><th class="num">error rate</th>
  <th class="num">p50</th><th class="num">p95</th><th class="num">p99</th>`;

async function load(main, win, selected, href, plots, stopped) {
  const state = main.querySelector("#services-state");
  const serves = await storeServes(state, "Services", RED_ROUTE, main.querySelector("#services-body"));
  if (serves === null) return true;
  if (!serves) return false;
  const r = range(win, win.redStep);
  const x = steps(r);
  let all;
  let one = null;
  try {
    [all, one] = await Promise.all([
      getJSON(`${RED_ROUTE}?start=${r.start}&end=${r.end}&step=${r.step}`),
      selected ? getJSON(`${RED_ROUTE}?start=${r.start}&end=${r.end}&service=${encodeURIComponent(selected)}`) : null,
    ]);
  } catch (err) {
    state.innerHTML = `<p class="bad">${esc(err.message)}</p>`;
    return true;
  }
  const bands = await episodeBands(r.start, r.end);
  if (stopped()) return false;
  state.innerHTML = `<p class="muted">The last ${win.id}: spans per service from the store's minute rollups, charted per ${r.step / 60} min; ` +
    `percentiles are bucket bounds (within ×1.41). Shaded on the charts: latency anomaly episodes.</p>`;
  const red = main.querySelector("#red");
  red.innerHTML = all.services.length
    ? `<table><thead><tr><th>service</th>${RED_HEAD}</tr></thead><tbody>${all.services.map((s) => `
      <tr class="service-row ${s.service === selected ? "selected" : ""}" data-service="${esc(s.service)}">
        <td><a href="${esc(href({ window: win.id, service: s.service }))}">${esc(s.service)}</a>
          <a class="muted" href="#/traces?service=${encodeURIComponent(s.service)}">traces</a></td>${redCells(s)}</tr>`).join("")}</tbody></table>`
    : `<p class="muted">No spans in the store for the last ${win.id}.</p>`;
  drawOperations(main, selected, one);
  const busiest = [...all.services].sort((a, b) => b.count - a.count).slice(0, MAX_LINES);
  for (const c of CHARTS) {
    const el = main.querySelector(`.chart[data-chart="${c.id}"]`);
    const series = busiest.map((s) => {
      const at = new Map(s.points.map((p) => [p.t, c.pick(p)]));
      // A step without spans had no requests (rate 0); its errors and latency are unknown.
      return { label: s.service, values: x.map((t) => (at.has(t) ? at.get(t) : (c.zero ? 0 : null))) };
    });
    plots[c.id] = timeChart(el, plots[c.id], { x, series, unit: c.unit, start: r.start, end: r.end, bands, height: 180 });
  }
  main.querySelector("#episode-list").innerHTML = bands.length
    ? `<h2>Latency anomaly episodes in this window</h2><div class="card"><table><tbody>${bands.map((b) => `
      <tr class="episode-mark" data-service="${esc(b.service)}"><td class="${b.open ? "bad" : "ok"}">${b.open ? "open" : "resolved"}</td>
        <td>${esc(b.title)}</td><td>${new Date(b.start * 1000).toLocaleString("en-GB", { hour12: false })}</td></tr>`).join("")}</tbody></table>
        <p><a href="#/anomalies">Episodes and alerts →</a></p></div>`
    : "";
  document.getElementById("status").textContent = `updated ${new Date().toLocaleTimeString("en-GB")}`;
  return true;
}

function drawOperations(main, selected, one) {
  const title = main.querySelector("#operations-title");
  const el = main.querySelector("#operations");
  if (!selected || !one) return;
  title.textContent = `Operations of ${selected}`;
  el.innerHTML = one.operations.length
    ? `<table><thead><tr><th>operation</th>${RED_HEAD}</tr></thead><tbody>${one.operations.map((o) => `
      <tr class="operation-row" data-operation="${esc(o.operation)}">
        <td><a href="#/traces?${esc(new URLSearchParams({ service: selected, operation: o.operation }).toString())}">${esc(o.operation)}</a></td>${redCells(o)}</tr>`).join("")}</tbody></table>`
    : `<p class="muted">No spans of ${esc(selected)} in this window.</p>`;
}
