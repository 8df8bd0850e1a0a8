//! The s3 input against moto's S3 and SQS server: poll mode (new objects, restarts, `once`,
//! `after_read`, rewritten objects, gzip and Latin-1), the startup errors, sqs mode with
//! three processes sharing a queue (one killed mid-object), poison messages, and memory on a
//! 200 MB object.

use crate::s3_fixture::Moto;
use crate::servers::Osmem;
use crate::support::{
    Running, logpipe, ndjson_in, run_to_end, run_to_end_with, temp_dir, wait_until, write_pipeline,
};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `count` lines that say which object and line they are.
fn lines_of(object: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|n| format!("{object} line {n} GET /index.html 200"))
        .collect()
}

fn body(lines: &[String]) -> Vec<u8> {
    let mut text = lines.join("\n");
    text.push('\n');
    text.into_bytes()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// The `[[input]]` table of an s3 input on moto, with `extra` options appended.
fn s3_input(moto: &Moto, bucket: &str, extra: &str) -> String {
    format!(
        r#"[[input]]
type = "s3"
bucket = "{bucket}"
endpoint = "{}"
region = "us-east-1"
access_key_id = "testing"
secret_access_key = "testing"
{extra}
"#,
        moto.endpoint()
    )
}

fn file_output(dir: &Path) -> String {
    format!(
        "[[output]]\ntype = \"file\"\npath = \"{}/out.ndjson\"\n",
        dir.display()
    )
}

/// Writes `name` in `dir`: an s3 input on `bucket` (with `extra` options) into a file output,
/// data_dir in `dir`.
fn s3_to_file(dir: &Path, name: &str, moto: &Moto, bucket: &str, extra: &str) -> PathBuf {
    let text = format!(
        "[pipeline]\ndata_dir = \"{}/data\"\n{}{}",
        dir.display(),
        s3_input(moto, bucket, extra),
        file_output(dir)
    );
    write_pipeline(dir, name, &text)
}

fn messages(dir: &Path) -> Vec<String> {
    ndjson_in(dir)
        .iter()
        .filter_map(|event| event["message"].as_str().map(str::to_string))
        .collect()
}

/// How often each message occurs.
fn counted(messages: &[String]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for message in messages {
        *counts.entry(message.clone()).or_insert(0) += 1;
    }
    counts
}

fn stderr_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
}

#[test]
fn s3_poll_reads_every_object_once_and_picks_up_new_ones() {
    let moto = Moto::start();
    let s3 = moto.fixture();
    s3.create_bucket("logs");
    let mut expected = Vec::new();
    for index in 0..12 {
        let key = format!("nginx/2024/a{index:02}.log");
        let lines = lines_of(&key, 50);
        let bytes = body(&lines);
        match index % 3 {
            0 => s3.put_object("logs", &key, bytes),
            1 => s3.put_object("logs", &format!("{key}.gz"), gzip(&bytes)),
            _ => s3.put_object_with_encoding("logs", &key, gzip(&bytes), "gzip"),
        }
        expected.extend(lines);
    }
    s3.put_object("logs", "other/skip.log", b"not under the prefix\n".to_vec());
    s3.put_object("logs", "nginx/skip.tmp", b"excluded\n".to_vec());
    let dir = temp_dir();
    let pipeline = s3_to_file(
        dir.path(),
        "s3.toml",
        &moto,
        "logs",
        "prefix = \"nginx/\"\nexclude = [\"*.tmp\"]\ninterval = \"1s\"\nconcurrency = 3",
    );
    let running = Running::start(&pipeline);
    wait_until("the first objects", Duration::from_secs(30), || {
        messages(dir.path()).len() >= expected.len()
    });
    for index in 0..3 {
        let key = format!("nginx/2024/new{index}.log");
        let lines = lines_of(&key, 20);
        s3.put_object("logs", &key, body(&lines));
        expected.extend(lines);
    }
    wait_until("the new objects", Duration::from_secs(30), || {
        messages(dir.path()).len() >= expected.len()
    });
    // Let at least one more whole pass finish (each pass saves the checkpoint at its end;
    // the pass that read the new objects may save twice): nothing is read twice.
    let checkpoint = dir.path().join("data/checkpoints/s3-1.json");
    let modified = || {
        std::fs::metadata(&checkpoint)
            .and_then(|m| m.modified())
            .ok()
    };
    let (mut last, mut saves) = (modified(), 0);
    wait_until("another whole pass", Duration::from_secs(30), || {
        let now = modified();
        if now != last {
            (last, saves) = (now, saves + 1);
        }
        saves >= 3
    });
    assert!(running.terminate().success(), "{}", stderr_of(dir.path()));
    let seen = counted(&messages(dir.path()));
    let wanted = counted(&expected);
    assert_eq!(seen, wanted);
    let event = ndjson_in(dir.path())
        .into_iter()
        .find(|event| event["message"] == expected[0].as_str())
        .unwrap();
    assert_eq!(event["aws"]["s3"]["bucket"]["name"], "logs");
    assert_eq!(event["aws"]["s3"]["object"]["key"], "nginx/2024/a00.log");
    assert_eq!(event["log"]["offset"], 0);
    assert_eq!(event["log"]["file"]["path"], "s3://logs/nginx/2024/a00.log");
}

