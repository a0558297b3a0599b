//! Metric messages: the request down to data points, buckets, quantiles and exemplars.

use serde_json::Value;

use super::common::{attributes, resource, scope};
use super::scalar::{
    boolean, double, enumeration, int32, int64, span_id, string, trace_id, uint32, uint64,
};
use super::{DecodeOptions, Path, R, claim_oneof, fields, list, parse};
use crate::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::otlp::metrics::v1::{
    AggregationTemporality, Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge,
    Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    Summary, SummaryDataPoint, exemplar, exponential_histogram_data_point, metric,
    number_data_point, summary_data_point,
};

pub(crate) fn metrics(input: &[u8], options: &DecodeOptions) -> R<ExportMetricsServiceRequest> {
    let v = parse(input)?;
    let root = Path::Root {
        any_id_length: options.any_id_length,
        limits: options.limits,
    };
    let mut out = ExportMetricsServiceRequest::default();
    for (k, val) in fields(&v, &root)? {
        if matches!(k, "resourceMetrics" | "resource_metrics") {
            out.resource_metrics = list(val, &root.key(k), resource_metrics)?;
        }
    }
    Ok(out)
}

fn resource_metrics(v: &Value, p: &Path<'_>) -> R<ResourceMetrics> {
    let mut out = ResourceMetrics::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "resource" => out.resource = Some(resource(val, &fp)?),
            "scopeMetrics" | "scope_metrics" => out.scope_metrics = list(val, &fp, scope_metrics)?,
            "schemaUrl" | "schema_url" => out.schema_url = string(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

fn scope_metrics(v: &Value, p: &Path<'_>) -> R<ScopeMetrics> {
    let mut out = ScopeMetrics::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "scope" => out.scope = Some(scope(val, &fp)?),
            "metrics" => out.metrics = list(val, &fp, metric)?,
            "schemaUrl" | "schema_url" => out.schema_url = string(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

fn temporality(name: &str) -> Option<i32> {
    AggregationTemporality::from_str_name(name).map(|t| t as i32)
}

fn metric(v: &Value, p: &Path<'_>) -> R<Metric> {
    let mut out = Metric::default();
    let mut seen = None;
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        let data = match k {
            "name" => {
                out.name = string(val, &fp)?;
                continue;
            }
            "description" => {
                out.description = string(val, &fp)?;
                continue;
            }
            "unit" => {
                out.unit = string(val, &fp)?;
                continue;
            }
            "metadata" => {
                out.metadata = attributes(val, &fp)?;
                continue;
            }
            "gauge" => metric::Data::Gauge(gauge(val, &fp)?),
            "sum" => metric::Data::Sum(sum(val, &fp)?),
            "histogram" => metric::Data::Histogram(histogram(val, &fp)?),
            "exponentialHistogram" | "exponential_histogram" => {
                metric::Data::ExponentialHistogram(exponential_histogram(val, &fp)?)
            }
            "summary" => metric::Data::Summary(summary(val, &fp)?),
            _ => continue,
        };
        claim_oneof(&mut seen, k, &fp)?;
        out.data = Some(data);
    }
    Ok(out)
}

fn gauge(v: &Value, p: &Path<'_>) -> R<Gauge> {
    let mut out = Gauge::default();
    for (k, val) in fields(v, p)? {
        if matches!(k, "dataPoints" | "data_points") {
            out.data_points = list(val, &p.key(k), number_data_point)?;
        }
    }
    Ok(out)
}

fn sum(v: &Value, p: &Path<'_>) -> R<Sum> {
    let mut out = Sum::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "dataPoints" | "data_points" => out.data_points = list(val, &fp, number_data_point)?,
            "aggregationTemporality" | "aggregation_temporality" => {
                out.aggregation_temporality =
                    enumeration(val, &fp, "AggregationTemporality", temporality)?
            }
            "isMonotonic" | "is_monotonic" => out.is_monotonic = boolean(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

fn histogram(v: &Value, p: &Path<'_>) -> R<Histogram> {
    let mut out = Histogram::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "dataPoints" | "data_points" => out.data_points = list(val, &fp, histogram_data_point)?,
            "aggregationTemporality" | "aggregation_temporality" => {
                out.aggregation_temporality =
                    enumeration(val, &fp, "AggregationTemporality", temporality)?
            }
            _ => {}
        }
    }
    Ok(out)
}

fn exponential_histogram(v: &Value, p: &Path<'_>) -> R<ExponentialHistogram> {
    let mut out = ExponentialHistogram::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "dataPoints" | "data_points" => {
                out.data_points = list(val, &fp, exponential_histogram_data_point)?
            }
            "aggregationTemporality" | "aggregation_temporality" => {
                out.aggregation_temporality =
                    enumeration(val, &fp, "AggregationTemporality", temporality)?
            }
            _ => {}
        }
    }
    Ok(out)
}

fn summary(v: &Value, p: &Path<'_>) -> R<Summary> {
    let mut out = Summary::default();
    for (k, val) in fields(v, p)? {
        if matches!(k, "dataPoints" | "data_points") {
            out.data_points = list(val, &p.key(k), summary_data_point)?;
        }
    }
    Ok(out)
}

fn number_data_point(v: &Value, p: &Path<'_>) -> R<NumberDataPoint> {
    let mut out = NumberDataPoint::default();
    let mut seen = None;
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "attributes" => out.attributes = attributes(val, &fp)?,
            "startTimeUnixNano" | "start_time_unix_nano" => {
                out.start_time_unix_nano = uint64(val, &fp)?
            }
            "timeUnixNano" | "time_unix_nano" => out.time_unix_nano = uint64(val, &fp)?,
            "asDouble" | "as_double" => {
                let d = double(val, &fp)?;
                claim_oneof(&mut seen, k, &fp)?;
                out.value = Some(number_data_point::Value::AsDouble(d));
            }
            "asInt" | "as_int" => {
                let i = int64(val, &fp)?;
                claim_oneof(&mut seen, k, &fp)?;
                out.value = Some(number_data_point::Value::AsInt(i));
            }
            "exemplars" => out.exemplars = list(val, &fp, exemplar)?,
            "flags" => out.flags = uint32(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

fn histogram_data_point(v: &Value, p: &Path<'_>) -> R<HistogramDataPoint> {
    let mut out = HistogramDataPoint::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "attributes" => out.attributes = attributes(val, &fp)?,
            "startTimeUnixNano" | "start_time_unix_nano" => {
                out.start_time_unix_nano = uint64(val, &fp)?
            }
            "timeUnixNano" | "time_unix_nano" => out.time_unix_nano = uint64(val, &fp)?,
            "count" => out.count = uint64(val, &fp)?,
            "sum" => out.sum = Some(double(val, &fp)?),
            "bucketCounts" | "bucket_counts" => out.bucket_counts = list(val, &fp, uint64)?,
            "explicitBounds" | "explicit_bounds" => out.explicit_bounds = list(val, &fp, double)?,
            "exemplars" => out.exemplars = list(val, &fp, exemplar)?,
            "flags" => out.flags = uint32(val, &fp)?,
            "min" => out.min = Some(double(val, &fp)?),
            "max" => out.max = Some(double(val, &fp)?),
            _ => {}
        }
    }
    Ok(out)
}

fn exponential_histogram_data_point(v: &Value, p: &Path<'_>) -> R<ExponentialHistogramDataPoint> {
    let mut out = ExponentialHistogramDataPoint::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "attributes" => out.attributes = attributes(val, &fp)?,
            "startTimeUnixNano" | "start_time_unix_nano" => {
                out.start_time_unix_nano = uint64(val, &fp)?
            }
            "timeUnixNano" | "time_unix_nano" => out.time_unix_nano = uint64(val, &fp)?,
            "count" => out.count = uint64(val, &fp)?,
            "sum" => out.sum = Some(double(val, &fp)?),
            "scale" => out.scale = int32(val, &fp)?,
            "zeroCount" | "zero_count" => out.zero_count = uint64(val, &fp)?,
            "positive" => out.positive = Some(buckets(val, &fp)?),
            "negative" => out.negative = Some(buckets(val, &fp)?),
            "flags" => out.flags = uint32(val, &fp)?,
            "exemplars" => out.exemplars = list(val, &fp, exemplar)?,
            "min" => out.min = Some(double(val, &fp)?),
            "max" => out.max = Some(double(val, &fp)?),
            "zeroThreshold" | "zero_threshold" => out.zero_threshold = double(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

fn buckets(v: &Value, p: &Path<'_>) -> R<exponential_histogram_data_point::Buckets> {
    let mut out = exponential_histogram_data_point::Buckets::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "offset" => out.offset = int32(val, &fp)?,
            "bucketCounts" | "bucket_counts" => out.bucket_counts = list(val, &fp, uint64)?,
            _ => {}
        }
    }
    Ok(out)
}

fn summary_data_point(v: &Value, p: &Path<'_>) -> R<SummaryDataPoint> {
    let mut out = SummaryDataPoint::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "attributes" => out.attributes = attributes(val, &fp)?,
            "startTimeUnixNano" | "start_time_unix_nano" => {
                out.start_time_unix_nano = uint64(val, &fp)?
            }
            "timeUnixNano" | "time_unix_nano" => out.time_unix_nano = uint64(val, &fp)?,
            "count" => out.count = uint64(val, &fp)?,
            "sum" => out.sum = double(val, &fp)?,
            "quantileValues" | "quantile_values" => {
                out.quantile_values = list(val, &fp, value_at_quantile)?
            }
            "flags" => out.flags = uint32(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

fn value_at_quantile(v: &Value, p: &Path<'_>) -> R<summary_data_point::ValueAtQuantile> {
    let mut out = summary_data_point::ValueAtQuantile::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "quantile" => out.quantile = double(val, &fp)?,
            "value" => out.value = double(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

fn exemplar(v: &Value, p: &Path<'_>) -> R<Exemplar> {
    let mut out = Exemplar::default();
    let mut seen = None;
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "filteredAttributes" | "filtered_attributes" => {
                out.filtered_attributes = attributes(val, &fp)?
            }
            "timeUnixNano" | "time_unix_nano" => out.time_unix_nano = uint64(val, &fp)?,
            "asDouble" | "as_double" => {
                let d = double(val, &fp)?;
                claim_oneof(&mut seen, k, &fp)?;
                out.value = Some(exemplar::Value::AsDouble(d));
            }
            "asInt" | "as_int" => {
                let i = int64(val, &fp)?;
                claim_oneof(&mut seen, k, &fp)?;
                out.value = Some(exemplar::Value::AsInt(i));
            }
            "spanId" | "span_id" => out.span_id = span_id(val, &fp)?,
            "traceId" | "trace_id" => out.trace_id = trace_id(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}
