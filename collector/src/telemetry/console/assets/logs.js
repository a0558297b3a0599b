// Logs: the live tail. The most recent log records that passed through a correlate processor
// (/api/v1/logs/tail, a bounded ring), newest first, followed live by polling with the cursor
// of the last line seen; filtered by service, minimum severity and text on the server; each
// line with a trace id linked to its trace.

import { esc, getJSON, hasTraceApi, count } from "./api.js";

/** Poll interval while following. */
const EVERY_MS = 1000;
/** Rows the page keeps (older rows are removed as new ones arrive). */
const MAX_ROWS = 500;

export function render(main, { query }) {
  main.innerHTML = `<h2>Logs <span class="muted">(live tail of the records passing through <code>correlate</code>)</span></h2>
    <form class="search card">
      <label>service<input name="service" value="${esc(query.get("service") || "")}"></label>
      <label>severity<select name="severity">
        <option value="">any</option><option value="debug">debug and above</option><option value="info">info and above</option>
        <option value="warn">warn and above</option><option value="error">error and above</option>
      </select></label>
      <label>contains<input name="contains" value="${esc(query.get("contains") || "")}"></label>
      <button type="submit">Filter</button>
      <label class="inline"><span><input type="checkbox" name="follow" checked> follow live</span></label>
    </form>
    <div class="card"><p id="tail-state" class="muted">Loading…</p>
    <table><thead><tr><th>time</th><th>service</th><th>severity</th><th>line</th><th>trace</th></tr></thead><tbody id="lines"></tbody></table></div>`;
  const form = main.querySelector("form");
  form.severity.value = query.get("severity") || "";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams({ service: form.service.value, severity: form.severity.value, contains: form.contains.value });
    location.hash = `#/logs?${params}`;
  });
  const filters = new URLSearchParams({
    service: query.get("service") || "", severity: query.get("severity") || "", contains: query.get("contains") || "",
  });
  let stopped = false;
  let timer = null;
  let next = null;
  const tbody = main.querySelector("#lines");
  const state = main.querySelector("#tail-state");
  const poll = async () => {
    if (form.follow.checked || next === null) {
      try {
        const params = new URLSearchParams(filters);
        if (next !== null) params.set("after", next);
        const answer = await getJSON(`/api/v1/logs/tail?${params}`);
        if (stopped) return;
        const missed = next !== null && answer.oldest !== null && answer.oldest > next + 1;
        add(tbody, answer.lines);
        next = answer.next;
        const shown = tbody.rows.length;
        state.innerHTML = shown
          ? `${count(shown)} line${shown === 1 ? "" : "s"} shown, newest first${form.follow.checked ? ", following live" : ", paused"}; the tail holds ` +
            `${(answer.bytes / 1024).toFixed(0)} of ${(answer.max_bytes / 1024).toFixed(0)} KiB` +
            (answer.evicted ? `, ${count(answer.evicted)} older lines evicted` : "") + (missed ? " (some lines were evicted before they were shown)" : "") +
            (answer.skipped ? ` (${count(answer.skipped)} lines came faster than shown and were skipped)` : "") + "."
          : (await hasTraceApi())
            ? "No log line matches yet; new ones appear here as they arrive."
            : `No log line yet. The live tail is fed by the <code>correlate</code> processor: list it in a logs pipeline.`;
      } catch (err) {
        state.innerHTML = `<span class="bad">${esc(err.message)}</span>`;
      }
    }
    if (!stopped) timer = setTimeout(poll, EVERY_MS);
  };
  poll();
  return () => { stopped = true; clearTimeout(timer); };
}

function clock(ms) {
  const d = new Date(ms);
  return d.toLocaleTimeString("en-GB", { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

/** Prepends `lines` (oldest first) so the newest is on top; keeps MAX_ROWS rows. */
function add(tbody, lines) {
  if (!lines.length) return;
  const html = lines.slice().reverse().map((l) => `
    <tr class="log-row" data-seq="${l.seq}"><td class="mono">${clock(l.time_ms)}</td>
      <td>${esc(l.service || "—")}</td>
      <td class="${l.severity_number >= 17 ? "bad" : l.severity_number >= 13 ? "warn" : ""}">${esc(l.severity)}</td>
      <td class="mono">${esc(l.body)}</td>
      <td class="mono">${l.trace_id ? `<a href="#/traces/${esc(l.trace_id)}">${esc(l.trace_id.slice(0, 16))}…</a>` : `<span class="muted">—</span>`}</td></tr>`).join("");
  tbody.insertAdjacentHTML("afterbegin", html);
  while (tbody.rows.length > MAX_ROWS) tbody.deleteRow(-1);
}
