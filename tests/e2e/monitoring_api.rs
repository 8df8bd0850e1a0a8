//! The monitoring API of a running pipeline: exact counts in `/stats` and `/metrics` while a
//! log is tailed, the live view over a WebSocket and in `logpipe top`, the auth token,
//! `/health` for a stuck output, and a clear error for a taken address.

use crate::servers::{free_port, http, http_with_headers};
use crate::support::*;
use futures_util::StreamExt;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(30);
const TOKEN: &str = "s3cret-token";

/// A combined-format line from `client` for `url` with `status`.
fn line(client: &str, url: &str, status: u16) -> String {
    format!(
        "{client} - - [02/Dec/2026:10:00:00 +0000] \"GET {url} HTTP/1.1\" {status} 512 \"https://example.com/\" \"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\"\n"
    )
}

fn tailing_pipeline(dir: &Path, port: u16, extra: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    write_pipeline(
        dir,
        "p.toml",
        &format!(
            "[pipeline]\nshutdown_timeout = \"5s\"\n\
             [api]\nlisten = \"127.0.0.1:{port}\"\n{extra}\n\
             [[input]]\ntype = \"file\"\npath = \"logs/*.log\"\npoll_interval = \"50ms\"\ndiscover_interval = \"200ms\"\n\
             [[filter]]\ntype = \"grok\"\nmatch = {{ message = \"%{{NGINX_COMBINED}}\" }}\n\
             [[output]]\ntype = \"file\"\nid = \"archive\"\npath = \"out.ndjson\"\n\
             [[output]]\ntype = \"live\"\nid = \"live\"\n"
        ),
    )
}

/// GET with a bearer token; returns the status and the body.
fn get_with_bearer(url: &str, token: &str) -> (u16, String) {
    let authorization = format!("Bearer {token}");
    http_with_headers("GET", url, &[("Authorization", &authorization)], None)
}

