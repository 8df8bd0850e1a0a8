//! The `file` output: appends events as JSON lines to files named by a template per event
//! (`out/%{host.name}-%{+yyyy.MM.dd}.ndjson`), creating directories, keeping a bounded set of
//! handles open; a batch is acknowledged only after it is written (and fsynced).

use super::stdout::OutputCodec;
use super::{Output, OutputBuildContext, OutputContext, OutputError, OutputFuture, on_own_thread};
use crate::batch::FilteredEvents;
use crate::template::Template;
use serde::Deserialize;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// First wait after a failed write; doubled per failure up to [`RETRY_MAX`].
const RETRY_START: Duration = Duration::from_millis(100);
/// Longest wait between attempts to write a batch.
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Options of the `file` output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOutputConfig {
    /// File to append to, a template rendered per event (`%{field}`, `%{+yyyy.MM.dd}` from
    /// `@timestamp` in UTC); relative paths are relative to the pipeline file. Parent
    /// directories are created. Required. Example: `"out/%{host.name}-%{+yyyy.MM.dd}.ndjson"`.
    pub path: Template,
    /// `"json_lines"` (default): one compact JSON object per line; `"pretty"`: indented JSON.
    #[serde(default)]
    pub codec: OutputCodec,
    /// How many files are kept open at once; the least recently written is closed first.
    /// Default 64.
    #[serde(default = "default_max_open_files")]
    pub max_open_files: usize,
    /// Whether each batch is fsynced before it is acknowledged (so a checkpoint never gets
    /// ahead of data on disk). Default `true`.
    #[serde(default = "default_fsync")]
    pub fsync: bool,
    /// Where events go whose rendered `path` would leave the template's fixed directory (a
    /// field value with `..`, or one that makes the path absolute): this file name, in that
    /// directory, as Logstash's `filename_failure`. Default `"_filepath_failures"`.
    #[serde(default = "default_filename_failure")]
    pub filename_failure: String,
}

fn default_filename_failure() -> String {
    "_filepath_failures".to_string()
}

fn default_max_open_files() -> usize {
    64
}

fn default_fsync() -> bool {
    true
}

/// Why the `file` output could not be built, or could not write.
#[derive(Debug, thiserror::Error)]
pub enum FileOutputError {
    /// `max_open_files = 0`.
    #[error("`max_open_files` must be at least 1")]
    NoOpenFiles,
    /// Writing one file failed (retried until it succeeds or shutdown aborts).
    #[error("cannot write `{path}`: {source}", path = path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The writer thread did not finish.
    #[error("the file writer thread failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The `file` output.
pub struct FileOutput {
    path: Template,
    guard: PathGuard,
    codec: OutputCodec,
    writer: FileWriter,
}

impl FileOutput {
    /// Builds the output.
    pub fn build(
        config: &FileOutputConfig,
        context: &OutputBuildContext,
    ) -> Result<FileOutput, OutputError> {
        if config.max_open_files == 0 {
            return Err(FileOutputError::NoOpenFiles.into());
        }
        Ok(FileOutput {
            path: config.path.clone(),
            guard: PathGuard::new(config.path.source(), &config.filename_failure),
            codec: config.codec,
            writer: FileWriter {
                config_dir: context.config_dir.clone(),
                max_open_files: config.max_open_files,
                fsync: config.fsync,
                open: HashMap::new(),
                writes: 0,
            },
        })
    }

    /// Writes every batch, retrying failures with capped backoff, and acknowledges each batch
    /// once written, on a thread of its own ([`on_own_thread`]). Returns when the channel
    /// closes, or unacknowledged when aborted.
    async fn deliver(self, context: OutputContext) -> Result<(), FileOutputError> {
        on_own_thread(self.write_batches(context)).await?
    }

