//! The `stdout` output: each batch written to standard output as JSON lines (or pretty JSON)
//! in one write, then acknowledged, by a thread that does only that. Also defines
//! [`OutputCodec`], the event encoding the `file` output shares.

use super::{Output, OutputBuildContext, OutputContext, OutputError, OutputFuture, on_own_thread};
use crate::event::Event;
use serde::Deserialize;
use std::io::Write;

/// How events are encoded by the `stdout` and `file` outputs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OutputCodec {
    /// One compact JSON object per line.
    #[default]
    JsonLines,
    /// Indented JSON, one object after another (for reading by people).
    Pretty,
}

impl OutputCodec {
    const NAMES: &'static [&'static str] = &["json_lines", "pretty"];

    /// Appends `events`, each followed by a newline, to `out`.
    pub fn encode(self, events: &[Event], out: &mut Vec<u8>) {
        for event in events {
            self.encode_event(event, out);
        }
    }

    /// Appends one event followed by a newline to `out`.
    pub fn encode_event(self, event: &Event, out: &mut Vec<u8>) {
        match self {
            OutputCodec::JsonLines => event.write_json(out),
            // Serialising a map of JSON values into memory cannot fail.
            OutputCodec::Pretty => {
                let _ = serde_json::to_writer_pretty(&mut *out, &event.to_fields());
            }
        }
        out.push(b'\n');
    }
}

/// Read from a string by hand: toml's derived-enum errors for other types ("wanted string or
/// table") do not say which values are allowed.
impl<'de> Deserialize<'de> for OutputCodec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CodecName;

        impl serde::de::Visitor<'_> for CodecName {
            type Value = OutputCodec;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("`json_lines` or `pretty`")
            }

            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<OutputCodec, E> {
                match name {
                    "json_lines" => Ok(OutputCodec::JsonLines),
                    "pretty" => Ok(OutputCodec::Pretty),
                    other => Err(E::unknown_variant(other, OutputCodec::NAMES)),
                }
            }
        }

        deserializer.deserialize_str(CodecName)
    }
}

/// Options of the `stdout` output.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutOutputConfig {
    /// `"json_lines"` (default): one compact JSON object per line; `"pretty"`: indented JSON.
    #[serde(default)]
    pub codec: OutputCodec,
}

/// Why the `stdout` output stopped.
#[derive(Debug, thiserror::Error)]
pub enum StdoutError {
    /// The reader of standard output went away.
    #[error(
        "standard output was closed (broken pipe): the program reading logpipe's output exited; \
         undelivered batches will be replayed on the next run"
    )]
    Closed,
    /// Any other write error.
    #[error("writing to standard output failed: {0}")]
    Write(#[source] std::io::Error),
    /// The writer thread did not finish.
    #[error("the standard output writer thread failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The `stdout` output.
pub struct StdoutOutput {
    codec: OutputCodec,
}

impl StdoutOutput {
    /// Builds the output.
    pub fn build(
        config: &StdoutOutputConfig,
        _context: &OutputBuildContext,
    ) -> Result<StdoutOutput, OutputError> {
        Ok(StdoutOutput {
            codec: config.codec,
        })
    }
}

impl Output for StdoutOutput {
    fn run(self: Box<Self>, context: OutputContext) -> OutputFuture {
        Box::pin(async move {
            deliver(self.codec, context, std::io::stdout())
                .await
                .map_err(OutputError::from)
        })
    }

    fn reads_events(&self) -> bool {
        self.codec == OutputCodec::Pretty
    }
}

/// Writes every batch from `context` to `writer`, acknowledging each after its flush, on a
/// thread of its own ([`on_own_thread`]). Returns when the channel closes or the shutdown
/// deadline passes.
async fn deliver<W: Write + Send + 'static>(
    codec: OutputCodec,
    context: OutputContext,
    writer: W,
) -> Result<(), StdoutError> {
    on_own_thread(write_batches(codec, context, writer)).await?
}

