//! `extensions: file_storage:` — a directory where components keep state across restarts
//! (the filelog receiver's checkpoints), named by a component's `storage:` key as in the
//! Collector.
//!
//! Each component gets its own subdirectory and each key one file, replaced atomically the way
//! Vector writes checkpoints: write a temporary file, fsync it, rename it over the old one,
//! fsync the directory. A crash leaves either the old or the new value, never a torn one.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::component::Validate;

mod factory;
pub(crate) use factory::Factory;

/// `file_storage` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileStorageConfig {
    /// `directory`: where state is kept (default `/var/lib/otelcol/file_storage`, as the
    /// Collector on Linux).
    #[serde(default = "default_directory")]
    pub directory: PathBuf,
    /// `create_directory`: create `directory` if it is missing (default false, as the
    /// Collector).
    #[serde(default)]
    pub create_directory: bool,
}

fn default_directory() -> PathBuf {
    PathBuf::from("/var/lib/otelcol/file_storage")
}

impl Default for FileStorageConfig {
    fn default() -> Self {
        FileStorageConfig {
            directory: default_directory(),
            create_directory: false,
        }
    }
}

/// The running extension, as components get it from
/// [`Host::extension`](crate::component::Host::extension).
#[derive(Debug, Clone)]
pub(crate) struct FileStorage {
    config: FileStorageConfig,
}

impl FileStorage {
    /// The extension with these settings.
    pub(crate) fn new(config: FileStorageConfig) -> FileStorage {
        FileStorage { config }
    }

    /// The storage of component `owner` (e.g. `receiver_filelog_app`).
    pub(crate) fn client(&self, owner: &str) -> io::Result<StorageClient> {
        StorageClient::open(&self.config, owner)
    }
}

impl Validate for FileStorageConfig {
    fn validate(&self) -> Result<(), String> {
        if self.directory.as_os_str().is_empty() {
            return Err("directory must not be empty".into());
        }
        Ok(())
    }
}

/// One component's storage.
#[derive(Debug, Clone)]
pub(crate) struct StorageClient {
    dir: PathBuf,
}

impl StorageClient {
    /// Opens the storage of component `owner` (e.g. `receiver_filelog_app`) under the
    /// extension's directory.
    pub(crate) fn open(config: &FileStorageConfig, owner: &str) -> io::Result<StorageClient> {
        if !config.directory.is_dir() {
            if config.create_directory {
                fs::create_dir_all(&config.directory)?;
            } else {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "directory {} does not exist (set create_directory: true to create it)",
                        config.directory.display()
                    ),
                ));
            }
        }
        let dir = config.directory.join(sanitize(owner));
        fs::create_dir_all(&dir)?;
        Ok(StorageClient { dir })
    }

    /// The stored value of `key`, if any.
    pub(crate) fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.path(key)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Replaces the value of `key` durably.
    pub(crate) fn set(&self, key: &str, value: &[u8]) -> io::Result<()> {
        let path = self.path(key);
        let tmp = self.dir.join(format!(".{}.tmp", sanitize(key)));
        {
            let mut file = File::create(&tmp)?;
            file.write_all(value)?;
            file.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        sync_dir(&self.dir)
    }

    /// The component's own directory (a persistent queue keeps its files there).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(sanitize(key))
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    // The rename is durable only once the directory entry is.
    File::open(dir)?.sync_all()
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_replace_and_missing_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let config = FileStorageConfig {
            directory: tmp.path().join("state"),
            create_directory: false,
        };
        assert!(StorageClient::open(&config, "receiver_filelog").is_err());
        let config = FileStorageConfig {
            create_directory: true,
            ..config
        };
        let client = StorageClient::open(&config, "receiver_filelog/app").unwrap();
        assert_eq!(client.get("checkpoints").unwrap(), None);
        client.set("checkpoints", b"one").unwrap();
        client.set("checkpoints", b"two").unwrap();
        assert_eq!(
            client.get("checkpoints").unwrap().as_deref(),
            Some(&b"two"[..])
        );
        // A second open sees the same state; no temporary file is left behind.
        let again = StorageClient::open(&config, "receiver_filelog/app").unwrap();
        assert_eq!(
            again.get("checkpoints").unwrap().as_deref(),
            Some(&b"two"[..])
        );
        let names: Vec<_> = fs::read_dir(&again.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
