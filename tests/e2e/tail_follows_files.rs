//! Tail mode through the real binary: appends, rotation by rename, copytruncate, deleted
//! files, new files, and restarts from the checkpoint without loss or repetition.

use crate::support::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PATIENCE: Duration = Duration::from_secs(20);

struct Tail {
    dir: tempfile::TempDir,
    pipeline: PathBuf,
}

impl Tail {
    fn new(start_position: &str) -> Tail {
        Tail::scanning_every(start_position, "200ms")
    }

    fn scanning_every(start_position: &str, discover_interval: &str) -> Tail {
        let dir = temp_dir();
        std::fs::create_dir(dir.path().join("logs")).unwrap();
        let pipeline = write_pipeline(
            dir.path(),
            "p.toml",
            &format!(
                "[pipeline]\nshutdown_timeout = \"5s\"\n\
                 [[input]]\ntype = \"file\"\npath = \"logs/*.log\"\nmode = \"tail\"\n\
                 start_position = \"{start_position}\"\ndiscover_interval = \"{discover_interval}\"\npoll_interval = \"50ms\"\n\
                 [[output]]\ntype = \"stdout\"\n"
            ),
        );
        Tail { dir, pipeline }
    }

    fn log(&self, name: &str) -> PathBuf {
        self.dir.path().join("logs").join(name)
    }

