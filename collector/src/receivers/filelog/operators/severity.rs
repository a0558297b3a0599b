//! `severity_parser` and the embedded `severity:` block: text or numbers to an OTLP
//! severity number, with the Collector's default mapping, presets and `mapping:`.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use super::entry::{Entry, Field, value_text};

/// `severity:` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SeverityConfig {
    /// `parse_from`: the field holding the severity (required).
    pub parse_from: Field,
    /// `preset`: `default` (level names, their numbers 1-24, `warning*`, `err*`), `otel`
    /// (names and numbers only) or `none`.
    #[serde(default = "default_preset")]
    pub preset: String,
    /// `mapping`: severity name to one value, a list of values, or `{min, max}` ranges;
    /// `2xx`-style strings stand for HTTP status ranges.
    #[serde(default)]
    pub mapping: HashMap<String, MappingValues>,
    /// `overwrite_text`: set the severity text to the canonical level name.
    #[serde(default)]
    pub overwrite_text: bool,
}

fn default_preset() -> String {
    "default".into()
}

/// The values one severity name maps from.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum MappingValues {
    /// A list.
    Many(Vec<MappingValue>),
    /// A single value.
    One(MappingValue),
}

/// One value in a mapping.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum MappingValue {
    /// An inclusive numeric range.
    Range {
        /// Lowest value.
        min: i64,
        /// Highest value.
        max: i64,
    },
    /// An integer.
    Int(i64),
    /// A string, matched case-insensitively.
    Text(String),
}

/// OTLP severity numbers by level name, as the Collector's `entry.Severity` names them.
const LEVELS: &[(&str, i32)] = &[
    ("trace", 1),
    ("trace2", 2),
    ("trace3", 3),
    ("trace4", 4),
    ("debug", 5),
    ("debug2", 6),
    ("debug3", 7),
    ("debug4", 8),
    ("info", 9),
    ("info2", 10),
    ("info3", 11),
    ("info4", 12),
    ("warn", 13),
    ("warn2", 14),
    ("warn3", 15),
    ("warn4", 16),
    ("error", 17),
    ("error2", 18),
    ("error3", 19),
    ("error4", 20),
    ("fatal", 21),
    ("fatal2", 22),
    ("fatal3", 23),
    ("fatal4", 24),
];

/// A severity named in `mapping:` keys: a level name or its number, as the Collector's
/// `aliases` preset.
fn level_number(name: &str) -> Option<i32> {
    let name = name.to_ascii_lowercase();
    if let Ok(n) = name.parse::<i32>() {
        return (1..=24).contains(&n).then_some(n);
    }
    LEVELS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

fn level_name(number: i32) -> &'static str {
    LEVELS
        .iter()
        .find(|(_, v)| *v == number)
        .map(|(n, _)| *n)
        .unwrap_or("default")
}

/// A built severity parser.
#[derive(Debug, Clone)]
pub(crate) struct SeverityParser {
    parse_from: Field,
    exact: HashMap<String, i32>,
    ranges: Vec<(i64, i64, i32)>,
    overwrite_text: bool,
}

impl SeverityParser {
    /// Builds the lookup tables; unknown level names or presets are errors.
    pub(crate) fn new(config: &SeverityConfig) -> Result<SeverityParser, String> {
        let mut exact = HashMap::new();
        match config.preset.as_str() {
            "default" | "" | "otel" | "aliases" => {
                for (name, number) in LEVELS {
                    exact.insert((*name).to_string(), *number);
                    exact.insert(number.to_string(), *number);
                }
                if !matches!(config.preset.as_str(), "otel" | "aliases") {
                    for (suffix, n) in [("", 0), ("2", 1), ("3", 2), ("4", 3)] {
                        exact.insert(format!("warning{suffix}"), 13 + n);
                        exact.insert(format!("err{suffix}"), 17 + n);
                    }
                }
            }
            "none" => {}
            other => {
                return Err(format!(
                    "unknown severity preset {other:?}; expected default, otel or none"
                ));
            }
        }
        let mut ranges = Vec::new();
        for (name, values) in &config.mapping {
            let number = level_number(name)
                .ok_or_else(|| format!("unknown severity level {name:?} in mapping"))?;
            let values: Vec<&MappingValue> = match values {
                MappingValues::Many(v) => v.iter().collect(),
                MappingValues::One(v) => vec![v],
            };
            for value in values {
                match value {
                    MappingValue::Range { min, max } => ranges.push((*min, *max, number)),
                    MappingValue::Int(i) => {
                        exact.insert(i.to_string(), number);
                    }
                    MappingValue::Text(t) => {
                        let t = t.to_ascii_lowercase();
                        if let Some(class) = http_class(&t) {
                            ranges.push((class * 100, class * 100 + 99, number));
                        } else {
                            exact.insert(t, number);
                        }
                    }
                }
            }
        }
        Ok(SeverityParser {
            parse_from: config.parse_from.clone(),
            exact,
            ranges,
            overwrite_text: config.overwrite_text,
        })
    }

