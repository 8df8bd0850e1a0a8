//! Batches of events and their acknowledgement handle.
//! An input sends a [`Batch`] and keeps the [`AckReceipt`]; every output's copy holds an
//! [`Ack`]; when the last copy is completed the receipt resolves and the input may advance
//! its checkpoint. An `Ack` dropped without `complete` never acknowledges (replay, not loss).

use crate::codec::framed::FramedLines;
use crate::event::Event;
use crate::live::request::RequestBatch;
use crate::lock::lock;
use crate::stats::OutputStats;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Events from one input on their way to the filter workers: built by the input, or lines
/// the worker makes events of (see [`FramedLines`]).
#[derive(Debug)]
pub struct Batch {
    /// The events, in input order.
    pub events: Vec<Event>,
    /// Lines that follow the events, in input order.
    pub lines: FramedLines,
    /// Completed once every output has delivered the batch.
    pub ack: Ack,
}

impl Batch {
    /// A batch of events built by the input.
    pub fn new(events: Vec<Event>, ack: Ack) -> Batch {
        Batch {
            events,
            lines: FramedLines::default(),
            ack,
        }
    }

    /// How many events the batch holds or will hold.
    pub fn len(&self) -> usize {
        self.events.len() + self.lines.len()
    }

    /// Whether the batch has no events.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The events, with those of the lines built, and the acknowledgement.
    pub fn into_events(self) -> (Vec<Event>, Ack) {
        let mut events = self.events;
        self.lines.build_events(&mut events);
        (events, self.ack)
    }
}

/// Filtered events on their way to one output; the events are shared by all outputs.
#[derive(Debug)]
pub struct OutputBatch {
    /// The events after filtering, with their JSON lines.
    pub events: Arc<FilteredEvents>,
    /// This output's share of the batch's acknowledgement.
    pub ack: Ack,
}

/// A batch's events after filtering, each also encoded once as a compact JSON line. The
/// filter workers do the encoding, in parallel, so the outputs (one task each) only copy
/// bytes. Dereferences to the events, which are kept only when some output reads them
/// (see [`crate::outputs::Output::reads_events`]); `len` counts the lines either way.
///
/// Kept events go back to the worker that built them when the last output is done with
/// them (see [`FilteredEvents::returning_events_to`]): freeing them there, where their
/// memory was allocated, costs a fraction of freeing them on an output's thread.
#[derive(Debug, Default)]
pub struct FilteredEvents {
    /// Empty when no output reads the events.
    events: Vec<Event>,
    /// Where the events go when the batch is dropped, instead of being freed here.
    return_to: Option<Sender<Vec<Event>>>,
    /// Every event's compact JSON followed by `\n`, one after another.
    json_lines: Vec<u8>,
    /// Where each event's line ends in `json_lines`.
    line_ends: Vec<usize>,
    /// The events' requests, when the pipeline has a `live` output.
    requests: Option<RequestBatch>,
}

/// Bytes reserved for a batch's first JSON line: a parsed nginx line takes about 1 KB.
const FIRST_LINE_ROOM: usize = 2048;

impl FilteredEvents {
    /// Encodes `events`, and keeps them if `keep_events`.
    pub fn new(mut events: Vec<Event>, keep_events: bool) -> FilteredEvents {
        // Room for a typical first line; the rest of the batch is about as long as its first
        // line, a quarter more for longer lines: two allocations instead of a series of copies.
        let mut json_lines = Vec::with_capacity(FIRST_LINE_ROOM);
        let mut line_ends = Vec::with_capacity(events.len());
        for event in &events {
            event.write_json(&mut json_lines);
            json_lines.push(b'\n');
            if line_ends.is_empty() {
                json_lines.reserve(json_lines.len() * events.len() * 5 / 4);
            }
            line_ends.push(json_lines.len());
        }
        if !keep_events {
            events = Vec::new();
        }
        FilteredEvents {
            events,
            return_to: None,
            json_lines,
            line_ends,
            requests: None,
        }
    }

    /// Carries the events' requests for the `live` output (read before the events were
    /// encoded, see [`crate::live::request`]).
    pub fn with_requests(mut self, requests: Option<RequestBatch>) -> FilteredEvents {
        self.requests = requests;
        self
    }

