//! The file input's reading loop, run on a blocking thread: discovers files under the globs,
//! reads them with a reused buffer, frames and decodes lines into batches, notices rotation
//! (rename, copytruncate, deletion) and keeps the registry's watermark moving.

use super::registry::{
    FINGERPRINT_BYTES, FINISHED, FileKey, FileState, Registry, fingerprint, now_seconds,
};
use super::{FileMode, StartPosition};
use crate::batch::{Ack, Batch};
use crate::codec::LineDecoder;
use crate::codec::framed::{FramedLines, LineBuffer, LineOrigin};
use crate::codec::lines::{Line, LineFramer};
use crate::event::{Event, PlaceMemo, format_timestamp};
use crate::inputs::{InputContext, InputError, LogOrigin, send_batch};
use crate::stats::SourceProgress;
use flate2::read::MultiGzDecoder;
use serde_json::Value;
use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes read per `read` call.
const READ_CHUNK: usize = 64 * 1024;
/// Bytes read from one file per pass before the next file gets its turn (tail mode).
const READ_PER_PASS: u64 = 4 * 1024 * 1024;
/// How often the checkpoint is saved while running, when it changed.
const SAVE_INTERVAL: Duration = Duration::from_secs(1);
/// How often the open files are reported to the monitoring API while batches flow.
const REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// Granularity of waits, so shutdown is noticed quickly.
const WAIT_STEP: Duration = Duration::from_millis(20);
/// The first wait for new data after a pass that read some: a file being written is looked
/// at again soon (lines reach the outputs within tens of milliseconds); each pass that finds
/// nothing doubles the wait, up to `poll_interval`, as Filebeat's backoff does.
const ACTIVE_POLL: Duration = Duration::from_millis(10);

/// Everything the reading loop needs from the config.
pub struct ReaderSettings {
    pub globs: Vec<String>,
    pub exclude: Vec<glob::Pattern>,
    pub mode: FileMode,
    pub start_position: StartPosition,
    pub discover_interval: Duration,
    pub poll_interval: Duration,
    pub partial_line_timeout: Duration,
    pub decoder: LineDecoder,
}