#[test]
fn s3_once_exits_after_one_pass_and_rereads_only_new_or_rewritten_objects() {
    let moto = Moto::start();
    let s3 = moto.fixture();
    s3.create_bucket("logs");
    s3.put_object("logs", "a.log", body(&lines_of("a", 10)));
    s3.put_object("logs", "b.log", b"caf\xe9 latin-1\n".to_vec());
    let dir = temp_dir();
    let pipeline = s3_to_file(
        dir.path(),
        "once.toml",
        &moto,
        "logs",
        "once = true\ncharset = \"ISO-8859-1\"",
    );
    run_to_end(&pipeline);
    let mut expected = lines_of("a", 10);
    expected.push("café latin-1".to_string());
    assert_eq!(counted(&messages(dir.path())), counted(&expected));

    s3.put_object("logs", "c.log", body(&lines_of("c", 3)));
    s3.put_object("logs", "a.log", body(&lines_of("a-rewritten", 2)));
    run_to_end(&pipeline);
    expected.extend(lines_of("c", 3));
    expected.extend(lines_of("a-rewritten", 2));
    assert_eq!(counted(&messages(dir.path())), counted(&expected));

    // `--once` on a pipeline without `once`, and nothing new: exits 0, reads nothing.
    let pipeline = s3_to_file(
        dir.path(),
        "plain.toml",
        &moto,
        "logs",
        "charset = \"ISO-8859-1\"",
    );
    run_to_end_with(&["--once"], &pipeline);
    assert_eq!(messages(dir.path()).len(), expected.len());
    let state = logpipe()
        .args(["check", "--state"])
        .arg(&pipeline)
        .output()
        .unwrap();
    let state = String::from_utf8_lossy(&state.stdout);
    assert!(
        state.contains("bucket logs: every object modified before"),
        "{state}"
    );
    assert!(state.contains("0 failed"), "{state}");
}

#[test]
fn s3_after_read_deletes_or_moves_objects_once_delivered() {
    let moto = Moto::start();
    let s3 = moto.fixture();
    for bucket in ["del", "mov", "archive"] {
        s3.create_bucket(bucket);
    }
    for key in ["in/a.log", "in/b.log"] {
        s3.put_object("del", key, body(&lines_of(key, 5)));
        s3.put_object("mov", key, body(&lines_of(key, 5)));
    }
    let dir = temp_dir();
    let text = format!(
        "[pipeline]\ndata_dir = \"{}/data\"\n{}id = \"del\"\n{}id = \"mov\"\n{}id = \"arc\"\n{}",
        dir.path().display(),
        s3_input(&moto, "del", "once = true\nafter_read = \"delete\""),
        s3_input(
            &moto,
            "mov",
            "once = true\nprefix = \"in/\"\nafter_read = { move_to_prefix = \"done/\" }"
        ),
        s3_input(
            &moto,
            "mov",
            "once = true\nprefix = \"done/\"\nafter_read = { move_to_bucket = \"archive\" }"
        ),
        file_output(dir.path())
    );
    let pipeline = write_pipeline(dir.path(), "after.toml", &text);
    run_to_end(&pipeline);
    assert!(s3.keys("del", "").is_empty());
    // The `done/` input may or may not have seen the moved objects in its one pass; run it
    // again so they certainly reach the archive.
    run_to_end(&pipeline);
    assert!(s3.keys("mov", "").is_empty(), "{:?}", s3.keys("mov", ""));
    assert_eq!(
        s3.keys("archive", ""),
        vec!["done/in/a.log".to_string(), "done/in/b.log".to_string()]
    );
    // Every line of the four objects at least once (the moved ones are read twice: once
    // under in/, once under done/).
    let seen: BTreeSet<String> = messages(dir.path()).into_iter().collect();
    let mut wanted = BTreeSet::new();
    for key in ["in/a.log", "in/b.log"] {
        wanted.extend(lines_of(key, 5));
    }
    assert_eq!(seen, wanted);
}

