//! The `file` input: reads files matching globs once (`mode = "read"`), or follows them like
//! `tail -F` (`mode = "tail"`), with a checkpoint per file that only moves over acknowledged
//! lines. The reading loop lives in `reader.rs`, the per-file checkpoint state in `registry.rs`.

mod reader;
mod registry;

use super::{Input, InputBuildContext, InputContext, InputError, InputFuture};
use crate::codec::{LineDecoder, UnknownCharset};
use crate::config::StringList;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Options of the `file` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileInputConfig {
    /// Glob or list of globs of the files to read, relative to the pipeline file.
    pub path: StringList,
    /// Globs of files to leave out, matched against the full path and against the file name.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// `tail` (default): follow the files like `tail -F`; `read`: read them to the end, then stop.
    #[serde(default)]
    pub mode: FileMode,
    /// Where to start in a file with no checkpoint found at startup: `beginning` (default) or
    /// `end`. Files that appear while running are always read from the beginning.
    #[serde(default)]
    pub start_position: StartPosition,
    /// How often the globs are scanned for new, rotated and deleted files (default 5 s).
    #[serde(
        default = "default_discover_interval",
        with = "crate::config::duration"
    )]
    pub discover_interval: Duration,
    /// The longest wait before looking for new data after reaching the end of every file
    /// (default 250 ms). After a pass that read data the first wait is 10 ms, doubled while
    /// nothing new comes.
    #[serde(default = "default_poll_interval", with = "crate::config::duration")]
    pub poll_interval: Duration,
    /// Tail mode: a last line without newline is emitted after this long without growth (default 5 s).
    #[serde(
        default = "default_partial_line_timeout",
        with = "crate::config::duration"
    )]
    pub partial_line_timeout: Duration,
}

/// How the input reads its files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileMode {
    /// Follow files like `tail -F`.
    #[default]
    Tail,
    /// Read every file to its end, then stop.
    Read,
}

/// Where reading starts in a file that has no checkpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartPosition {
    /// At byte 0.
    #[default]
    Beginning,
    /// At the current end: only lines written from now on.
    End,
}

fn default_discover_interval() -> Duration {
    Duration::from_secs(5)
}
fn default_poll_interval() -> Duration {
    Duration::from_millis(250)
}
fn default_partial_line_timeout() -> Duration {
    Duration::from_secs(5)
}

impl FileInputConfig {
    /// Whether the input ends by itself (`mode = "read"`).
    pub fn is_finite(&self) -> bool {
        self.mode == FileMode::Read
    }
}

/// A file input that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum FileInputError {
    /// A glob in `path` or `exclude` is malformed.
    #[error("invalid glob `{glob}` in `{key}`: {reason}")]
    Glob {
        key: &'static str,
        glob: String,
        reason: String,
    },
    /// `path` is empty.
    #[error("`path` lists no glob; give at least one, e.g. path = \"/var/log/nginx/access.log\"")]
    NoPath,
    /// The charset is unknown.
    #[error(transparent)]
    Charset(#[from] UnknownCharset),
}

/// The `file` input.
pub struct FileInput {
    settings: reader::ReaderSettings,
}

impl FileInput {
    /// Builds the input: checks globs and the charset.
    pub fn build(
        config: &FileInputConfig,
        context: &InputBuildContext,
    ) -> Result<FileInput, FileInputError> {
        let globs: Vec<String> = config
            .path
            .0
            .iter()
            .map(|glob| absolute(&context.config_dir, glob))
            .collect();
        if globs.is_empty() {
            return Err(FileInputError::NoPath);
        }
        for glob in &globs {
            glob::Pattern::new(glob).map_err(|error| FileInputError::Glob {
                key: "path",
                glob: glob.to_string(),
                reason: error.msg.to_string(),
            })?;
        }
        let exclude = config
            .exclude
            .iter()
            .map(|glob| {
                glob::Pattern::new(glob).map_err(|error| FileInputError::Glob {
                    key: "exclude",
                    glob: glob.clone(),
                    reason: error.msg.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let decoder = LineDecoder::new(&context.codec)?;
        Ok(FileInput {
            settings: reader::ReaderSettings {
                globs,
                exclude,
                mode: config.mode,
                start_position: config.start_position,
                discover_interval: config.discover_interval,
                poll_interval: config.poll_interval,
                partial_line_timeout: config.partial_line_timeout,
                decoder,
            },
        })
    }
}

impl Input for FileInput {
    fn describe(&self) -> String {
        let counts: Vec<String> = self
            .settings
            .globs
            .iter()
            .map(|glob| {
                let count =
                    reader::matching_files(std::slice::from_ref(glob), &self.settings.exclude)
                        .len();
                if count == 0 {
                    format!("{glob}: no file matches yet")
                } else {
                    format!("{glob}: {count} file(s)")
                }
            })
            .collect();
        let mode = match self.settings.mode {
            FileMode::Tail => "tail",
            FileMode::Read => "read",
        };
        format!("mode {mode}; {}", counts.join("; "))
    }

    fn run(self: Box<Self>, context: InputContext) -> InputFuture {
        Box::pin(async move {
            let settings = self.settings;
            tokio::task::spawn_blocking(move || reader::run(settings, context))
                .await
                .map_err(|error| -> InputError { Box::new(error) })?
        })
    }
}

fn absolute(base: &Path, glob: &str) -> String {
    if Path::new(glob).is_absolute() {
        glob.to_string()
    } else {
        let joined: PathBuf = base.join(glob);
        joined.to_string_lossy().into_owned()
    }
}