/// Regular files matching any of `globs` and none of `exclude`, sorted, without duplicates.
pub fn matching_files(globs: &[String], exclude: &[glob::Pattern]) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = globs
        .iter()
        .filter_map(|pattern| glob::glob(pattern).ok())
        .flatten()
        .filter_map(Result::ok)
        .filter(|path| path.is_file())
        .filter(|path| {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            !exclude.iter().any(|pattern| {
                pattern.matches_path(path) || name.as_deref().is_some_and(|n| pattern.matches(n))
            })
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

/// A file's bytes: plain, or decompressed on the fly.
enum Source {
    Plain(File),
    Gzip(Box<MultiGzDecoder<File>>),
}

/// A file being read.
struct OpenFile {
    key: FileKey,
    path: String,
    source: Source,
    framer: LineFramer,
    /// Offset of the next byte to read from `source`.
    read_offset: u64,
    last_growth: Instant,
    /// Not found at any path by the latest discovery: renamed away or deleted.
    orphaned: bool,
    /// Read to the end (compressed files, and every file in read mode).
    at_end: bool,
}

/// Lines collected for the next batch, with where each file stands after them.
struct BatchBuilder {
    lines: FramedLines,
    positions: Vec<(FileKey, u64)>,
    capacity: usize,
}

/// Keeps `line` for the batch if it makes an event.
fn stage(staged: &mut LineBuffer, line: &Line<'_>) {
    if line.makes_event() {
        staged.push(line);
    }
}

/// The `log.*` fields of a file's lines.
#[derive(Debug)]
struct FileOrigin {
    fields: LogOrigin,
    path: Value,
    fingerprint: Value,
}

impl LineOrigin for FileOrigin {
    fn add(&self, event: &mut Event, offset: u64, places: &mut PlaceMemo) {
        let mut fields = event.sorted_writer_with(places);
        self.fields
            .add(&mut fields, &self.path, &self.fingerprint, offset);
    }
}

impl BatchBuilder {
    fn position(&mut self, key: &FileKey, offset: u64) {
        match self.positions.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = offset,
            None => self.positions.push((key.clone(), offset)),
        }
    }
}

struct Reader {
    settings: ReaderSettings,
    context: InputContext,
    registry: Registry,
    files: Vec<OpenFile>,
    batch: BatchBuilder,
    buffer: Vec<u8>,
    /// The lines of the last chunk read (blank ones left out), before their origin is
    /// known (a new file's fingerprint is, after the read), and when they were read.
    staged: LineBuffer,
    read_time: String,
    origin: LogOrigin,
    warned: HashSet<String>,
    first_discovery: bool,
    /// The pipeline stopped taking batches.
    closed: bool,
    /// When the open files are next reported to the monitoring API.
    next_report: Instant,
    /// When the checkpoint is next saved (if it changed). Checked after every batch sent as
    /// well as between passes: under back-pressure one pass over the files (4 MB each) can
    /// take many seconds, and in read mode there is only one; acknowledged lines are on disk
    /// within about a second either way, so that a crash replays little.
    next_save: Instant,
}

/// Runs the input to completion (read mode) or until shutdown (tail mode).
pub fn run(settings: ReaderSettings, context: InputContext) -> Result<(), InputError> {
    let registry = Registry::load(context.checkpoint.clone())?;
    let capacity = context.batch_size.max(1);
    let lines = FramedLines::new(&settings.decoder);
    let mut reader = Reader {
        settings,
        context,
        registry,
        files: Vec::new(),
        batch: BatchBuilder {
            lines,
            positions: Vec::new(),
            capacity,
        },
        buffer: vec![0; READ_CHUNK],
        staged: LineBuffer::default(),
        read_time: String::new(),
        origin: LogOrigin::new()?,
        warned: HashSet::new(),
        first_discovery: true,
        closed: false,
        next_report: Instant::now(),
        next_save: Instant::now() + SAVE_INTERVAL,
    };
    match reader.settings.mode {
        FileMode::Read => reader.read_all(),
        FileMode::Tail => reader.follow(),
    }
    reader.flush();
    while !reader.registry.settled() {
        std::thread::sleep(WAIT_STEP);
    }
    reader.registry.save()?;
    reader.context.stats.set_sources([]);
    Ok(())
}

impl Reader {
    fn read_all(&mut self) {
        self.discover();
        for index in 0..self.files.len() {
            while self.files.get(index).is_some_and(|file| !file.at_end) && !self.stopping() {
                self.read_some(index, u64::MAX);
            }
            if self.stopping() {
                return;
            }
        }
    }

    fn follow(&mut self) {
        let mut next_discovery = Instant::now();
        let mut idle_wait = self.settings.poll_interval;
        while !self.stopping() {
            if Instant::now() >= next_discovery {
                self.discover();
                next_discovery = Instant::now() + self.settings.discover_interval;
            }
            let mut progressed = false;
            for index in 0..self.files.len() {
                self.check_truncation(index);
                progressed |= self.read_some(index, READ_PER_PASS);
                self.emit_stale_partial_line(index);
            }
            self.flush();
            if Instant::now() >= self.next_save {
                self.report_sources();
                self.save();
            }
            if progressed {
                idle_wait = ACTIVE_POLL.min(self.settings.poll_interval);
            } else {
                if self.a_path_moved() {
                    next_discovery = Instant::now();
                }
                let until = Instant::now() + idle_wait;
                while Instant::now() < until && !self.stopping() {
                    std::thread::sleep(WAIT_STEP.min(idle_wait));
                }
                idle_wait = (idle_wait * 2).min(self.settings.poll_interval);
            }
        }
    }

    fn stopping(&self) -> bool {
        self.closed || self.context.shutdown.is_cancelled()
    }

    fn save(&mut self) {
        self.next_save = Instant::now() + SAVE_INTERVAL;
        if let Err(error) = self.registry.save() {
            tracing::warn!(input = %self.context.id, "{error}");
        }
    }

    fn warn_once(&mut self, path: &str, message: String) {
        if self.warned.insert(path.to_string()) {
            tracing::warn!(input = %self.context.id, path, "{message}");
        }
    }

    /// Whether the path of a file being followed now names another file or none (renamed by
    /// rotation, or deleted). Checked when the files are idle, as `tail -F` does, so the
    /// file that replaces it is found at once rather than at the next scan.
    fn a_path_moved(&self) -> bool {
        self.files
            .iter()
            .filter(|file| !file.orphaned && matches!(file.source, Source::Plain(_)))
            .any(|file| {
                std::fs::metadata(&file.path).map_or(true, |metadata| {
                    metadata.dev() != file.key.device || metadata.ino() != file.key.inode
                })
            })
    }

    /// Scans the globs: opens new files, follows renames, marks vanished files.
    fn discover(&mut self) {
        let first = std::mem::replace(&mut self.first_discovery, false);
        for file in &mut self.files {
            file.orphaned = true;
        }
        for path in matching_files(&self.settings.globs, &self.settings.exclude) {
            let display = path.to_string_lossy().into_owned();
            let metadata = match std::fs::metadata(&path) {
                Ok(metadata) => metadata,
                Err(_) => continue,
            };
            let key = FileKey {
                device: metadata.dev(),
                inode: metadata.ino(),
            };
            if let Some(open) = self.files.iter_mut().find(|f| f.key == key) {
                open.orphaned = false;
                open.path.clone_from(&display);
                self.registry.touch(&key, &display);
                continue;
            }
            let compressed = display.ends_with(".gz");
            if compressed && self.settings.mode == FileMode::Tail {
                // Rotated, compressed copies repeat lines already read from the live file.
                continue;
            }
            match self.open(
                &path,
                &display,
                key.clone(),
                metadata.len(),
                compressed,
                first,
            ) {
                Ok(Some(open)) => {
                    self.warned.remove(&display);
                    self.registry.touch(&key, &display);
                    self.files.push(open);
                }
                Ok(None) => self.registry.touch(&key, &display),
                Err(error) => self.warn_once(
                    &display,
                    format!("cannot open {display}: {error}; retrying at the next scan"),
                ),
            }
        }
        self.close_finished_orphans();
        self.refresh_fingerprints();
    }

    /// Opens a newly found file at its checkpoint, or per `start_position`.
    /// `None` when there is nothing left to read in it (a finished compressed file).
    fn open(
        &mut self,
        path: &std::path::Path,
        path_text: &str,
        key: FileKey,
        size: u64,
        compressed: bool,
        first_discovery: bool,
    ) -> std::io::Result<Option<OpenFile>> {
        let file = File::open(path)?;
        let head_len = usize::try_from(size)
            .unwrap_or(usize::MAX)
            .min(FINGERPRINT_BYTES);
        let head = read_head(&file, head_len)?;
        let known = self
            .registry
            .get(&key)
            .filter(|state| {
                head.get(..state.fingerprint_len)
                    .is_some_and(|prefix| fingerprint(prefix) == state.fingerprint)
            })
            .map(|state| state.offset);
        let start = match known {
            Some(FINISHED) => return Ok(None),
            Some(offset) if compressed || offset <= size => offset,
            Some(_) => 0, // shrank while we were away: truncated, read it again
            None if first_discovery && self.settings.start_position == StartPosition::End => {
                if compressed {
                    0
                } else {
                    size
                }
            }
            None => 0,
        };
        if known.is_none() {
            self.registry.set(
                key.clone(),
                FileState {
                    path: path_text.to_string(),
                    offset: start,
                    fingerprint: fingerprint(&head),
                    fingerprint_len: head.len(),
                    seen: now_seconds(),
                },
            );
        }
        let source = if compressed {
            let mut decoder = MultiGzDecoder::new(file);
            std::io::copy(&mut (&mut decoder).take(start), &mut std::io::sink())?;
            Source::Gzip(Box::new(decoder))
        } else {
            let mut file = file;
            file.seek(SeekFrom::Start(start))?;
            Source::Plain(file)
        };
        tracing::debug!(input = %self.context.id, path = path_text, offset = start, "reading file");
        Ok(Some(OpenFile {
            key,
            path: path_text.to_string(),
            source,
            framer: self.settings.decoder.framer(start),
            read_offset: start,
            last_growth: Instant::now(),
            orphaned: false,
            at_end: false,
        }))
    }

    /// Closes files that vanished from the globs once they are read to their end.
    fn close_finished_orphans(&mut self) {
        let mut index = 0;
        while let Some(file) = self.files.get(index) {
            let drained = match &file.source {
                Source::Plain(handle) => handle
                    .metadata()
                    .map_or(true, |metadata| metadata.len() <= file.read_offset),
                Source::Gzip(_) => file.at_end,
            };
            if file.orphaned && drained {
                self.finish_partial_line(index);
                let closed = self.files.remove(index);
                tracing::debug!(input = %self.context.id, path = closed.path, "closed file gone from the globs");
            } else {
                index += 1;
            }
        }
    }

    /// Files shorter than the fingerprint length get their fingerprint extended as they grow.
    fn refresh_fingerprints(&mut self) {
        for index in 0..self.files.len() {
            self.refresh_fingerprint(index);
        }
    }

    /// Extends the fingerprint of file `index` over its first bytes, up to the fingerprint
    /// length, if it is shorter and the file has grown.
    fn refresh_fingerprint(&mut self, index: usize) {
        let Some(file) = self.files.get(index) else {
            return;
        };
        let Source::Plain(handle) = &file.source else {
            return;
        };
        let Some(state) = self.registry.get(&file.key) else {
            return;
        };
        if state.fingerprint_len >= FINGERPRINT_BYTES {
            return;
        }
        let size = handle.metadata().map_or(0, |m| m.len());
        let want = usize::try_from(size)
            .unwrap_or(usize::MAX)
            .min(FINGERPRINT_BYTES);
        if want > state.fingerprint_len
            && let Ok(head) = read_head(handle, want)
        {
            let mut updated = state.clone();
            updated.fingerprint = fingerprint(&head);
            updated.fingerprint_len = head.len();
            self.registry.set(file.key.clone(), updated);
        }
    }

    /// `log.file.fingerprint` for the lines of file `index`: the fingerprint of its first
    /// bytes (up to 256), as hex. With `log.offset` it names a line for good (the Elasticsearch
    /// output's `document_id = "fingerprint"`), across renames and restarts.
    fn fingerprint_field(&mut self, index: usize) -> Value {
        self.refresh_fingerprint(index);
        let fingerprint = self
            .files
            .get(index)
            .and_then(|file| self.registry.get(&file.key))
            .map_or(0, |state| state.fingerprint);
        Value::String(format!("{fingerprint:016x}"))
    }

    /// copytruncate: a file now shorter than what we read is read again from 0.
    fn check_truncation(&mut self, index: usize) {
        let Some(file) = self.files.get_mut(index) else {
            return;
        };
        let Source::Plain(handle) = &mut file.source else {
            return;
        };
        let size = match handle.metadata() {
            Ok(metadata) => metadata.len(),
            Err(_) => return,
        };
        if size >= file.read_offset || handle.seek(SeekFrom::Start(0)).is_err() {
            return;
        }
        tracing::info!(input = %self.context.id, path = file.path, "file was truncated; reading it from the start");
        file.read_offset = 0;
        file.framer = self.settings.decoder.framer(0);
        file.at_end = false;
        let key = file.key.clone();
        self.registry.reset(&key, 0);
        // New content: its fingerprint starts again from its first bytes.
        if let Some(state) = self.registry.get(&key) {
            let mut updated = state.clone();
            updated.fingerprint = fingerprint(b"");
            updated.fingerprint_len = 0;
            self.registry.set(key, updated);
        }
    }

    /// Reads up to `limit` bytes of file `index` into the batch. Returns whether it read any.
    fn read_some(&mut self, index: usize, limit: u64) -> bool {
        let mut read_total = 0u64;
        // Shutdown is checked per chunk: in read mode `limit` is the whole file, and a file
        // read on after SIGTERM would be filtered only to be dropped, past shutdown_timeout.
        while read_total < limit && !self.stopping() {
            let Some(file) = self.files.get_mut(index) else {
                break;
            };
            let read = match &mut file.source {
                Source::Plain(handle) => handle.read(&mut self.buffer),
                Source::Gzip(decoder) => decoder.read(&mut self.buffer),
            };
            let count = match read {
                Ok(0) => {
                    file.at_end = true;
                    if self.settings.mode == FileMode::Read
                        || matches!(file.source, Source::Gzip(_))
                    {
                        self.finish_partial_line(index);
                        self.mark_finished(index);
                    }
                    break;
                }
                Ok(count) => count,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    let path = file.path.clone();
                    let message = format!(
                        "cannot read {path}: {error}; the rest of the file is skipped until it is found again"
                    );
                    file.at_end = true;
                    file.orphaned = true;
                    self.warn_once(&path, message);
                    break;
                }
            };
            file.at_end = false;
            file.read_offset += count as u64;
            file.last_growth = Instant::now();
            read_total += count as u64;
            self.read_time = format_timestamp(chrono::Utc::now());
            let staged = &mut self.staged;
            // `Read` returns at most the buffer's length.
            let chunk = self.buffer.get(..count).unwrap_or_default();
            file.framer.push(chunk, |line| stage(staged, &line));
            let resume = file.framer.resume_offset();
            self.take_lines(index, resume);
        }
        read_total > 0
    }

    /// A compressed file read to its end is recorded as finished once delivered.
    fn mark_finished(&mut self, index: usize) {
        if let Some(file) = self.files.get(index)
            && matches!(file.source, Source::Gzip(_))
        {
            self.batch.position(&file.key, FINISHED);
        }
    }

    /// Tail mode: a last line without newline that has not grown for a while is emitted.
    fn emit_stale_partial_line(&mut self, index: usize) {
        if let Some(file) = self.files.get(index)
            && file.framer.has_partial()
            && file.last_growth.elapsed() >= self.settings.partial_line_timeout
        {
            self.finish_partial_line(index);
        }
    }

    fn finish_partial_line(&mut self, index: usize) {
        let Some(file) = self.files.get_mut(index) else {
            return;
        };
        self.read_time = format_timestamp(chrono::Utc::now());
        let staged = &mut self.staged;
        file.framer.finish(|line| stage(staged, &line));
        let resume = file.framer.resume_offset();
        self.take_lines(index, resume);
    }

    /// Moves the decoded lines of file `index` into batches; `resume` is where the file
    /// stands after the last of them.
    fn take_lines(&mut self, index: usize, resume: u64) {
        let Some(file) = self.files.get(index) else {
            return;
        };
        let key = file.key.clone();
        let origin: Arc<dyn LineOrigin> = Arc::new(FileOrigin {
            fields: self.origin.clone(),
            path: Value::String(file.path.clone()),
            fingerprint: self.fingerprint_field(index),
        });
        let mut staged = std::mem::take(&mut self.staged);
        let mut lines = staged.iter().peekable();
        while let Some(line) = lines.next() {
            self.batch.lines.push(&line, &origin, &self.read_time);
            if self.batch.lines.len() >= self.batch.capacity
                && let Some(next) = lines.peek()
            {
                // The batch ends inside this chunk: the file stands at the next line's start.
                self.batch.position(&key, next.offset);
                self.flush();
            }
        }
        drop(lines);
        staged.clear();
        self.staged = staged;
        self.batch.position(&key, resume);
        if self.batch.lines.len() >= self.batch.capacity {
            self.flush();
        }
    }

    /// Sends the collected lines as one batch.
    fn flush(&mut self) {
        if self.batch.positions.is_empty() && self.batch.lines.is_empty() {
            return;
        }
        let next = self.batch.lines.next_batch();
        let lines = std::mem::replace(&mut self.batch.lines, next);
        let positions = std::mem::take(&mut self.batch.positions);
        let (ack, receipt) = Ack::new();
        let count = lines.len();
        let batch = Batch {
            events: Vec::new(),
            lines,
            ack,
        };
        if batch.is_empty() {
            batch.ack.complete();
        } else if !block_on(send_batch(&self.context.batches, batch)) {
            self.closed = true;
        } else {
            self.context.stats.sent(count);
        }
        self.registry.sent(receipt, positions);
        if Instant::now() >= self.next_save {
            self.save();
        }
        if Instant::now() >= self.next_report {
            self.report_sources();
            self.next_report = Instant::now() + REPORT_INTERVAL;
        }
    }

    /// Tells the monitoring API which files are open, how far each is read and its size
    /// (unknown for compressed files).
    fn report_sources(&self) {
        let sources = self.files.iter().map(|file| {
            let size = match &file.source {
                Source::Plain(handle) => handle.metadata().ok().map(|m| m.len()),
                Source::Gzip(_) => None,
            };
            let progress = SourceProgress {
                offset: file.read_offset,
                size,
            };
            (file.path.clone(), progress)
        });
        self.context.stats.set_sources(sources);
    }
}