#[test]
fn s3_restart_after_a_kill_loses_nothing_and_fingerprint_ids_add_no_duplicates() {
    let moto = Moto::start();
    let s3 = moto.fixture();
    s3.create_bucket("logs");
    let mut total = 0;
    for index in 0..8 {
        let key = format!("k{index}.log");
        s3.put_object("logs", &key, body(&lines_of(&key, 400)));
        total += 400;
    }
    let osmem = Osmem::start();
    let dir = temp_dir();
    let text = format!(
        r#"[pipeline]
data_dir = "{}/data"
batch_size = 100
{}
[[output]]
type = "elasticsearch"
hosts = ["{}"]
index = "s3logs"
document_id = "fingerprint"
batch_size = 100
flush_interval = "100ms"
"#,
        dir.path().display(),
        s3_input(&moto, "logs", "concurrency = 2\ninterval = \"1s\""),
        osmem.url
    );
    let pipeline = write_pipeline(dir.path(), "es.toml", &text);
    let running = Running::start(&pipeline);
    wait_until("some documents", Duration::from_secs(60), || {
        osmem.count("s3logs") >= 300
    });
    running.kill();
    assert!(osmem.count("s3logs") < total as u64, "killed too late");
    run_to_end_with(&["--once"], &pipeline);
    assert_eq!(osmem.count("s3logs"), total as u64);
    let documents = osmem.documents("s3logs");
    let messages: BTreeSet<&str> = documents
        .iter()
        .filter_map(|document| document["message"].as_str())
        .collect();
    assert_eq!(messages.len(), total);
}

#[test]
fn s3_startup_errors_name_bucket_endpoint_and_code() {
    let moto = Moto::start();
    let s3 = moto.fixture();
    s3.create_bucket("logs");
    let dir = temp_dir();
    let run = |name: &str, input: String| {
        let text = format!("{input}{}", file_output(dir.path()));
        let pipeline = write_pipeline(dir.path(), name, &text);
        let started = Instant::now();
        let output = logpipe().arg("run").arg(&pipeline).output().unwrap();
        assert!(!output.status.success(), "{name} should fail");
        assert!(started.elapsed() < Duration::from_secs(60));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let missing = run("missing.toml", s3_input(&moto, "no-such-bucket", ""));
    assert!(
        missing.contains("cannot list bucket `no-such-bucket` at http://127.0.0.1:")
            && missing.contains("NoSuchBucket")
            && missing.contains("check `bucket`"),
        "{missing}"
    );

    let port = crate::servers::free_port();
    let unreachable = run(
        "unreachable.toml",
        s3_input(&moto, "logs", "").replace(&moto.endpoint(), &format!("http://127.0.0.1:{port}")),
    );
    assert!(
        unreachable.contains(&format!(
            "cannot list bucket `logs` at http://127.0.0.1:{port}"
        )) && unreachable.contains("check `endpoint`"),
        "{unreachable}"
    );

    let strict = Moto::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]);
    let denied = run(
        "credentials.toml",
        s3_input(&strict, "logs", "").replace("\"testing\"", "\"AKIAWRONGKEY\""),
    );
    assert!(
        denied.contains("cannot list bucket `logs`") && denied.contains("InvalidAccessKeyId"),
        "{denied}"
    );
    assert!(
        !denied.contains("AKIAWRONGKEY"),
        "the key id leaked: {denied}"
    );

    // No credentials anywhere: said in one line, not as the chain's whole report.
    let text = format!(
        "[[input]]\ntype = \"s3\"\nbucket = \"logs\"\nendpoint = \"{}\"\n{}",
        moto.endpoint(),
        file_output(dir.path())
    );
    let pipeline = write_pipeline(dir.path(), "nocredentials.toml", &text);
    let output = logpipe()
        .arg("run")
        .arg(&pipeline)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("no AWS credentials found") && stderr.contains("set access_key_id"),
        "{stderr}"
    );
}

