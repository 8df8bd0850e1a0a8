//! `/metrics`: the figures of `/stats` in Prometheus's text exposition format, one metric
//! family per figure, with `id` and `type` labels per component.

use crate::stats::{QueueFill, StatsSnapshot};
use std::fmt::Write;

/// Renders `stats` as Prometheus text.
pub fn render(stats: &StatsSnapshot) -> String {
    let mut out = Metrics::default();
    out.family("logpipe_info", "gauge", "Version of logpipe.");
    out.sample(
        "logpipe_info",
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("pipeline", &stats.pipeline),
        ],
        1.0,
    );
    out.single(
        "logpipe_uptime_seconds",
        "gauge",
        "Seconds since the pipeline started.",
        stats.uptime_seconds,
    );
    out.single(
        "logpipe_workers",
        "gauge",
        "Filter worker threads.",
        stats.workers as f64,
    );
    let events = &stats.events;
    out.single(
        "logpipe_events_in_total",
        "counter",
        "Events that entered the filter workers.",
        events.r#in as f64,
    );
    out.single(
        "logpipe_events_out_total",
        "counter",
        "Events handed to the outputs.",
        events.out as f64,
    );
    out.single(
        "logpipe_events_dropped_total",
        "counter",
        "Events removed by filters.",
        events.dropped as f64,
    );
    out.family(
        "logpipe_events_failed_total",
        "counter",
        "Events carrying each failure tag.",
    );
    for (tag, count) in &events.failures {
        out.sample(
            "logpipe_events_failed_total",
            &[("tag", tag)],
            *count as f64,
        );
    }
    queue(
        &mut out,
        "logpipe_queue",
        "the channel from the inputs to the filter workers",
        &[],
        stats.queue,
    );

    let inputs = stats
        .inputs
        .iter()
        .map(|input| (input.id.as_str(), input.kind));
    let inputs: Vec<_> = inputs.collect();
    per_component(
        &mut out,
        "logpipe_input_events_total",
        "counter",
        "Events an input sent on.",
        &inputs,
        stats.inputs.iter().map(|i| i.events_out as f64),
    );
    per_component(
        &mut out,
        "logpipe_input_batches_total",
        "counter",
        "Batches an input sent on.",
        &inputs,
        stats.inputs.iter().map(|i| i.batches as f64),
    );
    per_component(
        &mut out,
        "logpipe_input_sources",
        "gauge",
        "Files or objects an input is reading.",
        &inputs,
        stats.inputs.iter().map(|i| i.sources.len() as f64),
    );
    per_component(
        &mut out,
        "logpipe_input_bytes_behind",
        "gauge",
        "Bytes not yet read in the files or objects being read.",
        &inputs,
        stats.inputs.iter().map(|i| i.bytes_behind as f64),
    );

    let filters: Vec<_> = stats
        .filters
        .iter()
        .map(|filter| (filter.id.as_str(), filter.kind))
        .collect();
    per_component(
        &mut out,
        "logpipe_filter_events_in_total",
        "counter",
        "Events into a filter.",
        &filters,
        stats.filters.iter().map(|f| f.events_in as f64),
    );
    per_component(
        &mut out,
        "logpipe_filter_events_out_total",
        "counter",
        "Events out of a filter.",
        &filters,
        stats.filters.iter().map(|f| f.events_out as f64),
    );
    per_component(
        &mut out,
        "logpipe_filter_dropped_total",
        "counter",
        "Events a filter removed.",
        &filters,
        stats.filters.iter().map(|f| f.dropped as f64),
    );
    per_component(
        &mut out,
        "logpipe_filter_failures_total",
        "counter",
        "Events a filter did not apply to (tagged).",
        &filters,
        stats.filters.iter().map(|f| f.failures as f64),
    );
    per_component(
        &mut out,
        "logpipe_filter_seconds_total",
        "counter",
        "Time spent in a filter, summed over the workers.",
        &filters,
        stats.filters.iter().map(|f| f.seconds),
    );

    let outputs: Vec<_> = stats
        .outputs
        .iter()
        .map(|output| (output.id.as_str(), output.kind))
        .collect();
    per_component(
        &mut out,
        "logpipe_output_events_in_total",
        "counter",
        "Events handed to an output.",
        &outputs,
        stats.outputs.iter().map(|o| o.events_in as f64),
    );
    per_component(
        &mut out,
        "logpipe_output_events_out_total",
        "counter",
        "Events an output delivered (or dead-lettered).",
        &outputs,
        stats.outputs.iter().map(|o| o.events_out as f64),
    );
    per_component(
        &mut out,
        "logpipe_output_batches_total",
        "counter",
        "Batches handed to an output.",
        &outputs,
        stats.outputs.iter().map(|o| o.batches as f64),
    );
    per_component(
        &mut out,
        "logpipe_output_pending_batches",
        "gauge",
        "Batches an output has not delivered yet.",
        &outputs,
        stats.outputs.iter().map(|o| o.pending_batches as f64),
    );
    per_component(
        &mut out,
        "logpipe_output_retries_total",
        "counter",
        "Events an output sent again after a failure.",
        &outputs,
        stats.outputs.iter().map(|o| o.retries as f64),
    );
    per_component(
        &mut out,
        "logpipe_output_dead_letters_total",
        "counter",
        "Events written to the dead-letter queue.",
        &outputs,
        stats.outputs.iter().map(|o| o.dead_lettered as f64),
    );
    out.family(
        "logpipe_output_seconds_since_delivery",
        "gauge",
        "Seconds since an output last delivered.",
    );
    for (output, (id, kind)) in stats.outputs.iter().zip(&outputs) {
        if let Some(seconds) = output.seconds_since_delivery {
            out.sample(
                "logpipe_output_seconds_since_delivery",
                &[("id", id), ("type", kind)],
                seconds,
            );
        }
    }
    out.family(
        "logpipe_output_queue_batches",
        "gauge",
        "Batches waiting in the channel to an output.",
    );
    for (output, (id, kind)) in stats.outputs.iter().zip(&outputs) {
        if let Some(fill) = output.queue {
            out.sample(
                "logpipe_output_queue_batches",
                &[("id", id), ("type", kind)],
                fill.batches as f64,
            );
        }
    }
    out.text
}

