//! Metric messages: `ResourceMetrics` down to data points and exemplars, counting data points
//! with prost's oneof semantics.

use super::common::{AttributeCount, attribute, resource, scope};
use super::fields::{LastId, fixed64, message, packed_fixed64, packed_varint, string, varint};
use super::{MetricsSummary, Result};
use crate::Limits;
use crate::wire::reader::FieldReader;

pub(super) fn resource_metrics(
    mut r: FieldReader<'_>,
    s: &mut MetricsSummary,
    lim: &Limits,
) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => resource(message(&r, &f, "ResourceMetrics.resource")?, lim)?,
            2 => {
                scope_metrics(message(&r, &f, "ResourceMetrics.scope_metrics")?, s, lim)?;
                s.scope_metrics += 1;
            }
            3 => {
                string(&f, "ResourceMetrics.schema_url")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

fn scope_metrics(mut r: FieldReader<'_>, s: &mut MetricsSummary, lim: &Limits) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => scope(message(&r, &f, "ScopeMetrics.scope")?, lim)?,
            2 => {
                s.data_points += metric(message(&r, &f, "ScopeMetrics.metrics")?, lim)?;
                s.metrics += 1;
            }
            3 => {
                string(&f, "ScopeMetrics.schema_url")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

/// Returns the data point count of the metric's final `data` value.
pub(super) fn metric(mut r: FieldReader<'_>, lim: &Limits) -> Result<usize> {
    let mut variant = 0u32;
    let mut attrs = AttributeCount::default();
    let mut points = 0usize;
    while let Some(f) = r.next_field()? {
        let n = match f.number {
            1 => {
                string(&f, "Metric.name")?;
                continue;
            }
            2 => {
                string(&f, "Metric.description")?;
                continue;
            }
            3 => {
                string(&f, "Metric.unit")?;
                continue;
            }
            12 => {
                attribute(&r, &f, "Metric.metadata", lim, &mut attrs)?;
                continue;
            }
            5 => data(message(&r, &f, "Metric.gauge")?, DataKind::Gauge, lim)?,
            7 => data(message(&r, &f, "Metric.sum")?, DataKind::Sum, lim)?,
            9 => data(
                message(&r, &f, "Metric.histogram")?,
                DataKind::Histogram,
                lim,
            )?,
            10 => data(
                message(&r, &f, "Metric.exponential_histogram")?,
                DataKind::ExpHistogram,
                lim,
            )?,
            11 => data(message(&r, &f, "Metric.summary")?, DataKind::Summary, lim)?,
            _ => {
                r.skip_unknown(&f)?;
                continue;
            }
        };
        // prost merges a repeated occurrence of the same oneof variant and replaces on change.
        if f.number == variant {
            points += n;
        } else {
            variant = f.number;
            points = n;
        }
    }
    Ok(points)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum DataKind {
    Gauge,
    Sum,
    Histogram,
    ExpHistogram,
    Summary,
}

fn data(mut r: FieldReader<'_>, kind: DataKind, lim: &Limits) -> Result<usize> {
    let mut n = 0;
    while let Some(f) = r.next_field()? {
        match (kind, f.number) {
            (DataKind::Gauge | DataKind::Sum, 1) => {
                number_data_point(message(&r, &f, "NumberDataPoint")?, lim)?;
                n += 1;
            }
            (DataKind::Histogram, 1) => {
                histogram_data_point(message(&r, &f, "HistogramDataPoint")?, lim)?;
                n += 1;
            }
            (DataKind::ExpHistogram, 1) => {
                exp_histogram_data_point(message(&r, &f, "ExponentialHistogramDataPoint")?, lim)?;
                n += 1;
            }
            (DataKind::Summary, 1) => {
                summary_data_point(message(&r, &f, "SummaryDataPoint")?, lim)?;
                n += 1;
            }
            (DataKind::Sum | DataKind::Histogram | DataKind::ExpHistogram, 2) => {
                varint(&f, "aggregation_temporality")?;
            }
            (DataKind::Sum, 3) => {
                varint(&f, "Sum.is_monotonic")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(n)
}

fn number_data_point(mut r: FieldReader<'_>, lim: &Limits) -> Result<()> {
    let mut attrs = AttributeCount::default();
    while let Some(f) = r.next_field()? {
        match f.number {
            7 => attribute(&r, &f, "NumberDataPoint.attributes", lim, &mut attrs)?,
            2 => {
                fixed64(&f, "NumberDataPoint.start_time_unix_nano")?;
            }
            3 => {
                fixed64(&f, "NumberDataPoint.time_unix_nano")?;
            }
            4 => {
                fixed64(&f, "NumberDataPoint.as_double")?;
            }
            6 => {
                fixed64(&f, "NumberDataPoint.as_int")?;
            }
            5 => exemplar(message(&r, &f, "NumberDataPoint.exemplars")?, lim)?,
            8 => {
                varint(&f, "NumberDataPoint.flags")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

fn histogram_data_point(mut r: FieldReader<'_>, lim: &Limits) -> Result<()> {
    let mut attrs = AttributeCount::default();
    while let Some(f) = r.next_field()? {
        match f.number {
            9 => attribute(&r, &f, "HistogramDataPoint.attributes", lim, &mut attrs)?,
            2 => {
                fixed64(&f, "HistogramDataPoint.start_time_unix_nano")?;
            }
            3 => {
                fixed64(&f, "HistogramDataPoint.time_unix_nano")?;
            }
            4 => {
                fixed64(&f, "HistogramDataPoint.count")?;
            }
            5 => {
                fixed64(&f, "HistogramDataPoint.sum")?;
            }
            6 => packed_fixed64(&f, "HistogramDataPoint.bucket_counts")?,
            7 => packed_fixed64(&f, "HistogramDataPoint.explicit_bounds")?,
            8 => exemplar(message(&r, &f, "HistogramDataPoint.exemplars")?, lim)?,
            10 => {
                varint(&f, "HistogramDataPoint.flags")?;
            }
            11 => {
                fixed64(&f, "HistogramDataPoint.min")?;
            }
            12 => {
                fixed64(&f, "HistogramDataPoint.max")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

fn exp_histogram_data_point(mut r: FieldReader<'_>, lim: &Limits) -> Result<()> {
    let mut attrs = AttributeCount::default();
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => attribute(
                &r,
                &f,
                "ExponentialHistogramDataPoint.attributes",
                lim,
                &mut attrs,
            )?,
            2 => {
                fixed64(&f, "ExponentialHistogramDataPoint.start_time_unix_nano")?;
            }
            3 => {
                fixed64(&f, "ExponentialHistogramDataPoint.time_unix_nano")?;
            }
            4 => {
                fixed64(&f, "ExponentialHistogramDataPoint.count")?;
            }
            5 => {
                fixed64(&f, "ExponentialHistogramDataPoint.sum")?;
            }
            6 => {
                varint(&f, "ExponentialHistogramDataPoint.scale")?;
            }
            7 => {
                fixed64(&f, "ExponentialHistogramDataPoint.zero_count")?;
            }
            8 => buckets(message(&r, &f, "ExponentialHistogramDataPoint.positive")?)?,
            9 => buckets(message(&r, &f, "ExponentialHistogramDataPoint.negative")?)?,
            10 => {
                varint(&f, "ExponentialHistogramDataPoint.flags")?;
            }
            11 => exemplar(
                message(&r, &f, "ExponentialHistogramDataPoint.exemplars")?,
                lim,
            )?,
            12 => {
                fixed64(&f, "ExponentialHistogramDataPoint.min")?;
            }
            13 => {
                fixed64(&f, "ExponentialHistogramDataPoint.max")?;
            }
            14 => {
                fixed64(&f, "ExponentialHistogramDataPoint.zero_threshold")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

fn buckets(mut r: FieldReader<'_>) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => {
                varint(&f, "Buckets.offset")?;
            }
            2 => packed_varint(&f, "Buckets.bucket_counts")?,
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

fn summary_data_point(mut r: FieldReader<'_>, lim: &Limits) -> Result<()> {
    let mut attrs = AttributeCount::default();
    while let Some(f) = r.next_field()? {
        match f.number {
            7 => attribute(&r, &f, "SummaryDataPoint.attributes", lim, &mut attrs)?,
            2 => {
                fixed64(&f, "SummaryDataPoint.start_time_unix_nano")?;
            }
            3 => {
                fixed64(&f, "SummaryDataPoint.time_unix_nano")?;
            }
            4 => {
                fixed64(&f, "SummaryDataPoint.count")?;
            }
            5 => {
                fixed64(&f, "SummaryDataPoint.sum")?;
            }
            6 => {
                let mut q = message(&r, &f, "SummaryDataPoint.quantile_values")?;
                while let Some(g) = q.next_field()? {
                    match g.number {
                        1 => {
                            fixed64(&g, "ValueAtQuantile.quantile")?;
                        }
                        2 => {
                            fixed64(&g, "ValueAtQuantile.value")?;
                        }
                        _ => q.skip_unknown(&g)?,
                    }
                }
            }
            8 => {
                varint(&f, "SummaryDataPoint.flags")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

fn exemplar(mut r: FieldReader<'_>, lim: &Limits) -> Result<()> {
    let mut attrs = AttributeCount::default();
    let (mut trace_id, mut span_id) = (LastId::default(), LastId::default());
    while let Some(f) = r.next_field()? {
        match f.number {
            7 => attribute(&r, &f, "Exemplar.filtered_attributes", lim, &mut attrs)?,
            2 => {
                fixed64(&f, "Exemplar.time_unix_nano")?;
            }
            3 => {
                fixed64(&f, "Exemplar.as_double")?;
            }
            6 => {
                fixed64(&f, "Exemplar.as_int")?;
            }
            4 => span_id.set(&f, "Exemplar.span_id")?,
            5 => trace_id.set(&f, "Exemplar.trace_id")?,
            _ => r.skip_unknown(&f)?,
        }
    }
    trace_id.check("Exemplar.trace_id", 16)?;
    span_id.check("Exemplar.span_id", 8)
}
