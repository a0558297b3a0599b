//! Hostile payloads for `resource_attacks.rs`, built by hand in linear time: protobuf nested
//! 100,000 levels deep, a million attributes, length prefixes that lie, decompression bombs
//! for every codec the receiver accepts, and raw HTTP/2 frames.

use std::io::Write;

/// A protobuf varint.
pub(crate) fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field: `tag`, the length of `payload`, `payload`.
pub(crate) fn field(tag: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

/// An `ExportTraceServiceRequest` holding one span (valid ids, a name) whose fields after
/// the name are `span_tail` (already encoded), under a resource whose fields are
/// `resource_fields`.
pub(crate) fn request_with(resource_fields: &[u8], span_tail: &[u8]) -> Vec<u8> {
    let mut span = field(0x0a, &[0x11; 16]); // trace_id
    span.extend(field(0x12, &[0x22; 8])); // span_id
    span.extend(field(0x2a, b"attacked")); // name
    span.extend_from_slice(span_tail);
    let scope_spans = field(0x12, &span); // ScopeSpans.spans
    let mut resource_spans = field(0x0a, resource_fields); // ResourceSpans.resource
    resource_spans.extend(field(0x12, &scope_spans)); // ResourceSpans.scope_spans
    field(0x0a, &resource_spans) // ExportTraceServiceRequest.resource_spans
}

/// How an `AnyValue` nests inside itself.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Nesting {
    /// `AnyValue { kvlist_value { values: [KeyValue { key: "k", value: <inner> }] } }`.
    KvList,
    /// `AnyValue { array_value { values: [<inner>] } }`.
    Array,
}

/// A request whose one span has an attribute `deep` whose value nests `depth` levels. Built
/// from the innermost value outwards as a list of prefixes, so it costs O(depth).
pub(crate) fn nested_request(nesting: Nesting, depth: usize) -> Vec<u8> {
    let inner = field(0x0a, b"leaf"); // AnyValue.string_value
    let mut prefixes: Vec<Vec<u8>> = Vec::with_capacity(depth * 3);
    let mut len = inner.len();
    let wrap = |tag: u8, extra: &[u8], prefixes: &mut Vec<Vec<u8>>, len: &mut usize| {
        // `extra` are bytes that precede the inner value inside this message.
        let mut p = vec![tag];
        varint((extra.len() + *len) as u64, &mut p);
        p.extend_from_slice(extra);
        *len += p.len();
        prefixes.push(p);
    };
    for _ in 0..depth {
        match nesting {
            Nesting::KvList => {
                // KeyValue { key: "k" (0x0a), value (0x12): inner }
                let key = field(0x0a, b"k");
                let mut value_prefix = vec![0x12];
                varint(len as u64, &mut value_prefix);
                let mut kv_head = key;
                kv_head.extend_from_slice(&value_prefix);
                // KeyValueList.values (0x0a) around the KeyValue
                wrap(0x0a, &kv_head, &mut prefixes, &mut len);
                // AnyValue.kvlist_value (0x32)
                wrap(0x32, &[], &mut prefixes, &mut len);
            }
            Nesting::Array => {
                // ArrayValue.values (0x0a), then AnyValue.array_value (0x2a)
                wrap(0x0a, &[], &mut prefixes, &mut len);
                wrap(0x2a, &[], &mut prefixes, &mut len);
            }
        }
    }
    let mut value = Vec::with_capacity(len);
    for p in prefixes.iter().rev() {
        value.extend_from_slice(p);
    }
    value.extend_from_slice(&inner);
    let mut kv = field(0x0a, b"deep");
    kv.extend(field(0x12, &value));
    request_with(&[], &field(0x4a, &kv))
}

/// The same nesting in OTLP/JSON.
pub(crate) fn nested_json(nesting: Nesting, depth: usize) -> Vec<u8> {
    let (open, close) = match nesting {
        Nesting::KvList => (r#"{"kvlistValue":{"values":[{"key":"k","value":"#, "}]}}"),
        Nesting::Array => (r#"{"arrayValue":{"values":["#, "]}}"),
    };
    let mut value = String::with_capacity(depth * (open.len() + close.len()) + 32);
    for _ in 0..depth {
        value.push_str(open);
    }
    value.push_str(r#"{"stringValue":"leaf"}"#);
    for _ in 0..depth {
        value.push_str(close);
    }
    format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"11111111111111111111111111111111","spanId":"2222222222222222","name":"attacked","attributes":[{{"key":"deep","value":{value}}}]}}]}}]}}]}}"#
    )
    .into_bytes()
}

