//! Runs a pipeline: builds every component from the config, spawns a task per input, a
//! thread per filter worker and a task per output, wires them with bounded channels, and
//! drives shutdown. See DESIGN.md for the data flow.

use crate::batch::{Batch, FilteredEvents, OutputBatch};
use crate::batch_order::BatchOrder;
use crate::checkpoint::CheckpointFile;
use crate::config::PipelineConfig;
use crate::event::Event;
use crate::filters::{BuildContext, FilterStage};
use crate::inputs::{Input, InputBuildContext, InputContext};
use crate::live::request::RequestReader;
use crate::outputs::{Output, OutputBuildContext, OutputConfig, OutputContext, OutputError};
use crate::stats::{FilterStats, InputStats, OutputStats, PipelineStats};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// A component that could not be built, or a stage that failed while running.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A component's config is valid TOML but cannot be built (bad pattern, bad glob, …).
    #[error("{id}: {message}")]
    Build { id: String, message: String },
    /// A component stopped with an error while running.
    #[error("{id} failed: {message}")]
    Failed { id: String, message: String },
}

/// What a finished run did; printed as the summary line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSummary {
    /// Events that entered the filter workers.
    pub events_in: u64,
    /// Events handed to the outputs.
    pub events_out: u64,
    /// Events removed by filters.
    pub dropped: u64,
    /// Events carrying each failure tag (tags starting with `_`).
    pub failures: BTreeMap<String, u64>,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Whether shutdown gave up on in-flight batches after `shutdown_timeout`.
    pub timed_out: bool,
}

impl std::fmt::Display for RunSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rate = if self.seconds > 0.0 {
            self.events_in as f64 / self.seconds
        } else {
            0.0
        };
        write!(
            f,
            "events in {}, out {}, dropped {}",
            self.events_in, self.events_out, self.dropped
        )?;
        for (tag, count) in &self.failures {
            write!(f, ", {tag} {count}")?;
        }
        write!(f, "; {:.2} s, {rate:.0} events/s", self.seconds)?;
        if self.timed_out {
            write!(
                f,
                "; shutdown timed out, undelivered events will be re-read"
            )?;
        }
        Ok(())
    }
}

/// A pipeline with every component built, ready to run.
pub struct Pipeline {
    config: PipelineConfig,
    inputs: Vec<(String, Box<dyn Input>)>,
    workers: Vec<Vec<FilterStage>>,
    outputs: Vec<(String, Box<dyn Output>)>,
    stats: Arc<PipelineStats>,
    /// The live output's frames, when the pipeline has one.
    live_frames: Option<watch::Receiver<Option<Arc<str>>>>,
}