    /// Sets the entry's severity from its `parse_from` field. A missing field is an error; a
    /// value that matches nothing gives severity 0 with the text kept, as the Collector does.
    pub(crate) fn apply(&self, entry: &mut Entry) -> Result<(), String> {
        let value = entry
            .get(&self.parse_from)
            .ok_or_else(|| format!("severity field {} is missing", self.parse_from))?;
        let text = value_text(value).ok_or_else(|| {
            format!(
                "severity field {} is not a string or number",
                self.parse_from
            )
        })?;
        let number = self.lookup(value, &text);
        entry.severity = number;
        entry.severity_text = Some(if self.overwrite_text && number != 0 {
            level_name(number).to_ascii_uppercase()
        } else {
            text
        });
        Ok(())
    }

    fn lookup(&self, value: &Value, text: &str) -> i32 {
        let trimmed = text.trim();
        // Level names are short: lower-case them on the stack instead of allocating per record.
        let mut small = [0u8; 32];
        let owned;
        let key: &str = if let Some(bytes) = small.get_mut(..trimmed.len()) {
            bytes.copy_from_slice(trimmed.as_bytes());
            bytes.make_ascii_lowercase();
            // ASCII lower-casing keeps UTF-8 valid.
            std::str::from_utf8(bytes).unwrap_or(trimmed)
        } else {
            owned = trimmed.to_ascii_lowercase();
            &owned
        };
        if let Some(n) = self.exact.get(key) {
            return *n;
        }
        let as_int = match value {
            Value::Number(n) => n.as_i64(),
            _ => key.parse::<i64>().ok(),
        };
        if let Some(i) = as_int
            && let Some((_, _, n)) = self
                .ranges
                .iter()
                .find(|(lo, hi, _)| (*lo..=*hi).contains(&i))
        {
            return *n;
        }
        0
    }
}

fn http_class(s: &str) -> Option<i64> {
    match s.as_bytes() {
        [class @ b'1'..=b'5', b'x', b'x'] => Some(i64::from(class - b'0')),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parser(yaml: &str) -> SeverityParser {
        let config: SeverityConfig = serde_yaml_ng::from_str(yaml).unwrap();
        SeverityParser::new(&config).unwrap()
    }

    fn apply(p: &SeverityParser, v: Value) -> (i32, Option<String>) {
        let mut e = Entry::default();
        e.set(&Field::attribute("level"), v);
        p.apply(&mut e).unwrap();
        (e.severity, e.severity_text)
    }

    #[test]
    fn default_mapping_is_case_insensitive_and_keeps_text() {
        let p = parser("parse_from: attributes.level");
        assert_eq!(apply(&p, json!("INFO")), (9, Some("INFO".into())));
        assert_eq!(apply(&p, json!("error3")), (19, Some("error3".into())));
        assert_eq!(apply(&p, json!("Fatal")), (21, Some("Fatal".into())));
        assert_eq!(apply(&p, json!("chatty")), (0, Some("chatty".into())));
        assert_eq!(apply(&p, json!("Warning")).0, 13);
        assert_eq!(apply(&p, json!("ERR2")).0, 18);
        assert_eq!(apply(&p, json!(17)).0, 17);
        let otel = parser("parse_from: attributes.level\npreset: otel");
        assert_eq!(apply(&otel, json!("warning")).0, 0);
        assert_eq!(apply(&otel, json!("warn3")).0, 15);
    }

    #[test]
    fn custom_mapping_values_lists_ranges_and_http_classes() {
        let p = parser(
            "parse_from: attributes.level\npreset: none\noverwrite_text: true\nmapping:\n  warn: [w, 30]\n  error: 5xx\n  info: {min: 200, max: 299}\n",
        );
        assert_eq!(apply(&p, json!("W")), (13, Some("WARN".into())));
        assert_eq!(apply(&p, json!(30)), (13, Some("WARN".into())));
        assert_eq!(apply(&p, json!(503)), (17, Some("ERROR".into())));
        assert_eq!(apply(&p, json!("204")), (9, Some("INFO".into())));
        // preset none: the level names no longer map.
        assert_eq!(apply(&p, json!("info")).0, 0);
    }

    #[test]
    fn bad_config_and_missing_field_are_errors() {
        let config: SeverityConfig =
            serde_yaml_ng::from_str("parse_from: body\nmapping:\n  loud: x\n").unwrap();
        assert!(SeverityParser::new(&config).is_err());
        let p = parser("parse_from: attributes.level");
        assert!(p.apply(&mut Entry::default()).is_err());
    }
}
