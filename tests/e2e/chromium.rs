//! Headless Chromium (Debian's `chromium`) driven over the DevTools protocol for the browser
//! tests: start it on a page, evaluate JavaScript in it, wait for a condition, take a
//! screenshot. A minimal CDP client over tokio-tungstenite; no browser download.

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Where Debian installs it.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// A headless Chromium showing one page; killed at drop.
pub struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
    page: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Browser {
    /// Starts Chromium (1280×900) on `url`, as the probe of this machine does: headless, no
    /// sandbox (root), no GPU, no background traffic, a fresh profile.
    pub fn open(url: &str) -> Browser {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: scripts/test installs it as root (apt-get install chromium)"
        );
        let profile = tempfile::tempdir().expect("profile dir");
        let child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--hide-scrollbars",
                "--window-size=1280,900",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        let port = devtools_port(profile.path());
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let page_url = page_socket(port, url);
        let (page, _) = runtime
            .block_on(tokio_tungstenite::connect_async(&page_url))
            .expect("connect to the page");
        Browser {
            child,
            _profile: profile,
            runtime,
            page,
            next_id: 0,
        }
    }

    /// Sends one DevTools command to the page and returns its `result`.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let request = json!({"id": id, "method": method, "params": params}).to_string();
        let page = &mut self.page;
        self.runtime.block_on(async {
            page.send(Message::Text(request.into()))
                .await
                .expect("send");
            loop {
                let message = tokio::time::timeout(Duration::from_secs(30), page.next())
                    .await
                    .unwrap_or_else(|_| panic!("no answer to {method}"))
                    .expect("page connection open")
                    .expect("read");
                let Ok(text) = message.to_text() else {
                    continue;
                };
                let answer: Value = serde_json::from_str(text).expect("JSON");
                if answer["id"] == id {
                    assert!(answer["error"].is_null(), "{method}: {answer}");
                    return answer["result"].clone();
                }
            }
        })
    }

    /// Evaluates `expression` in the page and returns its value.
    pub fn evaluate(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        assert!(
            result["exceptionDetails"].is_null(),
            "{expression}: {result}"
        );
        result["result"]["value"].clone()
    }

    /// Polls `expression` until it is `true`; panics with the last value of `shown` after
    /// `timeout`.
    pub fn wait_for(&mut self, expression: &str, shown: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.evaluate(expression) == Value::Bool(true) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {expression}; the page shows {}",
                self.evaluate(shown)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A PNG of the page as it is shown.
    pub fn screenshot(&mut self) -> Vec<u8> {
        let result = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let data = result["data"].as_str().expect("screenshot data");
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("base64")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port Chromium chose, from `DevToolsActivePort` in its profile.
fn devtools_port(profile: &Path) -> u16 {
    let file: PathBuf = profile.join("DevToolsActivePort");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(port) = std::fs::read_to_string(&file)
            .ok()
            .and_then(|text| text.lines().next()?.trim().parse().ok())
        {
            return port;
        }
        assert!(Instant::now() < deadline, "chromium did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The DevTools WebSocket of the page showing `url`.
fn page_socket(port: u16, url: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) =
            crate::servers::http("GET", &format!("http://127.0.0.1:{port}/json/list"), None);
        if status == 200 {
            let targets: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let page = targets.as_array().and_then(|targets| {
                targets.iter().find(|t| {
                    t["type"] == "page" && t["url"].as_str().is_some_and(|u| u.starts_with(url))
                })
            });
            if let Some(socket) = page.and_then(|p| p["webSocketDebuggerUrl"].as_str()) {
                return socket.to_string();
            }
        }
        assert!(Instant::now() < deadline, "no page for {url}: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
