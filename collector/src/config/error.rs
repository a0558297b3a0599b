//! Configuration errors that say where and what.

use std::fmt;

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
        let inner = err.into_inner();
        let location = inner.location();
        let mut message = inner.to_string();
        // serde_yaml appends " at line L column C"; we print the location up front instead.
        if let Some(cut) = message.find(" at line ") {
            message.truncate(cut);
        }
        ConfigError {
            kind: ConfigErrorKind::Invalid {
                file: file.to_string(),
                line: location.as_ref().map(|l| l.line()),
                column: location.as_ref().map(|l| l.column()),
                key: if key == "." { String::new() } else { key },
                message,
            },
        }
    }

    pub(crate) fn semantic(
        file: &str,
        line: Option<usize>,
        key: String,
        message: String,
    ) -> ConfigError {
        ConfigError {
            kind: ConfigErrorKind::Invalid {
                file: file.to_string(),
                line,
                column: None,
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

/// The 1-based line of the last mention of `needle` under `service:` (where pipelines name
/// components), or anywhere if the file has no such section.
pub(crate) fn locate(text: &str, needle: &str) -> Option<usize> {
    mentions(text, "service:", needle).last()
}

/// The 1-based line of the first mention of `needle` after the line `section` (e.g.
/// `processors:`), or anywhere if the file has no such line.
pub(crate) fn locate_first_after(text: &str, section: &str, needle: &str) -> Option<usize> {
    mentions(text, section, needle).next()
}

/// 1-based lines mentioning `needle` from the line `section` on (from the top without one).
fn mentions<'a>(text: &'a str, section: &str, needle: &'a str) -> impl Iterator<Item = usize> + 'a {
    let start = text
        .lines()
        .position(|l| l.trim_end() == section)
        .unwrap_or(0);
    text.lines()
        .enumerate()
        .skip(start)
        .filter(move |(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
}
