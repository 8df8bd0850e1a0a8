//! Charset decoding with encoding_rs: bytes in the input charset to UTF-8 text, invalid bytes as U+FFFD.
