// Anomalies & alerts: the latency anomaly episodes (baseline vs observed, duration, kind,
// example traces) and the alerts the alerting extension received (state, labels, notifiers),
// open ones first, newest first, from /api/v1/alerts; read every 5 s while the page is open.

import { esc, getJSON, duration, count } from "./api.js";

const EVERY_MS = 5000;

export function render(main) {
  main.innerHTML = `<h2>Latency anomaly episodes</h2><div id="episodes" class="card"><p class="muted">Loading…</p></div>
    <h2>Alerts</h2><div id="alert-history" class="card"><p class="muted">Loading…</p></div>`;
  let timer = null;
  let stopped = false;
  const tick = async () => {
    await load(main);
    if (!stopped) timer = setTimeout(tick, EVERY_MS);
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

/** A wall-clock time from ms since the epoch. */
function when(ms) {
  if (!ms) return "—";
  const d = new Date(ms);
  return d.toLocaleString("en-GB", { hour12: false });
}

/** How long from `start` to `end` (or now, while open). */
function lasted(start, end) {
  return duration(((end ?? Date.now()) - start) * 1e6);
}

function traceLinks(ids) {
  if (!ids.length) return `<span class="muted">—</span>`;
  return ids.slice(0, 3).map((id) => `<a class="mono trace-link" href="#/traces/${esc(id)}">${esc(id.slice(0, 16))}…</a>`).join("<br>");
}

function evicted(list, what) {
  return `<p class="muted">${count(list.items.length)} ${what} kept (at most ${count(list.capacity)}, in memory)` +
    (list.evicted ? `; ${count(list.evicted)} older ones evicted` : "") + ".</p>";
}

async function load(main) {
  let answer;
  try {
    answer = await getJSON("/api/v1/alerts");
  } catch (err) {
    main.querySelector("#episodes").innerHTML = `<p class="bad">${esc(err.message)}</p>`;
    return;
  }
  const { configured } = answer;
  const episodesEl = main.querySelector("#episodes");
  const alertsEl = main.querySelector("#alert-history");
  if (!configured.latency_anomaly && !configured.alerting) {
    const note = `<p class="note">Neither a <code>latency_anomaly</code> processor nor an <code>alerting</code> extension is configured, ` +
      `so there are no anomaly episodes or alerts to show. Add <code>latency_anomaly</code> to a traces pipeline to detect ` +
      `latency episodes, and an <code>alerting</code> extension (with <code>alert_rules</code> or <code>latency_anomaly</code>'s ` +
      `<code>alerting:</code>) to keep an alert history.</p>`;
    episodesEl.innerHTML = note;
    alertsEl.innerHTML = `<p class="muted">See above.</p>`;
    return;
  }
  const episodes = answer.episodes.items;
  if (!configured.latency_anomaly) {
    episodesEl.innerHTML = `<p class="note">No <code>latency_anomaly</code> processor is configured.</p>`;
  } else if (!episodes.length) {
    episodesEl.innerHTML = `<p class="muted">No episode yet: latency looks like its baseline.</p>${evicted(answer.episodes, "episodes")}`;
  } else {
    episodesEl.innerHTML = `<table><thead><tr><th>state</th><th>key</th><th>kind</th><th class="num">baseline</th><th class="num">observed (worst)</th>
      <th>started</th><th class="num">duration</th><th>example traces</th></tr></thead><tbody>${episodes.map((e) => `
      <tr class="episode ${e.ends_at_ms ? "resolved" : "open"}" data-kind="${esc(e.kind)}">
        <td class="${e.ends_at_ms ? "ok" : "bad"}">${e.ends_at_ms ? "resolved" : "open"}</td>
        <td>${esc(e.service || "—")} <span class="muted">${esc(e.labels.filter(([k]) => k !== "service").map(([, v]) => v).join(" "))}</span></td>
        <td><span class="badge anomaly">${esc(e.kind)}</span></td>
        <td class="num">${e.baseline_ms.toFixed(2)} ms</td>
        <td class="num">${e.observed_ms.toFixed(2)} ms <span class="muted">×${e.max_ratio.toFixed(1)}</span></td>
        <td>${when(e.starts_at_ms)}</td>
        <td class="num">${lasted(e.starts_at_ms, e.ends_at_ms)}</td>
        <td>${traceLinks(e.example_trace_ids)}</td></tr>`).join("")}</tbody></table>${evicted(answer.episodes, "episodes")}`;
  }
  const alerts = answer.alerts.items;
  if (!configured.alerting) {
    alertsEl.innerHTML = `<p class="note">No <code>alerting</code> extension is configured: alerts are neither routed nor kept.</p>`;
  } else if (!alerts.length) {
    alertsEl.innerHTML = `<p class="muted">No alert yet.</p>${evicted(answer.alerts, "alerts")}`;
  } else {
    alertsEl.innerHTML = `<table><thead><tr><th>state</th><th>alert</th><th>labels</th><th>summary</th><th>started</th>
      <th class="num">duration</th><th>notifiers</th><th>traces</th></tr></thead><tbody>${alerts.map((a) => `
      <tr class="alert ${esc(a.state)}" data-alertname="${esc(a.labels.alertname || "")}">
        <td class="${a.state === "firing" ? "bad" : "ok"}">${esc(a.state)}</td>
        <td>${esc(a.labels.alertname || "—")}</td>
        <td>${Object.entries(a.labels).filter(([k]) => k !== "alertname").map(([k, v]) => `<span class="badge">${esc(k)}=${esc(v)}</span>`).join(" ")}</td>
        <td>${esc(a.annotations.summary || a.annotations.description || "")}</td>
        <td>${when(a.starts_at_ms)}</td>
        <td class="num">${lasted(a.starts_at_ms, a.ends_at_ms)}</td>
        <td>${esc(a.notifiers.join(", ") || "—")}</td>
        <td>${traceLinks(a.trace_ids)}</td></tr>`).join("")}</tbody></table>${evicted(answer.alerts, "alerts")}`;
  }
}
