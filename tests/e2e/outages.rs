//! Elasticsearch outages through the fault-injecting proxy (issue 7): the cluster down for
//! 30 s, every bulk item answered 429, every second item answered 429, whole requests
//! answered 503, answers cut off in the middle of their body, and a cluster taking 10 s per
//! request; then SIGTERM while the cluster is unreachable (tail mode, then a restart that
//! sends the rest; and read mode with a big file).
//!
//! Each outage test reads a file of unique nginx lines into osmem (an OpenSearch-compatible
//! server) through the proxy with fingerprint ids, sets the fault once the first documents
//! are delivered, and asserts: logpipe waits instead of exiting; the input pauses (events
//! read minus events delivered, from the monitoring API, never exceeds what the channels can
//! hold, and stays put while nothing can be delivered); peak RSS stays under a bound;
//! deliveries resume within seconds of the recovery; every line is indexed exactly once
//! (compared by content) and, but for cut answers, reached the cluster exactly once (only
//! refused items are sent again); and the logs tell the story a bounded number of times,
//! not once per event or per request.

use crate::elasticsearch_output::{combined_lines, rss_mib};
use crate::servers::*;
use crate::support::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Lines per outage test (1.1 MB). The pipeline holds at most [`READ_AHEAD_BOUND`] of them;
/// osmem indexes a few hundred documents a second on a loaded 2-core machine, which is
/// what makes a test long, so the file is no bigger than it needs to be to show the pause.
const LINES: usize = 10_000;
/// The pipeline's settings (written into every pipeline file here): the defaults but for
/// the elasticsearch output's `batch_size` (2048), smaller so that the file is several
/// times what the pipeline can hold.
const WORKERS: usize = 2;
const BATCH: usize = 128;
const CHANNEL: usize = 4;
const ES_BATCH: usize = 500;
const CONCURRENCY: usize = 2;
/// The most events the input may have sent on beyond those the output has acknowledged:
/// the input channel, one batch per worker, the output channel, and in the elasticsearch
/// output `concurrency` groups in flight plus one filling (a group closes at `batch_size`
/// events but takes whole batches). 3,161 events here; measured 2,816 at most.
const READ_AHEAD_BOUND: u64 = (CHANNEL * BATCH
    + WORKERS * BATCH
    + CHANNEL * BATCH
    + (CONCURRENCY + 1) * (ES_BATCH + BATCH - 1)) as u64;
/// Peak resident memory of logpipe (the debug build the tests run) over a whole outage run.
/// Measured 49–51 MiB for every kind, of which 46–48.5 MiB before the fault (runtime, HTTP
/// client, compiled patterns, the pipeline full). The same pipeline with channels big
/// enough to take the whole file instead of pausing the input reached 125 MiB.
const RSS_BOUND_MIB: f64 = 64.0;
/// How much the peak may grow while the fault lasts, over the peak before it: the input
/// pauses, so nothing piles up (measured 0.1–3.1 MiB).
const RSS_GROWTH_BOUND_MIB: f64 = 12.0;
/// The retry backoff of the pipelines here: from 100 ms doubling up to 2 s (the default
/// `retry_max` is 30 s: after a long outage the first retry may then come 30 s late).
const RETRY_MAX: &str = "2s";
/// How soon after the recovery deliveries must flow again: one backoff wait (≤ 2 s) plus a
/// request, with margin for a loaded machine (measured 0.9–6 s while other tests ran).
const RESUME_BOUND: Duration = Duration::from_secs(10);
/// How often a continuing failure may be logged again (the output's FAILURE_LOG_INTERVAL).
const LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Lines every run writes to stderr at the default log level: starting, the monitoring API,
/// the cluster's version, the summary.
const BASE_LOG_LINES: usize = 4;