/// Prometheus text being written.
#[derive(Default)]
struct Metrics {
    text: String,
}

impl Metrics {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (index, (label, label_value)) in labels.iter().enumerate() {
                if index > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape(label_value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

fn per_component(
    out: &mut Metrics,
    name: &str,
    kind: &str,
    help: &str,
    components: &[(&str, &str)],
    values: impl Iterator<Item = f64>,
) {
    out.family(name, kind, help);
    for ((id, component_kind), value) in components.iter().zip(values) {
        out.sample(name, &[("id", id), ("type", component_kind)], value);
    }
}

fn queue(
    out: &mut Metrics,
    name: &str,
    what: &str,
    labels: &[(&str, &str)],
    fill: Option<QueueFill>,
) {
    let Some(fill) = fill else { return };
    out.single(
        &format!("{name}_batches"),
        "gauge",
        &format!("Batches waiting in {what}."),
        fill.batches as f64,
    );
    out.family(
        &format!("{name}_capacity"),
        "gauge",
        &format!("Batches {what} holds."),
    );
    out.sample(&format!("{name}_capacity"), labels, fill.capacity as f64);
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{FilterStats, InputStats, OutputStats, PipelineStats};
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    #[test]
    fn metrics_carry_every_component_with_its_labels() {
        let input = Arc::new(InputStats::new("nginx", "file"));
        input.sent(7);
        let filter = Arc::new(FilterStats::new("grok-1", "grok"));
        filter.record(7, 7, 2, 1_000);
        let output = Arc::new(OutputStats::new("es", "elasticsearch"));
        output.received(7);
        output.retries.fetch_add(3, Ordering::Relaxed);
        let stats = PipelineStats::new(
            "/etc/logpipe/p\"1\".toml".into(),
            1,
            vec![input],
            vec![filter],
            vec![output],
        );
        stats.events_in.fetch_add(7, Ordering::Relaxed);
        stats.add_failure_tags(&BTreeMap::from([("_grokparsefailure", 2)]));
        let text = render(&stats.snapshot());
        for line in [
            "logpipe_events_in_total 7",
            "logpipe_events_failed_total{tag=\"_grokparsefailure\"} 2",
            "logpipe_input_events_total{id=\"nginx\",type=\"file\"} 7",
            "logpipe_filter_failures_total{id=\"grok-1\",type=\"grok\"} 2",
            "logpipe_output_pending_batches{id=\"es\",type=\"elasticsearch\"} 1",
            "logpipe_output_retries_total{id=\"es\",type=\"elasticsearch\"} 3",
            "# TYPE logpipe_output_events_out_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(
            text.contains("pipeline=\"/etc/logpipe/p\\\"1\\\".toml\""),
            "{text}"
        );
    }
}
