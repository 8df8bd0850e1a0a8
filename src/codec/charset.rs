//! Charset decoding with encoding_rs: bytes in the input's charset to UTF-8 text; invalid
//! bytes become U+FFFD and the line is kept. ASCII lines take a fast path with no decoding.
//! Note: encoding_rs follows the WHATWG Encoding Standard, where the labels `ISO-8859-1` and
//! `latin1` mean windows-1252; the two differ only for bytes 0x80–0x9F (C1 controls there,
//! `€`, `‘`, `’` … in windows-1252).

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};

/// Decodes lines from one charset.
#[derive(Debug, Clone, Copy)]
pub struct CharsetDecoder {
    encoding: &'static Encoding,
}

impl CharsetDecoder {
    /// The decoder for an encoding_rs label, or `None` if the label is unknown.
    pub fn for_label(label: &str) -> Option<CharsetDecoder> {
        Encoding::for_label(label.trim().as_bytes()).map(|encoding| CharsetDecoder { encoding })
    }

    /// Whether lines end in a two-byte `\n` (UTF-16).
    pub fn newline(&self) -> Newline {
        if self.encoding == UTF_16LE {
            Newline::Utf16Le
        } else if self.encoding == UTF_16BE {
            Newline::Utf16Be
        } else {
            Newline::Byte
        }
    }

    /// Decodes one line (without its terminator) to text.
    pub fn decode(&self, bytes: &[u8]) -> String {
        // Valid UTF-8 is the text itself in UTF-8, and so is ASCII in every ASCII-compatible
        // charset: no decoding needed (std's check is much faster than the lossy path).
        if let Ok(text) = std::str::from_utf8(bytes)
            && (self.encoding == UTF_8 || (self.encoding.is_ascii_compatible() && text.is_ascii()))
        {
            return text.to_owned();
        }
        if self.encoding == UTF_8 {
            return String::from_utf8_lossy(bytes).into_owned();
        }
        let (text, _had_errors) = self.encoding.decode_without_bom_handling(bytes);
        text.into_owned()
    }
}

/// How a charset writes the line terminator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Newline {
    /// `\n` as one byte (UTF-8, Latin-1, Shift_JIS, …).
    Byte,
    /// `0A 00` at an even offset.
    Utf16Le,
    /// `00 0A` at an even offset.
    Utf16Be,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(label: &str, bytes: &[u8]) -> String {
        CharsetDecoder::for_label(label).unwrap().decode(bytes)
    }

    #[test]
    fn latin1_label_reads_as_windows_1252() {
        assert_eq!(decode("ISO-8859-1", b"caf\xe9 \x80"), "café €");
        assert_eq!(decode("latin1", b"\xe9"), "é");
    }

    #[test]
    fn shift_jis_is_decoded() {
        assert_eq!(decode("Shift_JIS", b"\x93\xfa\x96\x7b\x8c\xea"), "日本語");
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        assert_eq!(decode("UTF-8", b"a\xffb"), "a\u{FFFD}b");
    }

    #[test]
    fn utf16_uses_two_byte_newlines() {
        assert_eq!(
            CharsetDecoder::for_label("UTF-16LE").unwrap().newline(),
            Newline::Utf16Le
        );
        assert_eq!(
            CharsetDecoder::for_label("utf-8").unwrap().newline(),
            Newline::Byte
        );
        assert_eq!(decode("UTF-16LE", b"h\0i\0"), "hi");
    }

    #[test]
    fn unknown_labels_are_rejected() {
        assert!(CharsetDecoder::for_label("klingon").is_none());
    }
}
