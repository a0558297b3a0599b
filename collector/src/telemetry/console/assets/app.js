// The console's router: one page per `#/...` fragment; each page returns a function that
// stops its polling when another page replaces it.

import * as overview from "./overview.js";
import * as traces from "./traces.js";
import * as logs from "./logs.js";
import * as anomalies from "./anomalies.js";
import * as host from "./host.js";
import * as services from "./services.js";
import * as reports from "./reports.js";

const PAGES = { overview, host, services, traces, logs, anomalies, reports };
let stop = () => {};

function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query] = hash.split("?");
  const parts = path.split("/").filter(Boolean);
  const name = PAGES[parts[0]] ? parts[0] : "overview";
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("active", link.dataset.page === name);
  }
  stop();
  document.getElementById("status").textContent = "";
  const main = document.getElementById("page");
  main.innerHTML = "";
  main.dataset.page = name;
  stop = PAGES[name].render(main, { parts: parts.slice(1), query: new URLSearchParams(query || "") }) || (() => {});
}

window.addEventListener("hashchange", route);
route();
