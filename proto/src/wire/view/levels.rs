//! The resource and scope framing levels, identical for every signal, and the macro that
//! generates each signal's request / resource / scope views over them.

use super::any_value::{AnyValueView, KeyValueView, KeyValues};
use super::{Repeated, Result, as_len, as_str, reader};

/// The part of `ResourceSpans` / `ResourceLogs` / `ResourceMetrics` that is the same for all
/// signals.
#[derive(Debug, Clone, Copy)]
pub(super) struct ResourceLevel<'a> {
    pub(super) body: &'a [u8],
    pub(super) base: usize,
    pub(super) schema_url: &'a str,
}

impl<'a> ResourceLevel<'a> {
    pub(super) fn parse(body: &'a [u8], base: usize) -> Result<Self> {
        let mut out = ResourceLevel {
            body,
            base,
            schema_url: "",
        };
        let mut r = reader(body, base);
        while let Some(f) = r.next_field()? {
            if f.number == 3 {
                out.schema_url = as_str(&f, "schema_url")?;
            }
        }
        Ok(out)
    }

    /// Attributes of every `resource` occurrence, in order (prost merges them).
    pub(super) fn attributes(&self) -> NestedKeyValues<'a> {
        NestedKeyValues {
            outer: Repeated::new(self.body, self.base, 1, "resource"),
            inner: None,
        }
    }
}

/// The common part of `ScopeSpans` / `ScopeLogs` / `ScopeMetrics`.
#[derive(Debug, Clone, Copy)]
pub(super) struct ScopeLevel<'a> {
    pub(super) body: &'a [u8],
    pub(super) base: usize,
    pub(super) name: &'a str,
    pub(super) version: &'a str,
    pub(super) schema_url: &'a str,
}

impl<'a> ScopeLevel<'a> {
    pub(super) fn parse(body: &'a [u8], base: usize) -> Result<Self> {
        let mut out = ScopeLevel {
            body,
            base,
            name: "",
            version: "",
            schema_url: "",
        };
        let mut r = reader(body, base);
        while let Some(f) = r.next_field()? {
            match f.number {
                1 => {
                    let mut s = reader(as_len(&f, "scope")?, f.value_offset);
                    while let Some(g) = s.next_field()? {
                        match g.number {
                            1 => out.name = as_str(&g, "InstrumentationScope.name")?,
                            2 => out.version = as_str(&g, "InstrumentationScope.version")?,
                            _ => {}
                        }
                    }
                }
                3 => out.schema_url = as_str(&f, "schema_url")?,
                _ => {}
            }
        }
        Ok(out)
    }

    pub(super) fn attributes(&self) -> NestedKeyValues<'a> {
        NestedKeyValues {
            outer: Repeated::new(self.body, self.base, 1, "scope"),
            inner: None,
        }
    }
}

/// Attributes (field 1) of every occurrence of a singular message field, in order.
#[derive(Debug, Clone)]
pub struct NestedKeyValues<'a> {
    outer: Repeated<'a>,
    inner: Option<KeyValues<'a>>,
}

impl<'a> NestedKeyValues<'a> {
    pub(super) fn find(self, key: &str) -> Option<AnyValueView<'a>> {
        for kv in self {
            let kv = kv.ok()?;
            if kv.key() == key {
                return Some(kv.value().unwrap_or(AnyValueView::Empty));
            }
        }
        None
    }
}

impl<'a> Iterator for NestedKeyValues<'a> {
    type Item = Result<KeyValueView<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(inner) = &mut self.inner {
                if let Some(kv) = inner.next() {
                    return Some(kv);
                }
                self.inner = None;
            }
            match self.outer.next()? {
                Err(e) => return Some(Err(e)),
                Ok((b, off)) => self.inner = Some(KeyValues::new(b, off, 1, "attributes")),
            }
        }
    }
}

/// Generates the request / resource / scope views of one signal; they differ only in names.
macro_rules! signal_views {
    (
        $request:ident, $request_doc:literal, $resources_fn:ident,
        $resource:ident, $resource_doc:literal, $scopes_fn:ident,
        $scope:ident, $scope_doc:literal, $items_fn:ident, $item:ident
    ) => {
        #[doc = $request_doc]
        #[derive(Debug, Clone, Copy)]
        pub struct $request<'a> {
            buf: &'a [u8],
        }

        impl<'a> $request<'a> {
            /// Wraps an encoded request. Nothing is read until iteration.
            pub fn new(buf: &'a [u8]) -> Self {
                Self { buf }
            }

            /// The resource-level entries, in order.
            pub fn $resources_fn(&self) -> ViewIter<'a, $resource<'a>> {
                ViewIter::new(
                    self.buf,
                    0,
                    1,
                    stringify!($resources_fn),
                    $resource::from_payload,
                )
            }
        }

        #[doc = $resource_doc]
        #[derive(Debug, Clone, Copy)]
        pub struct $resource<'a> {
            level: ResourceLevel<'a>,
        }

        impl<'a> $resource<'a> {
            fn from_payload(body: &'a [u8], base: usize) -> Result<Self> {
                Ok(Self {
                    level: ResourceLevel::parse(body, base)?,
                })
            }
        }

        impl<'a> $resource<'a> {
            /// The first resource attribute with this key (`None` if absent or malformed).
            pub fn resource_attribute(&self, key: &str) -> Option<AnyValueView<'a>> {
                self.level.attributes().find(key)
            }

            /// All resource attributes, in order.
            pub fn resource_attributes(&self) -> NestedKeyValues<'a> {
                self.level.attributes()
            }

            /// The `service.name` resource attribute, when it is a string.
            pub fn service_name(&self) -> Option<&'a str> {
                self.resource_attribute("service.name")?.as_str()
            }

            /// The resource-level `schema_url`.
            pub fn schema_url(&self) -> &'a str {
                self.level.schema_url
            }

            /// The scope-level entries, in order.
            pub fn $scopes_fn(&self) -> ViewIter<'a, $scope<'a>> {
                ViewIter::new(
                    self.level.body,
                    self.level.base,
                    2,
                    stringify!($scopes_fn),
                    $scope::from_payload,
                )
            }
        }

        #[doc = $scope_doc]
        #[derive(Debug, Clone, Copy)]
        pub struct $scope<'a> {
            level: ScopeLevel<'a>,
        }

        impl<'a> $scope<'a> {
            fn from_payload(body: &'a [u8], base: usize) -> Result<Self> {
                Ok(Self {
                    level: ScopeLevel::parse(body, base)?,
                })
            }
        }

        impl<'a> $scope<'a> {
            /// `InstrumentationScope.name` (empty when there is no scope).
            pub fn scope_name(&self) -> &'a str {
                self.level.name
            }

            /// `InstrumentationScope.version`.
            pub fn scope_version(&self) -> &'a str {
                self.level.version
            }

            /// The first scope attribute with this key.
            pub fn scope_attribute(&self, key: &str) -> Option<AnyValueView<'a>> {
                self.level.attributes().find(key)
            }

            /// The scope-level `schema_url`.
            pub fn schema_url(&self) -> &'a str {
                self.level.schema_url
            }

            /// The items of this scope, in order.
            pub fn $items_fn(&self) -> ViewIter<'a, $item<'a>> {
                ViewIter::new(
                    self.level.body,
                    self.level.base,
                    2,
                    stringify!($items_fn),
                    $item::from_payload,
                )
            }
        }
    };
}

pub(super) use signal_views;
