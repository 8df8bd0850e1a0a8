//! Inputs: tasks that read a source and send batches of events to the filter workers.
//! Each input keeps the receipts of the batches it sent and advances its checkpoint only
//! over batches every output has acknowledged.

pub mod file;
#[cfg(feature = "s3")]
pub mod s3;

use crate::batch::Batch;
use crate::checkpoint::CheckpointFile;
use crate::codec::CodecConfig;
use crate::event::{FieldPath, FieldPathError, SortedWriter};
use crate::stats::InputStats;
use serde::Deserialize;
use serde_json::Value;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// An error that stops an input.
pub type InputError = Box<dyn std::error::Error + Send + Sync>;

/// The future an input runs as.
pub type InputFuture = Pin<Box<dyn Future<Output = Result<(), InputError>> + Send>>;

/// Everything a running input needs from the pipeline.
pub struct InputContext {
    /// The input's id (for logs and checkpoints).
    pub id: String,
    /// Counters for the monitoring API: batches sent, sources being read.
    pub stats: Arc<InputStats>,
    /// Where batches go, through [`send_batch`]. A send waits while the channel is full
    /// (back-pressure).
    pub batches: mpsc::Sender<Batch>,
    /// Cancelled on shutdown: stop reading, wait for in-flight acknowledgements, save, return.
    pub shutdown: CancellationToken,
    /// This input's checkpoint.
    pub checkpoint: CheckpointFile,
    /// Largest number of events in one batch.
    pub batch_size: usize,
}

/// Sends `batch` to the filter workers; false when the pipeline stopped taking batches.
///
/// Once the channel is full, it waits for three quarters of it to be free before it sends:
/// a worker taking a batch then wakes the input once every few batches instead of for each
/// (a thread wake-up is a good share of a batch's cost on a small VM; README, Performance),
/// and the batches left in the channel keep the workers busy meanwhile.
pub async fn send_batch(batches: &mpsc::Sender<Batch>, batch: Batch) -> bool {
    if batches.capacity() == 0 {
        let wanted = (batches.max_capacity() * 3 / 4).max(1);
        // The places go back at once; the send takes one.
        if batches.reserve_many(wanted).await.is_err() {
            return false;
        }
    }
    batches.send(batch).await.is_ok()
}

/// A running source of events.
pub trait Input: Send {
    /// One line for `logpipe check` (e.g. how many files match now).
    fn describe(&self) -> String;

    /// For `logpipe check --state`: what the checkpoint records (blocking file read).
    fn state(&self, checkpoint: &CheckpointFile) -> Result<String, InputError> {
        Ok(match checkpoint.load::<serde_json::Value>()? {
            Some(_) => format!("checkpoint {}", checkpoint.path().display()),
            None => "nothing read yet".to_string(),
        })
    }

    /// Runs until the source is exhausted (read mode) or shutdown; returns after the
    /// checkpoint reflects everything acknowledged.
    fn run(self: Box<Self>, context: InputContext) -> InputFuture;
}

/// What building an input may need besides its config.
#[derive(Debug, Clone)]
pub struct InputBuildContext {
    /// Directory of the pipeline file; relative paths are resolved against it.
    pub config_dir: PathBuf,
    /// The codec options given in the input's table.
    pub codec: CodecConfig,
}

/// The input kinds, selected by `type`.
/// Deserialized from `{ "<type>" = { options } }`, which the config loader builds from the
/// table (externally tagged, so errors inside the options keep their key path).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputConfig {
    /// Read or follow files matching globs.
    File(file::FileInputConfig),
    /// Read objects from an S3 bucket, by listing it or from SQS notifications.
    #[cfg(feature = "s3")]
    S3(Box<s3::S3InputConfig>),
}

impl InputConfig {
    /// The config's `type` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            InputConfig::File(_) => "file",
            #[cfg(feature = "s3")]
            InputConfig::S3(_) => "s3",
        }
    }

    /// Whether the input finishes by itself (read mode) rather than running until shutdown.
    pub fn is_finite(&self) -> bool {
        match self {
            InputConfig::File(config) => config.is_finite(),
            #[cfg(feature = "s3")]
            InputConfig::S3(config) => config.is_finite(),
        }
    }

    /// Builds the input.
    pub fn build(&self, context: &InputBuildContext) -> Result<Box<dyn Input>, InputError> {
        Ok(match self {
            InputConfig::File(config) => Box::new(file::FileInput::build(config, context)?),
            #[cfg(feature = "s3")]
            InputConfig::S3(config) => Box::new(s3::S3Input::build(config, context)?),
        })
    }

    /// `logpipe run --once`: inputs that can do one pass (s3 poll mode) do one pass.
    pub fn set_once(&mut self) {
        #[cfg(feature = "s3")]
        if let InputConfig::S3(config) = self {
            config.once = true;
        }
    }
}

/// The fields every line-based input gives its events: `log.file.path`,
/// `log.file.fingerprint` and `log.offset`, with their paths parsed once.
#[derive(Debug, Clone)]
pub struct LogOrigin {
    path: FieldPath,
    fingerprint: FieldPath,
    offset: FieldPath,
}

impl LogOrigin {
    /// Parses the three paths.
    pub fn new() -> Result<LogOrigin, FieldPathError> {
        Ok(LogOrigin {
            path: FieldPath::parse("log.file.path")?,
            fingerprint: FieldPath::parse("log.file.fingerprint")?,
            offset: FieldPath::parse("log.offset")?,
        })
    }

    /// Adds the fields to a line's event (merged into a `log` the line brought, json codec)
    /// through `fields`, a writer whose fields so far sort before `log.file.fingerprint`.
    pub fn add(&self, fields: &mut SortedWriter, path: &Value, fingerprint: &Value, offset: u64) {
        fields.insert(&self.fingerprint, fingerprint.clone());
        fields.insert(&self.path, path.clone());
        fields.insert(&self.offset, Value::from(offset));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Ack;
    use std::task::{Context, Poll, Waker};

    fn empty_batch() -> Batch {
        Batch {
            events: Vec::new(),
            lines: Default::default(),
            ack: Ack::new().0,
        }
    }

    #[test]
    fn a_full_channel_is_sent_to_again_once_three_quarters_of_it_are_free() {
        let (sender, mut receiver) = mpsc::channel(4);
        for _ in 0..4 {
            sender.try_send(empty_batch()).unwrap();
        }
        let mut send = std::pin::pin!(send_batch(&sender, empty_batch()));
        let mut context = Context::from_waker(Waker::noop());
        assert!(send.as_mut().poll(&mut context).is_pending());
        receiver.try_recv().unwrap();
        assert!(
            send.as_mut().poll(&mut context).is_pending(),
            "one free place does not wake the reader"
        );
        assert_eq!(receiver.len(), 3);
        for _ in 0..2 {
            receiver.try_recv().unwrap();
        }
        assert_eq!(
            send.as_mut().poll(&mut context),
            Poll::Ready(true),
            "three free places do"
        );
        assert_eq!(receiver.len(), 2);
    }
}
