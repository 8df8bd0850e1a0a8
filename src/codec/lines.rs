//! Line framing: splits a byte stream into lines on a reused buffer, tracking byte offsets,
//! cutting lines longer than `max_line_bytes`.

/// One framed line, without its line terminator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// The line's bytes (at most `max_line_bytes`).
    pub bytes: &'a [u8],
    /// Byte offset of the line's first byte in the stream.
    pub offset: u64,
    /// The line was longer than `max_line_bytes` and was cut.
    pub truncated: bool,
}

/// Splits a stream into lines. Feed it bytes with [`LineFramer::push`].
#[derive(Debug)]
pub struct LineFramer {
    next_offset: u64,
}

impl LineFramer {
    /// Feeds `data`; calls `on_line` for each completed line.
    pub fn push(&mut self, data: &[u8], on_line: impl FnMut(Line<'_>)) {
        todo!("codec helper {data:?} {}", self.next_offset)
    }

    /// End of stream: emits a buffered last line that has no terminator, if any.
    pub fn finish(&mut self, on_line: impl FnMut(Line<'_>)) {
        todo!("codec helper")
    }

    /// Whether an incomplete line is buffered.
    pub fn has_partial(&self) -> bool {
        todo!("codec helper")
    }

    /// Offset just past the last emitted line: where reading resumes after a restart.
    pub fn resume_offset(&self) -> u64 {
        self.next_offset
    }
}
