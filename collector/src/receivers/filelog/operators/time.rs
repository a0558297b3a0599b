//! `time_parser` and the embedded `timestamp:` block: `layout_type` strptime (the Collector's
//! dialect, with `%L` milliseconds and `%f` microseconds), gotime (Go reference layouts) and
//! epoch (`s`, `ms`, `us`, `ns`, `s.ms`, `s.us`, `s.ns`), with an optional `location`.

use chrono::format::{Fixed, Item, Numeric, Pad, Parsed, StrftimeItems, parse};
use chrono::{Datelike, Local, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::entry::{Entry, Field};

/// `timestamp:` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TimeConfig {
    /// `parse_from`: the field holding the time (required).
    pub parse_from: Field,
    /// `layout_type`: `strptime` (default), `gotime` or `epoch`.
    #[serde(default)]
    pub layout_type: LayoutType,
    /// `layout`: the format (required).
    pub layout: String,
    /// `location`: IANA zone for times without an offset (default: the local zone).
    #[serde(default)]
    pub location: Option<String>,
}

/// How `layout` is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LayoutType {
    /// `%Y-%m-%d`.
    #[default]
    Strptime,
    /// `2006-01-02`.
    Gotime,
    /// Seconds (or finer) since 1970.
    Epoch,
}

#[derive(Debug, Clone)]
enum Layout {
    Items(Vec<Item<'static>>),
    Epoch(EpochUnit),
}

#[derive(Debug, Clone, Copy)]
enum EpochUnit {
    S,
    Ms,
    Us,
    Ns,
    /// Seconds with a fractional part.
    Fractional,
}

#[derive(Debug, Clone, Copy)]
enum Zone {
    Local,
    Named(chrono_tz::Tz),
}

/// A built time parser.
#[derive(Debug, Clone)]
pub(crate) struct TimeParser {
    parse_from: Field,
    layout: Layout,
    zone: Zone,
}

impl TimeParser {
    /// Checks the layout and location.
    pub(crate) fn new(config: &TimeConfig) -> Result<TimeParser, String> {
        let layout = match config.layout_type {
            LayoutType::Strptime => {
                Layout::Items(strftime_items(&strptime_to_chrono(&config.layout))?)
            }
            LayoutType::Gotime => Layout::Items(gotime_items(&config.layout)),
            LayoutType::Epoch => Layout::Epoch(match config.layout.as_str() {
                "s" => EpochUnit::S,
                "ms" => EpochUnit::Ms,
                "us" => EpochUnit::Us,
                "ns" => EpochUnit::Ns,
                "s.ms" | "s.us" | "s.ns" => EpochUnit::Fractional,
                other => {
                    return Err(format!(
                        "epoch layout {other:?}: expected s, ms, us, ns, s.ms, s.us or s.ns"
                    ));
                }
            }),
        };
        let zone = match config.location.as_deref() {
            None | Some("Local") | Some("") => Zone::Local,
            Some(name) => Zone::Named(
                name.parse::<chrono_tz::Tz>()
                    .map_err(|_| format!("unknown location {name:?}"))?,
            ),
        };
        Ok(TimeParser {
            parse_from: config.parse_from.clone(),
            layout,
            zone,
        })
    }

    /// Sets the entry's timestamp from its `parse_from` field.
    pub(crate) fn apply(&self, entry: &mut Entry) -> Result<(), String> {
        let value = entry
            .get(&self.parse_from)
            .ok_or_else(|| format!("time field {} is missing", self.parse_from))?;
        entry.timestamp = Some(self.parse_value(value)?);
        Ok(())
    }

    fn parse_value(&self, value: &Value) -> Result<u64, String> {
        match &self.layout {
            Layout::Epoch(unit) => epoch(value, *unit),
            Layout::Items(items) => {
                let Value::String(text) = value else {
                    return Err(format!("time value {value} is not a string"));
                };
                self.parse_text(text.trim(), items)
            }
        }
    }