/// [`deliver`]'s loop, run where blocking on a write is allowed.
async fn write_batches<W: Write>(
    codec: OutputCodec,
    mut context: OutputContext,
    mut writer: W,
) -> Result<(), StdoutError> {
    let mut buffer = Vec::new();
    loop {
        let batch = tokio::select! {
            batch = context.batches.recv() => match batch {
                Some(batch) => batch,
                None => return Ok(()),
            },
            () = context.abort.cancelled() => return Ok(()),
        };
        let bytes = match codec {
            // JSON lines come encoded by the filter workers.
            OutputCodec::JsonLines => batch.events.json_lines(),
            OutputCodec::Pretty => {
                buffer.clear();
                codec.encode(&batch.events, &mut buffer);
                &buffer
            }
        };
        match writer.write_all(bytes).and_then(|()| writer.flush()) {
            Ok(()) => batch.ack.complete(),
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {
                return Err(StdoutError::Closed);
            }
            Err(error) => return Err(StdoutError::Write(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Ack, AckReceipt, FilteredEvents, OutputBatch};
    use serde_json::json;
    use std::sync::{Arc, Mutex};
    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;

    /// A writer whose bytes the test can read.
    #[derive(Clone, Default)]
    struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

    impl Write for SharedBuffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    struct ClosedPipe;

    impl Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn batch(words: &[&str]) -> (OutputBatch, AckReceipt) {
        let events = words
            .iter()
            .map(|word| Event::from_line(word.to_string(), "2024-03-05T10:00:00.000Z"))
            .collect();
        let (ack, receipt) = Ack::new();
        let batch = OutputBatch {
            events: Arc::new(FilteredEvents::new(events, true)),
            ack,
        };
        (batch, receipt)
    }

    fn context() -> (mpsc::Sender<OutputBatch>, OutputContext) {
        let (sender, receiver) = mpsc::channel(4);
        let context = OutputContext {
            id: "stdout-1".into(),
            batches: receiver,
            abort: CancellationToken::new(),
        };
        (sender, context)
    }

    #[tokio::test]
    async fn batches_are_written_as_json_lines_then_acknowledged() {
        let (sender, context) = context();
        let out = SharedBuffer::default();
        let task = tokio::spawn(deliver(OutputCodec::JsonLines, context, out.clone()));
        let (first, mut first_receipt) = batch(&["a", "b"]);
        let (second, mut second_receipt) = batch(&["c"]);
        sender.send(first).await.unwrap();
        sender.send(second).await.unwrap();
        assert!(first_receipt.acknowledged().await);
        assert!(second_receipt.acknowledged().await);
        drop(sender);
        task.await.unwrap().unwrap();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let messages: Vec<_> = text
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["message"].clone())
            .collect();
        assert_eq!(messages, [json!("a"), json!("b"), json!("c")]);
    }

    #[tokio::test]
    async fn pretty_codec_writes_indented_objects() {
        let (sender, context) = context();
        let out = SharedBuffer::default();
        let task = tokio::spawn(deliver(OutputCodec::Pretty, context, out.clone()));
        let (first, mut receipt) = batch(&["a"]);
        sender.send(first).await.unwrap();
        assert!(receipt.acknowledged().await);
        drop(sender);
        task.await.unwrap().unwrap();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(text.starts_with("{\n  \"@timestamp\""), "{text}");
        assert!(text.ends_with("}\n"), "{text}");
    }

    #[tokio::test]
    async fn the_shutdown_deadline_stops_an_output_waiting_for_batches() {
        let (sender, context) = context();
        let abort = context.abort.clone();
        let task = tokio::spawn(deliver(
            OutputCodec::JsonLines,
            context,
            SharedBuffer::default(),
        ));
        abort.cancel();
        // The channel is still open: only the deadline can end the writer thread's wait.
        tokio::time::timeout(std::time::Duration::from_secs(10), task)
            .await
            .expect("the output returns at the deadline")
            .unwrap()
            .unwrap();
        drop(sender);
    }

    #[tokio::test]
    async fn broken_pipe_stops_with_a_clear_error_and_no_ack() {
        let (sender, context) = context();
        let task = tokio::spawn(deliver(OutputCodec::JsonLines, context, ClosedPipe));
        let (first, mut receipt) = batch(&["a"]);
        sender.send(first).await.unwrap();
        let error = task.await.unwrap().unwrap_err();
        assert!(matches!(error, StdoutError::Closed), "{error}");
        assert!(!receipt.acknowledged().await);
    }

    #[test]
    fn only_the_pretty_codec_reads_the_events() {
        let reads = |codec| StdoutOutput { codec }.reads_events();
        assert!(!reads(OutputCodec::JsonLines));
        assert!(reads(OutputCodec::Pretty));
    }

    #[test]
    fn codec_accepts_its_two_names_and_explains_others() {
        let config: StdoutOutputConfig = toml::from_str("codec = \"pretty\"").unwrap();
        assert_eq!(config.codec, OutputCodec::Pretty);
        let config: StdoutOutputConfig = toml::from_str("").unwrap();
        assert_eq!(config.codec, OutputCodec::JsonLines);
        // The pipeline loader deserializes from a `toml::Value`, as here.
        let error = |text: &str| {
            let value: toml::Value = toml::from_str(text).unwrap();
            value
                .try_into::<StdoutOutputConfig>()
                .unwrap_err()
                .to_string()
        };
        assert!(
            error("codec = 5")
                .starts_with("invalid type: integer `5`, expected `json_lines` or `pretty`"),
            "{}",
            error("codec = 5")
        );
        assert!(
            error("codec = \"xml\"")
                .starts_with("unknown variant `xml`, expected `json_lines` or `pretty`"),
            "{}",
            error("codec = \"xml\"")
        );
    }
}
