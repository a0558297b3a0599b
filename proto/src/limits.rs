//! Limits a receiver applies on top of what prost accepts: how deep `AnyValue`s nest and how
//! many attributes one element carries. Both the wire validator and the OTLP/JSON decoder
//! enforce them, so a request is refused the same way whichever encoding it came in.

/// Bounds on the shape of an OTLP request, checked during the pass that validates it.
///
/// [`Limits::NONE`] applies nothing beyond prost's own recursion limit; it is what the plain
/// `validate_*` functions use, so they keep accepting exactly what prost decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest `AnyValue` accepted: an attribute's value or a log body is at depth 1, and each
    /// `kvlist_value` or `array_value` puts its elements one level deeper. At most
    /// [`Limits::MAX_NESTING_DEPTH`] for the request to stay decodable by prost.
    pub max_nesting_depth: u32,
    /// Most attributes on one element: a resource, scope, span, span event, link, log record,
    /// metric (its metadata), data point or exemplar. Entries of a `kvlist_value` are not
    /// attributes of an element and are not counted.
    pub max_attributes: u32,
}

impl Limits {
    /// The deepest `AnyValue` nesting every prost-based stage can still decode.
    ///
    /// prost refuses messages nested more than 100 levels (the request is level 0). The
    /// deepest place an attribute sits is an exemplar's `filtered_attributes`: request →
    /// `ResourceMetrics` → `ScopeMetrics` → `Metric` → `Histogram` → `HistogramDataPoint` →
    /// `Exemplar` → `KeyValue` → `AnyValue`, level 8 at depth 1. Each further depth through a
    /// kvlist costs three levels (`KeyValueList` → `KeyValue` → `AnyValue`), and an empty
    /// kvlist at the deepest depth one more (its `KeyValueList`): 8 + 3 × 30 + 1 = 99 at depth
    /// 31, while a value at depth 32 sits at level 101.
    pub const MAX_NESTING_DEPTH: u32 = 31;

    /// No limit beyond prost's recursion limit.
    pub const NONE: Limits = Limits {
        max_nesting_depth: u32::MAX,
        max_attributes: u32::MAX,
    };
}

impl Default for Limits {
    /// The OTLP receiver's defaults: nesting depth 31, 4096 attributes per element.
    fn default() -> Self {
        Limits {
            max_nesting_depth: Limits::MAX_NESTING_DEPTH,
            max_attributes: 4096,
        }
    }
}
