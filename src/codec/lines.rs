//! Line framing: splits a byte stream into lines, tracking byte offsets. Lines wholly inside
//! a pushed chunk are handed out without copying; only a line's unfinished tail is buffered.
//! Lines longer than `max_line_bytes` are cut and the rest skipped, so memory stays bounded.

use super::charset::Newline;

/// One framed line, without its line terminator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// The line's bytes (at most `max_line_bytes`; a trailing `\r` and a leading BOM removed).
    pub bytes: &'a [u8],
    /// Byte offset of the line's first byte in the stream.
    pub offset: u64,
    /// The line was longer than `max_line_bytes` and was cut.
    pub truncated: bool,
}

impl Line<'_> {
    /// Whether the line becomes an event: blank lines do not, unless they were cut.
    pub fn makes_event(&self) -> bool {
        !self.bytes.is_empty() || self.truncated
    }
}

/// Splits a stream into lines. Feed it bytes with [`LineFramer::push`].
#[derive(Debug)]
pub struct LineFramer {
    newline: Newline,
    max_line_bytes: usize,
    /// The unfinished line's bytes, at most `max_line_bytes`.
    partial: Vec<u8>,
    /// The unfinished line is over `max_line_bytes`; its rest is being skipped.
    skipping: bool,
    /// Offset of the unfinished line's first byte (= just past the last emitted line).
    line_start: u64,
    /// Offset of the next byte to be pushed.
    next_offset: u64,
    /// First byte of a UTF-16 code unit split between two pushes.
    odd_byte: Option<u8>,
}

impl LineFramer {
    /// A framer for a stream whose next byte is at `start_offset`.
    pub fn new(newline: Newline, max_line_bytes: usize, start_offset: u64) -> LineFramer {
        LineFramer {
            newline,
            max_line_bytes: max_line_bytes.max(1),
            partial: Vec::new(),
            skipping: false,
            line_start: start_offset,
            next_offset: start_offset,
            odd_byte: None,
        }
    }

