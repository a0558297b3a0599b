// Overview: the pipeline graph with live rates (from /api/v1/pipelines), process CPU and RSS
// charted over the page's life, the services of recent traces (from the correlate window) and
// open anomaly episodes and alerts (/api/v1/alerts).

import { NotConfigured, bytes, count, duration, esc, getJSON, notConfigured, rate } from "./api.js";

const POLL_MS = 2000;
/** The services and alerts are read every this many polls: the trace search holds the correlate
 * window's lock while it builds its answer, so it is asked less often than the counters. */
const SLOW_EVERY = 5;
/** Points kept per chart: 10 minutes at one poll every 2 s. */
const HISTORY = 300;

export function render(main) {
  main.innerHTML = `
    <h2>Pipelines</h2><div id="pipelines" class="card"><p class="muted">Loading…</p></div>
    <h2>Process</h2><div class="card"><div id="process" class="stats"></div><div id="chart"></div></div>
    <h2>Services <span class="muted">(root spans of the traces in the correlate window)</span></h2>
    <div id="services" class="card"><p class="muted">Loading…</p></div>
    <h2>Anomalies and alerts</h2><div id="alerts" class="card"><p class="muted">Loading…</p></div>`;
  const history = { t: [], accepted: [], cpu: [] };
  let plot = null;
  let timer = null;
  let stopped = false;
  let routes = null;
  let polls = 0;

  async function poll() {
    try {
      const answer = await getJSON("/api/v1/pipelines");
      if (stopped) return;
      routes = answer.routes;
      drawPipelines(answer);
      drawProcess(answer);
      history.t.push(Date.now() / 1000);
      history.accepted.push(totalAccepted(answer));
      history.cpu.push(answer.process.cpu_percent);
      for (const series of Object.values(history)) {
        if (series.length > HISTORY) series.shift();
      }
      plot = drawChart(plot, history);
      document.getElementById("status").textContent = `updated ${new Date().toLocaleTimeString("en-GB")}`;
    } catch (err) {
      document.getElementById("status").textContent = `not updated: ${err.message}`;
    }
    if (stopped) return;
    if (polls % SLOW_EVERY === 0) await Promise.all([drawServices(routes), drawAlerts()]);
    polls += 1;
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  }
  poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
    if (plot) plot.destroy();
  };
}

function totalAccepted(answer) {
  let sum = null;
  for (const p of answer.pipelines) {
    for (const r of p.receivers) {
      if (r.accepted_per_second !== null) sum = (sum || 0) + r.accepted_per_second;
    }
  }
  return sum;
}

function node(kind, title, lines, refusing) {
  return `<div class="node ${refusing ? "refusing" : ""}" data-kind="${kind}">
    <div class="id">${esc(title)}</div>${lines.join("")}</div>`;
}

function drawPipelines(answer) {
  const el = document.getElementById("pipelines");
  if (!answer.pipelines.length) {
    el.innerHTML = `<p class="muted">No pipelines configured.</p>`;
    return;
  }
  el.innerHTML = answer.pipelines.map((p) => {
    const receivers = p.receivers.map((r) => node("receiver", r.id, [
      `<div>accepted <span class="rate" data-rate="${r.accepted_per_second ?? ""}">${rate(r.accepted_per_second)}</span></div>`,
      `<div class="${r.refused_per_second > 0 ? "bad" : "muted"}">refused ${rate(r.refused_per_second)}</div>`,
    ], r.refused_per_second > 0));
    const processors = p.processors.length
      ? p.processors.map((q) => node("processor", q.id, [
        `<div class="muted">in ${rate(q.incoming_per_second)} · out ${rate(q.outgoing_per_second)}</div>`,
      ], false))
      : [`<div class="muted">(no processors)</div>`];
    const exporters = p.exporters.map((x) => {
      const fill = x.queue_fill === null ? "" :
        `<div class="fill" title="queue ${count(x.queue_size)} / ${count(x.queue_capacity)}"><div style="width:${(x.queue_fill * 100).toFixed(1)}%"></div></div>
         <div class="muted">queue ${(x.queue_fill * 100).toFixed(1)}%</div>`;
      return node("exporter", x.id, [
        `<div>sent <span class="rate" data-rate="${x.sent_per_second ?? ""}">${rate(x.sent_per_second)}</span></div>`,
        `<div class="${x.failed_per_second > 0 ? "bad" : "muted"}">failed ${rate(x.failed_per_second)}</div>`,
        fill,
      ], x.failed_per_second > 0);
    });
    return `<div class="pipeline" data-pipeline="${esc(p.id)}">
      <div><strong>${esc(p.id)}</strong><div class="muted">${esc(p.items)}</div></div>
      <div class="col">${receivers.join("")}</div><div class="arrow">→</div>
      <div class="col">${processors.join("")}</div><div class="arrow">→</div>
      <div class="col">${exporters.join("")}</div></div>`;
  }).join("") + `<p class="muted">Rates over the last ${answer.rate_window_seconds === null ? "—" : answer.rate_window_seconds.toFixed(0)} s, from lookout's own metrics (<a href="/metrics">/metrics</a>).</p>`;
}

