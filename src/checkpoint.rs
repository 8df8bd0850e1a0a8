//! Durable checkpoints: one JSON file per input under `data_dir/checkpoints/`, holding a
//! versioned state the input defines. Written atomically (temp file, fsync, rename).

use crate::private_fs;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The on-disk format version. Bump it when the envelope changes.
pub const CHECKPOINT_VERSION: u32 = 1;

/// Where one input keeps its checkpoint.
#[derive(Debug, Clone)]
pub struct CheckpointFile {
    path: PathBuf,
}

/// A checkpoint that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// An I/O failure.
    #[error("checkpoint {path}: {source}; check that data_dir is writable")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not a checkpoint this version understands.
    #[error(
        "checkpoint {path} is unreadable ({reason}); move it away to start over (files will be read again)"
    )]
    Corrupt { path: PathBuf, reason: String },
}

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    version: u32,
    state: T,
}

impl CheckpointFile {
    /// The checkpoint of input `input_id` under `data_dir`.
    pub fn new(data_dir: &Path, input_id: &str) -> CheckpointFile {
        let name: String = input_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        CheckpointFile {
            path: data_dir.join("checkpoints").join(format!("{name}.json")),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved state, or `None` when nothing was saved yet.
    pub fn load<T: DeserializeOwned>(&self) -> Result<Option<T>, CheckpointError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(self.io(source)),
        };
        let envelope: Envelope<T> =
            serde_json::from_slice(&bytes).map_err(|error| CheckpointError::Corrupt {
                path: self.path.clone(),
                reason: error.to_string(),
            })?;
        if envelope.version != CHECKPOINT_VERSION {
            return Err(CheckpointError::Corrupt {
                path: self.path.clone(),
                reason: format!(
                    "version {} where {CHECKPOINT_VERSION} is expected",
                    envelope.version
                ),
            });
        }
        Ok(Some(envelope.state))
    }

    /// Saves `state` atomically: a crash leaves either the old or the new checkpoint.
    /// Blocking; call it from `spawn_blocking` in async code.
    pub fn save<T: Serialize>(&self, state: &T) -> Result<(), CheckpointError> {
        let envelope = Envelope {
            version: CHECKPOINT_VERSION,
            state,
        };
        let bytes = serde_json::to_vec(&envelope).map_err(|error| CheckpointError::Corrupt {
            path: self.path.clone(),
            reason: error.to_string(),
        })?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        private_fs::create_dir(dir).map_err(|source| self.io(source))?;
        let temp = self.path.with_extension("json.tmp");
        let mut file = private_fs::create_file(&temp).map_err(|source| self.io(source))?;
        file.write_all(&bytes).map_err(|source| self.io(source))?;
        file.sync_all().map_err(|source| self.io(source))?;
        fs::rename(&temp, &self.path).map_err(|source| self.io(source))?;
        if let Ok(dir) = fs::File::open(dir) {
            // Persist the rename; a failure here only weakens durability of this one save.
            let _ = dir.sync_all();
        }
        Ok(())
    }

    fn io(&self, source: std::io::Error) -> CheckpointError {
        CheckpointError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn saved_state_loads_back_and_missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoint = CheckpointFile::new(dir.path(), "file/1");
        assert_eq!(checkpoint.load::<BTreeMap<String, u64>>().unwrap(), None);
        let state = BTreeMap::from([("a".to_string(), 7u64)]);
        checkpoint.save(&state).unwrap();
        assert_eq!(checkpoint.load().unwrap(), Some(state));
        assert!(checkpoint.path().ends_with("checkpoints/file_1.json"));
    }

    #[test]
    fn garbage_is_reported_as_corrupt_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoint = CheckpointFile::new(dir.path(), "x");
        fs::create_dir_all(checkpoint.path().parent().unwrap()).unwrap();
        fs::write(checkpoint.path(), b"{nope").unwrap();
        let error = checkpoint.load::<u64>().unwrap_err().to_string();
        assert!(error.contains("x.json is unreadable"), "{error}");
    }
}
