//! Live figures of a running pipeline, per component: events in and out, batches, failures
//! by tag, retries, dead letters, queue fill and what each input is reading. The stages
//! count into shared atomics (once per batch); the monitoring API reads a snapshot.

use crate::batch::{Batch, OutputBatch};
use crate::lock::lock;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// Every counter of one pipeline run.
#[derive(Debug)]
pub struct PipelineStats {
    /// The pipeline file.
    pub file: PathBuf,
    /// When the pipeline was built.
    pub started: Instant,
    /// Filter worker threads.
    pub workers: usize,
    /// Events that entered the filter workers.
    pub events_in: AtomicU64,
    /// Events handed to the outputs.
    pub events_out: AtomicU64,
    /// Events removed by filters.
    pub dropped: AtomicU64,
    /// Events carrying each failure tag (tags starting with `_`).
    failure_tags: Mutex<BTreeMap<String, u64>>,
    /// The `[[input]]`s in order.
    pub inputs: Vec<Arc<InputStats>>,
    /// The `[[filter]]`s in order (shared by every worker's instance).
    pub filters: Vec<Arc<FilterStats>>,
    /// The `[[output]]`s in order.
    pub outputs: Vec<Arc<OutputStats>>,
    /// The channel from the inputs to the filter workers, once running.
    queue: OnceLock<QueueProbe<Batch>>,
}

/// Counters of one input.
#[derive(Debug)]
pub struct InputStats {
    /// The input's id.
    pub id: String,
    /// Its `type`.
    pub kind: &'static str,
    /// Events sent to the filter workers.
    pub events: AtomicU64,
    /// Batches sent.
    pub batches: AtomicU64,
    /// Files or objects being read now, by name.
    sources: Mutex<BTreeMap<String, SourceProgress>>,
}

/// How far an input has read one file or object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SourceProgress {
    /// Bytes read.
    pub offset: u64,
    /// Its size, when known.
    pub size: Option<u64>,
}

/// Counters of one filter (summed over the workers).
#[derive(Debug)]
pub struct FilterStats {
    /// The filter's id.
    pub id: String,
    /// Its `type`.
    pub kind: &'static str,
    /// Events that went in.
    pub events_in: AtomicU64,
    /// Events that came out (not dropped).
    pub events_out: AtomicU64,
    /// Events the filter did not apply to (it tagged them).
    pub failures: AtomicU64,
    /// Time spent in the filter, nanoseconds.
    pub nanos: AtomicU64,
}

/// Counters of one output.
#[derive(Debug)]
pub struct OutputStats {
    /// The output's id.
    pub id: String,
    /// Its `type`.
    pub kind: &'static str,
    /// Events handed to the output.
    pub events_in: AtomicU64,
    /// Batches handed to the output.
    pub batches_in: AtomicU64,
    /// Events delivered (or dead-lettered).
    pub events_delivered: AtomicU64,
    /// Batches delivered.
    pub batches_delivered: AtomicU64,
    /// Retried requests or items.
    pub retries: AtomicU64,
    /// Events written to the dead-letter queue.
    pub dead_lettered: AtomicU64,
    /// Unix milliseconds of the last delivery; 0: none yet.
    pub last_delivery_ms: AtomicU64,
    /// The channel from the filter workers to this output, once running.
    queue: OnceLock<QueueProbe<OutputBatch>>,
}

/// Looks at a channel's fill without keeping it open.
#[derive(Debug)]
struct QueueProbe<T> {
    sender: mpsc::WeakSender<T>,
}

impl<T> QueueProbe<T> {
    /// Batches waiting in the channel and its capacity; `None` once the channel is closed.
    fn fill(&self) -> Option<QueueFill> {
        let sender = self.sender.upgrade()?;
        let capacity = sender.max_capacity();
        Some(QueueFill {
            batches: capacity - sender.capacity(),
            capacity,
        })
    }
}

/// Batches waiting in a channel: the back-pressure a stage is under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QueueFill {
    /// Batches waiting.
    pub batches: usize,
    /// How many it holds before senders wait.
    pub capacity: usize,
}

