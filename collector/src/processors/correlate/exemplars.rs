//! Exemplars that carry a trace id, read from an encoded `ExportMetricsServiceRequest`
//! (the metrics view does not reach data points, so this walks the few fields it needs).

use lookout_proto::wire::WireError;
use lookout_proto::wire::reader::{FieldReader, WireValue};

use super::window::{ExemplarSummary, TraceId, span_id, trace_id};

/// Exemplars read from one request at most (a request of a million exemplars costs no more).
const MAX_PER_REQUEST: usize = 10_000;

fn each_len<'a>(
    message: &'a [u8],
    number: u32,
    mut f: impl FnMut(&'a [u8]) -> Result<(), WireError>,
) -> Result<(), WireError> {
    let mut r = FieldReader::new(message);
    while let Some(field) = r.next_field()? {
        if field.number == number
            && let WireValue::Len(b) = field.value
        {
            f(b)?;
        }
    }
    Ok(())
}

/// The exemplars of `payload` that carry a trace id, with their metric's name.
pub(crate) fn exemplars(payload: &[u8]) -> Result<Vec<(TraceId, ExemplarSummary)>, WireError> {
    let mut out = Vec::new();
    each_len(payload, 1, |rm| {
        each_len(rm, 2, |sm| {
            each_len(sm, 2, |metric| {
                let mut name = "";
                let mut r = FieldReader::new(metric);
                while let Some(f) = r.next_field()? {
                    if f.number == 1
                        && let WireValue::Len(b) = f.value
                    {
                        name = std::str::from_utf8(b).unwrap_or("");
                    }
                }
                // (metric field, exemplars field of its data points)
                for (data, exemplar_field) in [(5, 5), (7, 5), (9, 8), (10, 11)] {
                    each_len(metric, data, |d| {
                        each_len(d, 1, |point| {
                            each_len(point, exemplar_field, |e| {
                                if out.len() < MAX_PER_REQUEST
                                    && let Some(x) = exemplar(e, name)?
                                {
                                    out.push(x);
                                }
                                Ok(())
                            })
                        })
                    })?;
                }
                Ok(())
            })
        })
    })?;
    Ok(out)
}

fn exemplar(e: &[u8], metric: &str) -> Result<Option<(TraceId, ExemplarSummary)>, WireError> {
    let mut tid = None;
    let mut summary = ExemplarSummary {
        metric: "".into(),
        time: 0,
        value: 0.0,
        span_id: None,
    };
    let mut r = FieldReader::new(e);
    while let Some(f) = r.next_field()? {
        match (f.number, f.value) {
            (2, WireValue::Fixed64(t)) => summary.time = t,
            (3, WireValue::Fixed64(v)) => summary.value = f64::from_bits(v),
            (6, WireValue::Fixed64(v)) => summary.value = v as i64 as f64,
            (4, WireValue::Len(b)) => summary.span_id = span_id(b),
            (5, WireValue::Len(b)) => tid = trace_id(b),
            _ => {}
        }
    }
    Ok(tid.map(|t| {
        summary.metric = metric.into();
        (t, summary)
    }))
}
