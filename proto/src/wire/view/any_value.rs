//! Views of the attribute and value messages every signal shares: `AnyValue`, its array and
//! kvlist forms, and `KeyValue`.

use super::{Repeated, Result, as_fixed64, as_len, as_str, as_varint, reader};

/// A borrowed `AnyValue`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AnyValueView<'a> {
    /// An `AnyValue` with no value set.
    Empty,
    /// `string_value`.
    String(&'a str),
    /// `bool_value`.
    Bool(bool),
    /// `int_value`.
    Int(i64),
    /// `double_value`.
    Double(f64),
    /// `bytes_value`.
    Bytes(&'a [u8]),
    /// `array_value`, read lazily.
    Array(ArrayView<'a>),
    /// `kvlist_value`, read lazily.
    KvList(KeyValueListView<'a>),
    /// `string_value_strindex` (profiles only).
    StringIndex(i32),
}

impl<'a> AnyValueView<'a> {
    /// Reads one encoded `AnyValue` message whose first byte is at absolute offset `base`.
    pub(crate) fn parse(body: &'a [u8], base: usize) -> Result<Self> {
        let mut v = AnyValueView::Empty;
        let mut r = reader(body, base);
        while let Some(f) = r.next_field()? {
            v = match f.number {
                1 => AnyValueView::String(as_str(&f, "AnyValue.string_value")?),
                2 => AnyValueView::Bool(as_varint(&f, "AnyValue.bool_value")? != 0),
                3 => AnyValueView::Int(as_varint(&f, "AnyValue.int_value")? as i64),
                4 => AnyValueView::Double(f64::from_bits(as_fixed64(&f, "AnyValue.double_value")?)),
                5 => AnyValueView::Array(ArrayView {
                    body: as_len(&f, "AnyValue.array_value")?,
                    base: f.value_offset,
                }),
                6 => AnyValueView::KvList(KeyValueListView {
                    body: as_len(&f, "AnyValue.kvlist_value")?,
                    base: f.value_offset,
                }),
                7 => AnyValueView::Bytes(as_len(&f, "AnyValue.bytes_value")?),
                8 => AnyValueView::StringIndex(
                    as_varint(&f, "AnyValue.string_value_strindex")? as i32
                ),
                _ => continue,
            };
        }
        Ok(v)
    }

    /// The string, if this is a `string_value`.
    pub fn as_str(&self) -> Option<&'a str> {
        match self {
            AnyValueView::String(s) => Some(s),
            _ => None,
        }
    }
}

/// A borrowed `ArrayValue`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArrayView<'a> {
    body: &'a [u8],
    base: usize,
}

impl<'a> ArrayView<'a> {
    /// The elements, in order.
    pub fn values(&self) -> impl Iterator<Item = Result<AnyValueView<'a>>> + 'a {
        Repeated::new(self.body, self.base, 1, "ArrayValue.values")
            .map(|r| r.and_then(|(b, off)| AnyValueView::parse(b, off)))
    }
}

/// A borrowed `KeyValueList`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyValueListView<'a> {
    body: &'a [u8],
    base: usize,
}

impl<'a> KeyValueListView<'a> {
    /// The entries, in order.
    pub fn values(&self) -> KeyValues<'a> {
        KeyValues::new(self.body, self.base, 1, "KeyValueList.values")
    }
}

/// A borrowed `KeyValue`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyValueView<'a> {
    key: &'a str,
    value: Option<AnyValueView<'a>>,
}

impl<'a> KeyValueView<'a> {
    fn parse(body: &'a [u8], base: usize) -> Result<Self> {
        let mut kv = KeyValueView {
            key: "",
            value: None,
        };
        let mut r = reader(body, base);
        while let Some(f) = r.next_field()? {
            match f.number {
                1 => kv.key = as_str(&f, "KeyValue.key")?,
                2 => {
                    kv.value = Some(AnyValueView::parse(
                        as_len(&f, "KeyValue.value")?,
                        f.value_offset,
                    )?)
                }
                _ => {}
            }
        }
        Ok(kv)
    }

    /// The attribute key.
    pub fn key(&self) -> &'a str {
        self.key
    }

    /// The value; `None` when the `KeyValue` has no `value` field at all.
    pub fn value(&self) -> Option<AnyValueView<'a>> {
        self.value
    }
}

/// Iterator over the `KeyValue`s of a repeated attributes field.
#[derive(Debug, Clone)]
pub struct KeyValues<'a>(Repeated<'a>);

impl<'a> KeyValues<'a> {
    pub(super) fn new(body: &'a [u8], base: usize, number: u32, name: &'static str) -> Self {
        Self(Repeated::new(body, base, number, name))
    }

    /// First entry with this key; `None` if absent or if the entries before it are malformed.
    pub(super) fn find(self, key: &str) -> Option<AnyValueView<'a>> {
        for kv in self {
            let kv = kv.ok()?;
            if kv.key == key {
                return Some(kv.value.unwrap_or(AnyValueView::Empty));
            }
        }
        None
    }
}

impl<'a> Iterator for KeyValues<'a> {
    type Item = Result<KeyValueView<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(
            self.0
                .next()?
                .and_then(|(b, off)| KeyValueView::parse(b, off)),
        )
    }
}
