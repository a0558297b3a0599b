// What the Host and Services pages share: the selectable windows (each with a step that keeps
// a chart at about 120 points at most), the store's routes, and a uPlot time chart with units
// and latency anomaly episodes drawn as bands.

import { bytes, esc, getJSON } from "./api.js";

/** The windows, with the step of the host series (raw points up to 1 h, then the 1 m and 1 h
 * rollups) and of the RED series (whole minutes: RED is kept per minute). */
export const WINDOWS = [
  { id: "15m", seconds: 900, step: 10, redStep: 60, refresh: 10 },
  { id: "1h", seconds: 3600, step: 30, redStep: 60, refresh: 10 },
  { id: "6h", seconds: 21600, step: 180, redStep: 300, refresh: 60 },
  { id: "24h", seconds: 86400, step: 720, redStep: 900, refresh: 60 },
  { id: "7d", seconds: 604800, step: 7200, redStep: 7200, refresh: 300 },
];

/** The window named `id` (default 1 h). */
export function windowOf(id) {
  return WINDOWS.find((w) => w.id === id) || WINDOWS[1];
}

/** `[start, end)` in Unix seconds ending at the next multiple of `step`, so that the steps
 * (and the store's buckets) stay the same from one refresh to the next. */
export function range(win, step) {
  const end = Math.ceil(Date.now() / 1000 / step) * step;
  return { start: end - win.seconds, end, step };
}

/** The step starts of a range. */
export function steps({ start, end, step }) {
  const xs = [];
  for (let t = start; t < end; t += step) xs.push(t);
  return xs;
}

/** Links to each window, the current one marked; `href(id)` makes each link's address. */
export function windowPicker(current, href) {
  return `<span class="windows">${WINDOWS.map((w) =>
    `<a href="${esc(href(w.id))}" data-window="${w.id}" class="${w.id === current.id ? "active" : ""}">${w.id}</a>`).join(" ")}</span>`;
}

/** The store's routes this console lacks (`[]` when a `store` exporter serves them). */
export async function missingStoreRoutes(needed) {
  const answer = await getJSON("/api/v1/pipelines");
  return needed.filter((route) => !answer.routes.includes(route));
}

/**
 * Whether the store serves `route`, said in `state`: an error reading the routes is shown
 * there (`null`); a missing route is named by the page's note and `body` is removed (`false`).
 */
export async function storeServes(state, page, route, body) {
  let missing;
  try {
    missing = await missingStoreRoutes([route]);
  } catch (err) {
    state.innerHTML = `<p class="bad">${esc(err.message)}</p>`;
    return null;
  }
  if (missing.length) {
    state.innerHTML = noStore(page, missing);
    body.remove();
    return false;
  }
  return true;
}

/** The note shown when there is no store. */
export function noStore(page, missing) {
  return `<p class="note no-store">The ${esc(page)} page reads the history <code>store</code>, and this lookout serves no ` +
    `${missing.map((r) => `<code>${esc(r)}</code>`).join(" or ")}: add the <code>store</code> exporter ` +
    `(<code>exporters: {store: {}}</code>) to ${page === "Host"
      ? "a metrics pipeline whose receivers include <code>hostmetrics</code>"
      : "a traces pipeline"} (the default configuration does).</p>`;
}

/** Formats a value in `unit`: `bytes`, `bytes/s`, `%`, `ms`, `/s` or a plain number. */
export function format(unit, v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  switch (unit) {
    case "bytes": return bytes(v);
    case "bytes/s": return `${bytes(v)}/s`;
    case "%": return `${v.toFixed(v < 10 ? 1 : 0)} %`;
    case "ms": return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(v < 10 ? 2 : 0)} ms`;
    case "/s": return `${v.toFixed(v < 10 ? 2 : 1)}/s`;
    default: return v.toFixed(2);
  }
}

const COLORS = ["#2f5fd0", "#c62828", "#1b873f", "#b26a00", "#7b3fb8", "#00838f", "#6d4c41", "#d81b60", "#546e7a", "#9e9d24"];

/** Places the episodes' bands over the plotting area (DOM elements, so they can be read). */
function placeBands(u, bands) {
  for (const old of u.over.querySelectorAll(".episode-band")) old.remove();
  const width = u.over.clientWidth;
  for (const b of bands) {
    const left = Math.max(0, u.valToPos(b.start, "x"));
    const right = Math.min(width, u.valToPos(b.end, "x"));
    if (!(right > 0 && left < width)) continue;
    const el = document.createElement("div");
    el.className = `episode-band ${b.open ? "open" : "resolved"}`;
    el.dataset.service = b.service;
    el.title = b.title;
    el.style.left = `${left}px`;
    el.style.width = `${Math.max(2, right - left)}px`;
    u.over.appendChild(el);
  }
}

/** Draws (or redraws) a time chart in `el`: `x` step starts (Unix seconds), `series`
 * `[{label, values}]` aligned on `x` (`null` where unknown), values in `unit`, the x axis over
 * `[start, end)`, `bands` `[{start, end, service, title, open}]` marked. Returns the plot. */
export function timeChart(el, old, { x, series, unit, start, end, bands = [], height = 200 }) {
  if (old) old.destroy();
  el.innerHTML = "";
  const points = series.reduce((n, s) => n + s.values.filter((v) => v !== null && v !== undefined).length, 0);
  el.dataset.points = String(points);
  el.dataset.series = String(series.length);
  const fmt = (v) => format(unit, v);
  // Without a cursor on the chart, the legend shows each line's latest value.
  const latest = series.map((s) => [...s.values].reverse().find((v) => v !== null && v !== undefined) ?? null);
  const plot = new uPlot({
    width: Math.max(300, el.clientWidth - 8),
    height,
    scales: { x: { time: true, range: () => [start, end] }, y: { range: (u, min, max) => [Math.min(0, min ?? 0), Math.max(max ?? 1, unit === "%" ? 1 : 1e-9)] } },
    series: [{}, ...series.map((s, i) => ({
      label: s.label,
      stroke: COLORS[i % COLORS.length],
      width: 1.5,
      value: (u, v, si, idx) => fmt(idx === null || idx === undefined ? latest[i] : v),
      points: { size: 4 },
    }))],
    axes: [{}, { values: (u, splits) => splits.map(fmt), size: 96 }],
    hooks: { draw: [(u) => placeBands(u, bands)] },
  }, [x, ...series.map((s) => s.values)], el);
  return plot;
}

/** The latency anomaly episodes of `/api/v1/alerts` that overlap `[start, end)` (seconds),
 * as chart bands; an open one lasts until now. */
export async function episodeBands(start, end) {
  let answer;
  try {
    answer = await getJSON("/api/v1/alerts");
  } catch {
    return [];
  }
  const now = Date.now();
  return answer.episodes.items
    .map((e) => ({
      start: e.starts_at_ms / 1000,
      end: (e.ends_at_ms ?? now) / 1000,
      service: e.service || "",
      open: e.ends_at_ms === null,
      title: `latency anomaly (${e.kind}) on ${e.service || "?"} ` +
        `${e.labels.filter(([k]) => k !== "service" && k !== "service.name").map(([, v]) => v).join(" ")}: ` +
        `baseline ${e.baseline_ms.toFixed(1)} ms, observed ${e.observed_ms.toFixed(1)} ms`,
    }))
    .filter((b) => b.end >= start && b.start < end);
}
