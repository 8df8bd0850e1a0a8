//! `/health`: an output is unhealthy when it has had batches waiting for `health_timeout`
//! without delivering any; an idle output (nothing waiting) is healthy. A task samples the
//! outputs' counters once a second and remembers since when each one is stuck.

use crate::lock::lock;
use crate::stats::{OutputStats, PipelineStats};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How often the outputs are sampled.
const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// The health of the pipeline's outputs, kept current by a sampling task.
#[derive(Clone)]
pub struct HealthWatch {
    stats: Arc<PipelineStats>,
    timeout: Duration,
    outputs: Arc<Mutex<Vec<OutputProgress>>>,
}

/// What the sampler last saw of one output.
#[derive(Debug, Clone, Copy, Default)]
struct OutputProgress {
    delivered: u64,
    /// Since when batches have waited with no delivery; `None`: idle or delivering.
    stuck_since: Option<Instant>,
}

impl OutputProgress {
    /// Takes a new sample of `output` at `now`.
    fn sample(&mut self, output: &OutputStats, now: Instant) {
        let delivered = output.batches_delivered.load(Ordering::Relaxed);
        if output.pending_batches() == 0 || delivered != self.delivered {
            self.stuck_since = None;
        } else if self.stuck_since.is_none() {
            self.stuck_since = Some(now);
        }
        self.delivered = delivered;
    }
}

impl HealthWatch {
    /// Starts sampling `stats` until `stopping` is cancelled.
    pub fn start(
        stats: Arc<PipelineStats>,
        timeout: Duration,
        stopping: &CancellationToken,
    ) -> HealthWatch {
        let watch = HealthWatch {
            outputs: Arc::new(Mutex::new(vec![
                OutputProgress::default();
                stats.outputs.len()
            ])),
            stats,
            timeout,
        };
        let sampler = watch.clone();
        let stopping = stopping.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(SAMPLE_INTERVAL);
            loop {
                tokio::select! {
                    _ = ticks.tick() => sampler.sample(Instant::now()),
                    () = stopping.cancelled() => return,
                }
            }
        });
        watch
    }

    fn sample(&self, now: Instant) {
        let mut outputs = lock(&self.outputs);
        for (progress, output) in outputs.iter_mut().zip(&self.stats.outputs) {
            progress.sample(output, now);
        }
    }

    /// Why the pipeline is unhealthy, one reason per stuck output; empty when healthy.
    pub fn problems(&self) -> Vec<String> {
        let outputs = lock(&self.outputs);
        outputs
            .iter()
            .zip(&self.stats.outputs)
            .filter_map(|(progress, output)| {
                let stuck = progress.stuck_since?.elapsed();
                (stuck >= self.timeout).then(|| {
                    format!(
                        "output {} has {} batches waiting and delivered nothing for {} s",
                        output.id,
                        output.pending_batches(),
                        stuck.as_secs()
                    )
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_is_stuck_only_while_batches_wait_without_deliveries() {
        let output = OutputStats::new("es", "elasticsearch");
        let mut progress = OutputProgress::default();
        let start = Instant::now();
        progress.sample(&output, start);
        assert!(progress.stuck_since.is_none(), "idle is healthy");
        output.received(10);
        progress.sample(&output, start);
        assert_eq!(progress.stuck_since, Some(start));
        progress.sample(&output, start + Duration::from_secs(5));
        assert_eq!(
            progress.stuck_since,
            Some(start),
            "still stuck since the start"
        );
        output.received(10);
        output.delivered(10);
        progress.sample(&output, start + Duration::from_secs(6));
        assert!(progress.stuck_since.is_none(), "a delivery is progress");
        output.delivered(10);
        progress.sample(&output, start + Duration::from_secs(7));
        assert!(progress.stuck_since.is_none());
    }
}