impl Pipeline {
    /// Builds every component; returns every build error at once.
    pub fn build(config: PipelineConfig) -> Result<Pipeline, Vec<PipelineError>> {
        let mut errors = Vec::new();
        let config_dir = config.config_dir();
        let mut inputs = Vec::new();
        let input_stats: Vec<Arc<InputStats>> = config
            .inputs
            .iter()
            .map(|spec| Arc::new(InputStats::new(&spec.id, spec.config.type_name())))
            .collect();
        let filter_stats: Vec<Arc<FilterStats>> = config
            .filters
            .iter()
            .map(|spec| Arc::new(FilterStats::new(&spec.id, spec.config.type_name())))
            .collect();
        let output_stats: Vec<Arc<OutputStats>> = config
            .outputs
            .iter()
            .map(|spec| Arc::new(OutputStats::new(&spec.id, spec.config.type_name())))
            .collect();
        for spec in &config.inputs {
            let context = InputBuildContext {
                config_dir: config_dir.clone(),
                codec: spec.codec.clone(),
            };
            match spec.config.build(&context) {
                Ok(input) => inputs.push((spec.id.clone(), input)),
                Err(error) => errors.push(build_error(&spec.id, &*error)),
            }
        }
        let filter_context = BuildContext {
            config_dir: config_dir.clone(),
        };
        let mut workers = Vec::new();
        for worker in 0..config.settings.workers {
            let mut stages = Vec::new();
            for (spec, stats) in config.filters.iter().zip(&filter_stats) {
                match spec.config.build(&filter_context) {
                    Ok(filter) => stages.push(FilterStage::new(
                        filter,
                        spec.common.clone(),
                        Arc::clone(stats),
                    )),
                    // Every worker would report the same error: report it once.
                    Err(error) if worker == 0 => errors.push(build_error(&spec.id, &*error)),
                    Err(_) => {}
                }
            }
            workers.push(stages);
        }
        // The API serves one live view: the first `live` output feeds it.
        let (live_sender, live_receiver) = watch::channel(None);
        let mut live_frames = config.api.enabled.then_some(live_sender);
        let mut has_live_output = false;
        let mut outputs = Vec::new();
        for (spec, stats) in config.outputs.iter().zip(&output_stats) {
            let is_live = matches!(spec.config, OutputConfig::Live(_));
            if is_live && has_live_output {
                errors.push(PipelineError::Build {
                    id: spec.id.clone(),
                    message: "the API serves one live view: keep one `live` output".into(),
                });
                continue;
            }
            has_live_output |= is_live;
            let output_context = OutputBuildContext {
                config_dir: config_dir.clone(),
                data_dir: config.data_dir(),
                live_frames: if is_live { live_frames.take() } else { None },
            };
            match spec.config.build(&output_context, &spec.id, stats) {
                Ok(output) => outputs.push((spec.id.clone(), output)),
                Err(error) => errors.push(build_error(&spec.id, &*error)),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let stats = PipelineStats::new(
            config.file.clone(),
            config.settings.workers,
            input_stats,
            filter_stats,
            output_stats,
        );
        Ok(Pipeline {
            config,
            inputs,
            workers,
            outputs,
            stats: Arc::new(stats),
            live_frames: has_live_output.then_some(live_receiver),
        })
    }

    /// For `logpipe check`: each input's id and what it sees now.
    pub fn describe_inputs(&self) -> Vec<(String, String)> {
        self.inputs
            .iter()
            .map(|(id, input)| (id.clone(), input.describe()))
            .collect()
    }

    /// For `logpipe check --state`: what each input's checkpoint records.
    pub fn input_states(&self) -> Vec<(String, Result<String, String>)> {
        let data_dir = self.config.data_dir();
        self.inputs
            .iter()
            .map(|(id, input)| {
                let state = input
                    .state(&CheckpointFile::new(&data_dir, id))
                    .map_err(|error| error.to_string());
                (id.clone(), state)
            })
            .collect()
    }

    /// For `logpipe check`: each output's id and what it sees now (`Err`: a warning).
    pub async fn check_outputs(&self) -> Vec<(String, Result<String, String>)> {
        let mut checks = Vec::new();
        for (id, output) in &self.outputs {
            checks.push((id.clone(), output.check().await));
        }
        checks
    }

    /// Live counters, for the monitoring API and the progress display.
    pub fn stats(&self) -> Arc<PipelineStats> {
        Arc::clone(&self.stats)
    }

    /// The live output's frames (JSON), when the pipeline has a `live` output.
    pub fn live_frames(&self) -> Option<watch::Receiver<Option<Arc<str>>>> {
        self.live_frames.clone()
    }

    /// Runs until every input is done (read mode) or `shutdown` is cancelled, then drains.
    /// After cancellation, in-flight batches get `shutdown_timeout` to be delivered.
    pub async fn run(self, shutdown: CancellationToken) -> Result<RunSummary, PipelineError> {
        let started = Instant::now();
        let settings = &self.config.settings;
        let data_dir = self.config.data_dir();
        let abort = CancellationToken::new();

        let (batch_sender, batch_receiver) = mpsc::channel::<Batch>(settings.channel_capacity);
        self.stats.watch_queue(&batch_sender);
        let batch_receiver = Arc::new(Mutex::new(batch_receiver));

        // Cancelled by a signal, or when an output fails: the inputs stop and the pipeline
        // drains, so a dead output does not leave the inputs reading for nobody.
        let stop = shutdown.child_token();
        let output_failure: Arc<Mutex<Option<PipelineError>>> = Arc::default();
        let reads = OutputReads {
            events: self.outputs.iter().any(|(_, output)| output.reads_events()),
            live_requests: self
                .outputs
                .iter()
                .find_map(|(_, output)| output.live_requests()),
        };
        let mut output_senders = Vec::new();
        let mut output_tasks = Vec::new();
        for ((id, output), stats) in self.outputs.into_iter().zip(&self.stats.outputs) {
            let (sender, receiver) = mpsc::channel::<OutputBatch>(settings.channel_capacity);
            stats.watch_queue(&sender);
            output_senders.push((sender, Arc::clone(stats)));
            let context = OutputContext {
                id: id.clone(),
                batches: receiver,
                abort: abort.clone(),
            };
            let stop = stop.clone();
            let failure = Arc::clone(&output_failure);
            let output_id = id.clone();
            // A failure is logged and recorded here, when it happens; the task then ends
            // as done, so joining it does not report it a second time.
            let task = tokio::spawn(async move {
                if let Err(error) = output.run(context).await {
                    tracing::error!(component = %output_id, "{error}; stopping the pipeline");
                    if let Ok(mut slot) = failure.lock() {
                        slot.get_or_insert(PipelineError::Failed {
                            id: output_id,
                            message: error.to_string(),
                        });
                    }
                    stop.cancel();
                }
                Ok::<(), OutputError>(())
            });
            output_tasks.push((id, task));
        }

        let mut worker_threads = Vec::new();
        let order = Arc::new(BatchOrder::default());
        for (index, stages) in self.workers.into_iter().enumerate() {
            let receiver = Arc::clone(&batch_receiver);
            let order = Arc::clone(&order);
            let senders = output_senders.clone();
            let reads = reads.clone();
            let stats = Arc::clone(&self.stats);
            let thread = std::thread::Builder::new()
                .name(format!("filter-worker-{index}"))
                .spawn(move || {
                    let channels = WorkerChannels {
                        batches: &receiver,
                        order: &order,
                        outputs: &senders,
                    };
                    run_worker(stages, &channels, &reads, &stats);
                });
            match thread {
                Ok(handle) => worker_threads.push(handle),
                Err(error) => {
                    return Err(PipelineError::Failed {
                        id: format!("filter-worker-{index}"),
                        message: format!("cannot start thread: {error}"),
                    });
                }
            }
        }
        drop(output_senders);

        let mut input_tasks = Vec::new();
        for ((id, input), stats) in self.inputs.into_iter().zip(&self.stats.inputs) {
            let context = InputContext {
                id: id.clone(),
                stats: Arc::clone(stats),
                batches: batch_sender.clone(),
                shutdown: stop.child_token(),
                checkpoint: CheckpointFile::new(&data_dir, &id),
                batch_size: settings.batch_size,
            };
            input_tasks.push((id, tokio::spawn(input.run(context))));
        }
        drop(batch_sender);

        let mut first_error = None;
        let stages = async {
            for (id, task) in input_tasks {
                record_failure(&id, task.await, &mut first_error);
            }
            let workers = tokio::task::spawn_blocking(move || {
                for thread in worker_threads {
                    let _ = thread.join();
                }
            });
            let _ = workers.await;
            for (id, task) in output_tasks {
                record_failure(&id, task.await, &mut first_error);
            }
            first_error
        };
        tokio::pin!(stages);

        let deadline_after_shutdown = async {
            stop.cancelled().await;
            tokio::time::sleep(settings.shutdown_timeout).await;
        };
        let (error, timed_out) = tokio::select! {
            error = &mut stages => (error, false),
            () = deadline_after_shutdown => {
                tracing::warn!(
                    timeout = ?settings.shutdown_timeout,
                    "shutdown timed out; exiting with what was acknowledged (the rest is read again next run)"
                );
                abort.cancel();
                // Give outputs a moment to notice the abort; their batches stay unacknowledged.
                let grace = tokio::time::timeout(Duration::from_secs(1), &mut stages).await;
                (grace.unwrap_or(None), true)
            }
        };
        let failed_output = output_failure.lock().ok().and_then(|mut slot| slot.take());
        if let Some(error) = failed_output.or(error) {
            return Err(error);
        }
        Ok(RunSummary {
            events_in: self.stats.events_in.load(Ordering::Relaxed),
            events_out: self.stats.events_out.load(Ordering::Relaxed),
            dropped: self.stats.dropped.load(Ordering::Relaxed),
            failures: self.stats.failure_tags(),
            seconds: started.elapsed().as_secs_f64(),
            timed_out,
        })
    }
}

fn build_error(id: &str, error: &(dyn std::error::Error + Send + Sync)) -> PipelineError {
    PipelineError::Build {
        id: id.to_string(),
        message: error.to_string(),
    }
}

fn record_failure<E: std::fmt::Display>(
    id: &str,
    joined: Result<Result<(), E>, tokio::task::JoinError>,
    first_error: &mut Option<PipelineError>,
) {
    let message = match joined {
        Ok(Ok(())) => return,
        Ok(Err(error)) => error.to_string(),
        Err(error) => format!("task ended abnormally: {error}"),
    };
    tracing::error!(component = id, "{message}");
    first_error.get_or_insert(PipelineError::Failed {
        id: id.to_string(),
        message,
    });
}

/// Where a filter worker takes batches from and hands them to.
struct WorkerChannels<'a> {
    /// The inputs' batches, shared by the workers.
    batches: &'a Mutex<mpsc::Receiver<Batch>>,
    /// Keeps the hand-over to the outputs in the order batches were taken.
    order: &'a BatchOrder,
    /// Every output's channel, with its counters.
    outputs: &'a [(mpsc::Sender<OutputBatch>, Arc<OutputStats>)],
}

/// What the outputs read from a batch besides its JSON lines.
#[derive(Clone)]
struct OutputReads {
    /// The events themselves (see [`Output::reads_events`]).
    events: bool,
    /// The `live` output's requests (see [`Output::live_requests`]).
    live_requests: Option<Arc<RequestReader>>,
}

/// One filter worker: takes batches, runs the filter chain, fans the result out to every
/// output (in input order, see [`BatchOrder`]), and counts what it did into `stats`.
fn run_worker(
    mut stages: Vec<FilterStage>,
    channels: &WorkerChannels,
    reads: &OutputReads,
    stats: &PipelineStats,
) {
    // Batches the outputs are done with come back here to be freed (see FilteredEvents).
    let (used_events, returned_events) = std::sync::mpsc::channel::<Vec<Event>>();
    loop {
        returned_events.try_iter().for_each(drop);
        let next = match channels.batches.lock() {
            Ok(mut guard) => guard
                .blocking_recv()
                .map(|batch| (batch, channels.order.ticket())),
            Err(_) => None,
        };
        let Some((batch, ticket)) = next else {
            return;
        };
        let (mut events, ack) = batch.into_events();
        let received = events.len() as u64;
        for stage in &mut stages {
            stage.apply(&mut events);
        }
        stats.events_in.fetch_add(received, Ordering::Relaxed);
        stats
            .dropped
            .fetch_add(received - events.len() as u64, Ordering::Relaxed);
        stats
            .events_out
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        let mut failure_tags = BTreeMap::new();
        count_failure_tags(&events, &mut failure_tags);
        stats.add_failure_tags(&failure_tags);
        if events.is_empty() || channels.outputs.is_empty() {
            ack.complete();
            continue;
        }
        // Read while the events are still in this core's cache.
        let requests = reads
            .live_requests
            .as_ref()
            .map(|reader| reader.read(&events));
        let events = Arc::new(
            FilteredEvents::new(events, reads.events)
                .with_requests(requests)
                .returning_events_to(&used_events),
        );
        let _turn = ticket.wait_turn();
        for (output, output_stats) in channels.outputs {
            output_stats.received(events.len());
            let batch = OutputBatch {
                events: Arc::clone(&events),
                ack: ack.split_for(output_stats, events.len() as u64),
            };
            // A closed output channel means the output stopped; its share stays
            // unacknowledged, so the input will not checkpoint past this batch.
            let _ = output.blocking_send(batch);
        }
        // Every output holds its own share now; release the worker's.
        ack.complete();
    }
}

fn count_failure_tags<'a>(events: &'a [Event], counts: &mut BTreeMap<&'a str, u64>) {
    for event in events {
        for tag in event.tags().filter(|tag| tag.starts_with('_')) {
            *counts.entry(tag).or_insert(0) += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Ack;

    fn test_stats() -> PipelineStats {
        PipelineStats::new("p.toml".into(), 1, Vec::new(), Vec::new(), Vec::new())
    }

    fn reading_events() -> OutputReads {
        OutputReads {
            events: true,
            live_requests: None,
        }
    }

    fn events(count: usize) -> Vec<Event> {
        (0..count)
            .map(|i| Event::from_line(format!("line {i}"), "2024-01-01T00:00:00.000Z"))
            .collect()
    }

    #[test]
    fn worker_fans_out_and_the_batch_is_acknowledged_after_every_output() {
        let (batch_sender, batch_receiver) = mpsc::channel(4);
        let (first_sender, mut first) = mpsc::channel(4);
        let (second_sender, mut second) = mpsc::channel(4);
        let (ack, mut receipt) = Ack::new();
        let mut tagged = events(3);
        tagged[1].add_tag("_grokparsefailure");
        batch_sender.blocking_send(Batch::new(tagged, ack)).unwrap();
        drop(batch_sender);
        let first_stats = Arc::new(OutputStats::new("first", "stdout"));
        let second_stats = Arc::new(OutputStats::new("second", "stdout"));
        let stats = test_stats();
        let channels = WorkerChannels {
            batches: &Mutex::new(batch_receiver),
            order: &BatchOrder::default(),
            outputs: &[
                (first_sender, Arc::clone(&first_stats)),
                (second_sender, Arc::clone(&second_stats)),
            ],
        };
        run_worker(Vec::new(), &channels, &reading_events(), &stats);
        assert_eq!(
            stats.failure_tags(),
            BTreeMap::from([("_grokparsefailure".to_string(), 1)])
        );
        assert_eq!(stats.events_in.load(Ordering::Relaxed), 3);
        assert_eq!(first_stats.events_in.load(Ordering::Relaxed), 3);
        let first_batch = first.blocking_recv().unwrap();
        let second_batch = second.blocking_recv().unwrap();
        assert!(Arc::ptr_eq(&first_batch.events, &second_batch.events));
        first_batch.ack.complete();
        assert!(!receipt.is_acknowledged());
        second_batch.ack.complete();
        assert!(receipt.is_acknowledged());
        assert_eq!(second_stats.events_delivered.load(Ordering::Relaxed), 3);
        assert_eq!(second_stats.pending_batches(), 0);
    }

    #[test]
    fn batch_emptied_by_filters_is_acknowledged_at_once() {
        let (batch_sender, batch_receiver) = mpsc::channel(4);
        let (output_sender, mut output) = mpsc::channel(4);
        let (ack, mut receipt) = Ack::new();
        batch_sender
            .blocking_send(Batch::new(Vec::new(), ack))
            .unwrap();
        drop(batch_sender);
        let output_stats = Arc::new(OutputStats::new("out", "stdout"));
        {
            // The output channel closes when this block ends and the worker's senders go.
            let channels = WorkerChannels {
                batches: &Mutex::new(batch_receiver),
                order: &BatchOrder::default(),
                outputs: &[(output_sender, output_stats)],
            };
            run_worker(Vec::new(), &channels, &reading_events(), &test_stats());
        }
        assert!(receipt.is_acknowledged());
        assert!(output.blocking_recv().is_none());
    }

    #[test]
    fn summary_line_lists_counts_tags_and_rate() {
        let summary = RunSummary {
            events_in: 10,
            events_out: 9,
            dropped: 1,
            failures: BTreeMap::from([("_grokparsefailure".to_string(), 2)]),
            seconds: 2.0,
            timed_out: false,
        };
        assert_eq!(
            summary.to_string(),
            "events in 10, out 9, dropped 1, _grokparsefailure 2; 2.00 s, 5 events/s"
        );
    }
}
