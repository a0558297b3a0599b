//! The filelog receiver's operators on arbitrary lines, and its `expr` language on arbitrary
//! expressions. Input: a selector byte, then text split at the first NUL into a head and lines.
//!
//! * selector < 8: one of the fixed operator lists below (JSON, regex, severity, time, trace,
//!   field operators, routers) runs on every line of the text;
//! * selector 8: the head is an `operators:` YAML list (fuzzed configs), run on the lines;
//! * otherwise: the head is an expression, evaluated on every line.
//!
//! Nothing may panic; building may fail (bad regex, bad layout) and operators may fail on a
//! line, which the record carries as an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_collector::fuzzing::{FilelogOperators, filelog_expr};
use std::sync::OnceLock;

const PRESETS: [&str; 8] = [
    "- type: json_parser\n  parse_to: attributes\n- type: trace_parser\n  trace_id:\n    parse_from: attributes.trace_id\n  span_id:\n    parse_from: attributes.span_id\n",
    "- type: regex_parser\n  regex: '^(?P<time>\\S+) (?P<sev>[A-Z]+) (?P<msg>.*)$'\n- type: time_parser\n  parse_from: attributes.time\n  layout: '%Y-%m-%dT%H:%M:%S.%LZ'\n- type: severity_parser\n  parse_from: attributes.sev\n",
    "- type: json_parser\n  timestamp:\n    parse_from: attributes.ts\n    layout_type: epoch\n    layout: s.ms\n  severity:\n    parse_from: attributes.level\n",
    "- type: json_parser\n  timestamp:\n    parse_from: attributes.time\n    layout_type: gotime\n    layout: '2006-01-02T15:04:05.999999999Z07:00'\n",
    "- type: regex_parser\n  regex: '(?P<a>\\d+)-(?P<b>\\w*)'\n- type: move\n  from: attributes.a\n  to: attributes.x.y\n- type: copy\n  from: attributes.b\n  to: body\n- type: remove\n  field: attributes.b\n- type: add\n  field: resource.k\n  value: v\n",
    "- type: router\n  routes:\n    - output: js\n      expr: 'body matches \"^\\\\{\"'\n  default: plain\n- id: js\n  type: json_parser\n  output: end\n- id: plain\n  type: regex_parser\n  regex: '^(?P<word>\\w+)'\n- id: end\n  type: add\n  field: attributes.done\n  value: 'yes'\n",
    "- type: json_parser\n  if: 'body contains \"{\"'\n- type: severity_parser\n  parse_from: attributes.severity\n  mapping:\n    error: [oops, 5xx]\n    warn:\n      min: 400\n      max: 499\n",
    "- type: time_parser\n  parse_from: body\n  layout_type: strptime\n  layout: '%d/%b/%Y:%H:%M:%S %z'\n  location: Europe/Berlin\n",
];

fn preset(i: usize) -> Option<&'static FilelogOperators> {
    static BUILT: OnceLock<Vec<FilelogOperators>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            PRESETS
                .iter()
                .map(|y| FilelogOperators::new(y).unwrap_or_else(|e| panic!("preset {y}: {e}")))
                .collect()
        })
        .get(i)
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let (head, lines) = text.split_once('\0').unwrap_or(("", &text));
    let sel = usize::from(sel);
    if sel < PRESETS.len() {
        let ops = preset(sel).expect("preset index");
        for line in text.lines() {
            ops.process(line);
        }
    } else if sel == PRESETS.len() {
        if let Ok(ops) = FilelogOperators::new(head) {
            for line in lines.lines().take(16) {
                ops.process(line);
            }
        }
    } else {
        for line in lines.lines().take(16) {
            if filelog_expr(head, line).is_err() {
                break;
            }
        }
    }
});
