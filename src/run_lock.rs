//! One `logpipe run` per data directory: an exclusive lock on `data_dir/logpipe.lock`, held
//! while the pipeline runs and released by the kernel however the process ends. Two cron runs
//! that overlap cannot both read the same inputs and write the same checkpoints.

use crate::private_fs;
use serde::Deserialize;
use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// What a second `logpipe run` on a locked data directory does (`[pipeline] when_locked`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenLocked {
    /// Say so and exit 0 (the right thing for cron: the running pass does the work).
    #[default]
    Skip,
    /// Wait until the other run ends, then run.
    Wait,
}

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

/// The lock file cannot be created or locked.
#[derive(Debug, thiserror::Error)]
#[error("cannot lock {path}: {source}; check that data_dir is writable")]
pub struct LockError {
    path: PathBuf,
    source: std::io::Error,
}

/// How taking the lock went.
#[derive(Debug)]
pub enum Locked {
    /// This run holds the lock.
    Acquired(RunLock),
    /// Another run holds it (`when_locked = "skip"`); its pid, when it wrote one.
    Busy(Option<u32>),
}

impl RunLock {
    /// Takes the lock of `data_dir` (creating the directory), waiting or not per `when`.
    pub fn acquire(data_dir: &Path, when: WhenLocked) -> Result<Locked, LockError> {
        let path = data_dir.join("logpipe.lock");
        let error = |source| LockError {
            path: path.clone(),
            source,
        };
        private_fs::create_dir(data_dir).map_err(error)?;
        let mut file = private_fs::open_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) if when == WhenLocked::Skip => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                return Ok(Locked::Busy(pid.trim().parse().ok()));
            }
            Err(TryLockError::WouldBlock) => file.lock().map_err(error)?,
            Err(TryLockError::Error(source)) => return Err(error(source)),
        }
        // The pid is only for the message a second run prints.
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "{}", std::process::id());
        Ok(Locked::Acquired(RunLock { _file: file }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path(), WhenLocked::Skip).unwrap();
        assert!(matches!(first, Locked::Acquired(_)));
        match RunLock::acquire(dir.path(), WhenLocked::Skip).unwrap() {
            Locked::Busy(pid) => assert_eq!(pid, Some(std::process::id())),
            Locked::Acquired(_) => panic!("locked twice"),
        }
        drop(first);
        assert!(matches!(
            RunLock::acquire(dir.path(), WhenLocked::Wait).unwrap(),
            Locked::Acquired(_)
        ));
    }
}
