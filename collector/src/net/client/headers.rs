//! Request headers given in a config (`headers:` of exporters, httpcheck targets and the
//! alert webhook).

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderName, HeaderValue};

/// Checks configured headers and turns them into a header map. Names are case-insensitive
/// (stored lowercase, as HTTP/2 requires); an invalid name or value is an error naming it.
pub(crate) fn header_map(headers: &BTreeMap<String, String>) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name {name:?}"))?;
        let value =
            HeaderValue::from_str(value).map_err(|_| format!("invalid value for header {name}"))?;
        map.insert(name, value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn names_are_lowercased_and_values_kept() {
        let headers = header_map(&map(&[
            ("Authorization", "Bearer t"),
            ("X-Scope-OrgID", "a"),
        ]))
        .unwrap();
        assert_eq!(headers["authorization"], "Bearer t");
        assert_eq!(headers["x-scope-orgid"], "a");
        assert_eq!(headers.len(), 2);
    }

    #[test]
    fn bad_names_and_values_are_named_in_the_error() {
        let err = header_map(&map(&[("bad header", "x")])).unwrap_err();
        assert!(err.contains("invalid header name \"bad header\""), "{err}");
        let err = header_map(&map(&[("x-token", "line\nbreak")])).unwrap_err();
        assert!(err.contains("invalid value for header x-token"), "{err}");
    }
}