    /// The events' requests, when the pipeline has a `live` output.
    pub fn requests(&self) -> Option<&RequestBatch> {
        self.requests.as_ref()
    }

    /// Sends the events to `worker` when the batch is dropped (if it still listens).
    pub fn returning_events_to(mut self, worker: &Sender<Vec<Event>>) -> FilteredEvents {
        self.return_to = Some(worker.clone());
        self
    }

    /// How many events (and JSON lines) the batch has.
    pub fn len(&self) -> usize {
        self.line_ends.len()
    }

    /// Whether the batch has no events.
    pub fn is_empty(&self) -> bool {
        self.line_ends.is_empty()
    }

    /// All events as JSON lines.
    pub fn json_lines(&self) -> &[u8] {
        &self.json_lines
    }

    /// Event `index` as a JSON line (with its `\n`); empty if there is no such event.
    pub fn json_line(&self, index: usize) -> &[u8] {
        let start = match index {
            0 => 0,
            _ => self.line_ends.get(index - 1).copied().unwrap_or(usize::MAX),
        };
        let end = self.line_ends.get(index).copied().unwrap_or(0);
        self.json_lines.get(start..end).unwrap_or_default()
    }
}

impl Drop for FilteredEvents {
    fn drop(&mut self) {
        if let Some(worker) = self.return_to.take()
            && !self.events.is_empty()
        {
            // A worker that stopped listening gets nothing: the events are freed here.
            let _ = worker.send(std::mem::take(&mut self.events));
        }
    }
}

impl std::ops::Deref for FilteredEvents {
    type Target = [Event];

    fn deref(&self) -> &[Event] {
        &self.events
    }
}

/// One share of a batch's acknowledgement. [`Ack::split`] makes another share;
/// the batch is acknowledged when every share has been completed.
#[derive(Debug)]
pub struct Ack {
    shared: Arc<AckShared>,
    /// The output whose share this is and the events it carries, counted as delivered on
    /// completion (see [`Ack::split_for`]).
    delivery: Option<(Arc<OutputStats>, u64)>,
}

#[derive(Debug)]
struct AckShared {
    pending: AtomicUsize,
    notify: Mutex<Option<oneshot::Sender<()>>>,
}

/// Held by the input; resolves when the batch is acknowledged.
#[derive(Debug)]
pub struct AckReceipt {
    done: oneshot::Receiver<()>,
    acknowledged: bool,
}

impl Ack {
    /// A new acknowledgement with one share, and the receipt that resolves when it completes.
    pub fn new() -> (Ack, AckReceipt) {
        let (sender, receiver) = oneshot::channel();
        let ack = Ack {
            shared: Arc::new(AckShared {
                pending: AtomicUsize::new(1),
                notify: Mutex::new(Some(sender)),
            }),
            delivery: None,
        };
        let receipt = AckReceipt {
            done: receiver,
            acknowledged: false,
        };
        (ack, receipt)
    }

    /// Another share of the same acknowledgement (one per output of a fan-out).
    pub fn split(&self) -> Ack {
        self.shared.pending.fetch_add(1, Ordering::AcqRel);
        Ack {
            shared: Arc::clone(&self.shared),
            delivery: None,
        }
    }

    /// Another share, for `output`: completing it counts `events` as delivered there.
    pub fn split_for(&self, output: &Arc<OutputStats>, events: u64) -> Ack {
        Ack {
            delivery: Some((Arc::clone(output), events)),
            ..self.split()
        }
    }

    /// This share is done (delivered, or dead-lettered). The last share acknowledges the batch.
    pub fn complete(self) {
        if let Some((output, events)) = &self.delivery {
            output.delivered(*events);
        }
        if self.shared.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            let sender = lock(&self.shared.notify).take();
            if let Some(sender) = sender {
                // The input may have stopped waiting; nothing to tell it then.
                let _ = sender.send(());
            }
        }
    }
}

/// Where a batch's acknowledgement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckState {
    /// Some output still holds the batch.
    Pending,
    /// Every output delivered it.
    Acknowledged,
    /// Every share was dropped without completing: it will never be acknowledged.
    Abandoned,
}

