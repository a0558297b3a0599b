//! `exporters: file:` — one OTLP/JSON export request per line (or length-prefixed protobuf),
//! with size-based rotation, as the Collector's `fileexporter`.

mod factory;
pub(crate) use factory::Factory;

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use futures::future::BoxFuture;
use prost::Message;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::{Export, ExportError};
use crate::core::{Batch, Signal};
use lookout_proto::otlp::collector;

/// File exporter settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileExporterConfig {
    /// The file to write (its directory is created if missing).
    pub path: PathBuf,
    /// `json` (OTLP/JSON lines, the default) or `proto` (each request prefixed by its
    /// 4-byte big-endian length).
    #[serde(default)]
    pub format: FileFormat,
    /// Size-based rotation; without it the file grows without bound.
    #[serde(default)]
    pub rotation: Option<RotationConfig>,
    /// Append to an existing file instead of truncating it at start.
    #[serde(default)]
    pub append: bool,
}

/// Output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FileFormat {
    /// OTLP/JSON, one export request per line.
    #[default]
    Json,
    /// Length-prefixed protobuf.
    Proto,
}

/// `rotation:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RotationConfig {
    /// Rotate once the file reaches this many MiB (default 100).
    pub max_megabytes: u64,
    /// Rotated files to keep, newest first (default 100; 0 keeps all).
    pub max_backups: usize,
}

impl Default for RotationConfig {
    fn default() -> Self {
        RotationConfig {
            max_megabytes: 100,
            max_backups: 100,
        }
    }
}

struct Sink {
    writer: BufWriter<File>,
    written: u64,
}

/// The exporter.
pub(crate) struct FileExporter {
    path: PathBuf,
    format: FileFormat,
    rotation: Option<RotationConfig>,
    sink: Mutex<Sink>,
}

impl FileExporter {
    /// Opens (creating or truncating) the file.
    pub(crate) fn new(config: &FileExporterConfig) -> Result<FileExporter, String> {
        if config.path.as_os_str().is_empty() {
            return Err("path is required".into());
        }
        if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)
                .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
        }
        let file = open(&config.path, config.append)?;
        let written = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(FileExporter {
            path: config.path.clone(),
            format: config.format,
            rotation: config.rotation.clone(),
            sink: Mutex::new(Sink {
                writer: BufWriter::with_capacity(1 << 16, file),
                written,
            }),
        })
    }

    fn encode(&self, batch: &Batch) -> Result<Vec<u8>, ExportError> {
        let bad = |err: prost::DecodeError| {
            ExportError::permanent(format!("cannot decode the batch for JSON output: {err}"))
        };
        match self.format {
            FileFormat::Proto => {
                let mut out = Vec::with_capacity(4 + batch.payload.len());
                out.extend_from_slice(&(batch.payload.len() as u32).to_be_bytes());
                out.extend_from_slice(&batch.payload);
                Ok(out)
            }
            FileFormat::Json => {
                let mut out = Vec::with_capacity(batch.payload.len() * 2);
                match batch.signal {
                    Signal::Traces => lookout_proto::json::traces_to_json(
                        &collector::trace::v1::ExportTraceServiceRequest::decode(
                            &batch.payload[..],
                        )
                        .map_err(bad)?,
                        &mut out,
                    ),
                    Signal::Metrics => lookout_proto::json::metrics_to_json(
                        &collector::metrics::v1::ExportMetricsServiceRequest::decode(
                            &batch.payload[..],
                        )
                        .map_err(bad)?,
                        &mut out,
                    ),
                    Signal::Logs => lookout_proto::json::logs_to_json(
                        &collector::logs::v1::ExportLogsServiceRequest::decode(&batch.payload[..])
                            .map_err(bad)?,
                        &mut out,
                    ),
                }
                out.push(b'\n');
                Ok(out)
            }
        }
    }

    fn rotate(&self, sink: &mut Sink, rotation: &RotationConfig) -> std::io::Result<()> {
        sink.writer.flush()?;
        let stamp = humantime::format_rfc3339_millis(std::time::SystemTime::now())
            .to_string()
            .replace(':', "-");
        let backup = backup_name(&self.path, &stamp);
        fs::rename(&self.path, &backup)?;
        sink.writer = BufWriter::with_capacity(1 << 16, File::create(&self.path)?);
        sink.written = 0;
        if rotation.max_backups > 0 {
            prune_backups(&self.path, rotation.max_backups)?;
        }
        Ok(())
    }
}

