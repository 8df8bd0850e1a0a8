//! The live page in a real browser: headless Chromium loads `/live` of a pipeline tailing
//! a log while lines are appended, and shows the request count and live users that came
//! over the WebSocket; then a screenshot (README's docs/live.png with
//! `LOGPIPE_UPDATE_SCREENSHOT=1`), the tail's filter and pause, and a reconnect after a restart.

use crate::chromium::Browser;
use crate::servers::{free_port, http};
use crate::support::*;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(30);

#[test]
fn the_live_page_shows_the_counts_streamed_over_the_websocket() {
    let dir = temp_dir();
    let port = free_port();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    let pipeline = write_pipeline(
        dir.path(),
        "p.toml",
        &format!(
            "[api]\nlisten = \"127.0.0.1:{port}\"\n\
             [[input]]\ntype = \"file\"\npath = \"logs/*.log\"\ncharset = \"ISO-8859-1\"\npoll_interval = \"50ms\"\ndiscover_interval = \"200ms\"\n\
             [[filter]]\ntype = \"grok\"\nmatch = {{ message = [\"%{{NGINX_MAIN}}\", \"%{{NGINX_COMBINED}}\"] }}\n\
             [[filter]]\ntype = \"useragent\"\n\
             [[output]]\ntype = \"live\"\nwindow = \"1m\"\n"
        ),
    );
    let running = Running::start(&pipeline);
    wait_for_port(port, PATIENCE);
    let mut browser = Browser::open(&format!("http://127.0.0.1:{port}/live"));
    browser.wait_for(
        "document.getElementById('connection').textContent === 'live'",
        "document.getElementById('connection').textContent",
        PATIENCE,
    );

    // The sample log (Latin-1), appended in parts over ten seconds so the chart has a shape.
    let sample = std::fs::read(repo().join("examples/access.log")).unwrap();
    let lines: Vec<&[u8]> = sample
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let log = dir.path().join("logs/access.log");
    for part in lines.chunks(10) {
        let mut text = part.join(&b'\n');
        text.push(b'\n');
        append(&log, &text);
        std::thread::sleep(Duration::from_millis(250));
    }
    browser.wait_for(
        &format!(
            "document.getElementById('requests-total').textContent === '{}'",
            lines.len()
        ),
        "document.getElementById('requests-total').textContent",
        PATIENCE,
    );
    // The page shows what the WebSocket sent (the exact figures are checked in monitoring_api).
    let (_, snapshot) = http(
        "GET",
        &format!("http://127.0.0.1:{port}/live/snapshot"),
        None,
    );
    let snapshot: serde_json::Value = serde_json::from_str(&snapshot).unwrap();
    assert!(snapshot["live_users"].as_u64().unwrap() > 40, "{snapshot}");
    assert_eq!(
        browser.evaluate("document.getElementById('live-users').textContent"),
        snapshot["live_users"].to_string()
    );
    assert!(
        browser
            .evaluate("document.querySelectorAll('#top-urls tr').length")
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(
        browser
            .evaluate("document.querySelectorAll('#tail .line').length")
            .as_u64()
            .unwrap()
            > 0
    );

    let png = browser.screenshot();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert!(png.len() > 20_000, "a screenshot with content");
    let target = if std::env::var_os("LOGPIPE_UPDATE_SCREENSHOT").is_some() {
        repo().join("docs/live.png")
    } else {
        dir.path().join("live.png")
    };
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(&target, png).unwrap();

    // The tail filters case-insensitively what it shows, and pauses.
    browser.evaluate(
        "const f = document.getElementById('tail-filter'); f.value = 'FAVICON'; \
         f.dispatchEvent(new Event('input')); true",
    );
    let shown = browser.evaluate(
        "[...document.querySelectorAll('#tail .line')].filter(l => !l.hidden).map(l => l.textContent)",
    );
    let shown = shown.as_array().unwrap();
    assert!(!shown.is_empty());
    assert!(
        shown
            .iter()
            .all(|line| line.as_str().unwrap().to_lowercase().contains("favicon")),
        "{shown:?}"
    );
    browser.evaluate("document.getElementById('tail-pause').click(); true");
    assert_eq!(
        browser.evaluate("document.getElementById('tail-pause').getAttribute('aria-pressed')"),
        "true"
    );

    // The page reconnects by itself when logpipe restarts (same address).
    assert!(running.terminate().success());
    browser.wait_for(
        "document.getElementById('connection').textContent !== 'live'",
        "document.getElementById('connection').textContent",
        PATIENCE,
    );
    let running = Running::start(&pipeline);
    browser.wait_for(
        "document.getElementById('connection').textContent === 'live' \
         && document.getElementById('requests-since-start').textContent === '0'",
        "document.getElementById('connection').textContent",
        PATIENCE,
    );
    drop(browser);
    running.terminate();
}
