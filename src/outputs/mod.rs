//! Outputs: tasks that deliver filtered batches and complete each batch's acknowledgement
//! once it is durably delivered.

pub mod elasticsearch;
pub mod file;
pub mod live;
pub mod stdout;

use crate::batch::OutputBatch;
use crate::live::request::RequestReader;
use crate::stats::OutputStats;
use serde::Deserialize;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// An error that stops an output.
pub type OutputError = Box<dyn std::error::Error + Send + Sync>;

/// The future an output runs as.
pub type OutputFuture = Pin<Box<dyn Future<Output = Result<(), OutputError>> + Send>>;

/// Everything a running output needs from the pipeline.
pub struct OutputContext {
    /// The output's id (for logs, DLQ directories).
    pub id: String,
    /// Batches to deliver; closed when every filter worker has finished.
    pub batches: mpsc::Receiver<OutputBatch>,
    /// Cancelled when the shutdown deadline passes: give up retrying and return.
    pub abort: CancellationToken,
}

/// Runs an output's delivery loop on a blocking thread of its own for the whole run, for the
/// outputs whose writes block (`stdout`, `file`): a worker's send wakes that thread, which
/// writes at once. Handing each write from the output's task to a blocking thread and back
/// cost two more thread wake-ups a batch, 13% of the CPU on the bench (README, Performance).
pub async fn on_own_thread<F>(delivery: F) -> Result<F::Output, tokio::task::JoinError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || runtime.block_on(delivery)).await
}

/// What `logpipe check` learns from an output: a line to show, or a warning.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>>;

/// A running destination of events.
pub trait Output: Send {
    /// Delivers batches until the channel closes, completing each batch's `ack` after delivery.
    fn run(self: Box<Self>, context: OutputContext) -> OutputFuture;

    /// Whether the output reads the events, not only their JSON lines. When no output of a
    /// pipeline does, the filter workers free each batch's events as soon as they are encoded
    /// (on the thread that built them, which is cheaper than on the output's).
    fn reads_events(&self) -> bool {
        true
    }

    /// For the `live` output: what the filter workers read from each batch's events for it
    /// (see [`crate::batch::FilteredEvents::requests`]).
    fn live_requests(&self) -> Option<Arc<RequestReader>> {
        None
    }

    /// For `logpipe check`: whether the destination can be reached (a network output tries
    /// it once); `Err` is shown as a warning. Nothing to say by default.
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async { Ok(String::new()) })
    }
}

/// What building an output may need besides its config.
#[derive(Debug, Clone)]
pub struct OutputBuildContext {
    /// Directory of the pipeline file; relative paths are resolved against it.
    pub config_dir: PathBuf,
    /// The pipeline's data directory.
    pub data_dir: PathBuf,
    /// Where a `live` output publishes its frames; `None` when the API is off or another
    /// live output took it.
    pub live_frames: Option<live::LiveFrames>,
}

/// The output kinds, selected by `type`.
/// Deserialized from `{ "<type>" = { options } }`, which the config loader builds from the
/// table (externally tagged, so errors inside the options keep their key path).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputConfig {
    /// JSON lines (or pretty JSON) on standard output.
    Stdout(stdout::StdoutOutputConfig),
    /// JSON lines appended to files named by a template.
    File(file::FileOutputConfig),
    /// Bulk requests to Elasticsearch or OpenSearch.
    Elasticsearch(Box<elasticsearch::ElasticsearchOutputConfig>),
    /// The live traffic view of the monitoring API.
    Live(Box<live::LiveOutputConfig>),
}

impl OutputConfig {
    /// The config's `type` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            OutputConfig::Stdout(_) => "stdout",
            OutputConfig::File(_) => "file",
            OutputConfig::Elasticsearch(_) => "elasticsearch",
            OutputConfig::Live(_) => "live",
        }
    }

    /// Builds the output with id `id`, counting into `stats`.
    pub fn build(
        &self,
        context: &OutputBuildContext,
        id: &str,
        stats: &Arc<OutputStats>,
    ) -> Result<Box<dyn Output>, OutputError> {
        Ok(match self {
            OutputConfig::Stdout(config) => Box::new(stdout::StdoutOutput::build(config, context)?),
            OutputConfig::File(config) => Box::new(file::FileOutput::build(config, context)?),
            OutputConfig::Elasticsearch(config) => Box::new(
                elasticsearch::ElasticsearchOutput::build(config, context, id, stats)?,
            ),
            OutputConfig::Live(config) => Box::new(live::LiveOutput::build(config, context)?),
        })
    }
}