    /// [`FileOutput::deliver`]'s loop, run where blocking on a write is allowed.
    async fn write_batches(self, mut context: OutputContext) -> Result<(), FileOutputError> {
        let FileOutput {
            path,
            guard,
            codec,
            mut writer,
        } = self;
        let mut grouping = Grouping::default();
        loop {
            let batch = tokio::select! {
                batch = context.batches.recv() => match batch {
                    Some(batch) => batch,
                    None => return Ok(()),
                },
                () = context.abort.cancelled() => return Ok(()),
            };
            let mut pending = grouping.group(&path, &guard, codec, &batch.events);
            let mut backoff = RETRY_START;
            let mut failing = false;
            loop {
                let Err(error) = writer.write(&mut pending) else {
                    break;
                };
                if !failing {
                    tracing::warn!(
                        output = %context.id,
                        %error,
                        "file output cannot write; retrying with backoff, the batch stays unacknowledged"
                    );
                    failing = true;
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = context.abort.cancelled() => {
                        tracing::warn!(
                            output = %context.id,
                            "file output gave up at shutdown; the unwritten batch will be replayed"
                        );
                        return Ok(());
                    }
                }
                backoff = (backoff * 2).min(RETRY_MAX);
            }
            if failing {
                tracing::info!(output = %context.id, "file output writes again");
            }
            batch.ack.complete();
        }
    }
}

impl Output for FileOutput {
    fn run(self: Box<Self>, context: OutputContext) -> OutputFuture {
        Box::pin(async move { self.deliver(context).await.map_err(OutputError::from) })
    }

    /// A path without `%{…}` and JSON lines need only the lines the workers encoded.
    fn reads_events(&self) -> bool {
        !(self.path.as_constant().is_some() && self.codec == OutputCodec::JsonLines)
    }
}

/// The encoded lines of one batch destined for one file.
#[derive(Debug)]
struct PendingFile {
    path: String,
    bytes: Vec<u8>,
}

/// Splits batches by rendered path, reusing its buffers between batches.
#[derive(Debug, Default)]
struct Grouping {
    rendered: String,
    index: HashMap<String, usize>,
    /// A path that left its directory was reported (once).
    warned_escape: bool,
}

/// Keeps rendered paths inside the directory the template fixes (everything before its first
/// `%{`, up to the last `/`), so a field value cannot write elsewhere.
#[derive(Debug, Clone)]
struct PathGuard {
    root: String,
    /// The failure file, in `root`.
    failure: String,
}

impl PathGuard {
    fn new(template: &str, filename_failure: &str) -> PathGuard {
        let fixed = template.split("%{").next().unwrap_or_default();
        let root = fixed.rfind('/').map_or("", |at| &fixed[..=at]).to_string();
        PathGuard {
            failure: format!("{root}{filename_failure}"),
            root,
        }
    }

    /// Whether `rendered` stays in the root: it starts with it, and what follows is
    /// relative and has no `..` part.
    fn allows(&self, rendered: &str) -> bool {
        rendered
            .strip_prefix(&self.root)
            .is_some_and(|rest| !rest.starts_with('/') && !rest.split('/').any(|part| part == ".."))
    }
}

impl Grouping {
    /// The batch's events encoded and grouped by file, in first-seen order.
    fn group(
        &mut self,
        template: &Template,
        guard: &PathGuard,
        codec: OutputCodec,
        events: &FilteredEvents,
    ) -> Vec<PendingFile> {
        if let (Some(path), OutputCodec::JsonLines) = (template.as_constant(), codec) {
            // One file, written as the workers encoded it (the events may not be kept).
            return match events.is_empty() {
                true => Vec::new(),
                false => vec![PendingFile {
                    path: path.to_string(),
                    bytes: events.json_lines().to_vec(),
                }],
            };
        }
        self.index.clear();
        let mut files: Vec<PendingFile> = Vec::new();
        for (event_index, event) in events.iter().enumerate() {
            self.rendered.clear();
            template.render_into(event, &mut self.rendered);
            if !guard.allows(&self.rendered) {
                if !self.warned_escape {
                    tracing::warn!(
                        path = %self.rendered,
                        failure = %guard.failure,
                        "a rendered file output path leaves the template's directory; such events go to the failure file"
                    );
                    self.warned_escape = true;
                }
                self.rendered.clear();
                self.rendered.push_str(&guard.failure);
            }
            let position = match self.index.get(self.rendered.as_str()) {
                Some(&position) => position,
                None => {
                    files.push(PendingFile {
                        path: self.rendered.clone(),
                        bytes: Vec::new(),
                    });
                    self.index.insert(self.rendered.clone(), files.len() - 1);
                    files.len() - 1
                }
            };
            if let Some(file) = files.get_mut(position) {
                match codec {
                    // Encoded by the filter workers.
                    OutputCodec::JsonLines => {
                        file.bytes.extend_from_slice(events.json_line(event_index))
                    }
                    OutputCodec::Pretty => codec.encode_event(event, &mut file.bytes),
                }
            }
        }
        files
    }
}

/// The open files and how to write them; used from blocking threads only.
#[derive(Debug)]
struct FileWriter {
    config_dir: PathBuf,
    max_open_files: usize,
    fsync: bool,
    /// Open handles by rendered path, with the write count at their last use.
    open: HashMap<String, (File, u64)>,
    writes: u64,
}

impl FileWriter {
    /// Appends each pending file's bytes (and fsyncs). Files written are removed from
    /// `pending`, so a retry after an error writes only the rest.
    fn write(&mut self, pending: &mut Vec<PendingFile>) -> Result<(), FileOutputError> {
        let mut written = 0;
        let mut result = Ok(());
        for file in pending.iter() {
            if let Err(source) = self.append(&file.path, &file.bytes) {
                result = Err(FileOutputError::Write {
                    path: self.config_dir.join(&file.path),
                    source,
                });
                break;
            }
            written += 1;
        }
        pending.drain(..written);
        result
    }

