//! `logpipe check` and `logpipe run` on broken pipeline files: every problem is listed with
//! file, line, column, component and the fix; the exit code is 1.

use crate::support::*;

fn check(text: &str) -> (bool, String, String) {
    let dir = temp_dir();
    let pipeline = write_pipeline(dir.path(), "p.toml", text);
    let output = logpipe().arg("check").arg(&pipeline).output().unwrap();
    let stderr =
        String::from_utf8_lossy(&output.stderr).replace(&pipeline.display().to_string(), "p.toml");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr,
    )
}

const INPUT: &str = "[[input]]\ntype = \"file\"\npath = \"/nonexistent/*.log\"\nmode = \"read\"\n";

#[test]
fn valid_pipeline_checks_ok_with_a_summary() {
    let (ok, stdout, stderr) = check(&format!(
        "{INPUT}[[filter]]\ntype = \"grok\"\nmatch = {{ message = \"%{{NGINX_COMBINED}}\" }}\n[[output]]\ntype = \"stdout\"\n"
    ));
    assert!(ok, "{stderr}");
    assert!(stdout.contains("input  file-1"), "{stdout}");
    assert!(stdout.contains("filter grok-1"), "{stdout}");
    assert!(stdout.contains("output stdout-1"), "{stdout}");
}

#[test]
fn every_problem_is_listed_with_its_location() {
    let (ok, _, stderr) = check(&format!(
        "{INPUT}charset = \"klingon\"\n[[filter]]\ntype = \"grok\"\nmatch = {{ message = \"%{{NGINX_COMBINED}}\" }}\ntag_on_falure = []\n[[filter]]\ntype = \"dat\"\n[[output]]\ntype = \"stdout\"\ncodec = 5\n"
    ));
    assert!(!ok);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "error: p.toml:9:1: filter #1: unknown field `tag_on_falure`, expected one of `match`, `patterns_dir`, `pattern_definitions`, `overwrite`, `keep_empty_captures`, `break_on_match`, `tag_on_failure`, `tag_on_timeout`, `timeout_ms`",
            "error: p.toml:11:1: filter #2: `type`: unknown variant `dat`, expected one of `grok`, `date`, `mutate`, `drop`, `useragent`",
            "error: p.toml:14:1: output #1: `codec`: invalid type: integer `5`, expected `json_lines` or `pretty`",
        ],
        "{stderr}"
    );
}

#[test]
fn build_errors_name_the_component() {
    let (ok, _, stderr) = check(&format!(
        "{INPUT}charset = \"klingon\"\n[[filter]]\ntype = \"grok\"\nmatch = {{ message = \"%{{NOT_A_PATTERN}}\" }}\n[[output]]\ntype = \"stdout\"\n"
    ));
    assert!(!ok);
    assert!(
        stderr.contains("file-1: unknown charset `klingon`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("grok-1: ") && stderr.contains("NOT_A_PATTERN"),
        "{stderr}"
    );
}

#[test]
fn unset_environment_variable_is_named() {
    let (ok, _, stderr) = check(
        "[[input]]\ntype = \"file\"\npath = \"${LOGPIPE_TEST_SURELY_UNSET}/a.log\"\n[[output]]\ntype = \"stdout\"\n",
    );
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        "error: p.toml:3:1: `input[0].path`: environment variable `LOGPIPE_TEST_SURELY_UNSET` is not set; set it or write `${LOGPIPE_TEST_SURELY_UNSET:-default}`"
    );
}

#[test]
fn run_refuses_an_invalid_pipeline_with_exit_code_1() {
    let dir = temp_dir();
    let pipeline = write_pipeline(dir.path(), "p.toml", "[[input]]\n");
    let output = logpipe().arg("run").arg(&pipeline).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("missing `type`"));
}
