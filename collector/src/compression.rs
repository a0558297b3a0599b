//! Payload compression for receivers (decoding, bounded) and exporters (encoding).
//!
//! Exporters compress whole batches held in memory, so gzip uses libdeflate's one-shot
//! compressor: several times faster than streaming zlib at the same ratio, and compression is
//! most of what an OTLP→OTLP hop costs.

use std::cell::RefCell;
use std::fmt;
use std::io::Read;

use bytes::Bytes;

/// A content coding Lookout reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// No compression.
    Identity,
    /// gzip (RFC 1952).
    Gzip,
    /// zlib-wrapped deflate (HTTP's `deflate`).
    Deflate,
    /// zstd.
    Zstd,
}

impl Codec {
    /// Parses a `Content-Encoding` / `grpc-encoding` value.
    pub fn from_name(name: &str) -> Option<Codec> {
        match name.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => Some(Codec::Identity),
            "gzip" | "x-gzip" => Some(Codec::Gzip),
            "deflate" => Some(Codec::Deflate),
            "zstd" => Some(Codec::Zstd),
            _ => None,
        }
    }

    /// The header value naming this codec.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Identity => "identity",
            Codec::Gzip => "gzip",
            Codec::Deflate => "deflate",
            Codec::Zstd => "zstd",
        }
    }
}

/// Why a body could not be decompressed.
#[derive(Debug)]
pub(crate) enum DecompressError {
    /// It decompresses to more than the limit.
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// It is not valid data for its codec.
    Corrupt {
        /// The codec.
        codec: Codec,
        /// What the decoder said.
        message: String,
    },
}

impl fmt::Display for DecompressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecompressError::TooLarge { limit } => {
                write!(f, "decompressed body exceeds the limit of {limit} bytes")
            }
            DecompressError::Corrupt { codec, message } => {
                write!(f, "cannot decompress {} body: {message}", codec.name())
            }
        }
    }
}

impl std::error::Error for DecompressError {}

/// Decompresses `data`, refusing output larger than `limit` bytes without ever holding more
/// than `limit + 1` of it.
pub(crate) fn decompress(
    codec: Codec,
    data: Bytes,
    limit: usize,
) -> Result<Bytes, DecompressError> {
    let corrupt = |err: std::io::Error| DecompressError::Corrupt {
        codec,
        message: err.to_string(),
    };
    let reader: Box<dyn Read + '_> = match codec {
        Codec::Identity => {
            if data.len() > limit {
                return Err(DecompressError::TooLarge { limit });
            }
            return Ok(data);
        }
        Codec::Gzip => Box::new(flate2::read::MultiGzDecoder::new(&data[..])),
        Codec::Deflate => Box::new(flate2::read::ZlibDecoder::new(&data[..])),
        Codec::Zstd => Box::new(zstd::stream::read::Decoder::new(&data[..]).map_err(corrupt)?),
    };
    // A first guess of 4× the input, but never past `limit + 1`: a body that reaches the
    // guess grows by doubling, and one that would pass the limit stops at exactly
    // `limit + 1`, so a bomb costs the limit once, not twice.
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(limit.saturating_add(1)));
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(corrupt)?;
    if out.len() > limit {
        return Err(DecompressError::TooLarge { limit });
    }
    Ok(Bytes::from(out))
}

thread_local! {
    static GZIP: RefCell<Option<(i32, libdeflater::Compressor)>> = const { RefCell::new(None) };
}

/// Compresses `data` with `codec` at `level` (codec-specific; `None` for its default).
pub(crate) fn compress(codec: Codec, level: Option<i32>, data: &[u8]) -> Vec<u8> {
    match codec {
        Codec::Identity => data.to_vec(),
        Codec::Gzip => gzip(level.unwrap_or(1), data),
        Codec::Deflate => {
            let mut enc = flate2::write::ZlibEncoder::new(
                Vec::new(),
                flate2::Compression::new(level.unwrap_or(1).clamp(0, 9) as u32),
            );
            // Writing into a Vec cannot fail.
            let _ = std::io::Write::write_all(&mut enc, data);
            enc.finish().unwrap_or_default()
        }
        // zstd::bulk only fails on invalid parameters; the level is clamped into range.
        Codec::Zstd => {
            zstd::bulk::compress(data, level.unwrap_or(1).clamp(1, 22)).unwrap_or_default()
        }
    }
}

fn gzip(level: i32, data: &[u8]) -> Vec<u8> {
    let level = level.clamp(1, 12);
    GZIP.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(l, _)| *l != level) {
            // The level was clamped into libdeflate's range, so this cannot fail.
            let lvl = libdeflater::CompressionLvl::new(level)
                .unwrap_or_else(|_| libdeflater::CompressionLvl::fastest());
            *slot = Some((level, libdeflater::Compressor::new(lvl)));
        }
        let Some((_, compressor)) = slot.as_mut() else {
            return Vec::new();
        };
        let mut out = vec![0; compressor.gzip_compress_bound(data.len())];
        // The buffer is sized by gzip_compress_bound, so compression cannot run out of room.
        let n = compressor.gzip_compress(data, &mut out).unwrap_or(0);
        out.truncate(n);
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_codec() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for codec in [Codec::Identity, Codec::Gzip, Codec::Deflate, Codec::Zstd] {
            let packed = compress(codec, None, &data);
            let back = decompress(codec, Bytes::from(packed), data.len()).unwrap();
            assert_eq!(&back[..], &data[..], "{codec:?}");
        }
    }

    #[test]
    fn refuses_output_over_the_limit() {
        let data = vec![0u8; 1 << 20];
        for codec in [Codec::Identity, Codec::Gzip, Codec::Deflate, Codec::Zstd] {
            let packed = compress(codec, None, &data);
            let err = decompress(codec, Bytes::from(packed), (1 << 20) - 1).unwrap_err();
            assert!(matches!(err, DecompressError::TooLarge { .. }), "{codec:?}");
        }
    }

    #[test]
    fn corrupt_input_is_an_error_not_a_panic() {
        for codec in [Codec::Gzip, Codec::Deflate, Codec::Zstd] {
            let err =
                decompress(codec, Bytes::from_static(b"\x1f\x8b\x08garbage"), 1024).unwrap_err();
            assert!(matches!(err, DecompressError::Corrupt { .. }), "{codec:?}");
        }
    }
}