/// `n` attributes `a<i>: int i`, encoded as repeated `KeyValue` fields with `tag` (0x4a for
/// `Span.attributes`, 0x0a for `Resource.attributes`).
pub(crate) fn attributes(tag: u8, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * 16);
    for i in 0..n {
        let mut kv = field(0x0a, format!("a{i}").as_bytes());
        let mut int = vec![0x18]; // AnyValue.int_value
        varint(i as u64, &mut int);
        kv.extend(field(0x12, &int));
        out.extend(field(tag, &kv));
    }
    out
}

/// A request whose `ExportTraceServiceRequest.resource_spans` claims 2^40 bytes and carries
/// ten.
pub(crate) fn lying_length_prefix() -> Vec<u8> {
    let mut out = vec![0x0a];
    varint(1 << 40, &mut out);
    out.extend_from_slice(&[0x0a; 10]);
    out
}

const MIB: usize = 1 << 20;

/// A gzip bomb: `members` gzip members of 1 MiB of zeros each (the receiver reads
/// multi-member gzip, as HTTP and gRPC allow), about 1 KiB per member.
pub(crate) fn gzip_bomb(members: usize) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&vec![0u8; MIB]).expect("gzip");
    let member = encoder.finish().expect("gzip");
    member.repeat(members)
}

/// A zlib (HTTP `deflate`) bomb decompressing to `mib` MiB of zeros, as one zlib stream:
/// each further MiB of zeros is compressed with a sync flush (so its blocks end on a byte
/// boundary and refer back only to zeros) until the compressor's output for one MiB repeats,
/// and that output is then repeated. Its Adler-32 trailer is that of the MiBs actually
/// compressed, so a decoder that read all of it would end in a checksum error, never a
/// success.
pub(crate) fn deflate_bomb(mib: usize) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let zeros = vec![0u8; MIB];
    let mut c = Compress::new(Compression::best(), true);
    let chunk = |c: &mut Compress, input: &[u8], flush: FlushCompress| {
        let mut out = Vec::with_capacity(64 << 10);
        let before = c.total_in();
        loop {
            let consumed = (c.total_in() - before) as usize;
            c.compress_vec(&input[consumed..], &mut out, flush)
                .expect("deflate");
            if (c.total_in() - before) as usize == input.len() && out.len() < out.capacity() {
                break out;
            }
            out.reserve(64 << 10);
        }
    };
    let mut out = Vec::new();
    let mut last = chunk(&mut c, &zeros, FlushCompress::Sync);
    let mut compressed = 1;
    let mut steady = false;
    while compressed < mib && !steady {
        let next = chunk(&mut c, &zeros, FlushCompress::Sync);
        compressed += 1;
        steady = next == last;
        out.extend_from_slice(&last);
        last = next;
    }
    // `out` holds `compressed - 1` MiB; `last` (the steady state, or the last MiB when `mib`
    // came first) encodes one MiB of zeros after zeros, so it can be repeated.
    for _ in compressed..=mib {
        out.extend_from_slice(&last);
    }
    out.extend(chunk(&mut c, &[], FlushCompress::Finish));
    out
}

/// A zstd bomb: `frames` concatenated frames of 16 MiB of zeros each (a decoder reads on
/// into the next frame), a few hundred bytes per frame.
pub(crate) fn zstd_bomb(frames: usize) -> Vec<u8> {
    let frame = zstd::bulk::compress(&vec![0u8; 16 * MIB], 3).expect("zstd");
    frame.repeat(frames)
}

/// Raw HTTP/2 frames, for clients no library would be: streams opened and never fed.
pub(crate) mod h2 {
    /// The client connection preface followed by an empty SETTINGS frame.
    pub(crate) fn preface() -> Vec<u8> {
        let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        out.extend(frame(0x4, 0, 0, &[]));
        out
    }

