//! The dead-letter queue: events Elasticsearch refused for good (mapping errors, …) are
//! appended with the reason to NDJSON files in `data_dir/dlq/<output id>/`, fsynced before
//! their batch is acknowledged, and read back by `logpipe dlq replay`.

use crate::event::format_timestamp;
use crate::private_fs;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One refused event, as a line of a DLQ file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// When it was refused (RFC 3339 UTC).
    #[serde(rename = "@timestamp")]
    pub timestamp: String,
    /// The output that refused it.
    pub output: String,
    /// The index or data stream it was sent to.
    pub index: String,
    /// The HTTP status of its bulk item.
    pub status: u16,
    /// Elasticsearch's error type (`mapper_parsing_exception`, …).
    pub error_type: String,
    /// Elasticsearch's reason.
    pub reason: String,
    /// The event as it was sent.
    pub event: Value,
}

/// An event Elasticsearch refused, on its way to the DLQ.
#[derive(Debug, Clone)]
pub struct Refused {
    /// The event as it was sent.
    pub event: Value,
    /// The index or data stream it was sent to.
    pub index: String,
    /// The HTTP status of its bulk item.
    pub status: u16,
    /// Elasticsearch's error type.
    pub error_type: String,
    /// Elasticsearch's reason.
    pub reason: String,
}

/// Why the DLQ could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    /// Writing failed (the batch stays unacknowledged and is retried).
    #[error("cannot write the dead-letter queue `{path}`: {source}", path = path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Reading failed.
    #[error("cannot read the dead-letter queue `{path}`: {source}", path = path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The DLQ directory of one output.
#[derive(Debug, Clone)]
pub struct DeadLetterQueue {
    dir: PathBuf,
    output: String,
}

impl DeadLetterQueue {
    /// `data_dir/dlq/<output id>/`.
    pub fn new(data_dir: &Path, output: &str) -> DeadLetterQueue {
        DeadLetterQueue {
            dir: data_dir.join("dlq").join(output),
            output: output.to_string(),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends refused events to today's file and fsyncs it. Blocking: call from
    /// `spawn_blocking`.
    pub fn append(&self, refused: Vec<Refused>) -> Result<PathBuf, DlqError> {
        let now = chrono::Utc::now();
        let path = self.dir.join(format!("{}.ndjson", now.format("%Y-%m-%d")));
        let write_error = |source| DlqError::Write {
            path: path.clone(),
            source,
        };
        private_fs::create_dir(&self.dir).map_err(write_error)?;
        let mut text = Vec::new();
        let timestamp = format_timestamp(now);
        for refusal in refused {
            let letter = DeadLetter {
                timestamp: timestamp.clone(),
                output: self.output.clone(),
                index: refusal.index,
                status: refusal.status,
                error_type: refusal.error_type,
                reason: refusal.reason,
                event: refusal.event,
            };
            // Serializing plain data into memory cannot fail.
            let _ = serde_json::to_writer(&mut text, &letter);
            text.push(b'\n');
        }
        let mut file = private_fs::open_options()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(write_error)?;
        file.write_all(&text).map_err(write_error)?;
        file.sync_data().map_err(write_error)?;
        Ok(path)
    }

    /// The DLQ files, oldest first (files being replayed are included: a replay that died
    /// is taken up again).
    pub fn files(&self) -> Result<Vec<PathBuf>, DlqError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(DlqError::Read {
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| {
                path.extension()
                    .is_some_and(|ext| ext == "ndjson" || ext == "replaying")
            })
            .collect();
        files.sort();
        Ok(files)
    }
}

/// Reads a DLQ file: the letters, and the lines that are not letters (reported, kept).
pub fn read_letters(path: &Path) -> Result<(Vec<DeadLetter>, usize), DlqError> {
    let text = std::fs::read_to_string(path).map_err(|source| DlqError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut letters = Vec::new();
    let mut unreadable = 0;
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        match serde_json::from_str::<DeadLetter>(line) {
            Ok(letter) => letters.push(letter),
            Err(_) => unreadable += 1,
        }
    }
    Ok((letters, unreadable))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_events_are_appended_with_their_reason_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let queue = DeadLetterQueue::new(dir.path(), "es-1");
        let refused = |index: &str, error_type: &str, reason: &str| Refused {
            event: serde_json::json!({"message": "a line"}),
            index: index.into(),
            status: 400,
            error_type: error_type.into(),
            reason: reason.into(),
        };
        let path = queue
            .append(vec![refused(
                "nginx-x",
                "mapper_parsing_exception",
                "bad long",
            )])
            .unwrap();
        queue
            .append(vec![refused("nginx-y", "illegal_argument_exception", "no")])
            .unwrap();
        assert!(path.starts_with(dir.path().join("dlq").join("es-1")));
        assert_eq!(queue.files().unwrap(), std::slice::from_ref(&path));
        let (letters, unreadable) = read_letters(&path).unwrap();
        assert_eq!(unreadable, 0);
        assert_eq!(letters.len(), 2);
        assert_eq!(letters[0].output, "es-1");
        assert_eq!(letters[0].index, "nginx-x");
        assert_eq!(letters[0].status, 400);
        assert_eq!(letters[0].error_type, "mapper_parsing_exception");
        assert_eq!(letters[0].reason, "bad long");
        assert_eq!(letters[0].event["message"], "a line");
        assert_eq!(letters[1].index, "nginx-y");
    }

    #[test]
    fn a_missing_queue_has_no_files() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            DeadLetterQueue::new(dir.path(), "x")
                .files()
                .unwrap()
                .is_empty()
        );
    }
}