    fn parse_text(&self, text: &str, items: &[Item<'static>]) -> Result<u64, String> {
        let mut parsed = Parsed::new();
        parse(&mut parsed, text, items.iter())
            .map_err(|e| format!("time {text:?} does not match the layout: {e}"))?;
        if parsed.timestamp().is_some() {
            let dt = parsed
                .to_datetime_with_timezone(&Utc)
                .map_err(|e| format!("time {text:?}: {e}"))?;
            return nanos(dt.timestamp_nanos_opt());
        }
        // Syslog-style layouts carry no year: the Collector assumes the current one.
        if parsed.year().is_none() && parsed.year_mod_100().is_none() {
            let _ = parsed.set_year(i64::from(Utc::now().year()));
        }
        if parsed.hour_div_12().is_none() && parsed.hour_mod_12().is_none() {
            let _ = parsed.set_hour(0);
        }
        if parsed.minute().is_none() {
            let _ = parsed.set_minute(0);
        }
        if let Some(offset) = parsed.offset() {
            let naive = parsed
                .to_naive_datetime_with_offset(offset)
                .map_err(|e| format!("time {text:?}: {e}"))?;
            return nanos(
                naive
                    .and_utc()
                    .timestamp_nanos_opt()
                    .map(|n| n - i64::from(offset) * 1_000_000_000),
            );
        }
        let naive: NaiveDateTime = parsed
            .to_naive_datetime_with_offset(0)
            .map_err(|e| format!("time {text:?}: {e}"))?;
        let local = match self.zone {
            Zone::Local => Local
                .from_local_datetime(&naive)
                .earliest()
                .map(|t| t.timestamp_nanos_opt()),
            Zone::Named(tz) => tz
                .from_local_datetime(&naive)
                .earliest()
                .map(|t| t.timestamp_nanos_opt()),
        };
        nanos(local.flatten())
    }
}

fn nanos(n: Option<i64>) -> Result<u64, String> {
    n.and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| "time is out of range".to_string())
}

fn epoch(value: &Value, unit: EpochUnit) -> Result<u64, String> {
    let text = match value {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        other => return Err(format!("epoch value {other} is not a number")),
    };
    let bad = || format!("epoch value {text:?} is not a number");
    let scale: u64 = match unit {
        EpochUnit::S | EpochUnit::Fractional => 1_000_000_000,
        EpochUnit::Ms => 1_000_000,
        EpochUnit::Us => 1_000,
        EpochUnit::Ns => 1,
    };
    // Integer and fraction are scaled separately so nanoseconds are not rounded through f64.
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let int: u64 = int.parse().map_err(|_| bad())?;
    let mut frac_nanos = 0u64;
    if !frac.is_empty() {
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let digits: String = frac
            .chars()
            .chain(std::iter::repeat('0'))
            .take(18)
            .collect();
        let frac_units: u64 = digits.parse().map_err(|_| bad())?;
        // `frac_units` is the fraction in units of 1e-18.
        frac_nanos =
            (u128::from(frac_units) * u128::from(scale) / 1_000_000_000_000_000_000u128) as u64;
    }
    int.checked_mul(scale)
        .and_then(|n| n.checked_add(frac_nanos))
        .ok_or_else(|| format!("epoch value {text:?} is out of range"))
}

/// The Collector's strptime dialect differs from chrono's in a few directives.
fn strptime_to_chrono(layout: &str) -> String {
    let mut out = String::with_capacity(layout.len());
    let mut chars = layout.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('L') => out.push_str("%3f"),
            Some('f') => out.push_str("%6f"),
            Some('s') => out.push_str("%s"),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

fn strftime_items(layout: &str) -> Result<Vec<Item<'static>>, String> {
    let items: Vec<Item<'static>> = StrftimeItems::new(layout)
        .map(|item| match item {
            Item::Literal(s) => Item::OwnedLiteral(s.into()),
            Item::Space(s) => Item::OwnedSpace(s.into()),
            other => other.to_owned(),
        })
        .collect();
    if items.iter().any(|i| matches!(i, Item::Error)) {
        return Err(format!("invalid strptime layout {layout:?}"));
    }
    Ok(items)
}

fn gotime_items(layout: &str) -> Vec<Item<'static>> {
    use Item::{Fixed as F, Numeric as N};
    const TOKENS: &[(&str, Item<'static>)] = &[
        ("January", F(Fixed::LongMonthName)),
        ("Jan", F(Fixed::ShortMonthName)),
        ("Monday", F(Fixed::LongWeekdayName)),
        ("Mon", F(Fixed::ShortWeekdayName)),
        ("MST", F(Fixed::TimezoneName)),
        ("2006", N(Numeric::Year, Pad::Zero)),
        ("Z07:00", F(Fixed::TimezoneOffsetColonZ)),
        ("Z0700", F(Fixed::TimezoneOffsetZ)),
        ("Z07", F(Fixed::TimezoneOffsetZ)),
        ("-07:00", F(Fixed::TimezoneOffsetColon)),
        ("-0700", F(Fixed::TimezoneOffset)),
        ("-07", F(Fixed::TimezoneOffset)),
        ("002", N(Numeric::Ordinal, Pad::Zero)),
        ("01", N(Numeric::Month, Pad::Zero)),
        ("02", N(Numeric::Day, Pad::Zero)),
        ("_2", N(Numeric::Day, Pad::Space)),
        ("03", N(Numeric::Hour12, Pad::Zero)),
        ("04", N(Numeric::Minute, Pad::Zero)),
        ("05", N(Numeric::Second, Pad::Zero)),
        ("06", N(Numeric::YearMod100, Pad::Zero)),
        ("15", N(Numeric::Hour, Pad::Zero)),
        ("PM", F(Fixed::UpperAmPm)),
        ("pm", F(Fixed::LowerAmPm)),
        ("1", N(Numeric::Month, Pad::None)),
        ("2", N(Numeric::Day, Pad::None)),
        ("3", N(Numeric::Hour12, Pad::None)),
        ("4", N(Numeric::Minute, Pad::None)),
        ("5", N(Numeric::Second, Pad::None)),
    ];
    let mut items = Vec::new();
    let mut literal = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        // `.000`, `.999`, `,000`: fractional seconds of any precision.
        if let Some(fraction) = rest.strip_prefix(['.', ','])
            && let Some(digit) = fraction.chars().next().filter(|d| matches!(d, '0' | '9'))
        {
            flush(&mut items, &mut literal);
            items.push(F(Fixed::Nanosecond));
            rest = fraction.trim_start_matches(digit);
            continue;
        }
        for (token, item) in TOKENS {
            if let Some(after) = rest.strip_prefix(token) {
                flush(&mut items, &mut literal);
                items.push(item.clone());
                rest = after;
                continue 'outer;
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            literal.push(c);
        }
        rest = chars.as_str();
    }
    flush(&mut items, &mut literal);
    items
}

fn flush(items: &mut Vec<Item<'static>>, literal: &mut String) {
    if !literal.is_empty() {
        items.push(Item::OwnedLiteral(std::mem::take(literal).into()));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse_with(yaml: &str, value: Value) -> Result<u64, String> {
        let config: TimeConfig = serde_yaml_ng::from_str(yaml).unwrap();
        let parser = TimeParser::new(&config)?;
        let mut e = Entry::default();
        e.set(&Field::attribute("t"), value);
        parser.apply(&mut e)?;
        Ok(e.timestamp.unwrap())
    }

    const T: u64 = 1_700_000_000_123_000_000; // 2023-11-14T22:13:20.123Z

    #[test]
    fn strptime_with_offset_and_millis() {
        let ns = parse_with(
            "parse_from: attributes.t\nlayout: '%Y-%m-%dT%H:%M:%S.%L%z'",
            json!("2023-11-14T23:13:20.123+0100"),
        );
        assert_eq!(ns, Ok(T));
    }

    #[test]
    fn strptime_in_a_named_location() {
        let ns = parse_with(
            "parse_from: attributes.t\nlayout: '%Y-%m-%d %H:%M:%S'\nlocation: America/New_York",
            json!("2023-11-14 17:13:20"),
        );
        assert_eq!(ns, Ok(T - 123_000_000));
    }

    #[test]
    fn gotime_rfc3339_with_z_and_fraction() {
        let yaml = "parse_from: attributes.t\nlayout_type: gotime\nlayout: '2006-01-02T15:04:05.000Z07:00'";
        assert_eq!(parse_with(yaml, json!("2023-11-14T22:13:20.123Z")), Ok(T));
        assert_eq!(
            parse_with(yaml, json!("2023-11-14T23:13:20.123+01:00")),
            Ok(T)
        );
    }

    #[test]
    fn gotime_syslog_without_year_uses_current_year() {
        let yaml = "parse_from: attributes.t\nlayout_type: gotime\nlayout: 'Jan _2 15:04:05'\nlocation: UTC";
        let ns = parse_with(yaml, json!("Nov 14 22:13:20")).unwrap();
        let year = chrono::DateTime::from_timestamp_nanos(ns as i64).year();
        assert_eq!(year, Utc::now().year());
    }

    #[test]
    fn epoch_units_and_fractions() {
        let y = |l: &str| format!("parse_from: attributes.t\nlayout_type: epoch\nlayout: {l}");
        assert_eq!(parse_with(&y("ms"), json!(1_700_000_000_123u64)), Ok(T));
        assert_eq!(parse_with(&y("s.ms"), json!("1700000000.123")), Ok(T));
        assert_eq!(
            parse_with(&y("s"), json!("1700000000")),
            Ok(T - 123_000_000)
        );
        assert_eq!(parse_with(&y("ns"), json!(T)), Ok(T));
        assert!(parse_with(&y("s"), json!("soon")).is_err());
        assert!(parse_with(&y("minutes"), json!(1)).is_err());
    }

    #[test]
    fn mismatch_is_an_error() {
        let yaml = "parse_from: attributes.t\nlayout: '%Y-%m-%d'";
        assert!(parse_with(yaml, json!("yesterday")).is_err());
        assert!(
            parse_with(
                "parse_from: attributes.t\nlayout: x\nlocation: Mars/Base",
                json!("x")
            )
            .is_err()
        );
    }
}