    /// Feeds `data`; calls `on_line` for each completed line.
    pub fn push(&mut self, data: &[u8], mut on_line: impl FnMut(Line<'_>)) {
        match self.newline {
            Newline::Byte => self.push_bytes(data, &mut on_line),
            Newline::Utf16Le | Newline::Utf16Be => self.push_utf16(data, &mut on_line),
        }
    }

    fn push_bytes(&mut self, data: &[u8], on_line: &mut impl FnMut(Line<'_>)) {
        let base = self.next_offset;
        let mut rest = data;
        while let Some((piece, after)) = split_at_newline(rest) {
            if self.partial.is_empty() && !self.skipping {
                let truncated = piece.len() > self.max_line_bytes;
                let bytes = piece.get(..self.max_line_bytes).unwrap_or(piece);
                on_line(self.line(bytes, truncated));
            } else {
                self.keep(piece);
                on_line(self.line(&self.partial, self.skipping));
                self.partial.clear();
                self.skipping = false;
            }
            rest = after;
            self.line_start = base + (data.len() - rest.len()) as u64;
        }
        self.keep(rest);
        self.next_offset = base + data.len() as u64;
    }

    fn push_utf16(&mut self, data: &[u8], on_line: &mut impl FnMut(Line<'_>)) {
        let (newline, carriage_return): ([u8; 2], [u8; 2]) = match self.newline {
            Newline::Utf16Be => ([0, b'\n'], [0, b'\r']),
            _ => ([b'\n', 0], [b'\r', 0]),
        };
        for &byte in data {
            self.next_offset += 1;
            let Some(first) = self.odd_byte.take() else {
                self.odd_byte = Some(byte);
                continue;
            };
            let unit = [first, byte];
            if unit == newline {
                let mut bytes = self.partial.as_slice();
                if !self.skipping {
                    bytes = bytes.strip_suffix(&carriage_return).unwrap_or(bytes);
                }
                let line = Line {
                    bytes: strip_bom(bytes, self.line_start),
                    offset: self.line_start,
                    truncated: self.skipping,
                };
                on_line(line);
                self.partial.clear();
                self.skipping = false;
                self.line_start = self.next_offset;
            } else {
                self.keep(&unit);
            }
        }
    }

    /// Appends to the unfinished line, up to `max_line_bytes`.
    fn keep(&mut self, bytes: &[u8]) {
        if self.skipping {
            return;
        }
        let room = self.max_line_bytes - self.partial.len();
        match bytes.split_at_checked(room) {
            Some((head, cut)) if !cut.is_empty() => {
                self.partial.extend_from_slice(head);
                self.skipping = true;
            }
            _ => self.partial.extend_from_slice(bytes),
        }
    }

    fn line<'a>(&self, bytes: &'a [u8], truncated: bool) -> Line<'a> {
        // The `\r` of the charset: a UTF-16 one only as a whole code unit.
        let carriage_return: &[u8] = match self.newline {
            Newline::Byte => b"\r",
            _ if !bytes.len().is_multiple_of(2) => b"",
            Newline::Utf16Le => b"\r\0",
            Newline::Utf16Be => b"\0\r",
        };
        let bytes = if truncated || carriage_return.is_empty() {
            bytes
        } else {
            bytes.strip_suffix(carriage_return).unwrap_or(bytes)
        };
        Line {
            bytes: strip_bom(bytes, self.line_start),
            offset: self.line_start,
            truncated,
        }
    }

    /// End of stream: emits a buffered last line that has no terminator, if any.
    pub fn finish(&mut self, mut on_line: impl FnMut(Line<'_>)) {
        // A UTF-16 stream that ends in half a code unit: the byte stays in the last line
        // (decoded as U+FFFD) rather than vanish.
        if let Some(byte) = self.odd_byte.take() {
            self.keep(&[byte]);
        }
        if self.has_partial() {
            on_line(self.line(&self.partial, self.skipping));
            self.partial.clear();
            self.skipping = false;
            self.odd_byte = None;
            self.line_start = self.next_offset;
        }
    }

    /// Whether an incomplete line is buffered.
    pub fn has_partial(&self) -> bool {
        !self.partial.is_empty() || self.skipping || self.odd_byte.is_some()
    }

    /// Offset just past the last emitted line: where reading resumes after a restart.
    pub fn resume_offset(&self) -> u64 {
        self.line_start
    }

    /// Offset of the next byte to push.
    pub fn next_offset(&self) -> u64 {
        self.next_offset
    }
}

/// The bytes of `data` before its first `\n` and those after it.
fn split_at_newline(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let found = memchr::memchr(b'\n', data)?;
    Some((data.get(..found)?, data.get(found + 1..)?))
}

/// Removes a byte-order mark from the stream's first line.
fn strip_bom(bytes: &[u8], offset: u64) -> &[u8] {
    if offset != 0 {
        return bytes;
    }
    for bom in [&b"\xEF\xBB\xBF"[..], b"\xFF\xFE", b"\xFE\xFF"] {
        if let Some(rest) = bytes.strip_prefix(bom) {
            return rest;
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    type Framed = Vec<(Vec<u8>, u64, bool)>;

    fn frame_chunks(chunks: &[&[u8]], max: usize, newline: Newline) -> (Framed, u64) {
        let mut framer = LineFramer::new(newline, max, 0);
        let mut lines = Vec::new();
        for chunk in chunks {
            framer.push(chunk, |l| {
                lines.push((l.bytes.to_vec(), l.offset, l.truncated))
            });
        }
        framer.finish(|l| lines.push((l.bytes.to_vec(), l.offset, l.truncated)));
        (lines, framer.resume_offset())
    }

    #[test]
    fn lines_are_the_same_whatever_the_chunk_boundaries() {
        let input: &[u8] = b"first\r\n\nsecond line\nthird is long enough to cut\nlast";
        let (whole, end) = frame_chunks(&[input], 12, Newline::Byte);
        assert_eq!(
            whole,
            [
                (b"first".to_vec(), 0, false),
                (b"".to_vec(), 7, false),
                (b"second line".to_vec(), 8, false),
                (b"third is lon".to_vec(), 20, true),
                (b"last".to_vec(), 48, false),
            ]
        );
        assert_eq!(end, input.len() as u64);
        for a in 0..=input.len() {
            for b in a..=input.len() {
                let (split, _) =
                    frame_chunks(&[&input[..a], &input[a..b], &input[b..]], 12, Newline::Byte);
                assert_eq!(split, whole, "split at {a} and {b}");
            }
        }
    }

    #[test]
    fn resume_offset_stays_at_the_start_of_an_unfinished_line() {
        let mut framer = LineFramer::new(Newline::Byte, 100, 10);
        let mut count = 0;
        framer.push(b"ab\ncd", |_| count += 1);
        assert_eq!(
            (count, framer.resume_offset(), framer.has_partial()),
            (1, 13, true)
        );
        framer.push(b"e\n", |line| {
            assert_eq!((line.bytes, line.offset), (&b"cde"[..], 13))
        });
        assert_eq!((framer.resume_offset(), framer.has_partial()), (17, false));
    }

    #[test]
    fn a_huge_line_is_cut_without_buffering_it_and_the_next_line_keeps_its_offset() {
        let mut framer = LineFramer::new(Newline::Byte, 1024, 0);
        let chunk = vec![b'x'; 64 * 1024];
        let mut lines = Vec::new();
        for _ in 0..160 {
            framer.push(&chunk, |l| {
                lines.push((l.bytes.len(), l.offset, l.truncated))
            });
            assert!(framer.partial.len() <= 1024);
        }
        framer.push(b"\nnext\n", |l| {
            lines.push((l.bytes.len(), l.offset, l.truncated))
        });
        assert_eq!(lines, [(1024, 0, true), (4, 160 * 64 * 1024 + 1, false)]);
    }

    #[test]
    fn utf16_lines_split_on_two_byte_newlines_at_any_boundary() {
        let mut input = vec![0xFF, 0xFE];
        for unit in "hé\r\nwörld\n".encode_utf16() {
            input.extend_from_slice(&unit.to_le_bytes());
        }
        let (whole, _) = frame_chunks(&[&input], 1000, Newline::Utf16Le);
        assert_eq!(whole.len(), 2);
        assert_eq!(whole[0], (vec![b'h', 0, 0xE9, 0], 0, false));
        assert_eq!(whole[1].1, 10);
        for a in 0..=input.len() {
            let (split, _) = frame_chunks(&[&input[..a], &input[a..]], 1000, Newline::Utf16Le);
            assert_eq!(split, whole, "split at {a}");
        }
    }

    #[test]
    fn a_last_utf16_line_keeps_its_odd_byte_and_loses_only_a_whole_carriage_return() {
        // Found by the fuzz target `lines_charset`: the last line of a UTF-16 stream without
        // newline lost a final odd byte, and lost a final `\r` byte even when it was half of
        // another character (U+0D41 is `41 0D` in UTF-16LE).
        let utf16le =
            |text: &str| -> Vec<u8> { text.encode_utf16().flat_map(u16::to_le_bytes).collect() };
        let (lines, end) = frame_chunks(&[&utf16le("a\n\u{0D41}")], 100, Newline::Utf16Le);
        assert_eq!(lines[1], (utf16le("\u{0D41}"), 4, false));
        assert_eq!(end, 6);
        let (lines, _) = frame_chunks(&[&utf16le("a\r"), b"x"], 100, Newline::Utf16Le);
        assert_eq!(lines, [([b'a', 0, b'\r', 0, b'x'].to_vec(), 0, false)]);
        let (lines, _) = frame_chunks(&[&utf16le("ab\r")], 100, Newline::Utf16Le);
        assert_eq!(lines, [(utf16le("ab"), 0, false)]);
        let (lines, _) = frame_chunks(&[b"\0a\0\r"], 100, Newline::Utf16Be);
        assert_eq!(lines, [(b"\0a".to_vec(), 0, false)]);
        let (lines, _) = frame_chunks(&[b"\0a\n"], 100, Newline::Utf16Be);
        assert_eq!(lines, [(b"\0a\n".to_vec(), 0, false)]);
    }

    #[test]
    fn a_utf8_bom_is_removed_from_the_first_line_only() {
        let (lines, _) = frame_chunks(&[b"\xEF\xBB\xBFa\n\xEF\xBB\xBFb\n"], 100, Newline::Byte);
        assert_eq!(lines[0].0, b"a");
        assert_eq!(lines[1].0, b"\xEF\xBB\xBFb");
    }

    #[test]
    fn empty_stream_gives_no_lines() {
        assert!(frame_chunks(&[b""], 100, Newline::Byte).0.is_empty());
    }
}
