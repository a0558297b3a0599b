//! Metric views: the request / resource / scope levels and [`MetricView`].

use super::any_value::AnyValueView;
use super::levels::{NestedKeyValues, ResourceLevel, ScopeLevel, signal_views};
use super::{Result, ViewIter, as_str, reader};

signal_views!(
    MetricsView,
    "A borrowed view of an encoded `ExportMetricsServiceRequest`.",
    resource_metrics,
    ResourceMetricsView,
    "A borrowed `ResourceMetrics`.",
    scope_metrics,
    ScopeMetricsView,
    "A borrowed `ScopeMetrics`.",
    metrics,
    MetricView
);

/// Which `data` oneof variant a metric carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricDataType {
    /// No `data` field.
    Empty,
    /// `gauge`.
    Gauge,
    /// `sum`.
    Sum,
    /// `histogram`.
    Histogram,
    /// `exponential_histogram`.
    ExponentialHistogram,
    /// `summary`.
    Summary,
}

/// A borrowed `Metric`.
#[derive(Debug, Clone, Copy)]
pub struct MetricView<'a> {
    encoded: &'a [u8],
    name: &'a str,
    description: &'a str,
    unit: &'a str,
    data_type: MetricDataType,
    data_points: usize,
}

impl<'a> MetricView<'a> {
    fn from_payload(body: &'a [u8], base: usize) -> Result<Self> {
        let mut m = MetricView {
            encoded: body,
            name: "",
            description: "",
            unit: "",
            data_type: MetricDataType::Empty,
            data_points: 0,
        };
        let mut r = reader(body, base);
        while let Some(f) = r.next_field()? {
            match f.number {
                1 => m.name = as_str(&f, "Metric.name")?,
                2 => m.description = as_str(&f, "Metric.description")?,
                3 => m.unit = as_str(&f, "Metric.unit")?,
                5 => m.data_type = MetricDataType::Gauge,
                7 => m.data_type = MetricDataType::Sum,
                9 => m.data_type = MetricDataType::Histogram,
                10 => m.data_type = MetricDataType::ExponentialHistogram,
                11 => m.data_type = MetricDataType::Summary,
                _ => {}
            }
        }
        // Counting needs the full oneof merge rules; reuse the validator's.
        m.data_points = crate::wire::validate::metric_data_points(reader(body, base))?;
        Ok(m)
    }
}

impl<'a> MetricView<'a> {
    /// The metric's own encoding (the `Metric` message without its length prefix): decode
    /// just this metric with prost when its points are needed.
    pub fn encoded(&self) -> &'a [u8] {
        self.encoded
    }
    /// `name`.
    pub fn name(&self) -> &'a str {
        self.name
    }
    /// `description`.
    pub fn description(&self) -> &'a str {
        self.description
    }
    /// `unit`.
    pub fn unit(&self) -> &'a str {
        self.unit
    }
    /// The `data` variant (the last one, as prost keeps).
    pub fn data_type(&self) -> MetricDataType {
        self.data_type
    }
    /// Number of data points, counted like [`validate_metrics`](crate::wire::validate_metrics).
    pub fn data_point_count(&self) -> usize {
        self.data_points
    }
}
