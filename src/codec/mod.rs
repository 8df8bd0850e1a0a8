//! Codecs: how an input's bytes become events. Line framing (`lines.rs`), charset decoding
//! (`charset.rs`) and the per-line codec (`json.rs` or plain lines) are shared by every input.

pub mod charset;
pub mod framed;
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
use charset::CharsetDecoder;
use lines::{Line, LineFramer};

/// Tag for lines cut at `max_line_bytes`.
pub const LINE_TOO_LONG_TAG: &str = "_linetoolong";

/// A `charset` label encoding_rs does not know.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "unknown charset `{label}`; use an encoding label such as UTF-8, ISO-8859-1, windows-1252, Shift_JIS, UTF-16LE"
)]
pub struct UnknownCharset {
    /// The label as written.
    pub label: String,
}

/// Turns framed lines into events, per an input's [`CodecConfig`]. Built once per input.
#[derive(Debug, Clone)]
pub struct LineDecoder {
    kind: CodecKind,
    charset: CharsetDecoder,
    max_line_bytes: usize,
}

impl LineDecoder {
    /// Builds the decoder; fails on an unknown charset.
    pub fn new(config: &CodecConfig) -> Result<LineDecoder, UnknownCharset> {
        let charset = CharsetDecoder::for_label(&config.charset).ok_or_else(|| UnknownCharset {
            label: config.charset.clone(),
        })?;
        Ok(LineDecoder {
            kind: config.codec,
            charset,
            max_line_bytes: config.max_line_bytes,
        })
    }

    /// A framer for a stream whose next byte is at `start_offset` (newlines per the charset).
    pub fn framer(&self, start_offset: u64) -> LineFramer {
        LineFramer::new(self.charset.newline(), self.max_line_bytes, start_offset)
    }

    /// The event for one line: decoded text in `message` and `event.original` (or the JSON
    /// object's fields), tags `_linetoolong` / `_jsonparsefailure` as they apply.
    pub fn decode(&self, line: &Line<'_>, timestamp: &str) -> Event {
        let text = self.charset.decode(line.bytes);
        let mut event = match self.kind {
            CodecKind::Lines => Event::from_line(text, timestamp),
            CodecKind::Json => json::decode_json_line(text, timestamp),
        };
        if line.truncated {
            event.add_tag(LINE_TOO_LONG_TAG);
        }
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn long_lines_are_tagged_and_charsets_decoded() {
        let decoder = LineDecoder::new(&CodecConfig {
            charset: "ISO-8859-1".into(),
            ..CodecConfig::default()
        })
        .unwrap();
        let event = decoder.decode(
            &Line {
                bytes: b"caf\xe9",
                offset: 0,
                truncated: true,
            },
            "2024-01-01T00:00:00.000Z",
        );
        assert_eq!(event.to_fields()["message"], json!("café"));
        assert!(event.has_tag(LINE_TOO_LONG_TAG));
    }

    #[test]
    fn unknown_charset_error_says_what_to_use() {
        let error = LineDecoder::new(&CodecConfig {
            charset: "klingon".into(),
            ..CodecConfig::default()
        })
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("unknown charset `klingon`; use")
        );
    }
}
