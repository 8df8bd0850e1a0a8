//! Line framing (`src/codec/lines.rs`) and charset decoding (`src/codec/charset.rs`,
//! `LineDecoder`) on arbitrary bytes pushed in arbitrary chunks.
//!
//! Input: 3 header bytes, then the stream. Header byte 0 picks the charset (low 4 bits) and
//! the codec (bit 4: json), byte 1 `max_line_bytes` (0 = the default 1 MiB, else 1..=255, so
//! that cutting long lines is exercised), byte 2 seeds the chunk sizes (0 = one push).
//!
//! Checks: the lines do not depend on the chunking; they are those of a simple reference
//! model of the README's rules (split on `\n`, or the two-byte newline for UTF-16; a
//! trailing `\r` removed; lines cut at `max_line_bytes`; a BOM removed from the first line;
//! a last line without newline emitted at the end); offsets say where each line starts; the
//! resume offset ends at the stream's end; every line decodes to the text encoding_rs gives
//! (the ASCII and UTF-8 fast paths agree with it); every event is valid JSON.

#![no_main]

use libfuzzer_sys::fuzz_target;
use logpipe::codec::charset::Newline;
use logpipe::codec::{CodecConfig, CodecKind, LINE_TOO_LONG_TAG, LineDecoder};

const CHARSETS: &[&str] = &[
    "UTF-8",
    "ISO-8859-1",
    "windows-1252",
    "Shift_JIS",
    "EUC-JP",
    "GBK",
    "UTF-16LE",
    "UTF-16BE",
    "ISO-8859-15",
    "Big5",
    "KOI8-R",
    "utf-16",
];

/// A framed line: bytes, offset, truncated.
type Framed = (Vec<u8>, u64, bool);

fuzz_target!(|data: &[u8]| {
    let [selector, max_selector, chunk_seed, stream @ ..] = data else {
        return;
    };
    let charset = CHARSETS[usize::from(selector & 0x0f) % CHARSETS.len()];
    let codec = if selector & 0x10 == 0 {
        CodecKind::Lines
    } else {
        CodecKind::Json
    };
    let max_line_bytes = match max_selector {
        0 => 1 << 20,
        n => usize::from(*n),
    };
    let config = CodecConfig {
        codec,
        charset: charset.to_string(),
        max_line_bytes,
    };
    let decoder = LineDecoder::new(&config).expect("the charsets above are known");
    let encoding = encoding_rs::Encoding::for_label(charset.as_bytes()).expect("known label");
    let newline = logpipe::codec::charset::CharsetDecoder::for_label(charset)
        .expect("known label")
        .newline();

    // One push, then the chunking the seed says: the same lines.
    let start = 1000 * u64::from(*chunk_seed);
    let (whole, whole_end) = frame(&decoder, start, &[stream]);
    let chunks = chunks(stream, *chunk_seed);
    let (chunked, chunked_end) = frame(&decoder, start, &chunks);
    assert_eq!(
        chunked,
        whole,
        "chunks {:?}",
        chunks.iter().map(|c| c.len()).collect::<Vec<_>>()
    );
    assert_eq!(chunked_end, whole_end);
    assert_eq!(
        whole_end,
        start + stream.len() as u64,
        "resume offset at the end"
    );

    let expected = reference_lines(stream, newline, max_line_bytes, start);
    assert_eq!(
        whole, expected,
        "{charset}, max_line_bytes {max_line_bytes}"
    );

    for (bytes, offset, truncated) in &whole {
        let line = logpipe::codec::lines::Line {
            bytes,
            offset: *offset,
            truncated: *truncated,
        };
        let event = decoder.decode(&line, "2024-03-05T10:20:30.000Z");
        let text = encoding.decode_without_bom_handling(bytes).0;
        if codec == CodecKind::Lines {
            assert_eq!(
                event.to_fields().get("message").and_then(|m| m.as_str()),
                Some(&*text),
                "{charset}: {bytes:?}"
            );
        }
        assert_eq!(event.has_tag(LINE_TOO_LONG_TAG), *truncated);
        logpipe_fuzz::assert_valid_json(&event);
    }
});

/// Frames `chunks` as one stream starting at `start`: the lines and the final resume offset.
fn frame(decoder: &LineDecoder, start: u64, chunks: &[&[u8]]) -> (Vec<Framed>, u64) {
    let mut framer = decoder.framer(start);
    let mut lines = Vec::new();
    for chunk in chunks {
        let before = framer.next_offset();
        framer.push(chunk, |line| {
            lines.push((line.bytes.to_vec(), line.offset, line.truncated))
        });
        assert_eq!(framer.next_offset(), before + chunk.len() as u64);
        assert!(framer.resume_offset() <= framer.next_offset());
    }
    framer.finish(|line| lines.push((line.bytes.to_vec(), line.offset, line.truncated)));
    assert!(!framer.has_partial());
    (lines, framer.resume_offset())
}

/// `stream` cut into pieces of pseudo-random sizes (some empty) drawn from `seed`.
fn chunks(stream: &[u8], seed: u8) -> Vec<&[u8]> {
    if seed == 0 {
        return vec![stream];
    }
    let mut state = u64::from(seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let largest = (u64::from(seed) % 40) + 1;
    let mut pieces = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let size = ((state % (largest + 1)) as usize).min(rest.len());
        let (piece, after) = rest.split_at(size);
        pieces.push(piece);
        rest = after;
    }
    pieces
}

/// The lines the README describes, computed the simple way.
fn reference_lines(stream: &[u8], newline: Newline, max: usize, start: u64) -> Vec<Framed> {
    let (unit, terminator, carriage_return): (usize, &[u8], &[u8]) = match newline {
        Newline::Byte => (1, b"\n", b"\r"),
        Newline::Utf16Le => (2, b"\n\0", b"\r\0"),
        Newline::Utf16Be => (2, b"\0\n", b"\0\r"),
    };
    let mut lines = Vec::new();
    let mut line_start = 0;
    let mut at = 0;
    let emit = |lines: &mut Vec<Framed>, content: &[u8], line_start: usize| {
        let (bytes, truncated) = if content.len() > max {
            (&content[..max], true)
        } else if content.len() % unit == 0 {
            let without = content.strip_suffix(carriage_return);
            (without.unwrap_or(content), false)
        } else {
            (content, false)
        };
        // A BOM is only looked for at the start of the file, not of a resumed stream.
        let bytes = if start + line_start as u64 == 0 {
            [&b"\xEF\xBB\xBF"[..], b"\xFF\xFE", b"\xFE\xFF"]
                .iter()
                .find_map(|bom| bytes.strip_prefix(*bom))
                .unwrap_or(bytes)
        } else {
            bytes
        };
        lines.push((bytes.to_vec(), start + line_start as u64, truncated));
    };
    while at + unit <= stream.len() {
        if &stream[at..at + unit] == terminator {
            emit(&mut lines, &stream[line_start..at], line_start);
            line_start = at + unit;
        }
        at += unit;
    }
    if line_start < stream.len() {
        // The last line, without newline (for UTF-16, with an odd byte left at the end).
        emit(&mut lines, &stream[line_start..], line_start);
    }
    lines
}
