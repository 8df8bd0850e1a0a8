//! Runs a pipeline: builds every component from the config, spawns a task per input, a
//! thread per filter worker and a task per output, wires them with bounded channels, and
//! drives shutdown. See DESIGN.md for the data flow.

use crate::batch::{Batch, FilteredEvents, OutputBatch};
use crate::checkpoint::CheckpointFile;
use crate::config::PipelineConfig;
use crate::event::Event;
use crate::filters::{BuildContext, FilterStage};
use crate::inputs::{Input, InputBuildContext, InputContext};
use crate::outputs::{Output, OutputBuildContext, OutputContext, OutputError};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
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

/// Counts shared by the stages while the pipeline runs.
#[derive(Debug, Default)]
pub struct PipelineCounters {
    /// Events that entered the filter workers.
    pub events_in: AtomicU64,
    /// Events handed to the outputs.
    pub events_out: AtomicU64,
    /// Events removed by filters.
    pub dropped: AtomicU64,
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
    counters: Arc<PipelineCounters>,
}

impl Pipeline {
    /// Builds every component; returns every build error at once.
    pub fn build(config: PipelineConfig) -> Result<Pipeline, Vec<PipelineError>> {
        let mut errors = Vec::new();
        let config_dir = config.config_dir();
        let mut inputs = Vec::new();
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
            for spec in &config.filters {
                match spec.config.build(&filter_context) {
                    Ok(filter) => stages.push(FilterStage::new(filter, spec.common.clone())),
                    // Every worker would report the same error: report it once.
                    Err(error) if worker == 0 => errors.push(build_error(&spec.id, &*error)),
                    Err(_) => {}
                }
            }
            workers.push(stages);
        }
        let output_context = OutputBuildContext {
            config_dir,
            data_dir: config.data_dir(),
        };
        let mut outputs = Vec::new();
        for spec in &config.outputs {
            match spec.config.build(&output_context, &spec.id) {
                Ok(output) => outputs.push((spec.id.clone(), output)),
                Err(error) => errors.push(build_error(&spec.id, &*error)),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Pipeline {
            config,
            inputs,
            workers,
            outputs,
            counters: Arc::new(PipelineCounters::default()),
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

    /// Live counters, e.g. for a progress display.
    pub fn counters(&self) -> Arc<PipelineCounters> {
        Arc::clone(&self.counters)
    }

    /// Runs until every input is done (read mode) or `shutdown` is cancelled, then drains.
    /// After cancellation, in-flight batches get `shutdown_timeout` to be delivered.
    pub async fn run(self, shutdown: CancellationToken) -> Result<RunSummary, PipelineError> {
        let started = Instant::now();
        let settings = &self.config.settings;
        let data_dir = self.config.data_dir();
        let abort = CancellationToken::new();

        let (batch_sender, batch_receiver) = mpsc::channel::<Batch>(settings.channel_capacity);
        let batch_receiver = Arc::new(Mutex::new(batch_receiver));

        // Cancelled by a signal, or when an output fails: the inputs stop and the pipeline
        // drains, so a dead output does not leave the inputs reading for nobody.
        let stop = shutdown.child_token();
        let output_failure: Arc<Mutex<Option<PipelineError>>> = Arc::default();
        let mut output_senders = Vec::new();
        let mut output_tasks = Vec::new();
        for (id, output) in self.outputs {
            let (sender, receiver) = mpsc::channel::<OutputBatch>(settings.channel_capacity);
            output_senders.push(sender);
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
        for (index, stages) in self.workers.into_iter().enumerate() {
            let receiver = Arc::clone(&batch_receiver);
            let senders = output_senders.clone();
            let counters = Arc::clone(&self.counters);
            let thread = std::thread::Builder::new()
                .name(format!("filter-worker-{index}"))
                .spawn(move || run_worker(stages, &receiver, &senders, &counters));
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
        for (id, input) in self.inputs {
            let context = InputContext {
                id: id.clone(),
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
                worker_threads
                    .into_iter()
                    .map(|thread| thread.join().unwrap_or_default())
                    .collect::<Vec<_>>()
            });
            let tag_counts = workers.await.unwrap_or_default();
            for (id, task) in output_tasks {
                record_failure(&id, task.await, &mut first_error);
            }
            (tag_counts, first_error)
        };
        tokio::pin!(stages);

        let deadline_after_shutdown = async {
            stop.cancelled().await;
            tokio::time::sleep(settings.shutdown_timeout).await;
        };
        let (tag_counts, error, timed_out) = tokio::select! {
            (tag_counts, error) = &mut stages => (tag_counts, error, false),
            () = deadline_after_shutdown => {
                tracing::warn!(
                    timeout = ?settings.shutdown_timeout,
                    "shutdown timed out; exiting with what was acknowledged (the rest is read again next run)"
                );
                abort.cancel();
                // Give outputs a moment to notice the abort; their batches stay unacknowledged.
                let grace = tokio::time::timeout(Duration::from_secs(1), &mut stages).await;
                match grace {
                    Ok((tag_counts, error)) => (tag_counts, error, true),
                    Err(_) => (Vec::new(), None, true),
                }
            }
        };
        let failed_output = output_failure.lock().ok().and_then(|mut slot| slot.take());
        if let Some(error) = failed_output.or(error) {
            return Err(error);
        }
        let mut failures = BTreeMap::new();
        for counts in tag_counts {
            for (tag, count) in counts {
                *failures.entry(tag).or_insert(0) += count;
            }
        }
        Ok(RunSummary {
            events_in: self.counters.events_in.load(Ordering::Relaxed),
            events_out: self.counters.events_out.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
            failures,
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

/// One filter worker: takes batches, runs the filter chain, fans the result out to every
/// output. Returns how many events carried each failure tag.
fn run_worker(
    mut stages: Vec<FilterStage>,
    receiver: &Mutex<mpsc::Receiver<Batch>>,
    outputs: &[mpsc::Sender<OutputBatch>],
    counters: &PipelineCounters,
) -> BTreeMap<String, u64> {
    let mut failure_tags = BTreeMap::new();
    loop {
        let next = match receiver.lock() {
            Ok(mut guard) => guard.blocking_recv(),
            Err(_) => None,
        };
        let Some(Batch { mut events, ack }) = next else {
            return failure_tags;
        };
        let received = events.len() as u64;
        for stage in &mut stages {
            stage.apply(&mut events);
        }
        counters.events_in.fetch_add(received, Ordering::Relaxed);
        counters
            .dropped
            .fetch_add(received - events.len() as u64, Ordering::Relaxed);
        counters
            .events_out
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        count_failure_tags(&events, &mut failure_tags);
        if events.is_empty() || outputs.is_empty() {
            ack.complete();
            continue;
        }
        let events = Arc::new(FilteredEvents::new(events));
        for output in outputs {
            let batch = OutputBatch {
                events: Arc::clone(&events),
                ack: ack.split(),
            };
            // A closed output channel means the output stopped; its share stays
            // unacknowledged, so the input will not checkpoint past this batch.
            let _ = output.blocking_send(batch);
        }
        // Every output holds its own share now; release the worker's.
        ack.complete();
    }
}

fn count_failure_tags(events: &[Event], counts: &mut BTreeMap<String, u64>) {
    for event in events {
        for tag in event.tags().filter(|tag| tag.starts_with('_')) {
            match counts.get_mut(tag) {
                Some(count) => *count += 1,
                None => {
                    counts.insert(tag.to_string(), 1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Ack;

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
        batch_sender
            .blocking_send(Batch {
                events: tagged,
                ack,
            })
            .unwrap();
        drop(batch_sender);
        let counters = PipelineCounters::default();
        let tags = run_worker(
            Vec::new(),
            &Mutex::new(batch_receiver),
            &[first_sender, second_sender],
            &counters,
        );
        assert_eq!(tags, BTreeMap::from([("_grokparsefailure".to_string(), 1)]));
        assert_eq!(counters.events_in.load(Ordering::Relaxed), 3);
        let first_batch = first.blocking_recv().unwrap();
        let second_batch = second.blocking_recv().unwrap();
        assert!(Arc::ptr_eq(&first_batch.events, &second_batch.events));
        first_batch.ack.complete();
        assert!(!receipt.is_acknowledged());
        second_batch.ack.complete();
        assert!(receipt.is_acknowledged());
    }

    #[test]
    fn batch_emptied_by_filters_is_acknowledged_at_once() {
        let (batch_sender, batch_receiver) = mpsc::channel(4);
        let (output_sender, mut output) = mpsc::channel(4);
        let (ack, mut receipt) = Ack::new();
        batch_sender
            .blocking_send(Batch {
                events: Vec::new(),
                ack,
            })
            .unwrap();
        drop(batch_sender);
        run_worker(
            Vec::new(),
            &Mutex::new(batch_receiver),
            &[output_sender],
            &PipelineCounters::default(),
        );
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