/// A pipeline: `access.log` (`mode`) → grok → date → elasticsearch at `hosts`, index
/// `outage`, fingerprint ids; the monitoring API on `api_port`.
fn outage_pipeline(dir: &Path, hosts: &str, api_port: u16, mode: &str) -> PathBuf {
    write_pipeline(
        dir,
        "p.toml",
        &format!(
            "[pipeline]\nworkers = {WORKERS}\nbatch_size = {BATCH}\nchannel_capacity = {CHANNEL}\nshutdown_timeout = \"5s\"\n\
             [api]\nlisten = \"127.0.0.1:{api_port}\"\n\
             [[input]]\ntype = \"file\"\nid = \"nginx\"\npath = \"access.log\"\nmode = \"{mode}\"\npoll_interval = \"50ms\"\ndiscover_interval = \"200ms\"\n\
             [[filter]]\ntype = \"grok\"\nmatch = {{ message = \"%{{NGINX_COMBINED}}\" }}\n\
             [[filter]]\ntype = \"date\"\nmatch = [\"nginx.access.time\", \"dd/MMM/yyyy:HH:mm:ss Z\"]\n\
             [[output]]\ntype = \"elasticsearch\"\nid = \"es\"\nhosts = \"{hosts}\"\nindex = \"outage\"\ndocument_id = \"fingerprint\"\n\
             batch_size = {ES_BATCH}\nconcurrency = {CONCURRENCY}\nflush_interval = \"100ms\"\nretry_initial = \"100ms\"\nretry_max = \"{RETRY_MAX}\"\n"
        ),
    )
}

/// `logpipe run PIPELINE` at the default log level (info: what a user sees), stdout
/// discarded, stderr into `stderr.log` next to the pipeline.
fn start_logpipe(pipeline: &Path) -> Running {
    let dir = pipeline.parent().expect("pipeline dir");
    let stderr = std::fs::File::create(dir.join("stderr.log")).expect("stderr file");
    let child = logpipe()
        .env("LOGPIPE_LOG", "info")
        .arg("run")
        .arg(pipeline)
        .stdout(Stdio::null())
        .stderr(Stdio::from(stderr))
        .spawn()
        .expect("start logpipe");
    Running { child }
}

/// Sends SIGTERM; returns the exit status and how long the exit took (at most `patience`).
fn sigterm(running: &mut Running, patience: Duration) -> (ExitStatus, Duration) {
    let pid = running.child.id().to_string();
    let signalled = Instant::now();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let status = running.wait_for_exit(patience);
    (status, signalled.elapsed())
}

/// What the monitoring API says about the one input and the one output.
#[derive(Debug, Clone, Copy)]
struct Progress {
    /// Events the input sent on.
    read: u64,
    /// Events the output delivered.
    delivered: u64,
    /// Events the output sent again.
    retries: u64,
}

fn progress(api: &str) -> Progress {
    let (status, body) = http("GET", &format!("{api}/stats"), None);
    assert_eq!(status, 200, "GET {api}/stats: {body}");
    let stats: Value = serde_json::from_str(&body).expect("stats JSON");
    let number = |value: &Value| value.as_u64().unwrap_or(0);
    Progress {
        read: number(&stats["inputs"][0]["events_out"]),
        delivered: number(&stats["outputs"][0]["events_out"]),
        retries: number(&stats["outputs"][0]["retries"]),
    }
}

