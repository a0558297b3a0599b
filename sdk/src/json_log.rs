//! A `tracing` layer that writes one JSON object per event.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::TraceContextExt;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Event keys written by the layer itself; event fields with these names are
/// written as `field.<name>` so a line never has duplicate keys.
const RESERVED: &[&str] = &[
    "timestamp",
    "level",
    "message",
    "target",
    "trace_id",
    "span_id",
    "service.name",
];

/// A [`Layer`] writing each event as one line of JSON:
///
/// ```json
/// {"timestamp":"2025-01-02T03:04:05.123456789Z","level":"INFO","message":"order placed",
///  "order_id":42,"target":"checkout","trace_id":"4bf9…","span_id":"00f0…","service.name":"checkout"}
/// ```
///
/// `trace_id` and `span_id` come from the OpenTelemetry span active when the
/// event is emitted, so log lines can be joined with traces. Usually enabled
/// with [`Builder::json_log_file`](crate::Builder::json_log_file); use it
/// directly to compose your own subscriber:
///
/// ```
/// use tracing_subscriber::prelude::*;
///
/// let layer = lookout_sdk::JsonLogLayer::new(std::io::stdout(), "checkout");
/// let subscriber = tracing_subscriber::registry().with(layer);
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info!(order_id = 42, "order placed");
/// });
/// ```
pub struct JsonLogLayer {
    writer: Mutex<Box<dyn Write + Send>>,
    service_name: String,
}

impl fmt::Debug for JsonLogLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLogLayer")
            .field("service_name", &self.service_name)
            .finish()
    }
}

impl JsonLogLayer {
    /// Creates a layer that writes lines to `writer`. Each line is handed to
    /// the writer in a single `write_all`, so with an unbuffered append-mode
    /// file lines from concurrent events never interleave.
    ///
    /// ```
    /// let layer = lookout_sdk::JsonLogLayer::new(std::io::sink(), "checkout");
    /// # drop(layer);
    /// ```
    pub fn new(writer: impl Write + Send + 'static, service_name: impl Into<String>) -> Self {
        Self {
            writer: Mutex::new(Box::new(writer)),
            service_name: service_name.into(),
        }
    }
}

thread_local! {
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

impl<S: Subscriber> Layer<S> for JsonLogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let ids = opentelemetry::Context::map_current(|cx| {
            let span = cx.span();
            let sc = span.span_context();
            sc.is_valid().then(|| (sc.trace_id(), sc.span_id()))
        });
        let write = |line: &mut String| {
            line.clear();
            let meta = event.metadata();
            line.push_str("{\"timestamp\":\"");
            write_rfc3339_nanos(line, SystemTime::now());
            line.push_str("\",\"level\":\"");
            line.push_str(meta.level().as_str());
            line.push('"');
            let mut visitor = JsonVisitor {
                line,
                has_message: false,
            };
            event.record(&mut visitor);
            let has_message = visitor.has_message;
            if !has_message {
                line.push_str(",\"message\":\"\"");
            }
            line.push_str(",\"target\":");
            push_json_str(line, meta.target());
            if let Some((trace_id, span_id)) = ids {
                // Hex formatting into a String cannot fail.
                let _ = write!(
                    line,
                    ",\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\""
                );
            }
            line.push_str(",\"service.name\":");
            push_json_str(line, &self.service_name);
            line.push_str("}\n");
            // A poisoned lock only means another thread panicked mid-write;
            // the writer itself is still usable.
            let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            // A logging layer has nowhere to report its own I/O errors.
            let _ = writer.write_all(line.as_bytes());
        };
        // Re-entrancy (an event emitted while writing) would find the buffer
        // borrowed; fall back to a fresh one instead of panicking.
        LINE.with(|buf| match buf.try_borrow_mut() {
            Ok(mut line) => write(&mut line),
            Err(_) => write(&mut String::new()),
        });
    }
}

struct JsonVisitor<'a> {
    line: &'a mut String,
    has_message: bool,
}