impl PipelineStats {
    /// Counters for a pipeline loaded from `file` with these components.
    pub fn new(
        file: PathBuf,
        workers: usize,
        inputs: Vec<Arc<InputStats>>,
        filters: Vec<Arc<FilterStats>>,
        outputs: Vec<Arc<OutputStats>>,
    ) -> PipelineStats {
        PipelineStats {
            file,
            started: Instant::now(),
            workers,
            events_in: AtomicU64::new(0),
            events_out: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            failure_tags: Mutex::default(),
            inputs,
            filters,
            outputs,
            queue: OnceLock::new(),
        }
    }

    /// Watches the inputs' channel to the filter workers.
    pub fn watch_queue(&self, sender: &mpsc::Sender<Batch>) {
        let _ = self.queue.set(QueueProbe {
            sender: sender.downgrade(),
        });
    }

    /// Adds a batch's failure tag counts.
    pub fn add_failure_tags(&self, counts: &BTreeMap<&str, u64>) {
        if counts.is_empty() {
            return;
        }
        let mut tags = lock(&self.failure_tags);
        for (tag, count) in counts {
            match tags.get_mut(*tag) {
                Some(total) => *total += count,
                None => {
                    tags.insert((*tag).to_string(), *count);
                }
            }
        }
    }

    /// Events carrying each failure tag so far.
    pub fn failure_tags(&self) -> BTreeMap<String, u64> {
        lock(&self.failure_tags).clone()
    }

    /// The figures now, for `GET /stats`.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            pipeline: self.file.display().to_string(),
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            workers: self.workers,
            events: EventTotals {
                r#in: self.events_in.load(Ordering::Relaxed),
                out: self.events_out.load(Ordering::Relaxed),
                dropped: self.dropped.load(Ordering::Relaxed),
                failures: self.failure_tags(),
            },
            queue: self.queue.get().and_then(QueueProbe::fill),
            inputs: self.inputs.iter().map(|input| input.snapshot()).collect(),
            filters: self
                .filters
                .iter()
                .map(|filter| filter.snapshot())
                .collect(),
            outputs: self
                .outputs
                .iter()
                .map(|output| output.snapshot())
                .collect(),
        }
    }
}

impl InputStats {
    /// Counters for input `id` of kind `kind`.
    pub fn new(id: &str, kind: &'static str) -> InputStats {
        InputStats {
            id: id.to_string(),
            kind,
            events: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            sources: Mutex::default(),
        }
    }

    /// A batch of `events` was sent.
    pub fn sent(&self, events: usize) {
        self.events.fetch_add(events as u64, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
    }

    /// The input is reading `name`, at `offset` of `size` bytes.
    pub fn reading(&self, name: &str, progress: SourceProgress) {
        let mut sources = lock(&self.sources);
        match sources.get_mut(name) {
            Some(known) => *known = progress,
            None => {
                sources.insert(name.to_string(), progress);
            }
        }
    }

    /// The input no longer reads `name`.
    pub fn finished(&self, name: &str) {
        lock(&self.sources).remove(name);
    }

    /// Replaces the whole list of sources being read (an input that knows them all at once).
    pub fn set_sources(&self, sources: impl IntoIterator<Item = (String, SourceProgress)>) {
        *lock(&self.sources) = sources.into_iter().collect();
    }

    fn snapshot(&self) -> InputSnapshot {
        let sources: Vec<SourceSnapshot> = lock(&self.sources)
            .iter()
            .map(|(name, progress)| SourceSnapshot {
                name: name.clone(),
                offset: progress.offset,
                size: progress.size,
                bytes_behind: progress
                    .size
                    .map(|size| size.saturating_sub(progress.offset)),
            })
            .collect();
        InputSnapshot {
            id: self.id.clone(),
            kind: self.kind,
            events_out: self.events.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            bytes_behind: sources
                .iter()
                .filter_map(|source| source.bytes_behind)
                .sum(),
            sources,
        }
    }
}

impl FilterStats {
    /// Counters for filter `id` of kind `kind`.
    pub fn new(id: &str, kind: &'static str) -> FilterStats {
        FilterStats {
            id: id.to_string(),
            kind,
            events_in: AtomicU64::new(0),
            events_out: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            nanos: AtomicU64::new(0),
        }
    }

