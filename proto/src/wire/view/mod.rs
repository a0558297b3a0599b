//! Borrowed, allocation-free views over encoded OTLP requests.
//!
//! Views parse lazily: creating a [`TracesView`] costs nothing, and each iterator step reads
//! one message's own fields (not its children). They are meant for buffers that already passed
//! `validate_*`, but they never panic on any input: iterators yield `Err` for malformed
//! structure and stop, and lookups such as [`SpanView::attribute`] return `None` when the
//! attribute they would read is malformed.
//!
//! Where a singular field occurs several times, views report the last occurrence, as prost
//! does for scalars. (prost *merges* repeated occurrences of a singular message field; for
//! `Resource` and `InstrumentationScope` the views follow that, for an `AnyValue` body they
//! report the last occurrence.)
//!
//! The views live in one file per job: `any_value` holds the attribute and value views every
//! signal shares, `levels` the resource/scope framing and the macro that stamps out each
//! signal's request/resource/scope views, and `traces`, `logs` and `metrics` the item views.

mod any_value;
mod levels;
mod logs;
mod metrics;
mod traces;

pub use any_value::{AnyValueView, ArrayView, KeyValueListView, KeyValueView, KeyValues};
pub use levels::NestedKeyValues;
pub use logs::{LogRecordLocation, LogRecordView, LogsView, ResourceLogsView, ScopeLogsView};
pub use metrics::{MetricDataType, MetricView, MetricsView, ResourceMetricsView, ScopeMetricsView};
pub use traces::{
    AllSpanBytes, ResourceSpansView, ScopeSpansView, SpanBytes, SpanLocation, SpanView, TracesView,
};

use super::error::{WireError, WireErrorKind};
use super::reader::{Field, FieldReader, RECURSION_LIMIT, WireValue};

type Result<T> = std::result::Result<T, WireError>;

// === field access ===

fn wrong(f: &Field<'_>, field: &'static str) -> WireError {
    WireError::new(
        WireErrorKind::WrongWireType {
            field,
            found: f.value.wire_type(),
        },
        f.offset,
    )
}

#[inline]
fn as_len<'a>(f: &Field<'a>, field: &'static str) -> Result<&'a [u8]> {
    match f.value {
        WireValue::Len(b) => Ok(b),
        _ => Err(wrong(f, field)),
    }
}

#[inline]
fn as_str<'a>(f: &Field<'a>, field: &'static str) -> Result<&'a str> {
    std::str::from_utf8(as_len(f, field)?)
        .map_err(|_| WireError::new(WireErrorKind::InvalidUtf8 { field }, f.value_offset))
}

#[inline]
fn as_varint(f: &Field<'_>, field: &'static str) -> Result<u64> {
    match f.value {
        WireValue::Varint(v) => Ok(v),
        _ => Err(wrong(f, field)),
    }
}

#[inline]
fn as_fixed64(f: &Field<'_>, field: &'static str) -> Result<u64> {
    match f.value {
        WireValue::Fixed64(v) => Ok(v),
        _ => Err(wrong(f, field)),
    }
}

#[inline]
fn as_fixed32(f: &Field<'_>, field: &'static str) -> Result<u32> {
    match f.value {
        WireValue::Fixed32(v) => Ok(v),
        _ => Err(wrong(f, field)),
    }
}

#[inline]
fn reader(body: &[u8], base: usize) -> FieldReader<'_> {
    FieldReader::nested(body, base, RECURSION_LIMIT)
}

/// Iterates the payloads of one repeated message field, skipping every other field.
#[derive(Debug, Clone)]
struct Repeated<'a> {
    r: FieldReader<'a>,
    number: u32,
    name: &'static str,
}

impl<'a> Repeated<'a> {
    fn new(body: &'a [u8], base: usize, number: u32, name: &'static str) -> Self {
        Self {
            r: reader(body, base),
            number,
            name,
        }
    }
}

impl<'a> Iterator for Repeated<'a> {
    /// Payload and its absolute offset.
    type Item = Result<(&'a [u8], usize)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.r.next()? {
                Err(e) => return Some(Err(e)),
                Ok(f) if f.number == self.number => {
                    let item = as_len(&f, self.name).map(|b| (b, f.value_offset));
                    if item.is_err() {
                        // Fuse: the rest of this message is not trustworthy.
                        self.r = reader(&[], 0);
                    }
                    return Some(item);
                }
                Ok(_) => {}
            }
        }
    }
}

/// Iterator over the messages of one repeated field, each parsed into a view.
///
/// Yields `Err` once for malformed structure, then stops.
#[derive(Clone)]
pub struct ViewIter<'a, V> {
    inner: Repeated<'a>,
    parse: fn(&'a [u8], usize) -> Result<V>,
}

impl<V> std::fmt::Debug for ViewIter<'_, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewIter")
            .field("offset", &self.inner.r.offset())
            .finish()
    }
}

impl<'a, V> ViewIter<'a, V> {
    fn new(
        body: &'a [u8],
        base: usize,
        number: u32,
        name: &'static str,
        parse: fn(&'a [u8], usize) -> Result<V>,
    ) -> Self {
        Self {
            inner: Repeated::new(body, base, number, name),
            parse,
        }
    }
}

impl<'a, V> Iterator for ViewIter<'a, V> {
    type Item = Result<V>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.inner.next()?.and_then(|(b, off)| (self.parse)(b, off));
        if item.is_err() {
            self.inner = Repeated::new(&[], 0, 0, "");
        }
        Some(item)
    }
}
