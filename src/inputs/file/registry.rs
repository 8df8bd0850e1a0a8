//! What the file input remembers: per file identity (device, inode, fingerprint of the first
//! bytes) the path and the offset of the next unread byte, advanced only over acknowledged
//! batches (an in-order watermark), saved atomically as the input's checkpoint.

use crate::batch::{AckReceipt, AckState};
use crate::checkpoint::{CheckpointError, CheckpointFile};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How many bytes at the start of a file identify it, with its inode.
pub const FINGERPRINT_BYTES: usize = 256;

/// The offset recorded for a compressed file read to its end.
pub const FINISHED: u64 = u64::MAX;

/// Entries of files not seen for this long are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// Which file: device and inode, plus a fingerprint so a reused inode is told apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileKey {
    /// Device number.
    pub device: u64,
    /// Inode number.
    pub inode: u64,
}

impl FileKey {
    fn text(&self) -> String {
        format!("{}:{}", self.device, self.inode)
    }
}

/// FNV-1a over the first bytes of a file: stable across builds and platforms.
pub fn fingerprint(bytes: &[u8]) -> u64 {
    crate::fingerprint::fnv1a(bytes)
}

/// One file's saved state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileState {
    /// The path the file was last seen at.
    pub path: String,
    /// Offset of the next byte to read (in the decompressed stream for `.gz`;
    /// [`FINISHED`] once a `.gz` file is read to its end).
    pub offset: u64,
    /// Fingerprint of the first `fingerprint_len` bytes.
    pub fingerprint: u64,
    /// How many bytes the fingerprint covers (up to 256; less for a short file).
    pub fingerprint_len: usize,
    /// Unix seconds when discovery last saw the file.
    pub seen: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct SavedFiles {
    files: BTreeMap<String, FileState>,
}

/// A batch on its way, and where each of its files stands once it is delivered.
struct InFlight {
    receipt: AckReceipt,
    positions: Vec<(FileKey, u64)>,
}

/// The committed state of every known file and the batches still in flight.
pub struct Registry {
    checkpoint: CheckpointFile,
    committed: HashMap<FileKey, FileState>,
    in_flight: VecDeque<InFlight>,
    dirty: bool,
    abandoned_reported: bool,
}

impl Registry {
    /// Loads the saved state (empty when there is none).
    pub fn load(checkpoint: CheckpointFile) -> Result<Registry, CheckpointError> {
        let saved: SavedFiles = checkpoint.load()?.unwrap_or_default();
        let committed = saved
            .files
            .into_iter()
            .filter_map(|(key, state)| {
                let (device, inode) = key.split_once(':')?;
                Some((
                    FileKey {
                        device: device.parse().ok()?,
                        inode: inode.parse().ok()?,
                    },
                    state,
                ))
            })
            .collect();
        Ok(Registry {
            checkpoint,
            committed,
            in_flight: VecDeque::new(),
            dirty: false,
            abandoned_reported: false,
        })
    }

    /// The committed state of a file, if known.
    pub fn get(&self, key: &FileKey) -> Option<&FileState> {
        self.committed.get(key)
    }

    /// Records a file's state outside of any batch (a new file, or one that was skipped).
    pub fn set(&mut self, key: FileKey, state: FileState) {
        self.committed.insert(key, state);
        self.dirty = true;
    }

    /// The file was truncated: it stands at `offset` now, whatever batches still in flight say.
    pub fn reset(&mut self, key: &FileKey, offset: u64) {
        for batch in &mut self.in_flight {
            batch.positions.retain(|(k, _)| k != key);
        }
        if let Some(state) = self.committed.get_mut(key) {
            state.offset = offset;
            self.dirty = true;
        }
    }

    /// Marks a file as seen by discovery now (and at `path`).
    pub fn touch(&mut self, key: &FileKey, path: &str) {
        if let Some(state) = self.committed.get_mut(key) {
            state.seen = now_seconds();
            if state.path != path {
                state.path = path.to_string();
            }
        }
    }