/// Peak resident memory of a process, sampled until it exits.
fn peak_rss_kib(running: &mut Running, timeout: Duration) -> (u64, std::process::ExitStatus) {
    let status_file = format!("/proc/{}/status", running.child.id());
    let deadline = Instant::now() + timeout;
    let mut peak = 0;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_file) {
            for line in status.lines() {
                if let Some(value) = line.strip_prefix("VmHWM:") {
                    let kib = value.trim().trim_end_matches(" kB").trim();
                    peak = peak.max(kib.parse().unwrap_or(0));
                }
            }
        }
        if let Some(status) = running.child.try_wait().unwrap() {
            return (peak, status);
        }
        assert!(Instant::now() < deadline, "logpipe did not finish in time");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn s3_memory_stays_flat_on_a_200_mb_object() {
    let moto = Moto::start();
    let s3 = moto.fixture();
    s3.create_bucket("big");
    // 100,000 lines of 2,000 bytes: 200 MB in one object.
    let filler = "x".repeat(1_990);
    let mut bytes = Vec::with_capacity(200_100_000);
    for n in 0..100_000 {
        writeln!(bytes, "{n:08} {filler}").unwrap();
    }
    s3.put_object("big", "huge.log", bytes);
    let dir = temp_dir();
    let text = format!(
        "[pipeline]\ndata_dir = \"{}/data\"\n{}[[output]]\ntype = \"file\"\npath = \"/dev/null\"\n",
        dir.path().display(),
        s3_input(&moto, "big", "once = true")
    );
    let pipeline = write_pipeline(dir.path(), "big.toml", &text);
    let mut running = Running::start(&pipeline);
    let (peak_kib, status) = peak_rss_kib(&mut running, Duration::from_secs(300));
    assert!(status.success(), "{}", stderr_of(dir.path()));
    let summary = stderr_of(dir.path());
    assert!(
        summary.contains("events in 100000, out 100000"),
        "{summary}"
    );
    assert!(
        peak_kib < 250 * 1024,
        "peak RSS {peak_kib} KiB for a 200 MB object"
    );
}

/// A pipeline of one sqs-mode consumer in its own directory (own data_dir and output file).
fn sqs_consumer(moto: &Moto, queue_url: &str, dir: &Path) -> std::path::PathBuf {
    let text = format!(
        r#"[pipeline]
data_dir = "{}/data"
batch_size = 100
[[input]]
type = "s3"
mode = "sqs"
queue_url = "{queue_url}"
endpoint = "{}"
region = "us-east-1"
access_key_id = "testing"
secret_access_key = "testing"
visibility_timeout = "4s"
wait_time = "1s"
concurrency = 2
{}"#,
        dir.display(),
        moto.endpoint(),
        file_output(dir)
    );
    write_pipeline(dir, "sqs.toml", &text)
}

#[test]
fn sqs_consumers_share_a_queue_survive_a_kill_and_skip_poison_messages() {
    let moto = Moto::start();
    let s3 = moto.fixture();
    s3.create_bucket("logs");
    let dead_letters = s3.create_queue("logs-dlq");
    let queue = s3.create_queue("logs-events");
    s3.set_redrive(&queue, &dead_letters, 2);
    let mut expected = Vec::new();
    for index in 0..50 {
        let key = format!("nginx/o{index:02}.log");
        let lines = lines_of(&key, 1_000);
        s3.put_object("logs", &key, body(&lines));
        expected.extend(lines);
    }
    let dirs: Vec<_> = (0..3).map(|_| temp_dir()).collect();
    let mut consumers: Vec<Option<Running>> = dirs
        .iter()
        .map(|dir| Some(Running::start(&sqs_consumer(&moto, &queue, dir.path()))))
        .collect();
    s3.send_s3_event(&queue, "logs", "nginx/does-not-exist.log");
    for index in 0..50 {
        s3.send_s3_event(&queue, "logs", &format!("nginx/o{index:02}.log"));
    }
    // Kill the first consumer while it is in the middle of its objects.
    wait_until(
        "the first consumer to deliver",
        Duration::from_secs(60),
        || messages(dirs[0].path()).len() >= 500,
    );
    if let Some(first) = consumers[0].take() {
        first.kill();
    }
    let all_messages =
        || -> Vec<String> { dirs.iter().flat_map(|dir| messages(dir.path())).collect() };
    let wanted: BTreeSet<String> = expected.iter().cloned().collect();
    wait_until("every line delivered", Duration::from_secs(180), || {
        all_messages().into_iter().collect::<BTreeSet<_>>() == wanted
    });
    wait_until("the queue to drain", Duration::from_secs(60), || {
        s3.queue_counts(&queue) == (0, 0)
    });
    for consumer in consumers.iter_mut() {
        if let Some(running) = consumer.take() {
            assert!(running.terminate().success());
        }
    }
    // Nothing lost; lines read twice only from objects the killed consumer had not finished
    // (at most its `concurrency` objects).
    let counts = counted(&all_messages());
    let repeated_objects: BTreeSet<&str> = counts
        .iter()
        .filter(|(_, count)| **count > 1)
        .filter_map(|(message, _)| message.split(' ').next())
        .collect();
    assert!(repeated_objects.len() <= 2, "{repeated_objects:?}");
    // Each survivor processed some objects: the queue was shared.
    for dir in &dirs[1..] {
        assert!(!messages(dir.path()).is_empty());
    }
    // The poison message went to the dead-letter queue instead of blocking the queue.
    let in_dlq = s3.queue_counts(&dead_letters);
    let stderr: String = dirs.iter().map(|dir| stderr_of(dir.path())).collect();
    assert_eq!(in_dlq, (1, 0), "{stderr}");
    assert!(
        stderr.contains("cannot read s3://logs/nginx/does-not-exist.log: NoSuchKey"),
        "{stderr}"
    );
}

