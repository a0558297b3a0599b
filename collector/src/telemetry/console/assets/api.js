// Fetching the admin listener's JSON routes, and formatting numbers.

/** A route that is not there: the component serving it is not configured. */
export class NotConfigured extends Error {}

/** GET a JSON route; NotConfigured on 404 without a JSON body (no component serves it). */
export async function getJSON(url) {
  const response = await fetch(url, { headers: { accept: "application/json" } });
  const type = response.headers.get("content-type") || "";
  if (response.status === 404 && !type.includes("json")) {
    throw new NotConfigured(url);
  }
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    throw new Error(`${url}: ${response.status} ${body.error || body}`);
  }
  return body;
}

let traceApi = null;

/** Whether a component (the correlate processor) serves /api/v1/traces: asked once per page
 * load, so a console without it never requests a route that is not there. */
export async function hasTraceApi() {
  if (traceApi === null) {
    const answer = await getJSON("/api/v1/pipelines");
    traceApi = answer.routes.includes("/api/v1/traces");
  }
  return traceApi;
}

/** Escapes text for innerHTML. */
export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

/** A rate, or an em dash when unknown. */
export function rate(value) {
  if (value === null || value === undefined) return "—";
  if (value >= 100) return `${value.toFixed(0)}/s`;
  return `${value.toFixed(value >= 10 ? 1 : 2)}/s`;
}

/** A count, or an em dash. */
export function count(value) {
  if (value === null || value === undefined) return "—";
  return Math.round(value).toLocaleString("en");
}

/** Bytes, in binary units. */
export function bytes(value) {
  if (value === null || value === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB"];
  let v = value;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
}

/** A duration in nanoseconds, in the unit that reads best. */
export function duration(ns) {
  if (ns === null || ns === undefined) return "—";
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(2)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(1)} ms`;
  return `${(ns / 1e3).toFixed(0)} µs`;
}

/** A Unix time in nanoseconds, as local wall-clock time. */
export function time(ns) {
  if (!ns) return "—";
  const d = new Date(ns / 1e6);
  return d.toLocaleTimeString("en-GB", { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

/** The message to show when a route's component is missing. */
export function notConfigured(what) {
  return `<p class="note">${esc(what)} needs the <code>correlate</code> processor in a traces pipeline ` +
    `(its trace window answers <code>/api/v1/traces</code>); the history <code>store</code> will serve ` +
    `older data once configured.</p>`;
}
