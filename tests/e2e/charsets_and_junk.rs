//! Read mode on awkward files: charsets, invalid bytes, junk, an empty file, a 10 MB line,
//! no final newline, gzip; and the file output's templated paths.

use crate::support::*;
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;

/// Runs file(read, `options`) → stdout over `file_name` holding `bytes`; returns the events.
fn read_file(file_name: &str, bytes: &[u8], options: &str) -> Vec<Value> {
    let dir = temp_dir();
    std::fs::write(dir.path().join(file_name), bytes).unwrap();
    let pipeline = write_pipeline(
        dir.path(),
        "p.toml",
        &format!(
            "[[input]]\ntype = \"file\"\npath = \"{file_name}\"\nmode = \"read\"\nstart_position = \"beginning\"\n{options}\n[[output]]\ntype = \"stdout\"\n"
        ),
    );
    json_lines(&run_to_end(&pipeline).stdout)
}

fn messages(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect()
}

#[test]
fn latin1_and_windows_1252_bytes_are_decoded() {
    for charset in ["ISO-8859-1", "windows-1252", "latin1"] {
        let events = read_file(
            "a.log",
            b"caf\xe9 \x80 5\n",
            &format!("charset = \"{charset}\""),
        );
        assert_eq!(messages(&events), ["café € 5"], "{charset}");
        assert_eq!(events[0]["event"]["original"], json!("café € 5"));
    }
}

#[test]
fn shift_jis_is_decoded() {
    let events = read_file(
        "a.log",
        b"\x93\xfa\x96\x7b\x8c\xea\nabc\n",
        "charset = \"Shift_JIS\"",
    );
    assert_eq!(messages(&events), ["日本語", "abc"]);
}

#[test]
fn utf16_with_bom_is_framed_and_decoded() {
    let mut bytes = vec![0xFF, 0xFE];
    for unit in "héllo\nwörld\n".encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    let events = read_file("a.log", &bytes, "charset = \"UTF-16LE\"");
    assert_eq!(messages(&events), ["héllo", "wörld"]);
}

#[test]
fn invalid_utf8_becomes_replacement_characters_and_the_line_is_kept() {
    let events = read_file("a.log", b"ok \xff\xfe end\n", "");
    assert_eq!(messages(&events), ["ok \u{FFFD}\u{FFFD} end"]);
}

#[test]
fn junk_empty_and_unterminated_lines_are_all_kept_with_offsets() {
    let events = read_file(
        "a.log",
        b"\x00\x01 binary junk\n}{ not nginx\nlast line without newline",
        "[[filter]]\ntype = \"grok\"\nmatch = { message = \"%{NGINX_COMBINED}\" }",
    );
    assert_eq!(
        messages(&events),
        [
            "\u{0}\u{1} binary junk",
            "}{ not nginx",
            "last line without newline"
        ]
    );
    let offsets: Vec<&Value> = events.iter().map(|e| &e["log"]["offset"]).collect();
    assert_eq!(offsets, [&json!(0), &json!(15), &json!(28)]);
    for event in &events {
        assert_eq!(event["tags"], json!(["_grokparsefailure"]));
    }
}

#[test]
fn empty_file_gives_no_events() {
    assert!(read_file("a.log", b"", "").is_empty());
}

#[test]
fn ten_megabyte_line_is_cut_tagged_and_the_next_line_survives() {
    let mut bytes = vec![b'x'; 10 * 1024 * 1024];
    bytes.extend_from_slice(b"\nnext\n");
    let events = read_file("a.log", &bytes, "max_line_bytes = 1048576");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["message"].as_str().unwrap().len(), 1024 * 1024);
    assert_eq!(events[0]["tags"], json!(["_linetoolong"]));
    assert_eq!(events[1]["message"], json!("next"));
    assert_eq!(events[1]["log"]["offset"], json!(10 * 1024 * 1024 + 1));
}

#[test]
fn gzip_files_are_decompressed_transparently() {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(b"one\ntwo\n").unwrap();
    let events = read_file("a.log.gz", &encoder.finish().unwrap(), "");
    assert_eq!(messages(&events), ["one", "two"]);
}

#[test]
fn json_codec_keeps_objects_and_tags_other_lines() {
    let events = read_file(
        "a.log",
        b"{\"a\": {\"b\": 1}}\nnot json\n",
        "codec = \"json\"",
    );
    assert_eq!(events[0]["a"]["b"], json!(1));
    assert_eq!(events[1]["message"], json!("not json"));
    assert_eq!(events[1]["tags"], json!(["_jsonparsefailure"]));
}

#[test]
fn file_output_writes_to_templated_paths_and_creates_directories() {
    let dir = temp_dir();
    std::fs::write(
        dir.path().join("a.log"),
        "2024-03-05T10:00:00Z x\n2024-03-06T11:00:00Z y\n",
    )
    .unwrap();
    let pipeline = write_pipeline(
        dir.path(),
        "p.toml",
        "[[input]]\ntype = \"file\"\npath = \"a.log\"\nmode = \"read\"\nstart_position = \"beginning\"\n\
         [[filter]]\ntype = \"grok\"\nmatch = { message = \"%{TIMESTAMP_ISO8601:ts} %{WORD:word}\" }\n\
         [[filter]]\ntype = \"date\"\nmatch = [\"ts\", \"ISO8601\"]\n\
         [[output]]\ntype = \"file\"\npath = \"out/%{word}-%{+yyyy.MM.dd}.ndjson\"\n",
    );
    run_to_end(&pipeline);
    let out = dir.path().join("out");
    let read = |name: &str| json_lines(&std::fs::read(out.join(name)).unwrap());
    assert_eq!(
        read("x-2024.03.05.ndjson")[0]["@timestamp"],
        json!("2024-03-05T10:00:00.000Z")
    );
    assert_eq!(read("y-2024.03.06.ndjson")[0]["word"], json!("y"));
    assert_eq!(ndjson_in(&out).len(), 2);
    assert!(!Path::new(&out.join("%{word}")).exists());
}
