// Host: CPU, memory, disk, filesystem, network and load from the host metrics the `store`
// keeps (the `hostmetrics` receiver's semantic-convention names), over a selectable window,
// one uPlot chart each (/api/v1/metrics/series). Counters (system.cpu.time, system.disk.io,
// system.network.io) are charted as rates between the last values of consecutive steps.

import { esc, getJSON } from "./api.js";
import { episodeBands, range, steps, storeServes, timeChart, windowOf, windowPicker } from "./charts.js";

const SERIES_ROUTE = "/api/v1/metrics/series";
/** Lines per chart at most (the busiest devices, mounts or interfaces). */
const MAX_LINES = 8;

/** The charts: the metrics each reads, its unit, and how series become lines. */
const CHARTS = [
  { id: "cpu", title: "CPU (% of all CPUs, by state)", unit: "%", metrics: ["system.cpu.utilization", "system.cpu.time"], build: cpu },
  { id: "memory", title: "Memory (by state)", unit: "bytes", metrics: ["system.memory.usage"], build: (s, x) => gauges(s, x, ["state"]) },
  { id: "load", title: "Load average", unit: "", metrics: ["system.cpu.load_average.1m", "system.cpu.load_average.5m", "system.cpu.load_average.15m"], build: loadAverage },
  { id: "filesystem", title: "Filesystem used (% of each mount)", unit: "%", metrics: ["system.filesystem.usage"], build: filesystem },
  { id: "disk", title: "Disk I/O (per device and direction)", unit: "bytes/s", metrics: ["system.disk.io"], build: (s, x) => rates(s, x, ["device", "direction"]) },
  { id: "network", title: "Network I/O (per interface and direction)", unit: "bytes/s", metrics: ["system.network.io"], build: (s, x) => rates(s, x, ["device", "direction"]) },
];

