//! Hostile input, property-tested through the real binary: any bytes in a file read by the
//! file input → grok (the bundled nginx patterns) → stdout give exactly one event per
//! non-empty line, every stdout line is a valid JSON object, and each message is the line
//! decoded as the charset says (invalid bytes as U+FFFD), cut at `max_line_bytes`.
//! Lines: invalid UTF-8, NUL, CR, a BOM, very long lines, no final newline, nginx lines with
//! junk in them. `PROPTEST_CASES` sets the number of cases (default 64).

use crate::support::*;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config, TestCaseError};
use serde_json::Value;
use std::sync::OnceLock;

/// The default `max_line_bytes` (1 MiB): the option is left out.
const DEFAULT_MAX: usize = 1 << 20;

/// Short pieces that lines are made of: separators of the nginx format, escapes, line-end
/// and control characters, invalid and multi-byte UTF-8, a BOM.
const PIECES: &[&[u8]] = &[
    b"\r",
    b"\0",
    b"\x01",
    b"\t",
    b" ",
    b"\"",
    b"\\",
    b"[",
    b"] \"",
    b" - - ",
    b"-",
    b"\xff",
    b"\xfe",
    b"\xc3",
    b"\xc3\xa9",
    b"\xe2\x80\xa8",
    b"\xf0\x9f\x98\x80",
    b"\xef\xbb\xbf",
    b"\xed\xa0\x80",
    b"{\"a\":1}",
    b"GET / HTTP/1.1",
    b"[05/Mar/2024:10:20:30 +0000]",
    b"200 5 \"-\" \"-\"",
];

/// The lines of examples/access.log.
fn sample_lines() -> &'static [Vec<u8>] {
    static LINES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    LINES.get_or_init(|| {
        let bytes = std::fs::read(repo().join("examples/access.log")).expect("read sample log");
        bytes
            .split(|byte| *byte == b'\n')
            .filter(|line| !line.is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    })
}

/// One line's content, without its `\n` (a `\n` drawn becomes a space).
fn line() -> impl Strategy<Value = Vec<u8>> {
    let no_newline = |mut bytes: Vec<u8>| {
        for byte in &mut bytes {
            if *byte == b'\n' {
                *byte = b' ';
            }
        }
        bytes
    };
    prop_oneof![
        // A real nginx line with a few bytes put in somewhere.
        3 => (select(sample_lines()), any::<Index>(), prop::collection::vec(any::<u8>(), 0..4))
            .prop_map(move |(mut line, at, junk)| {
                let at = at.index(line.len() + 1);
                line.splice(at..at, junk);
                no_newline(line)
            }),
        3 => prop::collection::vec(any::<u8>(), 0..120).prop_map(no_newline),
        3 => prop::collection::vec(select(PIECES), 0..12).prop_map(|pieces| pieces.concat()),
        1 => (select(PIECES), 1_000usize..150_000).prop_map(|(piece, length)| {
            piece.iter().copied().cycle().take(length).collect()
        }),
    ]
}

/// A file: lines joined by `\n`, the final `\n` maybe left out, maybe a BOM first; the
/// charset and `max_line_bytes` to read it with.
fn file() -> impl Strategy<Value = (Vec<u8>, &'static str, usize)> {
    (
        prop::collection::vec(line(), 0..30),
        any::<bool>(),
        any::<bool>(),
        select(&["UTF-8", "ISO-8859-1"][..]),
        select(&[DEFAULT_MAX, 4096, 64][..]),
    )
        .prop_map(|(lines, final_newline, bom, charset, max)| {
            let mut bytes = if bom {
                b"\xef\xbb\xbf".to_vec()
            } else {
                Vec::new()
            };
            bytes.extend(lines.join(&b'\n'));
            if final_newline && !lines.is_empty() {
                bytes.push(b'\n');
            }
            (bytes, charset, max)
        })
}

/// What the README says the file input makes of `bytes`: for each line (split on `\n`; a
/// last line without `\n` counts) its offset, its text and whether it was cut. A trailing
/// `\r` is removed; a line longer than `max` is cut to `max` bytes; a byte-order mark at
/// the start of the file is removed; empty lines are skipped.
fn expected_events(bytes: &[u8], charset: &str, max: usize) -> Vec<(u64, String, bool)> {
    let encoding = encoding_rs::Encoding::for_label(charset.as_bytes()).expect("known charset");
    let mut events = Vec::new();
    let mut offset = 0;
    let pieces: Vec<&[u8]> = bytes.split(|byte| *byte == b'\n').collect();
    let last = pieces.len() - 1;
    for (index, piece) in pieces.into_iter().enumerate() {
        let start = offset;
        offset += piece.len() + 1;
        if index == last && piece.is_empty() {
            break;
        }
        let (mut line, cut) = match piece.get(..max) {
            Some(head) if piece.len() > max => (head, true),
            _ => (piece.strip_suffix(b"\r").unwrap_or(piece), false),
        };
        if start == 0 {
            for bom in [&b"\xEF\xBB\xBF"[..], b"\xFF\xFE", b"\xFE\xFF"] {
                if let Some(rest) = line.strip_prefix(bom) {
                    line = rest;
                    break;
                }
            }
        }
        if line.is_empty() && !cut {
            continue;
        }
        let text = encoding.decode_without_bom_handling(line).0.into_owned();
        events.push((start as u64, text, cut));
    }
    events
}

