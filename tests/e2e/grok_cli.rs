//! `logpipe grok`: the command-line grok debugger.

use crate::support::*;
use std::io::Write;
use std::process::Stdio;

fn grok(pattern: &str, input: &str) -> String {
    let mut child = logpipe()
        .args(["grok", pattern])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn grok_prints_captures_of_matching_lines_and_explains_failures() {
    let line = r#"203.0.113.9 - - [10/Oct/2023:13:55:36 +0000] "GET /a?b=1 HTTP/1.1" 404 153 "-" "curl/8.1""#;
    let out = grok("%{NGINX_COMBINED}", &format!("{line}\nnot a log line\n"));
    let mut lines = out.lines();
    let first: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(
        field(&first, "http.response.status_code"),
        Some(&serde_json::json!(404))
    );
    assert_eq!(
        field(&first, "url.original"),
        Some(&serde_json::json!("/a?b=1"))
    );
    let second = lines.next().unwrap();
    assert!(second.starts_with("no match"), "{second}");
}

#[test]
fn grok_with_unknown_pattern_fails_naming_it() {
    let output = logpipe()
        .args(["grok", "%{NOPE_NOT_A_PATTERN}"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("NOPE_NOT_A_PATTERN"));
}