    /// A batch was sent; once acknowledged, each listed file advances to its offset.
    pub fn sent(&mut self, receipt: AckReceipt, positions: Vec<(FileKey, u64)>) {
        self.in_flight.push_back(InFlight { receipt, positions });
    }

    /// Whether every in-flight batch is either acknowledged or will never be.
    pub fn settled(&mut self) -> bool {
        self.advance();
        self.in_flight
            .iter_mut()
            .all(|batch| batch.receipt.state() != AckState::Pending)
    }

    /// Applies the acknowledged prefix of the in-flight batches.
    pub fn advance(&mut self) {
        while let Some(front) = self.in_flight.front_mut() {
            match front.receipt.state() {
                AckState::Pending => return,
                AckState::Abandoned => {
                    if !self.abandoned_reported {
                        tracing::error!(
                            checkpoint = %self.checkpoint.path().display(),
                            "a batch was never delivered; the checkpoint stays before it so it is read again on restart"
                        );
                        self.abandoned_reported = true;
                    }
                    return;
                }
                AckState::Acknowledged => {}
            }
            if let Some(batch) = self.in_flight.pop_front() {
                for (key, offset) in batch.positions {
                    if let Some(state) = self.committed.get_mut(&key) {
                        state.offset = offset;
                        self.dirty = true;
                    }
                }
            }
        }
    }

    /// Saves when something changed; forgets files not seen for a week.
    pub fn save(&mut self) -> Result<(), CheckpointError> {
        self.advance();
        if !self.dirty {
            return Ok(());
        }
        let cutoff = now_seconds().saturating_sub(FORGET_AFTER.as_secs());
        self.committed.retain(|_, state| state.seen >= cutoff);
        let saved = SavedFiles {
            files: self
                .committed
                .iter()
                .map(|(key, state)| (key.text(), state.clone()))
                .collect(),
        };
        self.checkpoint.save(&saved)?;
        self.dirty = false;
        Ok(())
    }
}

/// Seconds since the Unix epoch.
pub fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Ack;

    fn state(offset: u64) -> FileState {
        FileState {
            path: "/a.log".into(),
            offset,
            fingerprint: 1,
            fingerprint_len: 1,
            seen: now_seconds(),
        }
    }

    #[test]
    fn offsets_advance_only_over_the_acknowledged_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let mut registry = Registry::load(CheckpointFile::new(dir.path(), "f")).unwrap();
        let key = FileKey {
            device: 1,
            inode: 2,
        };
        registry.set(key.clone(), state(0));
        let (first, first_receipt) = Ack::new();
        let (second, second_receipt) = Ack::new();
        registry.sent(first_receipt, vec![(key.clone(), 100)]);
        registry.sent(second_receipt, vec![(key.clone(), 200)]);
        second.complete();
        registry.advance();
        assert_eq!(registry.get(&key).unwrap().offset, 0);
        first.complete();
        registry.save().unwrap();
        assert_eq!(registry.get(&key).unwrap().offset, 200);

        let reloaded = Registry::load(CheckpointFile::new(dir.path(), "f")).unwrap();
        let mut expected = state(200);
        expected.seen = reloaded.get(&key).unwrap().seen;
        assert_eq!(reloaded.get(&key), Some(&expected));
    }

    #[test]
    fn an_abandoned_batch_holds_the_checkpoint_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut registry = Registry::load(CheckpointFile::new(dir.path(), "f")).unwrap();
        let key = FileKey {
            device: 1,
            inode: 2,
        };
        registry.set(key.clone(), state(0));
        let (lost, lost_receipt) = Ack::new();
        let (later, later_receipt) = Ack::new();
        registry.sent(lost_receipt, vec![(key.clone(), 100)]);
        registry.sent(later_receipt, vec![(key.clone(), 200)]);
        drop(lost);
        later.complete();
        assert!(registry.settled());
        assert_eq!(registry.get(&key).unwrap().offset, 0);
    }

    #[test]
    fn fingerprint_is_stable() {
        assert_eq!(fingerprint(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fingerprint(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
