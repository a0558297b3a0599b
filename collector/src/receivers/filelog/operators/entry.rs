//! The record operators work on, and the field paths (`body.x`, `attributes.x`, `resource.x`)
//! that name its parts, as in the Collector's stanza.

use std::fmt;
use std::ops::Index;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// Keys up to this many bytes are stored in the key itself.
const INLINE_KEY: usize = 22;

/// An attribute key. Keys are short and repeat on every record, so storing them inline saves
/// one allocation (and its free) per key and record.
#[derive(Clone)]
pub(crate) struct Key(KeyRepr);

#[derive(Clone)]
enum KeyRepr {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Heap(Box<str>),
}

impl Key {
    /// The key's UTF-8 bytes: what lookups compare (byte order is `str` order), without
    /// checking the inline bytes again.
    fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            // `len` is at most `INLINE_KEY` (checked in `From`), so the empty fallback is never
            // taken.
            KeyRepr::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            KeyRepr::Heap(s) => s.as_bytes(),
        }
    }

    /// The key as text.
    pub(crate) fn as_str(&self) -> &str {
        match &self.0 {
            // Built from a `&str` in `From`, so always valid.
            KeyRepr::Inline { .. } => std::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            KeyRepr::Heap(s) => s,
        }
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Key {
        let mut bytes = [0; INLINE_KEY];
        // `Some` exactly when the key fits inline.
        if let Some(inline) = bytes.get_mut(..s.len()) {
            inline.copy_from_slice(s.as_bytes());
            return Key(KeyRepr::Inline {
                len: s.len() as u8,
                bytes,
            });
        }
        Key(KeyRepr::Heap(s.into()))
    }
}

impl From<String> for Key {
    fn from(s: String) -> Key {
        if s.len() <= INLINE_KEY {
            Key::from(s.as_str())
        } else {
            Key(KeyRepr::Heap(s.into_boxed_str()))
        }
    }
}

impl From<&String> for Key {
    fn from(s: &String) -> Key {
        Key::from(s.as_str())
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        bytes_eq(self.as_bytes(), other.as_bytes())
    }
}

impl Eq for Key {}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Keys are a few bytes long and usually differ early: a plain loop beats a `memcmp` call.
fn bytes_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bytes_cmp(a, b).is_eq()
}

/// Record or resource attributes: a vector kept sorted by key. Records carry about ten keys,
/// where a vector beats a B-tree (one allocation, no nodes); the order is the one
/// `serde_json::Map` iterates in, so the encoded records are unchanged.
#[derive(Clone, Default, PartialEq)]
pub(crate) struct Attributes {
    items: Vec<(Key, Value)>,
}

impl Attributes {
    /// An empty map.
    pub(crate) fn new() -> Attributes {
        Attributes::default()
    }

    /// The position of `key`. A linear scan: with about ten keys most candidates differ in
    /// length, which is cheaper than ordering comparisons.
    fn position(&self, key: &str) -> Option<usize> {
        let key = key.as_bytes();
        self.items
            .iter()
            .position(|(k, _)| bytes_eq(k.as_bytes(), key))
    }

    /// The position of `key`, or where it would go.
    fn find(&self, key: &str) -> Result<usize, usize> {
        match self.position(key) {
            Some(i) => Ok(i),
            None => Err(self.insertion_point(key)),
        }
    }

    /// Where `key` would go if it were inserted.
    fn insertion_point(&self, key: &str) -> usize {
        self.items
            .partition_point(|(k, _)| bytes_cmp(k.as_bytes(), key.as_bytes()).is_lt())
    }