impl Export for FileExporter {
    fn export<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), ExportError>> {
        Box::pin(async move {
            let data = self.encode(batch)?;
            let mut sink = self.sink.lock().await;
            let io = |err: std::io::Error| {
                ExportError::retryable(format!("writing {}: {err}", self.path.display()))
            };
            if let Some(rotation) = &self.rotation
                && sink.written > 0
                && sink.written + data.len() as u64 > rotation.max_megabytes << 20
            {
                self.rotate(&mut sink, rotation).map_err(io)?;
            }
            // Blocking file writes on a runtime thread: each is one buffered write of a batch.
            sink.writer.write_all(&data).map_err(io)?;
            sink.writer.flush().map_err(io)?;
            sink.written += data.len() as u64;
            Ok(())
        })
    }
}

fn open(path: &Path, append: bool) -> Result<File, String> {
    let mut options = OpenOptions::new();
    options.create(true).write(true);
    if append {
        options.append(true);
    } else {
        options.truncate(true);
    }
    options
        .open(path)
        .map_err(|err| format!("cannot open {}: {err}", path.display()))
}

/// `dir/name-STAMP.ext` for `dir/name.ext`.
fn backup_name(path: &Path, stamp: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{stamp}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{stamp}"),
    };
    path.with_file_name(name)
}

fn prune_backups(path: &Path, keep: usize) -> std::io::Result<()> {
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => dir.to_path_buf(),
        None => PathBuf::from("."),
    };
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!("{stem}-");
    let mut backups: Vec<PathBuf> = fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p != path
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
        })
        .collect();
    // Timestamps sort lexically, oldest first.
    backups.sort();
    let excess = backups.len().saturating_sub(keep);
    for old in &backups[..excess] {
        fs::remove_file(old)?;
    }
    Ok(())
}

impl crate::component::Validate for FileExporterConfig {
    fn validate(&self) -> Result<(), String> {
        if self.path.as_os_str().is_empty() {
            return Err("path is required".into());
        }
        if let Some(r) = &self.rotation
            && r.max_megabytes == 0
        {
            return Err("rotation.max_megabytes must be >= 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use prost::Message;

    use super::*;
    use lookout_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

    fn traces(n: usize) -> Batch {
        let request = collector::trace::v1::ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: (0..n)
                        .map(|i| Span {
                            trace_id: vec![1; 16],
                            span_id: vec![2; 8],
                            name: format!("span-{i}"),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        Batch::new(Signal::Traces, Bytes::from(request.encode_to_vec()), n)
    }

    #[tokio::test]
    async fn writes_json_lines_and_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let exporter = FileExporter::new(&FileExporterConfig {
            path: path.clone(),
            rotation: Some(RotationConfig {
                max_megabytes: 1,
                max_backups: 2,
            }),
            ..Default::default()
        })
        .unwrap();
        exporter.export(&traces(2)).await.unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1);
        let back = lookout_proto::json::traces_from_json(text.trim_end().as_bytes()).unwrap();
        assert_eq!(
            back.resource_spans[0].scope_spans[0].spans[1].name,
            "span-1"
        );

        // ~300 KiB per batch: rotation happens and at most 2 backups are kept.
        for _ in 0..20 {
            exporter.export(&traces(3000)).await.unwrap();
        }
        let files: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 3, "current file plus max_backups");
        assert!(fs::metadata(&path).unwrap().len() <= 1 << 20);
    }
}
