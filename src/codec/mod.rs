//! Codecs: how an input's bytes become events. Line framing (`lines.rs`), charset decoding
//! (`charset.rs`) and the per-line codec (`json.rs` or plain lines) are shared by every input.

pub mod charset;
pub mod json;
pub mod lines;

use serde::Deserialize;

/// How each line becomes an event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodecKind {
    /// The line is the `message`.
    #[default]
    Lines,
    /// The line is a JSON object whose fields become the event's.
    Json,
}

/// Codec options every input takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodecConfig {
    /// `lines` (default) or `json`.
    #[serde(default)]
    pub codec: CodecKind,
    /// Any label encoding_rs knows (`UTF-8` default, `ISO-8859-1`, `Shift_JIS`, `UTF-16LE`, …).
    #[serde(default = "default_charset")]
    pub charset: String,
    /// Longest line kept; longer lines are cut and tagged `_linetoolong` (default 1 MiB).
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
}

impl CodecConfig {
    /// The keys these options take in an input's table.
    pub const KEYS: &'static [&'static str] = &["codec", "charset", "max_line_bytes"];
}

impl Default for CodecConfig {
    fn default() -> Self {
        CodecConfig {
            codec: CodecKind::default(),
            charset: default_charset(),
            max_line_bytes: default_max_line_bytes(),
        }
    }
}

fn default_charset() -> String {
    "UTF-8".to_string()
}

fn default_max_line_bytes() -> usize {
    1024 * 1024
}

use crate::event::Event;
use lines::{Line, LineFramer};

/// A `charset` label encoding_rs does not know.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "unknown charset `{label}`; use a WHATWG encoding label such as UTF-8, ISO-8859-1, windows-1252, Shift_JIS, UTF-16LE"
)]
pub struct UnknownCharset {
    /// The label as written.
    pub label: String,
}

/// Turns framed lines into events, per an input's [`CodecConfig`]. Built once per input.
#[derive(Debug, Clone)]
pub struct LineDecoder {
    config: CodecConfig,
}

impl LineDecoder {
    /// Builds the decoder; fails on an unknown charset.
    pub fn new(config: &CodecConfig) -> Result<LineDecoder, UnknownCharset> {
        todo!("codec helper: {config:?}")
    }

    /// A framer for a stream whose first byte is at `start_offset` (newlines per the charset).
    pub fn framer(&self, start_offset: u64) -> LineFramer {
        todo!("codec helper: {start_offset} {:?}", self.config)
    }

    /// The event for one line: decoded text in `message` and `event.original` (or the JSON
    /// object's fields), tags `_linetoolong` / `_jsonparsefailure` as they apply.
    pub fn decode(&self, line: &Line<'_>, timestamp: &str) -> Event {
        todo!("codec helper: {line:?} {timestamp}")
    }
}