    /// Built from keys in any order, possibly repeated (the last value wins, as with
    /// `serde_json::Map`): one sort instead of an ordered insertion per key.
    pub(crate) fn from_unsorted(mut items: Vec<(Key, Value)>) -> Attributes {
        if !items.is_sorted_by(|(a, _), (b, _)| bytes_cmp(a.as_bytes(), b.as_bytes()).is_lt()) {
            // Stable, so equal keys stay in input order and the last one can be kept.
            items.sort_by(|(a, _), (b, _)| bytes_cmp(a.as_bytes(), b.as_bytes()));
            if items.windows(2).any(|w| matches!(w, [a, b] if a.0 == b.0)) {
                let mut kept: Vec<(Key, Value)> = Vec::with_capacity(items.len());
                for item in items {
                    match kept.last_mut() {
                        Some(last) if last.0 == item.0 => *last = item,
                        _ => kept.push(item),
                    }
                }
                items = kept;
            }
        }
        Attributes { items }
    }

    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no keys.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        let key = key.as_bytes();
        self.items
            .iter()
            .find(|(k, _)| bytes_eq(k.as_bytes(), key))
            .map(|(_, v)| v)
    }

    /// The value of `key`, mutably.
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        let key = key.as_bytes();
        self.items
            .iter_mut()
            .find(|(k, _)| bytes_eq(k.as_bytes(), key))
            .map(|(_, v)| v)
    }

    /// Whether `key` is present.
    pub(crate) fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Sets `key`, returning the value it replaced.
    pub(crate) fn insert(&mut self, key: Key, value: Value) -> Option<Value> {
        if let Some(old) = self.get_mut(key.as_str()) {
            return Some(std::mem::replace(old, value));
        }
        let i = self.insertion_point(key.as_str());
        self.items.insert(i, (key, value));
        None
    }

    /// Sets `key` unless it is present.
    pub(crate) fn insert_if_absent(&mut self, key: Key, value: Value) {
        if let Err(i) = self.find(key.as_str()) {
            self.items.insert(i, (key, value));
        }
    }

    /// The value of `key`, inserting `make()` first if it is missing.
    // `i` is where `key` was found or where it was just inserted, so it is below `len()`;
    // `get_mut` cannot express this, as returning its borrow keeps `self` borrowed on the
    // insertion path too.
    #[allow(clippy::indexing_slicing)]
    pub(crate) fn get_or_insert_with(
        &mut self,
        key: &str,
        make: impl FnOnce() -> Value,
    ) -> &mut Value {
        let i = match self.find(key) {
            Ok(i) => i,
            Err(i) => {
                self.items.insert(i, (Key::from(key), make()));
                i
            }
        };
        &mut self.items[i].1
    }

    /// Removes `key`.
    pub(crate) fn remove(&mut self, key: &str) -> Option<Value> {
        self.position(key).map(|i| self.items.remove(i).1)
    }

    /// Keys and values in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.items.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Keys (as UTF-8 bytes) and values in key order, for writers that need no `&str`.
    pub(crate) fn iter_bytes(&self) -> impl Iterator<Item = (&[u8], &Value)> {
        self.items.iter().map(|(k, v)| (k.as_bytes(), v))
    }

    /// The map as a JSON object.
    pub(crate) fn into_json(self) -> Map<String, Value> {
        self.items
            .into_iter()
            .map(|(k, v)| (k.as_str().to_string(), v))
            .collect()
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Index<&str> for Attributes {
    type Output = Value;

    fn index(&self, key: &str) -> &Value {
        self.get(key)
            .unwrap_or_else(|| panic!("no attribute {key:?}"))
    }
}

impl<K: Into<Key>> Extend<(K, Value)> for Attributes {
    fn extend<I: IntoIterator<Item = (K, Value)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k.into(), v);
        }
    }
}

impl<K: Into<Key>> FromIterator<(K, Value)> for Attributes {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Attributes {
        let mut map = Attributes::new();
        map.extend(iter);
        map
    }
}

impl IntoIterator for Attributes {
    type Item = (Key, Value);
    type IntoIter = std::vec::IntoIter<(Key, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// One log record while it moves through the operators.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Entry {
    /// The body: the raw line until a parser replaces or extends it.
    pub body: Value,
    /// Record attributes.
    pub attributes: Attributes,
    /// Resource attributes.
    pub resource: Attributes,
    /// Event time in Unix nanoseconds, if a time parser found one.
    pub timestamp: Option<u64>,
    /// OTLP severity number (0 = unspecified).
    pub severity: i32,
    /// The severity as written in the log.
    pub severity_text: Option<String>,
    /// Trace id (16 bytes).
    pub trace_id: Option<[u8; 16]>,
    /// Span id (8 bytes).
    pub span_id: Option<[u8; 8]>,
    /// W3C trace flags.
    pub trace_flags: Option<u8>,
}

impl Entry {
    /// A record whose body is `line`.
    pub(crate) fn from_line(line: String) -> Entry {
        Entry {
            body: Value::String(line),
            ..Entry::default()
        }
    }