#[test]
fn s3_unreadable_object_is_recorded_as_failed_reported_and_retried_next_run() {
    let moto = Moto::start();
    let s3 = moto.fixture();
    s3.create_bucket("logs");
    s3.put_object("logs", "good.log", body(&lines_of("good", 5)));
    // Gzip magic bytes, then garbage.
    s3.put_object(
        "logs",
        "bad.log.gz",
        b"\x1f\x8b\x08\x00garbage, not deflate".to_vec(),
    );
    let dir = temp_dir();
    let pipeline = s3_to_file(dir.path(), "bad.toml", &moto, "logs", "once = true");
    let first = logpipe().arg("run").arg(&pipeline).output().unwrap();
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(!first.status.success());
    assert!(
        stderr.contains("cannot read s3://logs/bad.log.gz: corrupt gzip data")
            && stderr.contains("1 object(s) could not be read: s3://logs/bad.log.gz"),
        "{stderr}"
    );
    assert_eq!(
        counted(&messages(dir.path())),
        counted(&lines_of("good", 5))
    );
    let state = logpipe()
        .args(["check", "--state"])
        .arg(&pipeline)
        .output()
        .unwrap();
    let state = String::from_utf8_lossy(&state.stdout);
    assert!(
        state.contains("1 failed") && state.contains("failed bad.log.gz at "),
        "{state}"
    );
    // Fixed object (new ETag): the next run reads it, and only it.
    s3.put_object("logs", "bad.log.gz", gzip(&body(&lines_of("fixed", 2))));
    run_to_end(&pipeline);
    let mut expected = lines_of("good", 5);
    expected.extend(lines_of("fixed", 2));
    assert_eq!(counted(&messages(dir.path())), counted(&expected));
}

#[test]
fn overlapping_runs_of_one_pipeline_do_not_both_run() {
    let moto = Moto::start();
    let s3 = moto.fixture();
    s3.create_bucket("logs");
    let dir = temp_dir();
    let pipeline = s3_to_file(dir.path(), "cron.toml", &moto, "logs", "interval = \"1s\"");
    let running = Running::start(&pipeline);
    wait_until("the lock", Duration::from_secs(10), || {
        std::fs::read_to_string(dir.path().join("data/logpipe.lock"))
            .is_ok_and(|pid| !pid.is_empty())
    });
    let second = logpipe()
        .args(["run", "--once"])
        .arg(&pipeline)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "another logpipe run (pid {}) is using data_dir",
            running.child.id()
        )),
        "{stderr}"
    );
    assert!(running.terminate().success());
    // Once the first has ended, the next run takes the lock and runs.
    let third = logpipe()
        .args(["run", "--once"])
        .arg(&pipeline)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&third.stderr);
    assert!(
        third.status.success() && stderr.contains("logpipe: events in 0"),
        "{stderr}"
    );
}

/// Writes `name` in `dir`: `input` into osmem's index `index`, in bulk requests of 30 events
/// that wait an hour to fill.
fn into_requests_of_30(dir: &Path, name: &str, input: &str, osmem: &Osmem, index: &str) -> PathBuf {
    let text = format!(
        r#"[pipeline]
data_dir = "{}/data-{name}"
{input}
[[output]]
type = "elasticsearch"
hosts = "{}"
index = "{index}"
batch_size = 30
flush_interval = "1h"
"#,
        dir.display(),
        osmem.url
    );
    write_pipeline(dir, name, &text)
}

