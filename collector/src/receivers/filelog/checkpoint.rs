//! The checkpoint document kept in `file_storage`: per file, where it was, what it starts
//! with and how far its records were delivered.

use serde::{Deserialize, Serialize};

use super::identity::FileId;

/// The storage key.
pub(crate) const KEY: &str = "checkpoints.json";

/// All files' checkpoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Checkpoints {
    /// Format version.
    pub version: u32,
    /// One entry per tracked file.
    pub files: Vec<FileCheckpoint>,
}

/// One file's checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileCheckpoint {
    /// Last path (informational: identity is the fingerprint and inode).
    pub path: String,
    /// Device and inode.
    pub id: FileId,
    /// First bytes, hex.
    pub fingerprint: String,
    /// Offset up to which every record was delivered.
    pub offset: u64,
}

impl Checkpoints {
    /// Serializes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        // Serializing plain structs of strings and integers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a stored document.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Checkpoints, String> {
        let c: Checkpoints = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if c.version != 1 {
            return Err(format!("unsupported checkpoint version {}", c.version));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects_garbage() {
        let c = Checkpoints {
            version: 1,
            files: vec![FileCheckpoint {
                path: "a.log".into(),
                id: FileId { dev: 1, ino: 2 },
                fingerprint: hex::encode(b"hello"),
                offset: 42,
            }],
        };
        assert_eq!(Checkpoints::decode(&c.encode()), Ok(c));
        assert!(Checkpoints::decode(b"{").is_err());
        assert!(Checkpoints::decode(br#"{"version":9,"files":[]}"#).is_err());
    }
}