    /// The value at `field`, if present.
    pub(crate) fn get(&self, field: &Field) -> Option<&Value> {
        let (mut current, path) = match field {
            Field::Body(path) => (&self.body, path.as_slice()),
            Field::Attributes(path) => {
                let (first, rest) = path.split_first()?;
                (self.attributes.get(first)?, rest)
            }
            Field::Resource(path) => {
                let (first, rest) = path.split_first()?;
                (self.resource.get(first)?, rest)
            }
        };
        for key in path {
            current = current.as_object()?.get(key)?;
        }
        Some(current)
    }

    /// Sets `field`, creating intermediate maps (and replacing non-map values on the way).
    pub(crate) fn set(&mut self, field: &Field, value: Value) {
        let (map, path) = match field {
            Field::Body(path) => {
                if path.is_empty() {
                    self.body = value;
                    return;
                }
                if !self.body.is_object() {
                    self.body = Value::Object(Map::new());
                }
                let Value::Object(map) = &mut self.body else {
                    return;
                };
                set_in(map, path, value);
                return;
            }
            Field::Attributes(path) => (&mut self.attributes, path.as_slice()),
            Field::Resource(path) => (&mut self.resource, path.as_slice()),
        };
        let Some((first, rest)) = path.split_first() else {
            // `attributes` / `resource` as a whole: a map replaces it, anything else is merged
            // under no key and therefore ignored, as stanza does.
            if let Value::Object(new) = value {
                *map = new.into_iter().collect();
            }
            return;
        };
        if rest.is_empty() {
            map.insert(Key::from(first), value);
            return;
        }
        let slot = map.get_or_insert_with(first, || Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        if let Value::Object(next) = slot {
            set_in(next, rest, value);
        }
    }

    /// Removes and returns the value at `field`.
    pub(crate) fn delete(&mut self, field: &Field) -> Option<Value> {
        let (map, path) = match field {
            Field::Body(path) => {
                if path.is_empty() {
                    return Some(std::mem::replace(&mut self.body, Value::Null));
                }
                return delete_in(self.body.as_object_mut()?, path);
            }
            Field::Attributes(path) => (&mut self.attributes, path.as_slice()),
            Field::Resource(path) => (&mut self.resource, path.as_slice()),
        };
        let Some((first, rest)) = path.split_first() else {
            return Some(Value::Object(std::mem::take(map).into_json()));
        };
        if rest.is_empty() {
            return map.remove(first);
        }
        delete_in(map.get_mut(first)?.as_object_mut()?, rest)
    }
}

fn set_in(map: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        if let Value::Object(new) = value {
            *map = new;
        }
        return;
    };
    let mut current = map;
    for key in parents {
        let slot = current
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(next) = slot else {
            return;
        };
        current = next;
    }
    current.insert(last.clone(), value);
}

fn delete_in(map: &mut Map<String, Value>, path: &[String]) -> Option<Value> {
    let Some((last, parents)) = path.split_last() else {
        return Some(Value::Object(std::mem::take(map)));
    };
    let mut current = map;
    for key in parents {
        current = current.get_mut(key)?.as_object_mut()?;
    }
    current.remove(last)
}

/// A path into an [`Entry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Field {
    /// `body` or `body.a.b`.
    Body(Vec<String>),
    /// `attributes` or `attributes.a.b`.
    Attributes(Vec<String>),
    /// `resource` or `resource.a.b`.
    Resource(Vec<String>),
}

impl Field {
    /// `body`.
    pub(crate) fn body() -> Field {
        Field::Body(Vec::new())
    }

    /// `attributes.<key>` for a single (possibly dotted) key.
    pub(crate) fn attribute(key: &str) -> Field {
        Field::Attributes(vec![key.to_string()])
    }

    /// Parses the Collector's field syntax: dots separate keys; `["a.b"]` quotes a key that
    /// contains dots.
    pub(crate) fn parse(s: &str) -> Result<Field, String> {
        let parts = split_path(s)?;
        let Some((root, rest)) = parts.split_first() else {
            return Err("empty field".into());
        };
        let rest = rest.to_vec();
        match root.as_str() {
            "body" => Ok(Field::Body(rest)),
            "attributes" => Ok(Field::Attributes(rest)),
            "resource" => Ok(Field::Resource(rest)),
            other => Err(format!(
                "field {s:?} must start with body, attributes or resource (found {other:?})"
            )),
        }
    }
}