impl JsonVisitor<'_> {
    fn key(&mut self, field: &Field) {
        let name = field.name();
        self.line.push(',');
        if name == "message" {
            self.has_message = true;
            self.line.push_str("\"message\"");
        } else if RESERVED.contains(&name) {
            self.line.push_str("\"field.");
            push_escaped(self.line, name);
            self.line.push('"');
        } else {
            push_json_str(self.line, name);
        }
        self.line.push(':');
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        if value.is_finite() {
            let _ = write!(self.line, "{value}");
        } else {
            // JSON has no NaN or infinity.
            let _ = write!(self.line, "\"{value}\"");
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        let _ = write!(self.line, "{value}");
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        let _ = write!(self.line, "{value}");
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.line.push_str(if value { "true" } else { "false" });
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        push_json_str(self.line, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.key(field);
        push_json_str(self.line, &value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.key(field);
        self.line.push('"');
        let _ = write!(EscapingWriter(self.line), "{value:?}");
        self.line.push('"');
    }
}

fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    push_escaped(out, s);
    out.push('"');
}

fn push_escaped(out: &mut String, s: &str) {
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{b:04x}");
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// Escapes `Debug` output on the fly instead of formatting it into a
/// temporary string first.
struct EscapingWriter<'a>(&'a mut String);

impl fmt::Write for EscapingWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        push_escaped(self.0, s);
        Ok(())
    }
}

/// Formats `t` as RFC 3339 in UTC with nanoseconds, e.g.
/// `2025-01-02T03:04:05.123456789Z`. Hand-written to avoid pulling a date
/// crate into every instrumented service.
fn write_rfc3339_nanos(out: &mut String, t: SystemTime) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, day) = civil_from_days(days);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_nanos()
    );
}

/// Howard Hinnant's days-to-civil-date algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;
    use tracing_subscriber::prelude::*;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn timestamps() {
        let mut s = String::new();
        write_rfc3339_nanos(&mut s, UNIX_EPOCH);
        assert_eq!(s, "1970-01-01T00:00:00.000000000Z");
        s.clear();
        let t = UNIX_EPOCH + Duration::new(951_782_400 + 3_723, 5); // 2000-02-29 01:02:03
        write_rfc3339_nanos(&mut s, t);
        assert_eq!(s, "2000-02-29T01:02:03.000000005Z");
        s.clear();
        write_rfc3339_nanos(&mut s, UNIX_EPOCH + Duration::from_secs(1_735_689_599));
        assert_eq!(s, "2024-12-31T23:59:59.000000000Z");
    }

    #[test]
    fn lines_are_valid_json_with_fields() {
        let out = Shared::default();
        let subscriber = tracing_subscriber::registry().with(JsonLogLayer::new(out.clone(), "svc"));
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(
                target: "my_target",
                count = 3u64,
                neg = -2i64,
                ratio = 0.5,
                ok = true,
                name = "a\"b\nc",
                dbg = ?vec!["x"],
                level = "shadowed",
                "hello {}", "world"
            );
            tracing::info!(nan = f64::NAN);
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        let v = &lines[0];
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["message"], "hello world");
        assert_eq!(v["target"], "my_target");
        assert_eq!(v["count"], 3);
        assert_eq!(v["neg"], -2);
        assert_eq!(v["ratio"], 0.5);
        assert_eq!(v["ok"], true);
        assert_eq!(v["name"], "a\"b\nc");
        assert_eq!(v["dbg"], "[\"x\"]");
        assert_eq!(v["field.level"], "shadowed");
        assert_eq!(v["service.name"], "svc");
        assert!(v.get("trace_id").is_none(), "no span, no ids");
        let ts = v["timestamp"].as_str().unwrap();
        assert_eq!(ts.len(), "2025-01-02T03:04:05.123456789Z".len(), "{ts}");
        assert_eq!(lines[1]["nan"], "NaN");
        assert_eq!(lines[1]["message"], "");
    }
}