    /// How many times each message was output so far.
    fn seen(&self) -> BTreeMap<String, usize> {
        let bytes = std::fs::read(self.dir.path().join("stdout.log")).unwrap_or_default();
        let mut seen = BTreeMap::new();
        // The last line may be half-written while we read: only take complete lines.
        let complete = match bytes.iter().rposition(|b| *b == b'\n') {
            Some(end) => &bytes[..=end],
            None => &[][..],
        };
        for event in json_lines(complete) {
            *seen
                .entry(event["message"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
        seen
    }

    fn wait_for(&self, message: &str) {
        wait_until(&format!("`{message}` in the output"), PATIENCE, || {
            self.seen().contains_key(message)
        });
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }
}

fn lines(prefix: &str, count: usize) -> String {
    (0..count).map(|i| format!("{prefix}-{i}\n")).collect()
}

fn assert_exactly_once(seen: &BTreeMap<String, usize>, prefix: &str, count: usize) {
    for i in 0..count {
        let message = format!("{prefix}-{i}");
        assert_eq!(seen.get(&message), Some(&1), "{message} in {seen:?}");
    }
}

#[test]
fn tail_follows_appends_rotation_copytruncate_deletion_and_new_files() {
    let tail = Tail::new("beginning");
    append(&tail.log("a.log"), lines("before", 3).as_bytes());
    let running = Running::start(&tail.pipeline);
    tail.wait_for("before-2");

    append(&tail.log("a.log"), lines("append", 100).as_bytes());
    tail.wait_for("append-99");

    // Rotation by rename: lines written to the old file after the rename are still read.
    std::fs::rename(tail.log("a.log"), tail.log("a.log.1")).unwrap();
    append(&tail.log("a.log.1"), b"late-in-rotated\n");
    append(&tail.log("a.log"), lines("rotated", 10).as_bytes());
    tail.wait_for("rotated-9");
    tail.wait_for("late-in-rotated");

    // copytruncate: the file shrinks and is read again from 0.
    std::fs::copy(tail.log("a.log"), tail.dir.path().join("copy.log")).unwrap();
    std::fs::write(tail.log("a.log"), b"").unwrap();
    append(&tail.log("a.log"), lines("truncated", 5).as_bytes());
    tail.wait_for("truncated-4");

    // A new file under the glob, and a deleted one.
    append(&tail.log("b.log"), lines("new-file", 5).as_bytes());
    tail.wait_for("new-file-4");
    std::fs::remove_file(tail.log("b.log")).unwrap();
    append(&tail.log("a.log"), b"after-delete\n");
    tail.wait_for("after-delete");

    let status = running.terminate();
    assert!(status.success(), "{}", tail.stderr());
    let seen = tail.seen();
    assert_exactly_once(&seen, "before", 3);
    assert_exactly_once(&seen, "append", 100);
    assert_exactly_once(&seen, "rotated", 10);
    assert_exactly_once(&seen, "truncated", 5);
    assert_exactly_once(&seen, "new-file", 5);
    assert_eq!(seen.get("late-in-rotated"), Some(&1));
    assert!(tail.stderr().contains("events in"), "{}", tail.stderr());
}

#[test]
fn a_file_renamed_by_rotation_is_replaced_at_once_not_at_the_next_scan() {
    // Scans an hour apart: only the `tail -F` check of the followed path finds the new file.
    let tail = Tail::scanning_every("beginning", "1h");
    append(&tail.log("a.log"), lines("first", 3).as_bytes());
    let running = Running::start(&tail.pipeline);
    tail.wait_for("first-2");
    std::fs::rename(tail.log("a.log"), tail.log("a-1.log")).unwrap();
    append(&tail.log("a.log"), lines("second", 3).as_bytes());
    let rotated = Instant::now();
    tail.wait_for("second-2");
    assert!(
        rotated.elapsed() < Duration::from_secs(5),
        "{:?}",
        rotated.elapsed()
    );
    assert!(running.terminate().success(), "{}", tail.stderr());
    assert_exactly_once(&tail.seen(), "first", 3);
    assert_exactly_once(&tail.seen(), "second", 3);
}

#[test]
fn start_position_end_skips_existing_content_of_new_files() {
    let tail = Tail::new("end");
    append(&tail.log("a.log"), lines("old", 5).as_bytes());
    let running = Running::start(&tail.pipeline);
    // Appends are picked up once the file is being followed; keep appending until one shows.
    wait_until("a line appended after start", PATIENCE, || {
        append(&tail.log("a.log"), b"fresh\n");
        std::thread::sleep(Duration::from_millis(100));
        tail.seen().contains_key("fresh")
    });
    running.terminate();
    assert!(!tail.seen().keys().any(|m| m.starts_with("old-")));
}

#[test]
fn restart_continues_from_the_checkpoint_without_loss_or_repetition() {
    let tail = Tail::new("beginning");
    append(&tail.log("a.log"), lines("first", 2000).as_bytes());
    let running = Running::start(&tail.pipeline);
    tail.wait_for("first-1999");
    assert!(running.terminate().success(), "{}", tail.stderr());

    // Written while logpipe is down; the restarted run must send exactly these.
    append(&tail.log("a.log"), lines("second", 500).as_bytes());
    let stdout_first = std::fs::read(tail.dir.path().join("stdout.log")).unwrap();
    let running = Running::start(&tail.pipeline);
    tail.wait_for("second-499");
    assert!(running.terminate().success(), "{}", tail.stderr());
    let mut all = stdout_first;
    all.extend(std::fs::read(tail.dir.path().join("stdout.log")).unwrap());
    let mut seen = BTreeMap::new();
    for event in json_lines(&all) {
        *seen
            .entry(event["message"].as_str().unwrap().to_string())
            .or_insert(0usize) += 1;
    }
    assert_exactly_once(&seen, "first", 2000);
    assert_exactly_once(&seen, "second", 500);
}

#[test]
fn a_crash_loses_nothing() {
    let tail = Tail::new("beginning");
    let log = tail.log("a.log");
    let mut all_output = Vec::new();
    let mut written = 0;
    for round in 0..3 {
        let running = Running::start(&tail.pipeline);
        append(&log, lines(&format!("r{round}"), 3000).as_bytes());
        written += 3000;
        // Kill while lines are still flowing, without waiting for them.
        std::thread::sleep(Duration::from_millis(150 * (round + 1) as u64));
        running.kill();
        all_output.extend(std::fs::read(tail.dir.path().join("stdout.log")).unwrap_or_default());
    }
    let running = Running::start(&tail.pipeline);
    tail.wait_for("r2-2999");
    assert!(running.terminate().success());
    all_output.extend(std::fs::read(tail.dir.path().join("stdout.log")).unwrap());
    // A line a kill cut short is not JSON: skipped, its event was re-sent by the next run.
    let messages: std::collections::HashSet<String> = String::from_utf8_lossy(&all_output)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|event| Some(event["message"].as_str()?.to_string()))
        .collect();
    for round in 0..3 {
        for i in 0..3000 {
            assert!(
                messages.contains(&format!("r{round}-{i}")),
                "lost r{round}-{i}"
            );
        }
    }
    assert!(written == 9000 && !is_empty_dir(&tail.dir.path().join("data/checkpoints")));
}

fn is_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).map_or(true, |mut entries| entries.next().is_none())
}