fn split_path(s: &str) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let mut rest = s.trim();
    let mut current = String::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("[") {
            let quoted = ['"', '\'']
                .into_iter()
                .find_map(|q| after.strip_prefix(q).map(|inner| (q, inner)));
            let Some((q, inner)) = quoted else {
                return Err(format!("field {s:?}: expected a quoted key after '['"));
            };
            let (key, after_key) = inner
                .split_once(&format!("{q}]"))
                .ok_or_else(|| format!("field {s:?}: unterminated [\"...\"]"))?;
            if !current.is_empty() {
                parts.push(std::mem::take(&mut current));
            }
            parts.push(key.to_string());
            rest = after_key.strip_prefix('.').unwrap_or(after_key);
            continue;
        }
        let next = rest.find(['.', '[']).unwrap_or(rest.len());
        // `find` gives a character boundary, so the fallback (no separator) is never taken.
        let (key, after_key) = rest.split_at_checked(next).unwrap_or((rest, ""));
        current.push_str(key);
        rest = after_key;
        if let Some(after) = rest.strip_prefix('.') {
            parts.push(std::mem::take(&mut current));
            rest = after;
        } else if (rest.is_empty() || rest.starts_with('[')) && !current.is_empty() {
            parts.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        parts.push(current);
    }
    if parts.iter().any(String::is_empty) {
        return Err(format!("field {s:?} has an empty key"));
    }
    Ok(parts)
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (root, path) = match self {
            Field::Body(p) => ("body", p),
            Field::Attributes(p) => ("attributes", p),
            Field::Resource(p) => ("resource", p),
        };
        f.write_str(root)?;
        for key in path {
            if key.contains('.') {
                write!(f, "[{key:?}]")?;
            } else {
                write!(f, ".{key}")?;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Field::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The value as text, the way parsers read their input (numbers and booleans in their JSON form).
pub(crate) fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_field_syntax() {
        assert_eq!(Field::parse("body").unwrap(), Field::Body(vec![]));
        assert_eq!(
            Field::parse("attributes.a.b").unwrap(),
            Field::Attributes(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            Field::parse(r#"attributes["log.file.name"]"#).unwrap(),
            Field::attribute("log.file.name")
        );
        assert_eq!(
            Field::parse(r#"resource["k8s.pod"].x"#).unwrap(),
            Field::Resource(vec!["k8s.pod".into(), "x".into()])
        );
        assert!(Field::parse("foo.bar").is_err());
        assert!(Field::parse("attributes..x").is_err());
        assert_eq!(
            Field::parse("attributes['\u{e9}.x']").unwrap(),
            Field::attribute("\u{e9}.x")
        );
        for bad in [
            r#"attributes[""#,
            r#"attributes["a.b"#,
            "attributes[x]",
            "attributes[",
        ] {
            assert!(Field::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Field::attribute("a.b").to_string(), r#"attributes["a.b"]"#);
    }

    #[test]
    fn get_set_delete_nested() {
        let mut e = Entry::from_line("raw".into());
        let f = Field::parse("body.msg").unwrap();
        e.set(&f, json!("hi"));
        // A string body turns into a map when a key is set in it.
        assert_eq!(e.body, json!({"msg": "hi"}));
        let a = Field::parse("attributes.http.status").unwrap();
        e.set(&a, json!(200));
        assert_eq!(e.get(&a), Some(&json!(200)));
        assert_eq!(e.attributes["http"], json!({"status": 200}));
        assert_eq!(e.delete(&a), Some(json!(200)));
        assert_eq!(e.get(&a), None);
        assert_eq!(e.delete(&Field::parse("resource.none").unwrap()), None);
    }

    #[test]
    fn attributes_iterate_like_a_json_map() {
        let long = "a.key.longer.than.the.inline.limit";
        let pairs = [("b", 1), (long, 2), ("a", 3), ("", 4), ("b", 5), ("é", 6)];
        let attributes: Attributes = pairs.iter().map(|(k, v)| (*k, json!(v))).collect();
        let map: Map<String, Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let keys: Vec<&str> = attributes.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, map.keys().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(attributes["b"], json!(5));
        assert_eq!(attributes[long], json!(2));
        assert_eq!(attributes.clone().into_json(), map);
        let mut e = Entry::default();
        e.set(&Field::Attributes(vec![]), Value::Object(map.clone()));
        assert_eq!(e.attributes, attributes);
        assert_eq!(
            e.delete(&Field::Attributes(vec![])),
            Some(Value::Object(map))
        );
        assert!(e.attributes.is_empty());
    }
}
