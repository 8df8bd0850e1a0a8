//! Lines framed by an input and not yet made events. The file and s3 inputs send their lines
//! to the filter workers this way, and the workers build the events: in parallel, and on the
//! thread that also frees them (memory freed by another thread than the one that allocated it
//! costs several times more, and two workers freeing an input's memory contend for it).

use super::LineDecoder;
use super::lines::Line;
use crate::event::{Event, PlaceMemo};
use std::fmt;
use std::sync::Arc;

/// Fields an input adds to the event of each line it read, such as where the line is from.
pub trait LineOrigin: Send + Sync + fmt::Debug {
    /// Adds the fields for the line at byte `offset`, in a writer that uses `places` (kept
    /// for the lines of one batch).
    fn add(&self, event: &mut Event, offset: u64, places: &mut PlaceMemo);
}

/// Lines' bytes one after another, each with its offset and whether it was cut: framed
/// lines kept past the buffer they were framed in.
#[derive(Debug, Default)]
pub struct LineBuffer {
    bytes: Vec<u8>,
    /// Each line's end in `bytes` (it starts where the previous one ends), offset and
    /// whether it was cut.
    lines: Vec<(usize, u64, bool)>,
}

impl LineBuffer {
    /// Keeps a copy of `line`.
    pub fn push(&mut self, line: &Line<'_>) {
        self.bytes.extend_from_slice(line.bytes);
        self.lines
            .push((self.bytes.len(), line.offset, line.truncated));
    }

    /// How many lines there are.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether there are no lines.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The lines, in order.
    pub fn iter(&self) -> impl Iterator<Item = Line<'_>> {
        let mut start = 0;
        self.lines.iter().map(move |&(end, offset, truncated)| {
            let bytes = self.bytes.get(start..end).unwrap_or_default();
            start = end;
            Line {
                bytes,
                offset,
                truncated,
            }
        })
    }

    /// No lines, with room for as many lines as `self` holds and an eighth more bytes (for
    /// lines a little longer).
    fn with_room_of(&self) -> LineBuffer {
        LineBuffer {
            bytes: Vec::with_capacity(self.bytes.len() + self.bytes.len() / 8),
            lines: Vec::with_capacity(self.lines.len()),
        }
    }

    /// Forgets the lines, keeping the memory for the next ones.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.lines.clear();
    }
}

/// Lines of one batch: their bytes as read (before charset decoding), where each is from
/// and when it was read.
#[derive(Debug, Default)]
pub struct FramedLines {
    /// How the lines become events; `None` only when there are no lines.
    decoder: Option<LineDecoder>,
    lines: LineBuffer,
    /// For each line, its index in `origins` and in `timestamps`.
    sources: Vec<(usize, usize)>,
    origins: Vec<Arc<dyn LineOrigin>>,
    /// Ingest times (`@timestamp` until a filter sets it), one per read.
    timestamps: Vec<String>,
}

impl FramedLines {
    /// No lines yet; they will be decoded with `decoder`.
    pub fn new(decoder: &LineDecoder) -> FramedLines {
        FramedLines {
            decoder: Some(decoder.clone()),
            ..FramedLines::default()
        }
    }

    /// No lines yet, for the same decoder, with room for what `self` holds (see
    /// [`LineBuffer`]'s `with_room_of`): the next batch is filled without growing its buffers
    /// step by step.
    pub fn next_batch(&self) -> FramedLines {
        FramedLines {
            decoder: self.decoder.clone(),
            lines: self.lines.with_room_of(),
            sources: Vec::with_capacity(self.sources.len()),
            ..FramedLines::default()
        }
    }

    /// Adds a line read at `timestamp` (see [`crate::event::format_timestamp`]) from `origin`.
    pub fn push(&mut self, line: &Line<'_>, origin: &Arc<dyn LineOrigin>, timestamp: &str) {
        if !self
            .origins
            .last()
            .is_some_and(|last| Arc::ptr_eq(last, origin))
        {
            self.origins.push(Arc::clone(origin));
        }
        if self.timestamps.last().is_none_or(|last| last != timestamp) {
            self.timestamps.push(timestamp.to_string());
        }
        self.lines.push(line);
        self.sources
            .push((self.origins.len() - 1, self.timestamps.len() - 1));
    }

    /// How many lines there are.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether there are no lines.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The lines' events, in order, appended to `events`.
    pub fn build_events(&self, events: &mut Vec<Event>) {
        let Some(decoder) = &self.decoder else {
            return;
        };
        events.reserve(self.lines.len());
        let mut places = PlaceMemo::default();
        for (line, &(origin, timestamp)) in self.lines.iter().zip(&self.sources) {
            let timestamp = self.timestamps.get(timestamp).map_or("", String::as_str);
            let mut event = decoder.decode(&line, timestamp);
            if let Some(origin) = self.origins.get(origin) {
                origin.add(&mut event, line.offset, &mut places);
            }
            events.push(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::CodecConfig;
    use serde_json::json;

    #[derive(Debug)]
    struct Source(&'static str);

    impl LineOrigin for Source {
        fn add(&self, event: &mut Event, offset: u64, _: &mut PlaceMemo) {
            let path = crate::event::FieldPath::parse("source").unwrap();
            event.insert(&path, json!(format!("{}@{offset}", self.0)));
        }
    }

    #[test]
    fn lines_become_events_with_their_origin_time_and_tags() {
        let decoder = LineDecoder::new(&CodecConfig {
            charset: "ISO-8859-1".into(),
            ..CodecConfig::default()
        })
        .unwrap();
        let (a, b): (Arc<dyn LineOrigin>, Arc<dyn LineOrigin>) =
            (Arc::new(Source("a")), Arc::new(Source("b")));
        let mut lines = FramedLines::new(&decoder);
        let line = |bytes, offset, truncated| Line {
            bytes,
            offset,
            truncated,
        };
        lines.push(&line(b"caf\xe9", 0, false), &a, "t1");
        lines.push(&line(b"", 5, false), &a, "t1");
        lines.push(&line(b"cut", 6, true), &b, "t2");
        assert_eq!(lines.len(), 3);
        let mut events = Vec::new();
        lines.build_events(&mut events);
        let fields: Vec<_> = events.iter().map(Event::to_fields).collect();
        assert_eq!(fields[0]["message"], json!("café"));
        assert_eq!(fields[0]["source"], json!("a@0"));
        assert_eq!(fields[0]["@timestamp"], json!("t1"));
        assert_eq!(fields[1]["message"], json!(""));
        assert_eq!(fields[1]["source"], json!("a@5"));
        assert_eq!(fields[2]["source"], json!("b@6"));
        assert_eq!(fields[2]["@timestamp"], json!("t2"));
        assert!(events[2].has_tag(crate::codec::LINE_TOO_LONG_TAG));
        assert!(!events[0].has_tag(crate::codec::LINE_TOO_LONG_TAG));
    }
}
