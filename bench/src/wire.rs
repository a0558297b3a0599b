//! Shallow walks over the protobuf wire format of OTLP export requests, counting items
//! (spans, log records, metric data points) without decoding messages into structs.

use std::fmt;

/// The message bytes are not valid protobuf wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireError;

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("malformed protobuf")
    }
}

impl std::error::Error for WireError {}

fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, WireError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or(WireError)?;
        *pos += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(value);
        }
    }
    Err(WireError)
}

/// Calls `f(field_number, bytes)` for every length-delimited field at the top level of `buf`,
/// skipping fields of the other wire types.
fn for_each_len_field(
    buf: &[u8],
    mut f: impl FnMut(u32, &[u8]) -> Result<(), WireError>,
) -> Result<(), WireError> {
    let mut pos = 0;
    while pos < buf.len() {
        let key = read_varint(buf, &mut pos)?;
        let field = u32::try_from(key >> 3).map_err(|_| WireError)?;
        match key & 7 {
            0 => {
                read_varint(buf, &mut pos)?;
            }
            1 => pos += 8,
            2 => {
                let len = usize::try_from(read_varint(buf, &mut pos)?).map_err(|_| WireError)?;
                let end = pos.checked_add(len).ok_or(WireError)?;
                let body = buf.get(pos..end).ok_or(WireError)?;
                f(field, body)?;
                pos = end;
            }
            5 => pos += 4,
            _ => return Err(WireError),
        }
    }
    if pos == buf.len() {
        Ok(())
    } else {
        Err(WireError)
    }
}

/// Counts occurrences of the field path `path` (each step a length-delimited field number).
fn count_path(buf: &[u8], path: &[u32]) -> Result<u64, WireError> {
    let Some((&first, rest)) = path.split_first() else {
        return Ok(0);
    };
    let mut n = 0;
    for_each_len_field(buf, |field, body| {
        if field == first {
            n += if rest.is_empty() {
                1
            } else {
                count_path(body, rest)?
            };
        }
        Ok(())
    })?;
    Ok(n)
}

/// Number of spans in an encoded `ExportTraceServiceRequest`
/// (resource_spans = 1 → scope_spans = 2 → spans = 2).
pub fn count_spans(req: &[u8]) -> Result<u64, WireError> {
    count_path(req, &[1, 2, 2])
}

/// Number of log records in an encoded `ExportLogsServiceRequest`
/// (resource_logs = 1 → scope_logs = 2 → log_records = 2).
pub fn count_log_records(req: &[u8]) -> Result<u64, WireError> {
    count_path(req, &[1, 2, 2])
}

/// Number of metric data points in an encoded `ExportMetricsServiceRequest`
/// (resource_metrics = 1 → scope_metrics = 2 → metrics = 2 → {gauge 5, sum 7, histogram 9,
/// exponential_histogram 10, summary 11} → data_points = 1).
pub fn count_metric_points(req: &[u8]) -> Result<u64, WireError> {
    let mut n = 0;
    for_each_len_field(req, |f, rm| {
        if f != 1 {
            return Ok(());
        }
        for_each_len_field(rm, |f, sm| {
            if f != 2 {
                return Ok(());
            }
            for_each_len_field(sm, |f, metric| {
                if f != 2 {
                    return Ok(());
                }
                for_each_len_field(metric, |f, data| {
                    if matches!(f, 5 | 7 | 9 | 10 | 11) {
                        n += count_path(data, &[1])?;
                    }
                    Ok(())
                })
            })
        })
    })?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen_traces::RequestPool;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;

    #[test]
    fn counts_match_full_decode() {
        let pool = RequestPool::generate(8, 300, 7);
        for req in &pool.requests {
            let decoded = ExportTraceServiceRequest::decode(req.clone()).unwrap();
            let full: usize = decoded
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum();
            assert_eq!(full, 300);
            assert_eq!(count_spans(req).unwrap(), 300);
        }
    }

    #[test]
    fn rejects_truncated() {
        let pool = RequestPool::generate(1, 10, 1);
        let req = &pool.requests[0];
        assert!(count_spans(&req[..req.len() - 3]).is_err());
        assert_eq!(count_spans(&[]).unwrap(), 0);
    }
}
