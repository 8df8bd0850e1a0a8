//! Files and directories only the user running logpipe may read: `data_dir` and what it
//! holds (checkpoints, the dead-letter queue, the run lock, the API address) are created
//! with mode 0700 (directories) and 0600 (files), since they can hold log lines.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Mode of the directories logpipe creates in and for `data_dir`.
pub const DIR_MODE: u32 = 0o700;
/// Mode of the files logpipe creates there.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and any missing parents with mode 0700; an existing directory is left as
/// it is.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Options that create a missing file with mode 0600 (an existing file keeps its mode).
pub fn open_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.mode(FILE_MODE);
    options
}

/// Creates (or truncates) `path` for writing, with mode 0600 when it is created.
pub fn create_file(path: &Path) -> io::Result<File> {
    open_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn directories_and_files_are_private_whatever_the_umask_allows() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data/checkpoints");
        create_dir(&dir).unwrap();
        assert_eq!(mode(&root.path().join("data")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        create_dir(&dir).unwrap();
        let file = dir.join("a.json");
        create_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        open_options()
            .append(true)
            .create(true)
            .open(dir.join("b"))
            .unwrap();
        assert_eq!(mode(&dir.join("b")), 0o600);
    }
}