    /// Appends `bytes` to the file at `path`. On failure the file is cut back to its previous
    /// length (so a retry does not leave half a batch) and its handle closed.
    fn append(&mut self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        let fsync = self.fsync;
        let file = self.handle(path)?;
        let result = file.metadata().and_then(|metadata| {
            let length = metadata.len();
            // Devices such as /dev/null cannot be fsynced (EINVAL) and need not be.
            let durable = fsync && metadata.is_file();
            let written = file
                .write_all(bytes)
                .and_then(|()| if durable { file.sync_data() } else { Ok(()) });
            if written.is_err() {
                // Best effort: the original error is what the user needs to see.
                let _ = file.set_len(length);
            }
            written
        });
        if result.is_err() {
            self.open.remove(path);
        }
        result
    }

    /// The open handle for `path`, opening it (and its directories) if needed and closing the
    /// least recently used handle when `max_open_files` are open.
    fn handle(&mut self, path: &str) -> std::io::Result<&mut File> {
        self.writes += 1;
        if !self.open.contains_key(path) {
            if self.open.len() >= self.max_open_files {
                let oldest = self
                    .open
                    .iter()
                    .min_by_key(|(_, (_, last_used))| *last_used)
                    .map(|(oldest, _)| oldest.clone());
                if let Some(oldest) = oldest {
                    self.open.remove(&oldest);
                }
            }
            let file = open_for_append(&self.config_dir.join(path))?;
            self.open.insert(path.to_string(), (file, 0));
        }
        let writes = self.writes;
        let (file, last_used) = self
            .open
            .get_mut(path)
            .ok_or_else(|| std::io::Error::other("file handle vanished"))?;
        *last_used = writes;
        Ok(file)
    }
}

/// Opens `path` for appending, creating it and its parent directories.
fn open_for_append(path: &Path) -> std::io::Result<File> {
    let open = || OpenOptions::new().create(true).append(true).open(path);
    match open() {
        Err(error) if error.kind() == ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            open()
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Ack, AckReceipt, OutputBatch};
    use crate::event::{Event, FieldPath};
    use serde_json::json;
    use std::sync::Arc;
    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;

    fn event(word: &str, timestamp: &str) -> Event {
        let mut event = Event::from_line(format!("line {word}"), timestamp);
        event.insert(&FieldPath::parse("word").unwrap(), json!(word));
        event
    }

    #[test]
    fn paths_that_leave_the_template_directory_go_to_the_failure_file() {
        let guard = PathGuard::new("out/%{word}.ndjson", "_filepath_failures");
        assert!(guard.allows("out/a.ndjson"));
        assert!(guard.allows("out/a/b.ndjson"));
        assert!(!guard.allows("out/../etc.ndjson"));
        assert!(!guard.allows("out//etc/passwd.ndjson"));
        assert_eq!(guard.failure, "out/_filepath_failures");
        let at_top = PathGuard::new("%{word}.log", "_f");
        assert!(at_top.allows("a.log"));
        assert!(!at_top.allows("/etc/cron.d/x.log"));
        assert_eq!(at_top.failure, "_f");

        let template = Template::parse("out/%{word}.ndjson").unwrap();
        let events = FilteredEvents::new(
            vec![
                event("good", "2024-03-05T10:00:00.000Z"),
                event("../../escape", "2024-03-05T10:00:00.000Z"),
            ],
            true,
        );
        let files = Grouping::default().group(&template, &guard, OutputCodec::JsonLines, &events);
        let paths: Vec<&str> = files.iter().map(|file| file.path.as_str()).collect();
        assert_eq!(paths, ["out/good.ndjson", "out/_filepath_failures"]);
        assert!(String::from_utf8_lossy(&files[1].bytes).contains("../../escape"));
    }

    #[test]
    fn a_constant_path_with_json_lines_needs_only_the_encoded_lines() {
        let template = Template::parse("out/all.ndjson").unwrap();
        let guard = PathGuard::new(template.source(), "_filepath_failures");
        let lines_only = FilteredEvents::new(
            vec![
                event("a", "2024-03-05T10:00:00.000Z"),
                event("b", "2024-03-05T10:00:00.000Z"),
            ],
            false,
        );
        let files =
            Grouping::default().group(&template, &guard, OutputCodec::JsonLines, &lines_only);
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].path, "out/all.ndjson");
        assert_eq!(files[0].bytes, lines_only.json_lines());
        let output = |path: &str, codec| FileOutput {
            path: Template::parse(path).unwrap(),
            guard: PathGuard::new(path, "_f"),
            codec,
            writer: FileWriter {
                config_dir: ".".into(),
                max_open_files: 1,
                fsync: false,
                open: HashMap::new(),
                writes: 0,
            },
        };
        assert!(!output("out/all.ndjson", OutputCodec::JsonLines).reads_events());
        assert!(output("out/%{word}.ndjson", OutputCodec::JsonLines).reads_events());
        assert!(output("out/all.ndjson", OutputCodec::Pretty).reads_events());
    }

    fn batch(events: Vec<Event>) -> (OutputBatch, AckReceipt) {
        let (ack, receipt) = Ack::new();
        let batch = OutputBatch {
            events: Arc::new(FilteredEvents::new(events, true)),
            ack,
        };
        (batch, receipt)
    }

    struct Running {
        sender: mpsc::Sender<OutputBatch>,
        abort: CancellationToken,
        task: tokio::task::JoinHandle<Result<(), FileOutputError>>,
    }

    fn start(dir: &Path, options: &str) -> Running {
        let config: FileOutputConfig = toml::from_str(options).unwrap();
        let context = OutputBuildContext {
            config_dir: dir.to_path_buf(),
            data_dir: dir.join("data"),
            live_frames: None,
        };
        let output = FileOutput::build(&config, &context).unwrap();
        let (sender, receiver) = mpsc::channel(4);
        let abort = CancellationToken::new();
        let context = OutputContext {
            id: "file-1".into(),
            batches: receiver,
            abort: abort.clone(),
        };
        let task = tokio::spawn(output.deliver(context));
        Running {
            sender,
            abort,
            task,
        }
    }

    fn lines(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn events_land_in_their_rendered_files_before_the_ack() {
        let dir = tempfile::tempdir().unwrap();
        let running = start(dir.path(), r#"path = "out/%{word}/%{+yyyy.MM.dd}.ndjson""#);
        let (first, mut receipt) = batch(vec![
            event("a", "2024-03-05T10:00:00.000Z"),
            event("b", "2024-03-05T11:00:00.000Z"),
            event("a", "2024-03-06T00:00:00.000Z"),
            event("a", "2024-03-05T12:00:00.000Z"),
        ]);
        running.sender.send(first).await.unwrap();
        assert!(receipt.acknowledged().await);
        let out = dir.path().join("out");
        let messages = |path: &str| -> Vec<_> {
            lines(&out.join(path))
                .into_iter()
                .map(|line| line["message"].clone())
                .collect()
        };
        assert_eq!(
            messages("a/2024.03.05.ndjson"),
            [json!("line a"), json!("line a")]
        );
        assert_eq!(messages("a/2024.03.06.ndjson"), [json!("line a")]);
        assert_eq!(messages("b/2024.03.05.ndjson"), [json!("line b")]);
        assert_eq!(
            lines(&out.join("a/2024.03.05.ndjson"))[1]["@timestamp"],
            json!("2024-03-05T12:00:00.000Z")
        );
        drop(running.sender);
        running.task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn later_batches_append_to_existing_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("all.ndjson"), "{\"old\":1}\n").unwrap();
        let running = start(dir.path(), "path = \"all.ndjson\"\nfsync = false");
        for word in ["x", "y"] {
            let (next, mut receipt) = batch(vec![event(word, "2024-03-05T10:00:00.000Z")]);
            running.sender.send(next).await.unwrap();
            assert!(receipt.acknowledged().await);
        }
        let all = lines(&dir.path().join("all.ndjson"));
        assert_eq!(all.len(), 3);
        assert_eq!(all[0], json!({"old": 1}));
        assert_eq!(all[2]["word"], json!("y"));
    }

    #[tokio::test]
    async fn failed_writes_are_retried_until_they_succeed() {
        let dir = tempfile::tempdir().unwrap();
        // A plain file where the output needs a directory makes every attempt fail.
        let blocker = dir.path().join("out");
        std::fs::write(&blocker, "not a directory").unwrap();
        let running = start(dir.path(), r#"path = "out/%{word}.ndjson""#);
        let (first, mut receipt) = batch(vec![event("a", "2024-03-05T10:00:00.000Z")]);
        running.sender.send(first).await.unwrap();
        let early = tokio::time::timeout(Duration::from_millis(300), receipt.acknowledged()).await;
        assert!(early.is_err(), "acknowledged although nothing was written");
        std::fs::remove_file(&blocker).unwrap();
        assert!(receipt.acknowledged().await);
        assert_eq!(lines(&dir.path().join("out/a.ndjson")).len(), 1);
        drop(running.sender);
        running.task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn abort_gives_up_without_acknowledging() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("out"), "not a directory").unwrap();
        let running = start(dir.path(), r#"path = "out/a.ndjson""#);
        let (first, mut receipt) = batch(vec![event("a", "2024-03-05T10:00:00.000Z")]);
        running.sender.send(first).await.unwrap();
        // Let the output take the batch and fail on it before the deadline passes.
        let early = tokio::time::timeout(Duration::from_millis(200), receipt.acknowledged()).await;
        assert!(early.is_err());
        running.abort.cancel();
        running.task.await.unwrap().unwrap();
        assert!(!receipt.acknowledged().await);
    }

    #[test]
    fn open_handles_stay_within_max_open_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = FileWriter {
            config_dir: dir.path().to_path_buf(),
            max_open_files: 2,
            fsync: false,
            open: HashMap::new(),
            writes: 0,
        };
        let mut pending: Vec<_> = ["a", "b", "c", "a", "d"]
            .iter()
            .map(|name| PendingFile {
                path: format!("{name}.txt"),
                bytes: format!("{name}\n").into_bytes(),
            })
            .collect();
        writer.write(&mut pending).unwrap();
        assert!(pending.is_empty());
        assert_eq!(writer.open.len(), 2);
        let mut open: Vec<_> = writer.open.keys().cloned().collect();
        open.sort();
        assert_eq!(open, ["a.txt", "d.txt"]);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.txt")).unwrap(),
            "a\na\n"
        );
    }

    #[test]
    fn config_defaults_and_bad_values() {
        let config: FileOutputConfig = toml::from_str("path = \"x.ndjson\"").unwrap();
        assert_eq!(config.max_open_files, 64);
        assert!(config.fsync);
        assert_eq!(config.codec, OutputCodec::JsonLines);
        let config: FileOutputConfig =
            toml::from_str("path = \"x.ndjson\"\nmax_open_files = 0").unwrap();
        let context = OutputBuildContext {
            config_dir: PathBuf::from("."),
            data_dir: PathBuf::from("data"),
            live_frames: None,
        };
        let error = FileOutput::build(&config, &context).err().unwrap();
        assert_eq!(error.to_string(), "`max_open_files` must be at least 1");
    }
}
