//! Compact JSON text for events, byte for byte what `serde_json::to_writer` writes, but
//! faster on logpipe's string-heavy events: strings are scanned several bytes at a time for
//! the few characters that need escaping (profiles showed serde_json's byte-by-byte escaping
//! at a fifth of all instructions).

use serde_json::Value;

/// Appends `value` as compact JSON.
pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => match (number.as_u64(), number.as_i64()) {
            (Some(unsigned), _) => write_u64(out, unsigned),
            (None, Some(negative)) => {
                out.push(b'-');
                write_u64(out, negative.unsigned_abs());
            }
            // Floats: serde_json's ryu formatting is what they should look like.
            (None, None) => {
                let _ = serde_json::to_writer(&mut *out, number);
            }
        },
        Value::String(text) => write_str(out, text),
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(fields) => write_object(out, fields),
    }
}

/// Appends `number` in decimal, as serde_json writes integers.
fn write_u64(out: &mut Vec<u8>, mut number: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        if let Some(digit) = digits.get_mut(start) {
            *digit = b'0' + (number % 10) as u8;
        }
        number /= 10;
        if number == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(start..).unwrap_or_default());
}

/// Appends a JSON object.
pub fn write_object(out: &mut Vec<u8>, fields: &serde_json::Map<String, Value>) {
    out.push(b'{');
    for (index, (key, item)) in fields.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_str(out, key);
        out.push(b':');
        write_value(out, item);
    }
    out.push(b'}');
}

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The high bit of every zero byte of `word` set (and maybe of bytes above a zero byte,
/// never below the lowest zero byte, so the lowest set bit is exact).
fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(LOW_BITS) & !word & HIGH_BITS
}

/// The high bit set of every byte of `word` that may need escaping: `"`, `\` or a control
/// character. The lowest set bit marks the first such byte exactly.
fn escape_candidates(word: u64) -> u64 {
    zero_bytes(word ^ (LOW_BITS * u64::from(b'"')))
        | zero_bytes(word ^ (LOW_BITS * u64::from(b'\\')))
        | (word.wrapping_sub(LOW_BITS * 0x20) & !word & HIGH_BITS)
}

/// Where the next byte that may need escaping is, at or after `at`: eight bytes are looked
/// at in one step, the last few padded with spaces (short keys take one step).
fn next_candidate(bytes: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let rest = bytes.get(at..)?;
        let word = match rest.get(..8) {
            Some(chunk) => u64::from_le_bytes(<[u8; 8]>::try_from(chunk).ok()?),
            None => last_word_padded(bytes, rest.len()),
        };
        let candidates = escape_candidates(word);
        if candidates != 0 {
            return Some(at + (candidates.trailing_zeros() / 8) as usize);
        }
        if rest.len() <= 8 {
            return None;
        }
        at += 8;
    }
}

/// The last `tail` (0 to 7) bytes of `bytes` as a little-endian word, padded with spaces.
fn last_word_padded(bytes: &[u8], tail: usize) -> u64 {
    const SPACES: u64 = LOW_BITS * b' ' as u64;
    let pad_bits = 64usize.saturating_sub(tail * 8) as u32;
    match bytes
        .len()
        .checked_sub(8)
        .and_then(|start| bytes.get(start..))
    {
        // The eight last bytes, shifted down past the ones already looked at.
        Some(last) => <[u8; 8]>::try_from(last).map_or(SPACES, |last| {
            let looked_at = u64::from_le_bytes(last).checked_shr(pad_bits).unwrap_or(0);
            looked_at | SPACES.checked_shl(64 - pad_bits).unwrap_or(0)
        }),
        None => {
            let start = bytes.len().saturating_sub(tail);
            let mut word = SPACES;
            for (index, &byte) in bytes.get(start..).unwrap_or_default().iter().enumerate() {
                let shift = index * 8;
                word = (word & !(0xff << shift)) | (u64::from(byte) << shift);
            }
            word
        }
    }
}

/// Strings this long or longer are searched with memchr when they have no control character.
const VECTOR_SEARCH_MIN_LEN: usize = 64;

/// Whether `bytes` holds a control character (below 0x20): the smallest byte of each 64 is
/// found with a loop the compiler turns into vector instructions.
fn has_control_byte(bytes: &[u8]) -> bool {
    bytes.chunks(64).any(|chunk| {
        chunk
            .iter()
            .fold(u8::MAX, |smallest, &byte| smallest.min(byte))
            < 0x20
    })
}