fn stats(base: &str) -> Value {
    let (status, body) = http("GET", &format!("{base}/stats?token={TOKEN}"), None);
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Reads frames from `/live/ws` until `wanted` holds for one (or the deadline passes).
fn frame_where(base: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let url = format!("{}/live/ws?token={TOKEN}", base.replace("http://", "ws://"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let mut last = Value::Null;
        loop {
            let message = tokio::time::timeout_at(deadline, socket.next()).await;
            let message = match message {
                Ok(Some(Ok(message))) => message,
                other => panic!("no matching frame (last: {last}); socket: {other:?}"),
            };
            if let Ok(text) = message.to_text() {
                let frame: Value = serde_json::from_str(text).unwrap();
                if wanted(&frame) {
                    return frame;
                }
                last = frame;
            }
        }
    })
}

#[test]
fn stats_metrics_and_live_view_report_exact_counts_while_a_log_is_tailed() {
    let dir = temp_dir();
    let port = free_port();
    let pipeline = tailing_pipeline(dir.path(), port, &format!("auth_token = \"{TOKEN}\""));
    let base = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("logs/access.log");
    let running = Running::start(&pipeline);
    wait_for_port(port, PATIENCE);

    // 7 clients; 120 lines of 200, 30 of 404, 10 of 503, and 4 lines grok cannot parse,
    // appended in four parts while the pipeline tails the file.
    let clients: Vec<String> = (1..=7).map(|n| format!("10.0.0.{n}")).collect();
    let mut lines = Vec::new();
    for index in 0..160 {
        let status = match index % 16 {
            0 => 503,
            1..=3 => 404,
            _ => 200,
        };
        let url = if index % 2 == 0 { "/" } else { "/shop?item=1" };
        lines.push(line(&clients[index % 7], url, status));
    }
    for junk in 0..4 {
        lines.push(format!("not an access log line {junk}\n"));
    }
    let total = lines.len() as u64;
    for part in lines.chunks(41) {
        let before = stats(&base)["events"]["in"].as_u64().unwrap();
        append(&log, part.concat().as_bytes());
        wait_until("the part to go through", PATIENCE, || {
            stats(&base)["events"]["in"].as_u64().unwrap() == before + part.len() as u64
        });
    }

    wait_until("every event delivered", PATIENCE, || {
        stats(&base)["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|output| output["events_out"] == total)
    });
    let snapshot = stats(&base);
    assert_eq!(snapshot["events"]["in"], total);
    assert_eq!(snapshot["events"]["out"], total);
    assert_eq!(snapshot["events"]["failures"]["_grokparsefailure"], 4);
    let input = &snapshot["inputs"][0];
    assert_eq!(input["events_out"], total);
    assert_eq!(input["type"], "file");
    // What each input reads is reported once a second.
    let size = std::fs::metadata(&log).unwrap().len();
    wait_until("the file's offset to reach its size", PATIENCE, || {
        let source = &stats(&base)["inputs"][0]["sources"][0];
        source["offset"] == size && source["size"] == size
    });
    let snapshot = stats(&base);
    let input = &snapshot["inputs"][0];
    assert!(
        input["sources"][0]["name"]
            .as_str()
            .unwrap()
            .ends_with("access.log")
    );
    assert_eq!(input["bytes_behind"], 0);
    assert_eq!(snapshot["filters"][0]["events_in"], total);
    assert_eq!(snapshot["filters"][0]["failures"], 4);
    for output in snapshot["outputs"].as_array().unwrap() {
        assert_eq!(output["events_in"], total, "{output}");
        assert_eq!(output["pending_batches"], 0, "{output}");
    }

    let (status, metrics) = http("GET", &format!("{base}/metrics?token={TOKEN}"), None);
    assert_eq!(status, 200);
    for expected in [
        format!("logpipe_events_in_total {total}"),
        "logpipe_events_failed_total{tag=\"_grokparsefailure\"} 4".to_string(),
        format!("logpipe_input_events_total{{id=\"file-1\",type=\"file\"}} {total}"),
        format!("logpipe_output_events_out_total{{id=\"archive\",type=\"file\"}} {total}"),
        format!("logpipe_output_events_out_total{{id=\"live\",type=\"live\"}} {total}"),
        "logpipe_filter_failures_total{id=\"grok-1\",type=\"grok\"} 4".to_string(),
    ] {
        assert!(
            metrics.lines().any(|line| line == expected),
            "{expected} missing in\n{metrics}"
        );
    }

    // The live view, watched by three clients at once: every line is in the 5-minute window
    // once its second has closed.
    let watchers: Vec<_> = (0..3)
        .map(|_| {
            let base = base.clone();
            std::thread::spawn(move || {
                frame_where(&base, move |frame| frame["totals"]["requests"] == total)
            })
        })
        .collect();
    let frames: Vec<Value> = watchers.into_iter().map(|w| w.join().unwrap()).collect();
    let frame = &frames[0];
    assert_eq!(frame["live_users"], 7);
    assert_eq!(frame["live_users_exact"], true);
    assert_eq!(frame["totals"]["status"]["2xx"], 120);
    assert_eq!(frame["totals"]["status"]["4xx"], 30);
    assert_eq!(frame["totals"]["status"]["5xx"], 10);
    assert_eq!(frame["totals"]["status"]["other"], 4);
    assert_eq!(frame["totals"]["errors"], 10);
    assert_eq!(frame["requests_since_start"], total);
    // Query strings are stripped: "/" and "/shop" have 80 requests each.
    let urls: Vec<(String, u64)> = frame["top_urls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["value"].as_str().unwrap().to_string(),
                e["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(urls, vec![("/".to_string(), 80), ("/shop".to_string(), 80)]);
    assert_eq!(frame["recent_errors"].as_array().unwrap().len(), 10);
    let requests: u64 = frame["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(requests, total);

    // The same figures in the terminal.
    let top = logpipe()
        .args(["top", "--url", &base, "--token", TOKEN, "--once"])
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&top.stdout);
    assert!(
        top.status.success(),
        "{screen}{}",
        String::from_utf8_lossy(&top.stderr)
    );
    assert!(screen.contains("/shop"), "{screen}");
    assert!(screen.contains(&total.to_string()), "{screen}");
    // And found from the pipeline file (the URL it wrote in its data_dir, its token).
    let top = logpipe()
        .args(["top", "--once"])
        .arg(&pipeline)
        .output()
        .unwrap();
    assert!(
        top.status.success(),
        "{}",
        String::from_utf8_lossy(&top.stderr)
    );

    // Every route wants the token; the page is served whole.
    assert_eq!(http("GET", &format!("{base}/stats"), None).0, 401);
    assert_eq!(http("GET", &format!("{base}/live"), None).0, 401);
    assert_eq!(get_with_bearer(&format!("{base}/stats"), "wrong").0, 401);
    let (status, info) = get_with_bearer(&format!("{base}/"), TOKEN);
    assert_eq!(status, 200, "{info}");
    let info: Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert!(info["pipeline"].as_str().unwrap().ends_with("p.toml"));
    let (status, page) = get_with_bearer(&format!("{base}/live"), TOKEN);
    assert_eq!(status, 200);
    assert!(page.contains("/live/ws"), "the page opens the WebSocket");
    assert_eq!(
        http("GET", &format!("{base}/health?token={TOKEN}"), None),
        (200, "{\"status\":\"ok\"}".to_string())
    );

    assert!(running.terminate().success());
}

#[test]
fn health_answers_503_naming_an_output_that_delivers_nothing() {
    let dir = temp_dir();
    let port = free_port();
    let nowhere = free_port();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    append(
        &dir.path().join("logs/a.log"),
        line("10.0.0.1", "/", 200).as_bytes(),
    );
    let pipeline = write_pipeline(
        dir.path(),
        "p.toml",
        &format!(
            "[pipeline]\nshutdown_timeout = \"1s\"\n\
             [api]\nlisten = \"127.0.0.1:{port}\"\nhealth_timeout = \"2s\"\n\
             [[input]]\ntype = \"file\"\npath = \"logs/*.log\"\n\
             [[output]]\ntype = \"elasticsearch\"\nid = \"es\"\nhosts = [\"http://127.0.0.1:{nowhere}\"]\n"
        ),
    );
    let running = Running::start(&pipeline);
    let base = format!("http://127.0.0.1:{port}");
    wait_for_port(port, PATIENCE);
    let mut answer = (0, String::new());
    wait_until("/health to turn 503", PATIENCE, || {
        answer = http("GET", &format!("{base}/health"), None);
        answer.0 == 503
    });
    let body: Value = serde_json::from_str(&answer.1).unwrap();
    assert_eq!(body["status"], "unhealthy");
    let reason = body["reasons"][0].as_str().unwrap();
    assert!(
        reason.starts_with("output es has 1 batches waiting and delivered nothing for"),
        "{reason}"
    );
    // /live without a live output says how to get one.
    let (status, text) = http("GET", &format!("{base}/live"), None);
    assert_eq!(status, 404);
    assert!(text.contains("type = \"live\""), "{text}");
    running.terminate();
}

#[test]
fn a_taken_api_address_stops_the_run_with_the_key_to_change() {
    let dir = temp_dir();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    let pipeline = write_pipeline(
        dir.path(),
        "p.toml",
        &format!(
            "[api]\nlisten = \"127.0.0.1:{port}\"\n\
             [[input]]\ntype = \"file\"\npath = \"logs/*.log\"\nmode = \"read\"\n\
             [[output]]\ntype = \"stdout\"\n"
        ),
    );
    let output = logpipe().arg("run").arg(&pipeline).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port} ([api] listen)"))
            && stderr.contains("[api] enabled = false"),
        "{stderr}"
    );
}