function drawProcess(answer) {
  const p = answer.process;
  document.getElementById("process").innerHTML = `
    <div class="stat"><div class="muted">CPU</div><div class="v" id="cpu">${p.cpu_percent === null ? "—" : p.cpu_percent.toFixed(1) + " %"}</div></div>
    <div class="stat"><div class="muted">RSS</div><div class="v" id="rss">${bytes(p.rss_bytes)}</div></div>
    <div class="stat"><div class="muted">CPU time</div><div class="v">${p.cpu_seconds_total === null ? "—" : p.cpu_seconds_total.toFixed(2) + " s"}</div></div>`;
}

function drawChart(plot, history) {
  const data = [history.t, history.accepted, history.cpu];
  if (plot) {
    plot.setData(data);
    return plot;
  }
  const el = document.getElementById("chart");
  return new uPlot({
    width: Math.max(300, el.clientWidth - 8),
    height: 180,
    series: [
      {},
      { label: "accepted items/s", stroke: "#2f5fd0", scale: "rate", spanGaps: true },
      { label: "CPU %", stroke: "#b26a00", scale: "pct", spanGaps: true },
    ],
    axes: [{}, { scale: "rate" }, { scale: "pct", side: 1, grid: { show: false } }],
  }, data, el);
}

function percentile(sorted, q) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

async function drawServices(routes) {
  const el = document.getElementById("services");
  if (!el || routes === null) return;
  if (!routes.includes("/api/v1/traces")) {
    el.innerHTML = notConfigured("Services");
    return;
  }
  let list;
  try {
    list = await getJSON("/api/v1/traces?limit=1000");
  } catch (err) {
    el.innerHTML = err instanceof NotConfigured ? notConfigured("Services") : `<p class="bad">${esc(err.message)}</p>`;
    return;
  }
  const nowNs = Date.now() * 1e6;
  const by = new Map();
  for (const t of list.traces) {
    if (!t.root_service || t.start_unix_nano === null) continue;
    const s = by.get(t.root_service) || { traces: 0, errors: 0, durations: [], oldest: t.start_unix_nano };
    s.traces += 1;
    if (t.error) s.errors += 1;
    s.durations.push(t.duration_ns);
    s.oldest = Math.min(s.oldest, t.start_unix_nano);
    by.set(t.root_service, s);
  }
  if (!by.size) {
    el.innerHTML = `<p class="muted">No traces with a root span in the correlate window yet.</p>`;
    return;
  }
  const rows = [...by.entries()].sort().map(([name, s]) => {
    s.durations.sort((a, b) => a - b);
    const seconds = Math.max(1, (nowNs - s.oldest) / 1e9);
    return `<tr data-service="${esc(name)}"><td><a href="#/traces?service=${encodeURIComponent(name)}">${esc(name)}</a></td>
      <td class="num">${s.traces}</td><td class="num">${rate(s.traces / seconds)}</td>
      <td class="num ${s.errors ? "bad" : ""}">${(100 * s.errors / s.traces).toFixed(1)} %</td>
      <td class="num">${duration(percentile(s.durations, 0.95))}</td></tr>`;
  });
  el.innerHTML = `<table><thead><tr><th>service</th><th class="num">traces</th><th class="num">rate</th>
    <th class="num">error rate</th><th class="num">p95</th></tr></thead><tbody>${rows.join("")}</tbody></table>
    <p class="muted">From the ${list.traces.length} most recent traces in the window (rate since the oldest of them).</p>`;
}

async function drawAlerts() {
  const el = document.getElementById("alerts");
  if (!el) return;
  let answer;
  try {
    answer = await getJSON("/api/v1/alerts");
  } catch (err) {
    el.innerHTML = `<p class="bad">${esc(err.message)}</p>`;
    return;
  }
  const rows = [
    ...answer.latency_anomaly.map((e) => `<tr data-processor="${esc(e.processor)}"><td>${esc(e.processor)}</td><td>latency anomaly episodes</td>
      <td class="num ${e.open_episodes ? "bad" : ""}">${count(e.open_episodes)} open</td>
      <td class="muted">${count(e.fired_total)} fired, ${count(e.resolved_total)} resolved since start</td></tr>`),
    ...answer.alert_rules.map((a) => `<tr data-processor="${esc(a.processor)}"><td>${esc(a.processor)}</td><td>alert rules</td>
      <td class="num ${a.firing ? "bad" : ""}">${count(a.firing)} firing</td><td></td></tr>`),
  ];
  el.innerHTML = (rows.length
    ? `<table><tbody>${rows.join("")}</tbody></table>`
    : `<p class="muted">No <code>latency_anomaly</code> or <code>alert_rules</code> processor reports yet.</p>`) +
    `<p><a href="#/anomalies">Episodes and alert history →</a></p>`;
}