/// Samples a process's resident memory every 20 ms on a thread, keeping the peak.
struct PeakRss {
    peak_kib: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl PeakRss {
    fn watch(pid: u32) -> PeakRss {
        let peak_kib = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (peak, stopped) = (Arc::clone(&peak_kib), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                peak.fetch_max((rss_mib(pid) * 1024.0) as u64, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        PeakRss { peak_kib, stop }
    }

    /// The peak since the start or the previous call, in MiB; starts a new period.
    fn take(&self) -> f64 {
        self.peak_kib.swap(0, Ordering::Relaxed) as f64 / 1024.0
    }
}

impl Drop for PeakRss {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Asserts that the documents of `index` are the lines of `text`, each exactly once,
/// compared by content (`event.original`); a failure names `kind` and counts what differs.
fn assert_every_line_once(kind: &str, osmem: &Osmem, index: &str, text: &str) {
    let documents = osmem.documents(index);
    let mut found: BTreeMap<&str, usize> = BTreeMap::new();
    for document in &documents {
        let original = document["event"]["original"].as_str().unwrap_or("(none)");
        *found.entry(original).or_default() += 1;
    }
    let lines: Vec<&str> = text.lines().collect();
    let missing: Vec<&&str> = lines
        .iter()
        .filter(|line| !found.contains_key(**line))
        .collect();
    let duplicated: Vec<(&&str, &usize)> = found.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        missing.is_empty() && duplicated.is_empty() && documents.len() == lines.len(),
        "{kind}: {} documents for {} lines; {} lines missing (first {:?}), {} indexed more than once (first {:?})",
        documents.len(),
        lines.len(),
        missing.len(),
        missing.first(),
        duplicated.len(),
        duplicated.first(),
    );
}

/// What the pipeline does while a fault lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum During {
    /// No batch can be acknowledged: deliveries stop, the input stands still, the output
    /// retries and says so.
    Stalls,
    /// Part of every request is refused: deliveries go on as refused items are sent again,
    /// and the output says so.
    Trickles,
    /// Requests take long but succeed: deliveries go on slowly, nothing is sent twice and
    /// nothing is logged.
    Crawls,
}

/// One kind of outage.
struct Outage {
    /// Named in every assertion message.
    kind: &'static str,
    fault: Fault,
    /// How long the proxy keeps it up.
    lasts: Duration,
    during: During,
    /// How soon after the recovery deliveries must flow again.
    resume_within: Duration,
}

/// Runs `outage` in the middle of a read-mode run of [`LINES`] lines and asserts what the
/// module comment says; prints what it measured (`cargo test -- --nocapture` shows it).
fn run_outage(outage: &Outage) {
    let started = Instant::now();
    let kind = outage.kind;
    let osmem = Osmem::start();
    let proxy = FaultProxy::start(&osmem.address());
    let dir = temp_dir();
    let text = combined_lines(LINES);
    std::fs::write(dir.path().join("access.log"), &text).unwrap();
    let port = free_port();
    let api = format!("http://127.0.0.1:{port}");
    let pipeline = outage_pipeline(dir.path(), &proxy.url, port, "read");
    let mut running = start_logpipe(&pipeline);
    let rss = PeakRss::watch(running.child.id());
    wait_for_port(port, Duration::from_secs(30));
    wait_until(
        &format!("{kind}: the first deliveries"),
        Duration::from_secs(60),
        || progress(&api).delivered >= 1_000,
    );

    let rss_before = rss.take();
    proxy.set(outage.fault);
    let fault_began = Instant::now();
    let at_fault = progress(&api);
    // Requests that reached the proxy before the fault may still be answered (osmem can take
    // seconds on a loaded machine). Once they are, and the filter workers have filled the
    // channels (two samples alike), nothing more can be acknowledged and the input must
    // stand still.
    let mut quiet_since: Option<Instant> = None;
    let mut settled: Option<(Duration, Progress)> = None;
    let mut max_read_ahead = 0;
    let mut last = at_fault;
    while fault_began.elapsed() < outage.lasts {
        std::thread::sleep(Duration::from_millis(250));
        let previous = last;
        last = progress(&api);
        max_read_ahead = max_read_ahead.max(last.read.saturating_sub(last.delivered));
        if proxy.passing.load(Ordering::Relaxed) > 0 {
            quiet_since = None;
        } else if settled.is_none() {
            let since = *quiet_since.get_or_insert_with(Instant::now);
            let alike = outage.during != During::Stalls
                || (last.read, last.delivered) == (previous.read, previous.delivered);
            if since.elapsed() >= Duration::from_millis(500) && alike {
                settled = Some((fault_began.elapsed(), last));
            }
        }
    }
    let Some((settled_after, settled)) = settled else {
        panic!(
            "{kind}: requests taken before the fault were still being answered, or deliveries went on, at its end"
        );
    };
    let rss_during = rss.take();
    assert!(
        running.child.try_wait().unwrap().is_none(),
        "{kind}: logpipe waits through the outage, it does not exit"
    );
    assert!(
        max_read_ahead <= READ_AHEAD_BOUND,
        "{kind}: the input read {max_read_ahead} events ahead of the deliveries (bound {READ_AHEAD_BOUND}): it does not pause"
    );
    assert!(
        last.read < LINES as u64,
        "{kind}: the input read the whole file during the outage"
    );
    match outage.during {
        During::Stalls => {
            assert_eq!(
                last.delivered, settled.delivered,
                "{kind}: nothing is acknowledged while the fault lasts (from {settled_after:?} on)"
            );
            assert_eq!(
                last.read, settled.read,
                "{kind}: the input stands still while the output cannot deliver (from {settled_after:?} on)"
            );
        }
        During::Trickles | During::Crawls => assert!(
            last.delivered > at_fault.delivered,
            "{kind}: deliveries continue while the fault lasts"
        ),
    }
    if outage.during == During::Crawls {
        assert_eq!(
            last.retries, at_fault.retries,
            "{kind}: slow requests complete; nothing is sent twice"
        );
    } else {
        assert!(
            last.retries > at_fault.retries,
            "{kind}: the output retries"
        );
    }

    proxy.set(Fault::None);
    let recovered = Instant::now();
    // After an outage that failed every request, any delivery is a new request succeeding;
    // otherwise, more than the requests already in the cluster can carry.
    let in_flight = match outage.during {
        During::Stalls => 0,
        During::Trickles | During::Crawls => (CONCURRENCY * (ES_BATCH + BATCH)) as u64,
    };
    let at_recovery = progress(&api);
    wait_until(
        &format!("{kind}: deliveries to resume"),
        outage.resume_within + Duration::from_secs(30),
        || progress(&api).delivered > at_recovery.delivered + in_flight,
    );
    let resumed_after = recovered.elapsed();
    assert!(
        resumed_after <= outage.resume_within,
        "{kind}: deliveries resumed {resumed_after:?} after the recovery (bound {:?})",
        outage.resume_within
    );
    let status = running.wait_for_exit(Duration::from_secs(300));
    let stderr = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(status.success(), "{kind}: {status}\n{stderr}");
    let peak = rss_before.max(rss_during).max(rss.take());
    assert!(
        peak < RSS_BOUND_MIB,
        "{kind}: peak RSS {peak:.1} MiB (bound {RSS_BOUND_MIB} MiB)"
    );
    assert!(
        rss_during - rss_before < RSS_GROWTH_BOUND_MIB,
        "{kind}: RSS peaked at {rss_during:.1} MiB during the fault, {rss_before:.1} MiB before"
    );
    assert_every_line_once(kind, &osmem, "outage", &text);
    let items_forwarded = proxy.bulk_items_forwarded.load(Ordering::Relaxed);
    if outage.fault == Fault::CutMidResponse {
        // Indexed, but the answer was lost: sent again, and overwritten thanks to the ids.
        assert!(
            items_forwarded > LINES,
            "{kind}: the requests whose answers were cut are sent again"
        );
    } else {
        assert_eq!(
            items_forwarded, LINES,
            "{kind}: every line reaches the cluster once: only refused items are sent again"
        );
    }

    // The logs: the failure when it starts, then at most every 10 s, and its end once per
    // failure logged (an answer that was already on its way may end it early; a failure
    // that comes back within 10 s is counted into the next message).
    let lines: Vec<&str> = stderr.lines().collect();
    let position = |wanted: &dyn Fn(&str) -> bool| lines.iter().rposition(|line| wanted(line));
    let is_warning = |line: &str| line.contains("WARN") || line.contains("ERROR");
    let is_recovery = |line: &str| line.contains("succeed again");
    let warnings = lines.iter().filter(|line| is_warning(line)).count();
    let recoveries = lines.iter().filter(|line| is_recovery(line)).count();
    let most = 2 + (outage.lasts.as_secs() / LOG_INTERVAL.as_secs()) as usize;
    if outage.during == During::Crawls {
        assert_eq!(
            (warnings, recoveries),
            (0, 0),
            "{kind}: a slow cluster is not an error:\n{stderr}"
        );
    } else {
        assert!(
            (1..=most).contains(&warnings),
            "{kind}: {warnings} warnings for a fault of {:?} ({} faulted requests); expected 1 to {most}:\n{stderr}",
            outage.lasts,
            proxy.bulk_faulted.load(Ordering::Relaxed)
        );
        assert!(
            (1..=warnings).contains(&recoveries) && position(&is_recovery) > position(&is_warning),
            "{kind}: {recoveries} recoveries logged for {warnings} warnings; the last line says it recovered:\n{stderr}"
        );
    }
    // Besides those, a host set aside is said to be back (once per host failure), and every
    // run logs a few lines of its own: nothing per event or per request.
    assert!(
        lines.len() <= BASE_LOG_LINES + 3 * most,
        "{kind}: {} lines on stderr:\n{stderr}",
        lines.len()
    );
    eprintln!(
        "outage {kind}: peak RSS {peak:.1} MiB ({rss_before:.1} before the fault, {rss_during:.1} during); \
         read ahead at most {max_read_ahead} events; settled after {settled_after:.1?}; \
         resumed {resumed_after:.1?} after the recovery; {} faulted bulk requests, {} events retried; \
         stderr: {warnings} warnings, {recoveries} recoveries, {} lines; {:.0} s in all",
        proxy.bulk_faulted.load(Ordering::Relaxed),
        last.retries,
        lines.len(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn elasticsearch_down_for_30_s_pauses_the_input_and_loses_nothing() {
    run_outage(&Outage {
        kind: "down 30 s",
        fault: Fault::Down,
        lasts: Duration::from_secs(30),
        during: During::Stalls,
        resume_within: RESUME_BOUND,
    });
}

#[test]
fn every_bulk_item_answered_429_is_retried_until_accepted_and_logged_once() {
    run_outage(&Outage {
        kind: "every item 429",
        fault: Fault::ItemStatus(429),
        lasts: Duration::from_secs(10),
        during: During::Stalls,
        resume_within: RESUME_BOUND,
    });
}

#[test]
fn half_the_bulk_items_answered_429_are_retried_alone_and_logged_once_per_interval() {
    // Elasticsearch under indexing pressure takes part of a request: the accepted items
    // must not be sent again, and the output must not log each partial answer.
    run_outage(&Outage {
        kind: "half the items 429",
        fault: Fault::SomeItemStatus(429),
        lasts: Duration::from_secs(10),
        during: During::Trickles,
        resume_within: RESUME_BOUND,
    });
}

#[test]
fn bulk_requests_answered_503_are_retried_until_accepted() {
    run_outage(&Outage {
        kind: "503",
        fault: Fault::Status(503),
        lasts: Duration::from_secs(10),
        during: During::Stalls,
        resume_within: RESUME_BOUND,
    });
}

#[test]
fn answers_cut_off_mid_body_are_retried_and_fingerprint_ids_prevent_duplicates() {
    // The proxy forwards each request, so osmem indexes it, then cuts the answer: logpipe
    // must take the request as failed and send it again, overwriting the same documents.
    run_outage(&Outage {
        kind: "cut mid-response",
        fault: Fault::CutMidResponse,
        lasts: Duration::from_secs(10),
        during: During::Stalls,
        resume_within: RESUME_BOUND,
    });
}

#[test]
fn a_cluster_taking_10_s_per_request_slows_the_input_without_timeouts_or_retries() {
    // The default request `timeout` is 60 s: a cluster answering in 10 s is slow, not
    // failing. Requests complete, the input reads only as fast as they do, nothing is sent
    // twice and nothing is logged; once the cluster is fast again, the requests already in
    // it take their 10 s and the rest follows at full speed.
    run_outage(&Outage {
        kind: "slow 10 s",
        fault: Fault::Slow(Duration::from_secs(10)),
        lasts: Duration::from_secs(22),
        during: During::Crawls,
        resume_within: RESUME_BOUND + Duration::from_secs(10),
    });
}

/// The file offsets recorded in the file input's checkpoint.
fn checkpoint_offsets(data_dir: &Path, input: &str) -> Vec<u64> {
    let path = data_dir.join("checkpoints").join(format!("{input}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("checkpoint {}: {e}", path.display()));
    let checkpoint: Value = serde_json::from_str(&text).expect("checkpoint JSON");
    checkpoint["state"]["files"]
        .as_object()
        .unwrap_or_else(|| panic!("no files in the checkpoint: {text}"))
        .values()
        .map(|file| file["offset"].as_u64().expect("offset"))
        .collect()
}

#[test]
fn sigterm_while_elasticsearch_is_down_exits_in_time_and_the_next_run_sends_the_rest() {
    const TOTAL: usize = 8_000;
    const FIRST: usize = 2_000;
    let osmem = Osmem::start();
    let proxy = FaultProxy::start(&osmem.address());
    let dir = temp_dir();
    let log = dir.path().join("access.log");
    let text = combined_lines(TOTAL);
    // The first lines are delivered before the outage, the rest written during it.
    let split = text.match_indices('\n').nth(FIRST - 1).expect("lines").0 + 1;
    let (before, during) = text.split_at(split);
    std::fs::write(&log, before).unwrap();
    let port = free_port();
    let api = format!("http://127.0.0.1:{port}");
    // Tail mode, as a service that systemd stops; shutdown_timeout = "5s".
    let pipeline = outage_pipeline(dir.path(), &proxy.url, port, "tail");
    let shutdown_timeout = Duration::from_secs(5);

    let mut running = start_logpipe(&pipeline);
    wait_for_port(port, Duration::from_secs(30));
    wait_until("the first lines", Duration::from_secs(120), || {
        progress(&api).delivered == FIRST as u64
    });
    proxy.set(Fault::Down);
    append(&log, during.as_bytes());
    wait_until(
        "the new lines to be read and fail to be delivered",
        Duration::from_secs(30),
        || {
            let now = progress(&api);
            now.read > FIRST as u64 && now.retries > 0
        },
    );
    std::thread::sleep(Duration::from_secs(1));
    let read = progress(&api).read;
    let (status, exited_after) = sigterm(&mut running, shutdown_timeout + Duration::from_secs(30));
    let stderr = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(status.success(), "{status}\n{stderr}");
    // The drain waits shutdown_timeout for the output, then gives the tasks 1 s to stop.
    assert!(
        exited_after <= shutdown_timeout + Duration::from_secs(2),
        "exited {exited_after:?} after SIGTERM with shutdown_timeout {shutdown_timeout:?}\n{stderr}"
    );
    assert_eq!(
        stderr.matches("shutdown timed out").count(),
        2,
        "the timeout is said once, and in the summary:\n{stderr}"
    );
    // Only acknowledged lines are behind the checkpoint: exactly the first ones, not the
    // read-ahead ones.
    assert_eq!(
        checkpoint_offsets(&dir.path().join("data"), "nginx"),
        [before.len() as u64],
        "the checkpoint stands right after the delivered lines ({read} read)\n{stderr}"
    );
    assert_eq!(
        osmem.count("outage"),
        FIRST as u64,
        "nothing got through while down"
    );
    eprintln!(
        "sigterm while down: exited {exited_after:.1?} after SIGTERM (shutdown_timeout 5 s), {read} events read, {FIRST} acknowledged; stderr:\n{stderr}"
    );

    proxy.set(Fault::None);
    // A new API port: the old one may linger a moment after the first process.
    let pipeline = outage_pipeline(dir.path(), &proxy.url, free_port(), "tail");
    let mut running = start_logpipe(&pipeline);
    wait_until("the rest to be delivered", Duration::from_secs(180), || {
        osmem.count("outage") >= TOTAL as u64
    });
    let (status, exited_after) = sigterm(&mut running, Duration::from_secs(30));
    assert!(status.success(), "the second run: {status}");
    assert!(
        exited_after < shutdown_timeout,
        "nothing to drain: {exited_after:?}"
    );
    assert_every_line_once("restart after SIGTERM", &osmem, "outage", &text);
    assert_eq!(
        checkpoint_offsets(&dir.path().join("data"), "nginx"),
        [text.len() as u64],
        "the second run's checkpoint is at the end"
    );
}

#[test]
fn sigterm_in_read_mode_while_elasticsearch_is_down_stops_reading_and_exits_in_time() {
    // A big file in read mode: after SIGTERM the input must stop reading, not go on reading
    // (and the workers filtering) the rest of the file only to drop it at the end.
    const TOTAL: usize = 100_000;
    let osmem = Osmem::start();
    let proxy = FaultProxy::start(&osmem.address());
    let dir = temp_dir();
    let text = combined_lines(TOTAL);
    std::fs::write(dir.path().join("access.log"), &text).unwrap();
    let port = free_port();
    let api = format!("http://127.0.0.1:{port}");
    let pipeline = outage_pipeline(dir.path(), &proxy.url, port, "read");
    let shutdown_timeout = Duration::from_secs(5);

    let mut running = start_logpipe(&pipeline);
    wait_for_port(port, Duration::from_secs(30));
    wait_until("the first deliveries", Duration::from_secs(60), || {
        progress(&api).delivered >= 1_000
    });
    proxy.set(Fault::Down);
    let retries = progress(&api).retries;
    // Until requests fail, and those that reached osmem before the outage are answered.
    let mut quiet_since: Option<Instant> = None;
    wait_until("deliveries to fail", Duration::from_secs(60), || {
        if proxy.passing.load(Ordering::Relaxed) > 0 {
            quiet_since = None;
            return false;
        }
        let since = *quiet_since.get_or_insert_with(Instant::now);
        since.elapsed() >= Duration::from_millis(500) && progress(&api).retries > retries
    });
    let at_signal = progress(&api);
    let (status, exited_after) = sigterm(&mut running, Duration::from_secs(120));
    let stderr = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(status.success(), "{status}\n{stderr}");
    assert!(
        exited_after <= shutdown_timeout + Duration::from_secs(2),
        "exited {exited_after:?} after SIGTERM with shutdown_timeout {shutdown_timeout:?}\n{stderr}"
    );
    // The checkpoint is at a line boundary no further than the delivered lines.
    let offsets = checkpoint_offsets(&dir.path().join("data"), "nginx");
    let boundaries: Vec<u64> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(at, _)| at as u64 + 1))
        .collect();
    let acknowledged = match offsets[..] {
        [offset] => boundaries.iter().position(|&end| end == offset),
        _ => None,
    };
    let Some(acknowledged) = acknowledged else {
        panic!("the checkpoint {offsets:?} is not at a line boundary\n{stderr}")
    };
    assert!(
        (1..=at_signal.delivered as usize).contains(&acknowledged),
        "the checkpoint covers {acknowledged} lines; {} were delivered\n{stderr}",
        at_signal.delivered
    );
    assert!(
        osmem.count("outage") >= acknowledged as u64,
        "every line behind the checkpoint is in the index"
    );
    eprintln!(
        "sigterm in read mode while down: exited {exited_after:.1?} after SIGTERM, {} events read, {} delivered, checkpoint after {acknowledged} lines",
        at_signal.read, at_signal.delivered
    );
}