    /// One frame: 24-bit length, type, flags, stream id.
    pub(crate) fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut out = len.to_be_bytes()[1..].to_vec();
        out.push(kind);
        out.push(flags);
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// SETTINGS with the ACK flag.
    pub(crate) fn settings_ack() -> Vec<u8> {
        frame(0x4, 0x1, 0, &[])
    }

    fn literal(out: &mut Vec<u8>, value: &str) {
        assert!(value.len() < 127, "short literal");
        out.push(value.len() as u8);
        out.extend_from_slice(value.as_bytes());
    }

    /// A HEADERS frame (END_HEADERS, not END_STREAM) opening `stream` as a POST to `path`
    /// with `content_type`: HPACK with static-table names and literals never indexed into
    /// the dynamic table, so every frame is the same bytes but the stream id.
    pub(crate) fn open_stream(stream: u32, path: &str, content_type: &str) -> Vec<u8> {
        let mut block = vec![0x83, 0x86]; // :method POST, :scheme http
        block.push(0x04); // :path, literal without indexing
        literal(&mut block, path);
        block.push(0x01); // :authority
        literal(&mut block, "127.0.0.1");
        block.extend_from_slice(&[0x0f, 0x10]); // content-type (static index 31)
        literal(&mut block, content_type);
        block.push(0x00); // te: trailers (new name)
        literal(&mut block, "te");
        literal(&mut block, "trailers");
        frame(0x1, 0x4, stream, &block)
    }

    /// What the server said on an attacked connection.
    #[derive(Debug, Default, Clone)]
    pub(crate) struct Seen {
        /// RST_STREAM frames with REFUSED_STREAM.
        pub(crate) refused: usize,
        /// RST_STREAM frames with other codes.
        pub(crate) other_resets: usize,
        /// The streams reset (any code), in order.
        pub(crate) reset_ids: Vec<u32>,
        /// HEADERS frames (responses).
        pub(crate) responses: usize,
        /// The GOAWAY's last stream id and error code, if one came.
        pub(crate) goaway: Option<(u32, u32)>,
        /// The server's SETTINGS_MAX_CONCURRENT_STREAMS, if it sent one.
        pub(crate) max_concurrent_streams: Option<u32>,
    }

    /// Reads frames until the connection ends or `limit` passes.
    pub(crate) async fn read_frames(
        read: &mut (impl tokio::io::AsyncRead + Unpin),
        limit: std::time::Duration,
        until: impl Fn(&Seen) -> bool,
    ) -> Seen {
        use tokio::io::AsyncReadExt;
        let mut seen = Seen::default();
        let deadline = tokio::time::Instant::now() + limit;
        let mut header = [0u8; 9];
        loop {
            if until(&seen) {
                return seen;
            }
            let read_header = tokio::time::timeout_at(deadline, read.read_exact(&mut header));
            match read_header.await {
                Ok(Ok(_)) => {}
                _ => return seen,
            }
            let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
            let mut payload = vec![0u8; len];
            match tokio::time::timeout_at(deadline, read.read_exact(&mut payload)).await {
                Ok(Ok(_)) => {}
                _ => return seen,
            }
            let word = |at: usize| {
                payload
                    .get(at..at + 4)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            };
            match header[3] {
                0x1 => seen.responses += 1,
                0x3 => {
                    let stream = u32::from_be_bytes([header[5], header[6], header[7], header[8]]);
                    seen.reset_ids.push(stream & 0x7fff_ffff);
                    match word(0) {
                        Some(0x7) => seen.refused += 1,
                        _ => seen.other_resets += 1,
                    }
                }
                0x4 if header[4] & 0x1 == 0 => {
                    for setting in payload.chunks_exact(6) {
                        if setting[..2] == [0, 3] {
                            seen.max_concurrent_streams = Some(u32::from_be_bytes([
                                setting[2], setting[3], setting[4], setting[5],
                            ]));
                        }
                    }
                }
                0x7 => {
                    seen.goaway = Some((word(0).unwrap_or(0) & 0x7fff_ffff, word(4).unwrap_or(0)));
                }
                _ => {}
            }
        }
    }
}
