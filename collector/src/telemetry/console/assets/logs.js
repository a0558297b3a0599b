// Logs: the log lines of the most recent traces in the correlate window, newest first, each
// linked to its trace; filtered by text and severity in the page.

import { NotConfigured, hasTraceApi, esc, getJSON, notConfigured, time } from "./api.js";

/** Traces whose lines are fetched: one request each. */
const TRACES = 20;

export function render(main, { query }) {
  main.innerHTML = `<h2>Logs <span class="muted">(of the ${TRACES} most recent traces in the correlate window)</span></h2>
    <form class="search card">
      <label>contains<input name="q" value="${esc(query.get("q") || "")}"></label>
      <label>severity<select name="severity">
        <option value="0">any</option><option value="13">warn and above</option><option value="17">error and above</option>
      </select></label>
      <button type="submit">Filter</button>
    </form>
    <div id="lines" class="card"><p class="muted">Loading…</p></div>`;
  const form = main.querySelector("form");
  form.severity.value = query.get("severity") || "0";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams({ q: form.q.value, severity: form.severity.value });
    location.hash = `#/logs?${params}`;
  });
  load(main.querySelector("#lines"), query.get("q") || "", Number(query.get("severity") || 0));
}

function collect(spans, traceId, out) {
  for (const span of spans) {
    for (const log of span.logs) out.push({ log, traceId, span: span.name, service: span.service });
    collect(span.children, traceId, out);
  }
}

async function load(el, text, severity) {
  let list;
  try {
    if (!(await hasTraceApi())) throw new NotConfigured("/api/v1/traces");
    list = await getJSON(`/api/v1/traces?limit=${TRACES}`);
  } catch (err) {
    el.innerHTML = err instanceof NotConfigured ? notConfigured("Logs") : `<p class="bad">${esc(err.message)}</p>`;
    return;
  }
  const withLogs = list.traces.filter((t) => t.logs > 0);
  const traces = await Promise.all(withLogs.map((t) => getJSON(`/api/v1/traces/${t.trace_id}`).catch(() => null)));
  const lines = [];
  for (const trace of traces.filter(Boolean)) {
    collect(trace.spans, trace.trace_id, lines);
    for (const log of trace.logs_without_span) lines.push({ log, traceId: trace.trace_id, span: null, service: null });
  }
  const shown = lines
    .filter(({ log }) => log.severity_number >= severity && (!text || log.body.includes(text)))
    .sort((a, b) => b.log.time_unix_nano - a.log.time_unix_nano);
  if (!shown.length) {
    el.innerHTML = `<p class="muted">No log line of a recent trace matches.</p>`;
    return;
  }
  el.innerHTML = `<table><thead><tr><th>time</th><th>severity</th><th>line</th><th>span</th><th>trace</th></tr></thead><tbody>${shown.map(({ log, traceId, span, service }) => `
    <tr class="log-row"><td class="mono">${time(log.time_unix_nano)}</td>
      <td class="${log.severity_number >= 17 ? "bad" : ""}">${esc(log.severity_text)}</td>
      <td class="mono">${esc(log.body)}</td>
      <td>${span ? `${esc(service)} <span class="muted">${esc(span)}</span>` : `<span class="muted">no span</span>`}</td>
      <td class="mono"><a href="#/traces/${esc(traceId)}">${esc(traceId.slice(0, 16))}…</a></td></tr>`).join("")}</tbody></table>`;
}
