//! The requests the live view counts, read from each batch's events by the filter worker that
//! filtered them, while the events are still in its cache, and packed into one buffer per batch:
//! the `live` output then counts requests without touching (or keeping alive) the events.

use crate::event::{Event, FieldPath, ReadMemo};
use crate::live::window::Request;
use serde_json::Value;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

/// The fields a request is read from, parsed once from the `live` output's options.
#[derive(Debug)]
pub struct RequestFields {
    /// The client (live users are distinct clients).
    pub client: FieldPath,
    /// The URL of the top URLs.
    pub url: FieldPath,
    /// Count URLs without their query string.
    pub strip_query: bool,
    /// The response status.
    pub status: FieldPath,
    /// Response bytes.
    pub bytes: FieldPath,
    /// The referrer.
    pub referrer: FieldPath,
    /// The user agent: the first of these fields present.
    pub user_agent: Vec<FieldPath>,
    /// The raw line: the first of these fields present.
    pub line: Vec<FieldPath>,
}

/// Reads requests for one `live` output; shared by the output and the filter workers.
#[derive(Debug)]
pub struct RequestReader {
    fields: RequestFields,
    /// Responses with a status at or above this are errors.
    error_status: u16,
    /// Whether the window keeps error lines at all.
    keeps_error_lines: bool,
    /// The most lines a batch carries for the tail.
    tail_lines: usize,
    /// Set by the live output while its tail has room for lines; workers then pack the lines
    /// of the batch's first requests too. Between the flag's updates a batch may carry a few
    /// lines too many or too few; the tail only shows a sample of the lines either way.
    tail_open: AtomicBool,
}

impl RequestReader {
    /// A reader of `fields`; `error_status`, `recent_errors` and `tail_lines` as the window's.
    pub fn new(
        fields: RequestFields,
        error_status: u16,
        recent_errors: usize,
        tail_lines: usize,
    ) -> RequestReader {
        RequestReader {
            fields,
            error_status,
            keeps_error_lines: recent_errors > 0,
            tail_lines,
            tail_open: AtomicBool::new(tail_lines > 0),
        }
    }

    /// Tells the workers whether the tail has room for more lines.
    pub fn set_tail_open(&self, open: bool) {
        self.tail_open.store(open, Ordering::Relaxed);
    }

    /// The requests of a batch's events, in order. A line is packed for error responses and,
    /// while the tail is open, for the first `tail_lines` requests.
    pub fn read(&self, events: &[Event]) -> RequestBatch {
        let mut batch = RequestBatch {
            text: String::new(),
            requests: Vec::with_capacity(events.len()),
        };
        let mut tail_room = match self.tail_open.load(Ordering::Relaxed) {
            true => self.tail_lines,
            false => 0,
        };
        // The batch's events mostly have the same fields: each is read where it was in the last.
        let mut found = ReadMemo::default();
        for event in events {
            let fields = &self.fields;
            let mut reader = event.sorted_reader_with(&mut found);
            let mut text = |value: Option<&str>| value.map(|value| batch.push_text(value));
            // In the order of the default paths (`http.request.referrer` …
            // `user_agent.original`), each a short step from the last.
            let referrer = text(reader.get_str(&fields.referrer));
            let bytes = number(reader.get_stored(&fields.bytes)).unwrap_or(0);
            let status =
                number(reader.get_stored(&fields.status)).and_then(|s| u16::try_from(s).ok());
            let client = text(reader.get_str(&fields.client));
            let url = text(
                reader
                    .get_str(&fields.url)
                    .map(|url| match fields.strip_query {
                        true => url.split_once('?').map_or(url, |(path, _)| path),
                        false => url,
                    }),
            );
            let user_agent = text(
                fields
                    .user_agent
                    .iter()
                    .find_map(|path| reader.get_str(path)),
            );
            let is_error = status.is_some_and(|status| status >= self.error_status);
            let line = match (is_error && self.keeps_error_lines) || tail_room > 0 {
                true => {
                    tail_room = tail_room.saturating_sub(1);
                    fields.line.iter().find_map(|path| event.get_str(path))
                }
                false => None,
            };
            if batch.requests.is_empty() {
                // Room for the batch's fields at once: the first request's, a quarter more,
                // each. Not for lines: few requests carry one, and a line can be long.
                batch.text.reserve(batch.text.len() * events.len() * 5 / 4);
            }
            let line = line.map(|line| batch.push_text(line));
            batch.requests.push(PackedRequest {
                client,
                url,
                status,
                bytes,
                referrer,
                user_agent,
                line,
            });
        }
        batch
    }
}

/// A number, or a string holding one (a grok capture without `:int`).
fn number(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.parse().ok(),
        _ => None,
    }
}

/// A batch's requests: their text in one buffer, each field a range of it.
#[derive(Debug, Default)]
pub struct RequestBatch {
    text: String,
    requests: Vec<PackedRequest>,
}

/// A [`Request`] whose text is ranges of [`RequestBatch::text`].
#[derive(Debug)]
struct PackedRequest {
    client: Option<Range<usize>>,
    url: Option<Range<usize>>,
    status: Option<u16>,
    bytes: u64,
    referrer: Option<Range<usize>>,
    user_agent: Option<Range<usize>>,
    line: Option<Range<usize>>,
}

impl RequestBatch {
    fn push_text(&mut self, value: &str) -> Range<usize> {
        let start = self.text.len();
        self.text.push_str(value);
        start..self.text.len()
    }

    /// The requests, in the order of the batch's events.
    pub fn iter(&self) -> impl Iterator<Item = Request<'_>> {
        let text = |range: &Option<Range<usize>>| {
            range
                .as_ref()
                .and_then(|range| self.text.get(range.clone()))
        };
        self.requests.iter().map(move |packed| Request {
            client: text(&packed.client),
            url: text(&packed.url),
            status: packed.status,
            bytes: packed.bytes,
            referrer: text(&packed.referrer),
            user_agent: text(&packed.user_agent),
            line: text(&packed.line),
        })
    }
}
