//! Where each key and list item of a YAML document is, from the YAML parser's own marks, so
//! errors found after deserializing (a pipeline naming an undefined exporter) point at the
//! exact line and column of what they are about.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A position in the document: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    /// 1-based line.
    pub(crate) line: usize,
    /// 1-based column.
    pub(crate) column: usize,
}

/// Positions by dotted path: `service.pipelines.traces.exporters[1]`, `receivers.otlp`.
#[derive(Debug, Default)]
pub(crate) struct Spans {
    by_path: HashMap<String, Position>,
}

impl Spans {
    /// Indexes `text`. A document the parser rejects gives an empty index (deserializing it
    /// reports the syntax error with its own location).
    pub(crate) fn index(text: &str) -> Spans {
        let mut recorder = Recorder::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut recorder, false).is_err() {
            return Spans::default();
        }
        Spans {
            by_path: recorder.by_path,
        }
    }

    /// Where `path` is written; for a path that is not in the file, where its closest written
    /// parent is (a default value has no line of its own).
    pub(crate) fn find(&self, path: &str) -> Option<Position> {
        let mut path = path;
        loop {
            if let Some(p) = self.by_path.get(path) {
                return Some(*p);
            }
            let cut = path.rfind(['.', '['])?;
            path = path.get(..cut)?;
        }
    }
}

/// One open collection while walking the event stream.
#[derive(Debug)]
enum Frame {
    /// A mapping: `key` is the pending key, if the next scalar is its value.
    Map { path: String, key: Option<String> },
    /// A sequence and the index of its next item.
    Seq { path: String, next: usize },
}

#[derive(Debug, Default)]
struct Recorder {
    stack: Vec<Frame>,
    by_path: HashMap<String, Position>,
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl Recorder {
    /// The path of the node starting now, after recording it; `None` for a mapping key.
    fn enter(&mut self, mark: Marker, is_scalar: bool, scalar: &str) -> Option<String> {
        let at = Position {
            line: mark.line(),
            column: mark.col() + 1,
        };
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, next }) => {
                let item = format!("{path}[{next}]");
                *next += 1;
                self.by_path.entry(item.clone()).or_insert(at);
                Some(item)
            }
            Some(Frame::Map { path, key }) => match key.take() {
                Some(k) => Some(join(path, &k)),
                None => {
                    // A key: complex (non-scalar) keys do not occur in configs; they get an
                    // empty name so the walk stays balanced.
                    let name = if is_scalar { scalar } else { "" };
                    let child = join(path, name);
                    self.by_path.entry(child).or_insert(at);
                    *key = Some(name.to_string());
                    None
                }
            },
        }
    }
}

impl MarkedEventReceiver for Recorder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, ..) => {
                self.enter(mark, true, &value);
            }
            Event::Alias(_) => {
                self.enter(mark, true, "");
            }
            Event::MappingStart(..) => {
                let path = self.enter(mark, false, "").unwrap_or_default();
                self.stack.push(Frame::Map { path, key: None });
            }
            Event::SequenceStart(..) => {
                let path = self.enter(mark, false, "").unwrap_or_default();
                self.stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
receivers:
  otlp:
    protocols:
      grpc:
exporters:
  otlphttp:
    endpoint: http://x
  otlp:
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters:
        - otlphttp
        - otlp
";

    #[test]
    fn keys_and_items_have_their_own_lines() {
        let spans = Spans::index(DOC);
        let at = |p: &str| spans.find(p).map(|p| (p.line, p.column));
        assert_eq!(at("receivers.otlp"), Some((2, 3)));
        assert_eq!(at("exporters.otlp"), Some((8, 3)));
        assert_eq!(at("exporters.otlphttp"), Some((6, 3)));
        assert_eq!(at("service.pipelines.traces.receivers[0]"), Some((12, 19)));
        assert_eq!(at("service.pipelines.traces.exporters[1]"), Some((15, 11)));
    }

    #[test]
    fn a_missing_path_falls_back_to_its_parent() {
        let spans = Spans::index(DOC);
        assert_eq!(
            spans.find("exporters.otlphttp.timeout").map(|p| p.line),
            Some(6)
        );
        assert_eq!(spans.find("nothing.here"), None);
    }
}