/// The first `len` bytes of `file`, without moving its read position.
fn read_head(file: &File, len: usize) -> std::io::Result<Vec<u8>> {
    let mut head = vec![0; len];
    let mut filled = 0;
    while let Some(rest) = head.get_mut(filled..).filter(|rest| !rest.is_empty()) {
        match file.read_at(rest, filled as u64)? {
            0 => break,
            count => filled += count,
        }
    }
    head.truncate(filled);
    Ok(head)
}

/// Runs `future` to its end on this thread, parking it between polls: the reader runs on a
/// blocking thread of its own (in tests, a plain thread without a runtime).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unparker(std::thread::Thread);
    impl std::task::Wake for Unparker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unparker(std::thread::current())));
    let mut context = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::CheckpointFile;
    use crate::codec::CodecConfig;
    use crate::inputs::InputBuildContext;
    use crate::inputs::file::{FileInput, FileInputConfig};
    use std::io::Write;
    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;

    /// Runs a read-mode input over `dir`; `deliver(n)` says whether the n-th batch is acknowledged
    /// (an unacknowledged batch is abandoned). Returns the messages of acknowledged batches.
    fn read_dir(
        dir: &std::path::Path,
        batch_size: usize,
        deliver: impl Fn(usize) -> bool,
    ) -> Vec<String> {
        let config: FileInputConfig = toml::from_str("path = \"logs/*\"\nmode = \"read\"").unwrap();
        let input = FileInput::build(
            &config,
            &InputBuildContext {
                config_dir: dir.to_path_buf(),
                codec: CodecConfig::default(),
            },
        )
        .unwrap();
        let (sender, mut receiver) = mpsc::channel(2);
        let context = InputContext {
            id: "file-1".into(),
            stats: std::sync::Arc::new(crate::stats::InputStats::new("file-1", "file")),
            batches: sender,
            shutdown: CancellationToken::new(),
            checkpoint: CheckpointFile::new(&dir.join("data"), "file-1"),
            batch_size,
        };
        let thread = std::thread::spawn(move || run(input.settings, context));
        let mut delivered = Vec::new();
        let mut index = 0;
        while let Some(batch) = receiver.blocking_recv() {
            if deliver(index) {
                let (events, ack) = batch.into_events();
                for event in &events {
                    delivered.push(event.to_fields()["message"].as_str().unwrap().to_string());
                }
                ack.complete();
            }
            index += 1;
        }
        thread.join().unwrap().unwrap();
        delivered
    }

    #[test]
    fn read_mode_reads_plain_and_gzip_files_and_a_rerun_reads_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("logs")).unwrap();
        std::fs::write(dir.path().join("logs/a.log"), "a1\na2\n\na3").unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"b1\nb2\n").unwrap();
        std::fs::write(dir.path().join("logs/b.log.gz"), gz.finish().unwrap()).unwrap();
        assert_eq!(
            read_dir(dir.path(), 2, |_| true),
            ["a1", "a2", "a3", "b1", "b2"]
        );
        assert!(read_dir(dir.path(), 2, |_| true).is_empty());
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("logs/a.log"))
            .unwrap()
            .write_all(b"\na4\n")
            .unwrap();
        assert_eq!(read_dir(dir.path(), 2, |_| true), ["a4"]);
    }

    #[test]
    fn an_undelivered_batch_and_everything_after_it_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("logs")).unwrap();
        let lines: String = (0..10).map(|i| format!("line {i}\n")).collect();
        std::fs::write(dir.path().join("logs/a.log"), lines).unwrap();
        // Batches of 3: the second batch is lost, the later ones are delivered.
        let first = read_dir(dir.path(), 3, |batch| batch != 1);
        assert_eq!(
            first,
            [
                "line 0", "line 1", "line 2", "line 6", "line 7", "line 8", "line 9"
            ]
        );
        let second = read_dir(dir.path(), 3, |_| true);
        assert_eq!(
            second,
            [
                "line 3", "line 4", "line 5", "line 6", "line 7", "line 8", "line 9"
            ]
        );
    }

    #[test]
    fn acknowledged_lines_are_saved_within_seconds_while_the_outputs_hold_reading_back() {
        // 20,000 lines taken 10 per batch every 10 ms (a slow output): some 20 s of reading,
        // in one call of the read loop. The checkpoint must not wait for its end: a crash
        // would replay everything delivered so far.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("logs")).unwrap();
        let lines: String = (0..20_000)
            .map(|i| format!("line {i} {}\n", "x".repeat(90)))
            .collect();
        std::fs::write(dir.path().join("logs/a.log"), lines).unwrap();
        let config: FileInputConfig = toml::from_str("path = \"logs/*\"\nmode = \"read\"").unwrap();
        let input = FileInput::build(
            &config,
            &InputBuildContext {
                config_dir: dir.path().to_path_buf(),
                codec: CodecConfig::default(),
            },
        )
        .unwrap();
        let (sender, mut receiver) = mpsc::channel(1);
        let checkpoint = CheckpointFile::new(&dir.path().join("data"), "file-1");
        let shutdown = CancellationToken::new();
        let context = InputContext {
            id: "file-1".into(),
            stats: std::sync::Arc::new(crate::stats::InputStats::new("file-1", "file")),
            batches: sender,
            shutdown: shutdown.clone(),
            checkpoint: checkpoint.clone(),
            batch_size: 10,
        };
        let reader = std::thread::spawn(move || run(input.settings, context));
        let output = std::thread::spawn(move || {
            while let Some(batch) = receiver.blocking_recv() {
                batch.ack.complete();
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        let saved_offset = || {
            checkpoint
                .load::<Value>()
                .ok()
                .flatten()
                .and_then(|state| state["files"].as_object()?.values().next()?["offset"].as_u64())
                .unwrap_or(0)
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while saved_offset() == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let offset = saved_offset();
        shutdown.cancel();
        reader.join().unwrap().unwrap();
        output.join().unwrap();
        assert!(offset > 0, "nothing saved in 5 s of deliveries");
    }
}