export function render(main, { query }) {
  const win = windowOf(query.get("window"));
  main.innerHTML = `<h2>Host ${windowPicker(win, (id) => `#/host?window=${id}`)}</h2>
    <div id="host-state"><p class="muted">Loading…</p></div>
    <div id="host-charts" class="grid2">${CHARTS.map((c) => `
      <div class="card"><h3>${esc(c.title)}</h3><div class="chart" data-chart="${c.id}"></div></div>`).join("")}</div>`;
  const plots = {};
  let timer = null;
  let stopped = false;
  const tick = async () => {
    const ok = await load(main, win, plots, () => stopped);
    if (ok && !stopped) timer = setTimeout(tick, win.refresh * 1000);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
    for (const plot of Object.values(plots)) plot?.destroy();
  };
}

async function load(main, win, plots, stopped) {
  const state = main.querySelector("#host-state");
  const serves = await storeServes(state, "Host", SERIES_ROUTE, main.querySelector("#host-charts"));
  if (serves === null) return true;
  if (!serves) return false;
  const r = range(win, win.step);
  const x = steps(r);
  const names = [...new Set(CHARTS.flatMap((c) => c.metrics))];
  let answers;
  try {
    answers = await Promise.all(names.map((name) =>
      getJSON(`${SERIES_ROUTE}?name=${encodeURIComponent(name)}&start=${r.start}&end=${r.end}&step=${r.step}`)));
  } catch (err) {
    state.innerHTML = `<p class="bad">${esc(err.message)}</p>`;
    return true;
  }
  if (stopped()) return false;
  const byName = Object.fromEntries(answers.map((a) => [a.name, a.series]));
  const bands = await episodeBands(r.start, r.end);
  let any = false;
  for (const c of CHARTS) {
    const el = main.querySelector(`.chart[data-chart="${c.id}"]`);
    const series = Object.fromEntries(c.metrics.map((m) => [m, byName[m] || []]));
    const lines = c.metrics.some((m) => series[m].length) ? c.build(series, x, r) : [];
    if (!lines.length) {
      plots[c.id]?.destroy();
      plots[c.id] = null;
      el.dataset.points = "0";
      el.innerHTML = `<p class="muted">No ${c.metrics.map((m) => `<code>${esc(m)}</code>`).join(" or ")} in the store for this window.</p>`;
      continue;
    }
    any = true;
    plots[c.id] = timeChart(el, plots[c.id], { x, series: lines, unit: c.unit, start: r.start, end: r.end, bands });
  }
  state.innerHTML = any
    ? `<p class="muted">The last ${win.id}, one point per ${r.step} s (${x.length} steps); shaded: latency anomaly episodes.</p>`
    : `<p class="note">The store holds no host metrics for the last ${win.id}: add the <code>hostmetrics</code> receiver ` +
      `(scrapers <code>cpu</code>, <code>memory</code>, <code>load</code>, <code>filesystem</code>, <code>disk</code>, ` +
      `<code>network</code>) to a metrics pipeline that exports to <code>store</code>.</p>`;
  document.getElementById("status").textContent = `updated ${new Date().toLocaleTimeString("en-GB")}`;
  return true;
}

/** The label of a series from its attributes `keys` (and its host when there are several). */
function labelOf(labels, keys, hosts) {
  const parts = keys.map((k) => labels[k]).filter((v) => v !== undefined && v !== "");
  if (hosts > 1 && labels["host.name"]) parts.unshift(labels["host.name"]);
  return parts.join(" ") || "value";
}

function hostCount(list) {
  return new Set(list.map((s) => s.labels["host.name"])).size;
}

/** Values of `points` on the steps `x`, read with `pick`. */
function onSteps(points, x, pick) {
  const at = new Map(points.map((p) => [p.t, pick(p)]));
  return x.map((t) => (at.has(t) ? at.get(t) : null));
}

/** Per-second increase between consecutive known values (`null` across a counter reset). */
function perSecond(values, x) {
  const out = x.map(() => null);
  let prev = -1;
  for (let i = 0; i < values.length; i += 1) {
    if (values[i] === null) continue;
    if (prev >= 0) {
      const d = values[i] - values[prev];
      out[i] = d >= 0 ? d / (x[i] - x[prev]) : null;
    }
    prev = i;
  }
  return out;
}

/** Sums lines with the same label, value by value (`null` + `null` stays `null`). */
function sumBy(lines) {
  const by = new Map();
  for (const l of lines) {
    const acc = by.get(l.label);
    if (!acc) by.set(l.label, { label: l.label, values: [...l.values] });
    else acc.values = acc.values.map((v, i) => (v === null ? l.values[i] : (l.values[i] === null ? v : v + l.values[i])));
  }
  return [...by.values()];
}

/** The `MAX_LINES` lines with the highest peak. */
function busiest(lines) {
  const peak = (l) => Math.max(0, ...l.values.filter((v) => v !== null));
  return lines.sort((a, b) => peak(b) - peak(a)).slice(0, MAX_LINES).sort((a, b) => a.label.localeCompare(b.label));
}

function gauges(series, x, keys) {
  const list = Object.values(series).flat();
  const hosts = hostCount(list);
  return busiest(sumBy(list.map((s) => ({ label: labelOf(s.labels, keys, hosts), values: onSteps(s.points, x, (p) => p.avg) }))));
}

function rates(series, x, keys) {
  const list = Object.values(series).flat();
  const hosts = hostCount(list);
  return busiest(sumBy(list.map((s) => ({
    label: labelOf(s.labels, keys, hosts),
    values: perSecond(onSteps(s.points, x, (p) => p.max), x),
  }))));
}

function loadAverage(series, x) {
  const lines = [];
  for (const [name, list] of Object.entries(series)) {
    const hosts = hostCount(list);
    for (const s of list) {
      const label = (hosts > 1 ? `${s.labels["host.name"]} ` : "") + name.replace("system.cpu.load_average.", "");
      lines.push({ label, values: onSteps(s.points, x, (p) => p.avg) });
    }
  }
  return lines;
}

/** CPU by state in % of all CPUs: from system.cpu.utilization when enabled (the mean over CPUs),
 * else from the rate of system.cpu.time (seconds per second, summed over CPUs, over their
 * number). Idle is left out: the lines add up to how busy the host is. */
function cpu(series, x) {
  const util = series["system.cpu.utilization"];
  const source = util.length ? util : series["system.cpu.time"];
  const hosts = hostCount(source);
  const cpus = new Map();
  for (const s of source) {
    const host = s.labels["host.name"] || "";
    if (!cpus.has(host)) cpus.set(host, new Set());
    cpus.get(host).add(s.labels.cpu);
  }
  const lines = source
    .filter((s) => s.labels.state !== "idle")
    .map((s) => {
      const values = util.length ? onSteps(s.points, x, (p) => p.avg) : perSecond(onSteps(s.points, x, (p) => p.max), x);
      const n = cpus.get(s.labels["host.name"] || "").size || 1;
      return { label: labelOf(s.labels, ["state"], hosts), values: values.map((v) => (v === null ? null : (100 * v) / n)) };
    });
  return busiest(sumBy(lines));
}

/** Used share of each mount: used / (used + free + reserved) of system.filesystem.usage. */
function filesystem(series, x) {
  const list = series["system.filesystem.usage"];
  const hosts = hostCount(list);
  const mounts = new Map();
  for (const s of list) {
    const label = labelOf(s.labels, ["mountpoint"], hosts);
    if (!mounts.has(label)) mounts.set(label, { used: x.map(() => null), total: x.map(() => null) });
    const m = mounts.get(label);
    onSteps(s.points, x, (p) => p.avg).forEach((v, i) => {
      if (v === null) return;
      m.total[i] = (m.total[i] || 0) + v;
      if (s.labels.state === "used") m.used[i] = (m.used[i] || 0) + v;
    });
  }
  return busiest([...mounts.entries()].map(([label, m]) => ({
    label,
    values: m.total.map((t, i) => (t && m.used[i] !== null ? (100 * m.used[i]) / t : null)),
  })));
}
