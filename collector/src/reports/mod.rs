//! Reports (issue 16; docs/reports.md): over a time range, from the history store, per
//! service RED with the slowest operations, anomaly episodes ranked by impact, error-log
//! hot spots, host utilisation, alerts, and forecasts with their backtested error — as HTML,
//! JSON or CSV; made by `lookout report`, `GET /api/v1/report`, and on a schedule.
//!
//! `model.rs` what a report holds; `gather.rs` reads it from a store; `events.rs` episodes
//! (ranked) and alerts; `forecast.rs` the methods and the backtest; `predict.rs` which
//! series are forecast and how; `html.rs`, `csv.rs` the formats; `cli.rs` the command;
//! `schedule.rs` scheduled reports; `config.rs` their settings.

pub mod cli;
pub(crate) mod config;
mod csv;
mod events;
mod forecast;
mod gather;
mod html;
mod model;
mod predict;
pub(crate) mod schedule;
#[cfg(test)]
mod tests;

use std::str::FromStr;
use std::time::Duration;

use crate::exporters::store::Store;

pub(crate) use model::Report;

/// How a report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One self-contained page.
    #[default]
    Html,
    /// The [`Report`] as JSON (docs/reports.md, "JSON").
    Json,
    /// The tables as CSV.
    Csv,
}

impl Format {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Html => "html",
            Format::Json => "json",
            Format::Csv => "csv",
        }
    }

    /// The media type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Html => "text/html; charset=utf-8",
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "html" => Ok(Format::Html),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            other => Err(format!(
                "unknown format {other:?}; expected html, json or csv"
            )),
        }
    }
}

/// The report of `[from, to)` (unix nanoseconds).
pub(crate) fn build(store: &Store, from: i64, to: i64) -> Report {
    gather::build(store, from, to, crate::exporters::store::now_ns())
}

/// `report` written in `format`.
pub(crate) fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Html => html::render(report),
        Format::Json => serde_json::to_string_pretty(report).unwrap_or_default(),
        Format::Csv => csv::render(report),
    }
}

/// A duration as nanoseconds (saturating).
pub(crate) fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}
