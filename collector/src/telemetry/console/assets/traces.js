// Traces: a search form over the correlate window (/api/v1/traces), the matching traces, and
// one trace's waterfall with each span's log lines inline and its latency verdict
// (/api/v1/traces/{id}).

import { NotConfigured, hasTraceApi, duration, esc, getJSON, notConfigured, time } from "./api.js";

const FIELDS = ["service", "operation", "min_duration_ms", "error", "anomalous", "has_error_logs", "limit"];

export function render(main, { parts, query }) {
  if (parts[0]) {
    waterfall(main, parts[0]);
  } else {
    search(main, query);
  }
}

function checkbox(name, label, query) {
  return `<label><span>${label}</span><input type="checkbox" name="${name}" ${query.get(name) === "true" ? "checked" : ""}></label>`;
}

async function search(main, query) {
  main.innerHTML = `<h2>Traces</h2>
    <form class="search card">
      <label>service<input name="service" value="${esc(query.get("service") || "")}"></label>
      <label>operation<input name="operation" value="${esc(query.get("operation") || "")}"></label>
      <label>min duration (ms)<input name="min_duration_ms" type="number" min="0" value="${esc(query.get("min_duration_ms") || "")}"></label>
      ${checkbox("error", "error", query)}${checkbox("anomalous", "anomalous", query)}${checkbox("has_error_logs", "error logs", query)}
      <label>limit<input name="limit" type="number" min="1" value="${esc(query.get("limit") || "20")}"></label>
      <button type="submit">Search</button>
    </form>
    <div id="results" class="card"><p class="muted">Loading…</p></div>`;
  main.querySelector("form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const params = new URLSearchParams();
    for (const name of FIELDS) {
      const value = form.get(name);
      if (value === "on") params.set(name, "true");
      else if (value) params.set(name, value);
    }
    location.hash = `#/traces?${params}`;
  });
  const params = new URLSearchParams();
  for (const name of FIELDS) {
    if (query.get(name)) params.set(name, query.get(name));
  }
  const results = main.querySelector("#results");
  let list;
  try {
    if (!(await hasTraceApi())) throw new NotConfigured("/api/v1/traces");
    list = await getJSON(`/api/v1/traces?${params}`);
  } catch (err) {
    results.innerHTML = err instanceof NotConfigured ? notConfigured("Trace search") : `<p class="bad">${esc(err.message)}</p>`;
    return;
  }
  if (!list.traces.length) {
    results.innerHTML = `<p class="muted">No trace in the window matches.</p>`;
    return;
  }
  results.innerHTML = `<table><thead><tr><th>trace</th><th>root</th><th>start</th><th class="num">duration</th>
    <th class="num">spans</th><th class="num">logs</th><th></th></tr></thead><tbody>${list.traces.map((t) => `
    <tr class="trace-row" data-trace="${esc(t.trace_id)}">
      <td class="mono"><a href="#/traces/${esc(t.trace_id)}">${esc(t.trace_id.slice(0, 16))}…</a></td>
      <td>${esc(t.root_service ?? "?")} <span class="muted">${esc(t.root_name ?? "(root not in window)")}</span></td>
      <td>${time(t.start_unix_nano)}</td><td class="num">${duration(t.duration_ns)}</td>
      <td class="num">${t.spans}</td><td class="num">${t.logs}</td>
      <td>${t.error ? `<span class="badge error">error</span>` : ""}${t.anomalous ? `<span class="badge anomaly">anomalous</span>` : ""}${t.error_logs ? `<span class="badge error">${t.error_logs} error logs</span>` : ""}</td>
    </tr>`).join("")}</tbody></table>`;
}

/** The span tree, depth first in start order, with each span's depth. */
function flatten(spans, depth, out) {
  for (const span of spans) {
    out.push({ span, depth });
    flatten(span.children, depth + 1, out);
  }
  return out;
}

function logLines(logs) {
  return logs.map((l) => `<div class="wf-log ${l.severity_number >= 17 ? "sev-error" : ""}">
    <span class="muted">${time(l.time_unix_nano)}</span> <strong>${esc(l.severity_text || "")}</strong> ${esc(l.body)}</div>`).join("");
}

async function waterfall(main, id) {
  main.innerHTML = `<h2>Trace <span class="mono">${esc(id)}</span></h2><div id="trace" class="card"><p class="muted">Loading…</p></div>`;
  const el = main.querySelector("#trace");
  let trace;
  try {
    if (!(await hasTraceApi())) throw new NotConfigured("/api/v1/traces");
    trace = await getJSON(`/api/v1/traces/${encodeURIComponent(id)}`);
  } catch (err) {
    el.innerHTML = err instanceof NotConfigured ? notConfigured("Traces") : `<p class="bad">${esc(err.message)}</p>`;
    return;
  }
  const rows = flatten(trace.spans, 0, []);
  if (!rows.length) {
    el.innerHTML = `<p class="muted">This trace holds no span in the window.</p>`;
  } else {
    const start = Math.min(...rows.map((r) => r.span.start_unix_nano));
    const end = Math.max(...rows.map((r) => r.span.start_unix_nano + r.span.duration_ns));
    const total = Math.max(1, end - start);
    el.innerHTML = `<p class="muted">${rows.length} spans · ${duration(end - start)} · <a href="#/traces">back to search</a></p>` +
      rows.map(({ span, depth }) => {
        const left = (100 * (span.start_unix_nano - start)) / total;
        const width = Math.max(0.2, (100 * span.duration_ns) / total);
        const error = span.status.code === 2;
        const verdict = span.verdict && span.verdict.anomaly
          ? `<span class="badge anomaly" title="root span ${esc(span.verdict.root_span_id)}">anomaly: ${esc(span.verdict.kind)}</span>` : "";
        return `<div class="wf-row span" data-span="${esc(span.span_id)}">
          <div class="wf-name" style="padding-left:${depth * 14}px" title="${esc(span.name)}">
            <span class="muted">${esc(span.service)}</span> ${esc(span.name)}${error ? `<span class="badge error">error</span>` : ""}${verdict}</div>
          <div class="wf-track"><div class="wf-bar ${error ? "error" : ""}" style="left:${left}%;width:${width}%" title="${duration(span.duration_ns)}"></div></div>
          ${span.logs.length ? `<div class="wf-logs">${logLines(span.logs)}</div>` : ""}
        </div>`;
      }).join("");
  }
  if (trace.logs_without_span.length) {
    el.insertAdjacentHTML("beforeend", `<h2>Logs of the trace without a span in the window</h2><div class="wf-logs">${logLines(trace.logs_without_span)}</div>`);
  }
}
