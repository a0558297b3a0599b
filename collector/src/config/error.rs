//! Configuration errors that say where and what.

use std::fmt;

use super::spans::Position;

/// A configuration that cannot be used: the file, the line, the key, and what was expected.
#[derive(Debug)]
pub struct ConfigError {
    kind: ConfigErrorKind,
}

#[derive(Debug)]
enum ConfigErrorKind {
    Io {
        file: String,
        source: std::io::Error,
    },
    Invalid {
        file: String,
        line: Option<usize>,
        column: Option<usize>,
        key: String,
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn io(file: String, source: std::io::Error) -> ConfigError {
        ConfigError {
            kind: ConfigErrorKind::Io { file, source },
        }
    }

    pub(crate) fn parse(
        file: &str,
        err: serde_path_to_error::Error<serde_yaml_ng::Error>,
    ) -> ConfigError {
        let key = err.path().to_string();
        let key = if key == "." { String::new() } else { key };
        let inner = err.into_inner();
        let (message, at) = innermost(&inner.to_string(), &key);
        let location = inner.location();
        let (line, column) = match at {
            Some((line, column)) => (Some(line), Some(column)),
            None => (
                location.as_ref().map(|l| l.line()),
                location.as_ref().map(|l| l.column()),
            ),
        };
        ConfigError {
            kind: ConfigErrorKind::Invalid {
                file: file.to_string(),
                line,
                column,
                key,
                message,
            },
        }
    }

    pub(crate) fn semantic(
        file: &str,
        at: Option<Position>,
        key: String,
        message: String,
    ) -> ConfigError {
        ConfigError {
            kind: ConfigErrorKind::Invalid {
                file: file.to_string(),
                line: at.map(|p| p.line),
                column: at.map(|p| p.column),
                key,
                message,
            },
        }
    }

    /// The line the error points at, when known (1-based).
    pub fn line(&self) -> Option<usize> {
        match &self.kind {
            ConfigErrorKind::Io { .. } => None,
            ConfigErrorKind::Invalid { line, .. } => *line,
        }
    }

    /// The dotted key path the error is about (empty for the document itself).
    pub fn key(&self) -> &str {
        match &self.kind {
            ConfigErrorKind::Io { .. } => "",
            ConfigErrorKind::Invalid { key, .. } => key,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ConfigErrorKind::Io { file, source } => {
                write!(f, "cannot read config {file}: {source}")
            }
            ConfigErrorKind::Invalid {
                file,
                line,
                column,
                key,
                message,
            } => {
                write!(f, "{file}")?;
                if let Some(line) = line {
                    write!(f, ":{line}")?;
                    if let Some(column) = column {
                        write!(f, ":{column}")?;
                    }
                }
                if key.is_empty() {
                    write!(f, ": {message}")
                } else {
                    write!(f, ": {key}: {message}")
                }
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ConfigErrorKind::Io { source, .. } => Some(source),
            ConfigErrorKind::Invalid { .. } => None,
        }
    }
}

/// The parser's own message and location from a YAML error's text. A component body is parsed
/// by its factory through a type-erased deserializer, and each erased layer passes the error
/// on as text: `receivers: receivers.otlp: unknown field ... at line 5 column 9 at line 2 ...`.
/// The innermost (first) location is the precise one; the leading path prefixes repeat `key`.
fn innermost(text: &str, key: &str) -> (String, Option<(usize, usize)>) {
    let mut message = text;
    loop {
        let stripped = message.split_once(": ").and_then(|(head, rest)| {
            let is_prefix = !head.is_empty()
                && !head.contains(' ')
                && (key == head
                    || key.starts_with(&format!("{head}."))
                    || key.starts_with(&format!("{head}[")));
            is_prefix.then_some(rest)
        });
        match stripped {
            Some(rest) => message = rest,
            None => break,
        }
    }
    let Some(cut) = message.find(" at line ") else {
        return (message.to_string(), None);
    };
    let (head, tail) = message.split_at(cut);
    let mut numbers = tail
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().ok());
    let at = match (numbers.next().flatten(), numbers.next().flatten()) {
        (Some(line), Some(column)) => Some((line, column)),
        _ => None,
    };
    (head.to_string(), at)
}

#[cfg(test)]
mod tests {
    use super::innermost;

    #[test]
    fn innermost_message_and_location() {
        let text = "receivers: receivers.otlp: receivers.otlp.protocols.grpc: unknown field `x`, expected `endpoint` at line 5 column 9 at line 2 column 3";
        let (m, at) = innermost(text, "receivers.otlp.protocols.grpc.x");
        assert_eq!(m, "unknown field `x`, expected `endpoint`");
        assert_eq!(at, Some((5, 9)));
        // A message's own "word: " is not a path prefix and stays.
        let (m, _) = innermost("receivers.otlp: protocols.grpc: bad", "receivers.otlp");
        assert_eq!(m, "protocols.grpc: bad");
    }
}