fn has_tag(event: &Value, tag: &str) -> bool {
    event["tags"]
        .as_array()
        .is_some_and(|tags| tags.iter().any(|t| t == tag))
}

/// Runs file(read) → grok → stdout on `bytes` and checks the events.
fn check_file(bytes: &[u8], charset: &str, max: usize) -> Result<(), TestCaseError> {
    let dir = temp_dir();
    std::fs::write(dir.path().join("in.log"), bytes).expect("write the log");
    let max_option = if max == DEFAULT_MAX {
        String::new()
    } else {
        format!("max_line_bytes = {max}")
    };
    let pipeline = write_pipeline(
        dir.path(),
        "p.toml",
        &format!(
            r#"[pipeline]
workers = 2
batch_size = 7
[api]
enabled = false

[[input]]
type = "file"
path = "in.log"
mode = "read"
charset = "{charset}"
{max_option}

[[filter]]
type = "grok"
match = {{ message = ["%{{NGINX_MAIN}}", "%{{NGINX_COMBINED}}"] }}

[[output]]
type = "stdout"
"#
        ),
    );
    let output = run_to_end(&pipeline);
    let stdout = std::str::from_utf8(&output.stdout)
        .map_err(|error| TestCaseError::fail(format!("stdout is not UTF-8: {error}")))?;
    let mut events = Vec::new();
    for line in stdout.lines() {
        let event: Value = serde_json::from_str(line)
            .map_err(|error| TestCaseError::fail(format!("not JSON ({error}): {line:?}")))?;
        prop_assert!(event.is_object(), "not an object: {line:?}");
        events.push(event);
    }
    prop_assert!(stdout.is_empty() || stdout.ends_with('\n'));
    events.sort_by_key(|event| field(event, "log.offset").and_then(Value::as_u64));

    let expected = expected_events(bytes, charset, max);
    let got: Vec<(u64, String, bool)> = events
        .iter()
        .map(|event| {
            (
                field(event, "log.offset")
                    .and_then(Value::as_u64)
                    .unwrap_or(u64::MAX),
                event["message"]
                    .as_str()
                    .unwrap_or("<no message>")
                    .to_string(),
                has_tag(event, "_linetoolong"),
            )
        })
        .collect();
    prop_assert_eq!(
        got.len(),
        expected.len(),
        "events for {} lines",
        expected.len()
    );
    prop_assert_eq!(got, expected);
    for event in &events {
        prop_assert_eq!(
            &event["message"],
            field(event, "event.original").unwrap_or(&Value::Null)
        );
        // Grok either matched (the nginx fields are there) or tagged the event.
        let parsed = field(event, "source.address").is_some();
        let failed = has_tag(event, "_grokparsefailure") || has_tag(event, "_groktimeout");
        prop_assert!(
            parsed != failed,
            "parsed {} and tagged {}: {}",
            parsed,
            failed,
            event
        );
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(Config {
        cases: cases(),
        max_shrink_iters: 200,
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn any_bytes_give_one_json_event_per_line((bytes, charset, max) in file()) {
        check_file(&bytes, charset, max)?;
    }
}

#[test]
fn hostile_lines_chosen_by_hand_give_one_json_event_per_line() {
    let long = "x".repeat(70_000);
    let files: [(&[u8], &str, usize); 6] = [
        (
            b"\xef\xbb\xbf\r\n\r\n\n\0\n\xff\xfe\n",
            "UTF-8",
            DEFAULT_MAX,
        ),
        (b"a\rb\r\r\nlast without newline\r", "UTF-8", DEFAULT_MAX),
        (long.as_bytes(), "UTF-8", 4096),
        (
            b"caf\xe9 \x80\n\x81\x8d\x8f\x90\x9d\n",
            "ISO-8859-1",
            DEFAULT_MAX,
        ),
        (b"1234567890\r\n12345678\r\n", "UTF-8", 8),
        (
            b"\xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf\n\xe2\x80\xa8\x1b[31m\n",
            "UTF-8",
            64,
        ),
    ];
    for (bytes, charset, max) in files {
        if let Err(error) = check_file(bytes, charset, max) {
            panic!("{error} on {:?}", String::from_utf8_lossy(bytes));
        }
    }
}
