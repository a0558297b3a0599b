//! The console's files, embedded in the binary: `cargo build` alone produces a `lookout` that
//! serves the console (no npm step; `assets/vendor/fetch-uplot.sh` re-fetches the vendored
//! uPlot).

/// One embedded file.
pub(crate) struct Asset {
    /// The path it is served at.
    pub(crate) path: &'static str,
    /// Its `Content-Type`.
    pub(crate) content_type: &'static str,
    /// Its bytes.
    pub(crate) body: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

macro_rules! asset {
    ($path:literal, $file:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!("assets/", $file)),
        }
    };
}

/// Every file the console serves; `/` is the single page, which routes by its `#` fragment.
pub(crate) const ASSETS: &[Asset] = &[
    asset!("/", "index.html", HTML),
    asset!("/console/console.css", "console.css", CSS),
    asset!("/console/app.js", "app.js", JS),
    asset!("/console/api.js", "api.js", JS),
    asset!("/console/overview.js", "overview.js", JS),
    asset!("/console/traces.js", "traces.js", JS),
    asset!("/console/logs.js", "logs.js", JS),
    asset!("/console/anomalies.js", "anomalies.js", JS),
    asset!("/console/charts.js", "charts.js", JS),
    asset!("/console/host.js", "host.js", JS),
    asset!("/console/services.js", "services.js", JS),
    asset!("/console/reports.js", "reports.js", JS),
    asset!(
        "/console/vendor/uPlot.iife.min.js",
        "vendor/uPlot.iife.min.js",
        JS
    ),
    asset!("/console/vendor/uPlot.min.css", "vendor/uPlot.min.css", CSS),
    asset!(
        "/console/vendor/uPlot.LICENSE",
        "vendor/uPlot.LICENSE",
        "text/plain; charset=utf-8"
    ),
];

/// The file served at `path`.
pub(crate) fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}
