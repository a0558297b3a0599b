//! The OTLP/gRPC receiver's unframing and decompression of a unary body, and the shared
//! decompressor alone. Input: a codec byte (`identity`, `gzip`, `deflate`, `zstd`), a limit byte
//! (limit = byte × 256 + 64 bytes), then the body.
//!
//! No panic; an accepted message is never longer than the limit (and decompression never keeps
//! more than limit + 1 bytes: a decompression bomb is cut off at the limit).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_collector::fuzzing::{codec_name, decompress, grpc_unframe};

fuzz_target!(|data: &[u8]| {
    let [c, l, body @ ..] = data else {
        return;
    };
    let codec = codec_name(*c);
    let limit = usize::from(*l) * 256 + 64;
    if let Ok(msg) = grpc_unframe(body, codec, limit) {
        assert!(
            msg.len() <= limit,
            "{} bytes over the {limit}-byte limit",
            msg.len()
        );
    }
    if let Ok(out) = decompress(body, codec, limit) {
        assert!(
            out.len() <= limit,
            "{} bytes over the {limit}-byte limit",
            out.len()
        );
    }
});