/// Appends `text` as a JSON string, escaped as serde_json does.
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    if bytes.len() < VECTOR_SEARCH_MIN_LEN && !needs_escape(bytes) {
        // Most short strings: one vector pass to check, one copy.
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut clean_from = 0;
    if bytes.len() >= VECTOR_SEARCH_MIN_LEN && !has_control_byte(bytes) {
        // Long text without control characters: only the quote and the backslash to escape,
        // found by memchr's vector search (its setup costs more than it saves on short keys).
        for special in memchr::memchr2_iter(b'"', b'\\', bytes) {
            let byte = bytes.get(special).copied().unwrap_or_default();
            if let Some(escape) = escape(byte) {
                out.extend_from_slice(bytes.get(clean_from..special).unwrap_or_default());
                escape.write(out, byte);
                clean_from = special + 1;
            }
        }
        out.extend_from_slice(bytes.get(clean_from..).unwrap_or_default());
        out.push(b'"');
        return;
    }
    let mut at = 0;
    while let Some(candidate) = next_candidate(bytes, at) {
        // A candidate is exact for `"`, `\` and bytes below 0x20; bytes the word trick
        // flags above one of those are looked at again from here.
        let byte = bytes.get(candidate).copied().unwrap_or_default();
        if let Some(escape) = escape(byte) {
            out.extend_from_slice(bytes.get(clean_from..candidate).unwrap_or_default());
            escape.write(out, byte);
            clean_from = candidate + 1;
        }
        at = candidate + 1;
    }
    out.extend_from_slice(bytes.get(clean_from..).unwrap_or_default());
    out.push(b'"');
}

/// Whether `bytes` holds a byte to escape: `"`, `\` or one below 0x20. Every byte is looked
/// at, without an early exit, in a loop the compiler turns into vector instructions.
fn needs_escape(bytes: &[u8]) -> bool {
    bytes.iter().fold(false, |found, &byte| {
        found | (byte < 0x20) | (byte == b'"') | (byte == b'\\')
    })
}

/// How a byte that JSON does not allow raw in a string is written.
enum Escape {
    /// A backslash and this letter, such as `\n`.
    Short(u8),
    /// `\u00XX`.
    Unicode,
}

impl Escape {
    fn write(self, out: &mut Vec<u8>, byte: u8) {
        match self {
            Escape::Short(letter) => {
                out.push(b'\\');
                out.push(letter);
            }
            Escape::Unicode => {
                out.extend_from_slice(b"\\u00");
                out.push(hex_digit(byte >> 4));
                out.push(hex_digit(byte & 0xf));
            }
        }
    }
}

/// The lowercase hex digit of `nibble` (0..=15).
fn hex_digit(nibble: u8) -> u8 {
    if nibble < 10 {
        b'0' + nibble
    } else {
        b'a' + (nibble - 10)
    }
}

/// The escape of `byte`, if it needs one (the same choices as serde_json).
fn escape(byte: u8) -> Option<Escape> {
    Some(match byte {
        b'"' => Escape::Short(b'"'),
        b'\\' => Escape::Short(b'\\'),
        b'\n' => Escape::Short(b'n'),
        b'\r' => Escape::Short(b'r'),
        b'\t' => Escape::Short(b't'),
        0x08 => Escape::Short(b'b'),
        0x0c => Escape::Short(b'f'),
        0..=0x1f => Escape::Unicode,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn same_as_serde(value: &Value) {
        let mut ours = Vec::new();
        write_value(&mut ours, value);
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            serde_json::to_string(value).unwrap()
        );
    }

    #[test]
    fn writes_what_serde_json_writes() {
        same_as_serde(&json!({
            "@timestamp": "2024-03-05T10:00:00.000Z",
            "message": "GET /a?b=\"c\"&d=\\e HTTP/1.1\ttab\r\nnew line \u{1} \u{1f} \u{7f} café 日本",
            "n": [1, -2, 3.5, 1e300, null, true, false, 0, 10, u64::MAX, i64::MIN, -1.0],
            "nested": {"a": {"b": []}, "empty": {}},
            "": "",
        }));
    }

    #[test]
    fn every_byte_position_and_escape_matches_serde_json() {
        // Escapable characters at every offset around the 8-byte chunks.
        for special in ['"', '\\', '\n', '\u{0}', '\u{1f}', 'é', ' ', '\u{7f}'] {
            for length in 0..20 {
                for at in 0..=length {
                    let mut text: String = "x".repeat(length);
                    text.insert(at, special);
                    same_as_serde(&Value::String(text));
                }
            }
        }
    }

    #[test]
    fn text_without_control_characters_matches_serde_json() {
        // The memchr path: quotes and backslashes anywhere, several in a row, at both ends.
        let pieces = [
            "\"",
            "\\",
            "a",
            "é",
            "日本",
            " ",
            "\u{7f}",
            "\\\"",
            "GET /x?y=\"z\"",
        ];
        for length in 0..60 {
            let text: String = (0..length)
                .map(|i| pieces[(i * 7 + length) % pieces.len()])
                .collect();
            same_as_serde(&Value::String(text));
        }
    }

    #[test]
    fn escape_detection_finds_each_special_byte_in_a_word() {
        for special in [b'"', b'\\', 0u8, 0x1f] {
            for position in 0..8 {
                let mut bytes = *b"abcdefgh";
                bytes[position] = special;
                let candidates = escape_candidates(u64::from_le_bytes(bytes));
                assert_eq!(candidates.trailing_zeros() / 8, position as u32);
            }
        }
        assert_eq!(escape_candidates(u64::from_le_bytes(*b"GET /a?b")), 0);
        assert_eq!(
            escape_candidates(u64::from_le_bytes([
                0xc3, 0xa9, b' ', 0x7f, b'~', b'!', b'#', b'}'
            ])),
            0
        );
    }
}
