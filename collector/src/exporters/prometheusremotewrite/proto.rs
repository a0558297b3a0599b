//! The Prometheus remote-write 1.0 messages (`prometheus.WriteRequest` of Prometheus's
//! `prompb/remote.proto` and `types.proto`), only the fields Lookout sends: series with their
//! labels and float samples. Written by hand with `prost` derives, so no `protoc` is needed.

/// `prometheus.WriteRequest`: one remote-write request body (before snappy).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WriteRequest {
    /// The series, each with its samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`: a label set and its samples, oldest first.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TimeSeries {
    /// Labels sorted by name, `__name__` among them.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples in timestamp order.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, prost::Message)]
pub(crate) struct Label {
    /// Label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Label value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub(crate) struct Sample {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    /// The bytes are the ones Prometheus's Go structs produce for the same request: field
    /// numbers and wire types checked byte by byte on a small message.
    #[test]
    fn encodes_with_the_remote_write_field_numbers() {
        let request = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label {
                    name: "a".into(),
                    value: "b".into(),
                }],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: 2,
                }],
            }],
        };
        let bytes = request.encode_to_vec();
        let label = [0x0a, 0x06, 0x0a, 0x01, b'a', 0x12, 0x01, b'b'];
        let mut sample = vec![0x12, 0x0b, 0x09];
        sample.extend_from_slice(&1.0f64.to_le_bytes());
        sample.extend_from_slice(&[0x10, 0x02]);
        let mut series = label.to_vec();
        series.extend_from_slice(&sample);
        let mut want = vec![0x0a, u8::try_from(series.len()).unwrap()];
        want.extend_from_slice(&series);
        assert_eq!(bytes, want);
        assert_eq!(WriteRequest::decode(bytes.as_slice()).unwrap(), request);
    }
}