impl AckReceipt {
    /// The acknowledgement's state, without waiting.
    pub fn state(&mut self) -> AckState {
        if self.acknowledged {
            return AckState::Acknowledged;
        }
        match self.done.try_recv() {
            Ok(()) => {
                self.acknowledged = true;
                AckState::Acknowledged
            }
            Err(oneshot::error::TryRecvError::Empty) => AckState::Pending,
            Err(oneshot::error::TryRecvError::Closed) => AckState::Abandoned,
        }
    }

    /// Whether the batch has been acknowledged, without waiting.
    pub fn is_acknowledged(&mut self) -> bool {
        self.state() == AckState::Acknowledged
    }

    /// Waits until the batch is acknowledged. Returns false if it never can be
    /// (every share was dropped without completing).
    pub async fn acknowledged(&mut self) -> bool {
        if !self.acknowledged {
            self.acknowledged = (&mut self.done).await.is_ok();
        }
        self.acknowledged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_events() -> Vec<Event> {
        vec![
            Event::from_line("a".into(), "2024-01-01T00:00:00.000Z"),
            Event::from_line("b\"c".into(), "2024-01-01T00:00:00.000Z"),
        ]
    }

    #[test]
    fn filtered_events_carry_one_json_line_per_event() {
        let events = FilteredEvents::new(two_events(), true);
        assert_eq!(events.len(), 2);
        assert_eq!(events.iter().count(), 2);
        let first = String::from_utf8(events.json_line(0).to_vec()).unwrap();
        let second = String::from_utf8(events.json_line(1).to_vec()).unwrap();
        assert_eq!(
            first,
            "{\"@timestamp\":\"2024-01-01T00:00:00.000Z\",\"event\":{\"original\":\"a\"},\"message\":\"a\"}\n"
        );
        assert!(second.ends_with("\"message\":\"b\\\"c\"}\n"), "{second}");
        assert_eq!(events.json_lines(), format!("{first}{second}").as_bytes());
        assert!(events.json_line(2).is_empty());

        let lines_only = FilteredEvents::new(two_events(), false);
        assert_eq!(lines_only.len(), 2);
        assert_eq!(lines_only.iter().count(), 0);
        assert_eq!(lines_only.json_lines(), events.json_lines());
    }

    #[test]
    fn kept_events_go_back_to_their_worker_when_the_last_output_is_done() {
        let (worker, returned) = std::sync::mpsc::channel();
        let events = Arc::new(FilteredEvents::new(two_events(), true).returning_events_to(&worker));
        let output_copy = Arc::clone(&events);
        drop(events);
        assert!(
            returned.try_recv().is_err(),
            "an output still holds the batch"
        );
        drop(output_copy);
        assert_eq!(returned.try_recv().unwrap(), two_events());

        drop(FilteredEvents::new(two_events(), false).returning_events_to(&worker));
        assert!(
            returned.try_recv().is_err(),
            "nothing kept, nothing to return"
        );
        drop(returned);
        drop(FilteredEvents::new(two_events(), true).returning_events_to(&worker));
    }

    #[test]
    fn batch_is_acknowledged_only_after_every_share_completes() {
        let (ack, mut receipt) = Ack::new();
        let second = ack.split();
        ack.complete();
        assert!(!receipt.is_acknowledged());
        second.complete();
        assert!(receipt.is_acknowledged());
    }

    #[test]
    fn a_completed_output_share_counts_as_delivered_there() {
        let output = Arc::new(OutputStats::new("out", "stdout"));
        let (ack, mut receipt) = Ack::new();
        let share = ack.split_for(&output, 7);
        ack.complete();
        assert_eq!(output.events_delivered.load(Ordering::Relaxed), 0);
        share.complete();
        assert_eq!(output.events_delivered.load(Ordering::Relaxed), 7);
        assert!(receipt.is_acknowledged());
    }

    #[tokio::test]
    async fn dropped_share_never_acknowledges() {
        let (ack, mut receipt) = Ack::new();
        let second = ack.split();
        ack.complete();
        drop(second);
        assert_eq!(receipt.state(), AckState::Abandoned);
    }

    #[tokio::test]
    async fn waiting_receipt_resolves_on_completion() {
        let (ack, mut receipt) = Ack::new();
        tokio::spawn(async move { ack.complete() });
        assert!(receipt.acknowledged().await);
    }
}