    /// One batch went through: `events_in` in, `events_out` out, `failures` not applied to.
    pub fn record(&self, events_in: usize, events_out: usize, failures: u64, nanos: u64) {
        self.events_in
            .fetch_add(events_in as u64, Ordering::Relaxed);
        self.events_out
            .fetch_add(events_out as u64, Ordering::Relaxed);
        self.failures.fetch_add(failures, Ordering::Relaxed);
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    fn snapshot(&self) -> FilterSnapshot {
        let events_in = self.events_in.load(Ordering::Relaxed);
        let events_out = self.events_out.load(Ordering::Relaxed);
        FilterSnapshot {
            id: self.id.clone(),
            kind: self.kind,
            events_in,
            events_out,
            dropped: events_in.saturating_sub(events_out),
            failures: self.failures.load(Ordering::Relaxed),
            seconds: self.nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

impl OutputStats {
    /// Counters for output `id` of kind `kind`.
    pub fn new(id: &str, kind: &'static str) -> OutputStats {
        OutputStats {
            id: id.to_string(),
            kind,
            events_in: AtomicU64::new(0),
            batches_in: AtomicU64::new(0),
            events_delivered: AtomicU64::new(0),
            batches_delivered: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            last_delivery_ms: AtomicU64::new(0),
            queue: OnceLock::new(),
        }
    }

    /// Watches the channel from the filter workers to this output.
    pub fn watch_queue(&self, sender: &mpsc::Sender<OutputBatch>) {
        let _ = self.queue.set(QueueProbe {
            sender: sender.downgrade(),
        });
    }

    /// A batch of `events` was handed to the output.
    pub fn received(&self, events: usize) {
        self.events_in.fetch_add(events as u64, Ordering::Relaxed);
        self.batches_in.fetch_add(1, Ordering::Relaxed);
    }

    /// A batch of `events` was delivered (its acknowledgement share completed).
    pub fn delivered(&self, events: u64) {
        self.events_delivered.fetch_add(events, Ordering::Relaxed);
        self.batches_delivered.fetch_add(1, Ordering::Relaxed);
        self.last_delivery_ms
            .store(unix_millis(), Ordering::Relaxed);
    }

    /// Batches handed to the output and not delivered yet.
    pub fn pending_batches(&self) -> u64 {
        let delivered = self.batches_delivered.load(Ordering::Relaxed);
        self.batches_in
            .load(Ordering::Relaxed)
            .saturating_sub(delivered)
    }

    fn snapshot(&self) -> OutputSnapshot {
        let last = self.last_delivery_ms.load(Ordering::Relaxed);
        OutputSnapshot {
            id: self.id.clone(),
            kind: self.kind,
            events_in: self.events_in.load(Ordering::Relaxed),
            events_out: self.events_delivered.load(Ordering::Relaxed),
            batches: self.batches_in.load(Ordering::Relaxed),
            pending_batches: self.pending_batches(),
            retries: self.retries.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            seconds_since_delivery: (last > 0)
                .then(|| unix_millis().saturating_sub(last) as f64 / 1000.0),
            queue: self.queue.get().and_then(QueueProbe::fill),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// `GET /stats`.
#[derive(Debug, Clone, Serialize)]
pub struct StatsSnapshot {
    /// The pipeline file.
    pub pipeline: String,
    /// Seconds since the pipeline started.
    pub uptime_seconds: f64,
    /// Filter worker threads.
    pub workers: usize,
    /// Events through the filter workers.
    pub events: EventTotals,
    /// The channel from the inputs to the filter workers.
    pub queue: Option<QueueFill>,
    /// Per input.
    pub inputs: Vec<InputSnapshot>,
    /// Per filter.
    pub filters: Vec<FilterSnapshot>,
    /// Per output.
    pub outputs: Vec<OutputSnapshot>,
}

/// Events through the filter workers.
#[derive(Debug, Clone, Serialize)]
pub struct EventTotals {
    /// Entered the workers.
    pub r#in: u64,
    /// Handed to the outputs.
    pub out: u64,
    /// Removed by filters.
    pub dropped: u64,
    /// Events per failure tag.
    pub failures: BTreeMap<String, u64>,
}

/// One input in `GET /stats`.
#[derive(Debug, Clone, Serialize)]
pub struct InputSnapshot {
    /// Its id.
    pub id: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Events sent on.
    pub events_out: u64,
    /// Batches sent on.
    pub batches: u64,
    /// Bytes not read yet in the sources being read.
    pub bytes_behind: u64,
    /// Files or objects being read.
    pub sources: Vec<SourceSnapshot>,
}

/// One file or object being read.
#[derive(Debug, Clone, Serialize)]
pub struct SourceSnapshot {
    /// Path or `s3://bucket/key`.
    pub name: String,
    /// Bytes read.
    pub offset: u64,
    /// Size, when known.
    pub size: Option<u64>,
    /// `size - offset`.
    pub bytes_behind: Option<u64>,
}

/// One filter in `GET /stats`.
#[derive(Debug, Clone, Serialize)]
pub struct FilterSnapshot {
    /// Its id.
    pub id: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Events in.
    pub events_in: u64,
    /// Events out.
    pub events_out: u64,
    /// Events removed.
    pub dropped: u64,
    /// Events it did not apply to (tagged).
    pub failures: u64,
    /// Time spent in it, summed over the workers.
    pub seconds: f64,
}

/// One output in `GET /stats`.
#[derive(Debug, Clone, Serialize)]
pub struct OutputSnapshot {
    /// Its id.
    pub id: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Events handed to it.
    pub events_in: u64,
    /// Events delivered (or dead-lettered).
    pub events_out: u64,
    /// Batches handed to it.
    pub batches: u64,
    /// Batches not delivered yet (waiting or in flight).
    pub pending_batches: u64,
    /// Retried requests or items.
    pub retries: u64,
    /// Events in the dead-letter queue.
    pub dead_lettered: u64,
    /// Seconds since the last delivery; null before the first.
    pub seconds_since_delivery: Option<f64>,
    /// Its channel.
    pub queue: Option<QueueFill>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_is_pending_until_its_batches_are_delivered() {
        let output = OutputStats::new("es", "elasticsearch");
        output.received(10);
        output.received(5);
        output.delivered(10);
        let snapshot = output.snapshot();
        assert_eq!(snapshot.events_in, 15);
        assert_eq!(snapshot.events_out, 10);
        assert_eq!(snapshot.pending_batches, 1);
        assert!(snapshot.seconds_since_delivery.is_some());
    }

    #[test]
    fn input_sources_report_the_bytes_behind() {
        let input = InputStats::new("file-1", "file");
        input.reading(
            "/a.log",
            SourceProgress {
                offset: 10,
                size: Some(25),
            },
        );
        input.reading(
            "/b.log",
            SourceProgress {
                offset: 5,
                size: None,
            },
        );
        input.sent(3);
        let snapshot = input.snapshot();
        assert_eq!(snapshot.bytes_behind, 15);
        assert_eq!(snapshot.sources.len(), 2);
        input.finished("/a.log");
        assert_eq!(input.snapshot().bytes_behind, 0);
        assert_eq!(input.snapshot().events_out, 3);
    }

    #[tokio::test]
    async fn queue_fill_is_read_without_keeping_the_channel_open() {
        let stats = PipelineStats::new("p.toml".into(), 1, Vec::new(), Vec::new(), Vec::new());
        let (sender, mut receiver) = mpsc::channel::<Batch>(4);
        stats.watch_queue(&sender);
        let (ack, _receipt) = crate::batch::Ack::new();
        sender.send(Batch::new(Vec::new(), ack)).await.unwrap();
        assert_eq!(
            stats.snapshot().queue,
            Some(QueueFill {
                batches: 1,
                capacity: 4
            })
        );
        drop(sender);
        assert!(receiver.recv().await.is_some());
        assert!(receiver.recv().await.is_none());
        assert_eq!(stats.snapshot().queue, None);
    }

    #[test]
    fn failure_tags_add_up_across_batches() {
        let stats = PipelineStats::new("p.toml".into(), 1, Vec::new(), Vec::new(), Vec::new());
        stats.add_failure_tags(&BTreeMap::from([("_grokparsefailure", 2)]));
        stats.add_failure_tags(&BTreeMap::from([("_grokparsefailure", 1), ("_x", 1)]));
        assert_eq!(
            stats.failure_tags(),
            BTreeMap::from([("_grokparsefailure".into(), 3), ("_x".into(), 1)])
        );
    }
}