/// With one object (or message) downloaded at a time, an output that waits to fill its
/// request gets the next objects' lines meanwhile. Here nothing is sent before all 30 events
/// are in, and the flush interval is an hour: holding an object's slot until its delivery
/// would hang, in poll mode and in sqs mode.
#[test]
fn an_object_awaiting_delivery_does_not_hold_back_the_next_download() {
    let moto = Moto::start();
    let s3 = moto.fixture();
    s3.create_bucket("small");
    let queue = s3.create_queue("small-events");
    let keys: Vec<String> = (0..6).map(|object| format!("part-{object}.log")).collect();
    for key in &keys {
        s3.put_object("small", key, body(&lines_of(key, 5)));
    }
    let osmem = Osmem::start();
    let dir = temp_dir();

    let input = s3_input(&moto, "small", "once = true\nconcurrency = 1");
    let polling = into_requests_of_30(dir.path(), "poll.toml", &input, &osmem, "poll");
    let mut running = Running::start(&polling);
    let status = running.wait_for_exit(Duration::from_secs(60));
    assert!(status.success(), "{}", stderr_of(dir.path()));
    assert_eq!(osmem.count("poll"), 30);

    let sqs =
        format!("mode = \"sqs\"\nqueue_url = \"{queue}\"\nwait_time = \"1s\"\nconcurrency = 1");
    let input = s3_input(&moto, "small", &sqs);
    let consuming = into_requests_of_30(dir.path(), "sqs.toml", &input, &osmem, "sqs");
    let running = Running::start(&consuming);
    for key in &keys {
        s3.send_s3_event(&queue, "small", key);
    }
    wait_until("30 documents from sqs", Duration::from_secs(60), || {
        osmem.count("sqs") == 30
    });
    assert!(running.terminate().success());
}

#[test]
fn bundled_nginx_s3_pipeline_indexes_the_sample_log_from_a_bucket() {
    let moto = Moto::start();
    let s3 = moto.fixture();
    s3.create_bucket("weblogs");
    let sample = std::fs::read(crate::support::repo().join("examples/access.log")).unwrap();
    let lines = sample
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
        .count();
    let (first, second) = sample.split_at(sample.len() / 2);
    let cut = first.iter().rposition(|byte| *byte == b'\n').unwrap() + 1;
    s3.put_object("weblogs", "nginx/access-1.log", sample[..cut].to_vec());
    s3.put_object(
        "weblogs",
        "nginx/access-2.log.gz",
        gzip(&[&first[cut..], second].concat()),
    );
    let osmem = Osmem::start();
    let dir = temp_dir();
    let output = logpipe()
        .args(["run", "--once", "pipelines/nginx-s3.toml"])
        .current_dir(crate::support::repo())
        .env("LOGPIPE_DATA_DIR", dir.path())
        .env("S3_BUCKET", "weblogs")
        .env("S3_ENDPOINT", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("ELASTICSEARCH_URL", &osmem.url)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("events in {lines}, out {lines}")),
        "{stderr}"
    );
    assert_eq!(osmem.count("nginx-*"), lines as u64);
    let documents = osmem.documents("nginx-*");
    let parsed = documents
        .iter()
        .filter(|document| document["http"]["response"]["status_code"].is_i64())
        .count();
    assert!(parsed >= lines - 3, "{parsed} of {lines} parsed");
    assert!(
        documents
            .iter()
            .all(|document| document["aws"]["s3"]["bucket"]["name"] == "weblogs")
    );
}

#[test]
fn s3_role_arn_is_assumed_through_sts_at_the_endpoint() {
    let moto = Moto::start();
    let s3 = moto.fixture();
    s3.create_bucket("logs");
    s3.put_object("logs", "a.log", body(&lines_of("a", 3)));
    let dir = temp_dir();
    let pipeline = s3_to_file(
        dir.path(),
        "role.toml",
        &moto,
        "logs",
        "once = true\nrole_arn = \"arn:aws:iam::123456789012:role/logpipe-reader\"",
    );
    run_to_end(&pipeline);
    assert_eq!(counted(&messages(dir.path())), counted(&lines_of("a", 3)));
}
