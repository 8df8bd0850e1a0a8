//! Real servers the end-to-end tests start on free loopback ports and stop at drop:
//! osmem-server (an OpenSearch-compatible server standing in for Elasticsearch), nginx, a
//! fault-injecting HTTP proxy, and a recording HTTP server; plus a minimal HTTP client.

use crate::support::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request with `Connection: close`; returns the status and the body.
pub fn http(method: &str, url: &str, body: Option<&str>) -> (u16, String) {
    http_with_headers(method, url, &[], body)
}

/// `http` with extra request headers.
pub fn http_with_headers(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("http:// URL");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut stream = TcpStream::connect(host).unwrap_or_else(|e| panic!("connect {host}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let body = body.unwrap_or("");
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// `http` that expects a 2xx JSON answer.
pub fn http_json(method: &str, url: &str, body: Option<&str>) -> Value {
    let (status, text) = http(method, url, body);
    assert!(
        (200..300).contains(&status),
        "{method} {url}: {status} {text}"
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {url}: {e}: {text}"))
}

/// osmem-server, installed by scripts/test in the project's `.venv`.
pub struct Osmem {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

fn osmem_binary() -> PathBuf {
    if let Ok(path) = std::env::var("OSMEM_SERVER_BIN") {
        return PathBuf::from(path);
    }
    let lib = repo().join(".venv/lib");
    std::fs::read_dir(&lib)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| {
            entry
                .path()
                .join("site-packages/osmem_server/bin/osmem-server")
        })
        .find(|path| path.exists())
        .unwrap_or_else(|| {
            panic!(
                "osmem-server is not installed under {}; run scripts/test",
                lib.display()
            )
        })
}

impl Osmem {
    /// Starts a server whose index `conflict` maps `n` as a long: a document whose `n` is a
    /// string is refused there (a mapping conflict, for the dead-letter queue).
    pub fn with_conflicting_mapping() -> Osmem {
        let osmem = Osmem::start();
        http_json(
            "PUT",
            &format!("{}/conflict", osmem.url),
            Some(r#"{"mappings":{"properties":{"n":{"type":"long"}}}}"#),
        );
        osmem
    }

    /// Starts a new, empty server on a free port.
    pub fn start() -> Osmem {
        let mut child = Command::new(osmem_binary())
            .args(["-addr", "127.0.0.1:0", "-no-stdin-watch", "-no-ja"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start osmem-server");
        let stdout = child.stdout.take().expect("osmem stdout");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("osmem first line");
        let info: Value = serde_json::from_str(&first).expect("osmem prints its URL as JSON");
        let url = info["url"].as_str().expect("osmem url").to_string();
        Osmem { child, url }
    }

    /// `host:port`.
    pub fn address(&self) -> String {
        self.url.trim_start_matches("http://").to_string()
    }

    /// Documents in `index` (a pattern is fine).
    pub fn count(&self, index: &str) -> u64 {
        let (status, body) = http("GET", &format!("{}/{index}/_count", self.url), None);
        if status == 404 {
            return 0;
        }
        let answer: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        answer["count"].as_u64().unwrap_or(0)
    }

    /// Every document of `index` (`_source`), in `log.offset` order.
    pub fn documents(&self, index: &str) -> Vec<Value> {
        self.hits(index, serde_json::json!({}))
            .into_iter()
            .map(|mut hit| hit["_source"].take())
            .collect()
    }

    /// Every hit of `index` for `query` (its other keys: `_source`, `version`, …), in pages
    /// of 10,000 in (`log.offset`, `_id`) order with `search_after`, so that documents of
    /// different files at the same offset are neither skipped nor repeated across pages.
    pub fn hits(&self, index: &str, mut query: Value) -> Vec<Value> {
        query["size"] = 10_000.into();
        query["query"] = serde_json::json!({"match_all": {}});
        query["sort"] = serde_json::json!([{"log.offset": "asc"}, {"_id": "asc"}]);
        let mut all = Vec::new();
        loop {
            let answer = http_json(
                "POST",
                &format!("{}/{index}/_search", self.url),
                Some(&query.to_string()),
            );
            let hits = answer["hits"]["hits"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let Some(last) = hits.last() else {
                return all;
            };
            query["search_after"] = last["sort"].clone();
            all.extend(hits);
        }
    }
}

impl Drop for Osmem {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx with a test's own configuration (the `http {}` block's servers), as a foreground
/// process writing its logs in `dir`.
pub struct Nginx {
    child: Child,
}

impl Nginx {
    /// Starts nginx with `servers` inside `http {}` and waits until `port` accepts.
    pub fn start(dir: &Path, servers: &str, port: u16) -> Nginx {
        let d = dir.display();
        let config = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log {d}/access.log combined;\n\
               client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;\n\
               uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n{servers}\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), config).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx must be installed (scripts/test installs it)");
        wait_until("nginx to listen", Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Nginx { child }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the fault proxy does with the next requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Pass requests to the upstream server.
    None,
    /// Close every connection at once (the server is down).
    Down,
    /// Answer every request with this status and an error body.
    Status(u16),
    /// Answer every `_bulk` request with HTTP 200 and a bulk response whose every item has
    /// this status (`"errors": true`), one item per action line of the request, as
    /// Elasticsearch does under indexing pressure (429, `es_rejected_execution_exception`).
    /// Nothing is indexed. Other requests pass.
    ItemStatus(u16),
    /// Like `ItemStatus` for every second item of each `_bulk` (the 2nd, 4th, …); the other
    /// items are passed to the upstream and answered as it answers them: a cluster under
    /// pressure that takes part of a request.
    SomeItemStatus(u16),
    /// Pass each request to the upstream (so a `_bulk` is indexed), then send only the
    /// answer's head and half of its body, and close the connection.
    CutMidResponse,
    /// Wait this long before passing each request on (a slow server).
    Slow(Duration),
}

/// An HTTP proxy in front of a server that injects faults, and counts requests by path.
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    fault: Arc<Mutex<Fault>>,
    /// Requests seen (all, including refused ones).
    pub requests: Arc<AtomicUsize>,
    /// `_bulk` requests passed to the upstream.
    pub bulk_forwarded: Arc<AtomicUsize>,
    /// Items (documents) of the `_bulk` requests passed to the upstream.
    pub bulk_items_forwarded: Arc<AtomicUsize>,
    /// `_bulk` requests a fault was applied to (refused, answered with item errors, cut or
    /// delayed); connections closed by `Down` before a request was read are not counted.
    pub bulk_faulted: Arc<AtomicUsize>,
    /// Requests being passed on without a fault right now (taken before a fault was set,
    /// or not `_bulk` under the item faults): once it is 0 after `set`, every later
    /// `_bulk` answer has the fault.
    pub passing: Arc<AtomicUsize>,
    stopped: Arc<AtomicBool>,
}

/// The counters a proxy connection updates.
#[derive(Clone)]
struct ProxyCounters {
    requests: Arc<AtomicUsize>,
    bulk_forwarded: Arc<AtomicUsize>,
    bulk_items_forwarded: Arc<AtomicUsize>,
    bulk_faulted: Arc<AtomicUsize>,
    passing: Arc<AtomicUsize>,
}

fn current(fault: &Mutex<Fault>) -> Fault {
    *fault
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let proxy = FaultProxy {
            url,
            fault: Arc::new(Mutex::new(Fault::None)),
            requests: Arc::default(),
            bulk_forwarded: Arc::default(),
            bulk_items_forwarded: Arc::default(),
            bulk_faulted: Arc::default(),
            passing: Arc::default(),
            stopped: Arc::default(),
        };
        let upstream = upstream.to_string();
        let fault = Arc::clone(&proxy.fault);
        let stopped = Arc::clone(&proxy.stopped);
        let counters = ProxyCounters {
            requests: Arc::clone(&proxy.requests),
            bulk_forwarded: Arc::clone(&proxy.bulk_forwarded),
            bulk_items_forwarded: Arc::clone(&proxy.bulk_items_forwarded),
            bulk_faulted: Arc::clone(&proxy.bulk_faulted),
            passing: Arc::clone(&proxy.passing),
        };
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                if current(&fault) == Fault::Down {
                    drop(client);
                    continue;
                }
                let (upstream, fault, counters) =
                    (upstream.clone(), Arc::clone(&fault), counters.clone());
                std::thread::spawn(move || serve_connection(client, &upstream, &fault, &counters));
            }
        });
        proxy
    }

    /// Sets what happens to the next requests.
    pub fn set(&self, fault: Fault) {
        *self
            .fault
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fault;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
}

/// One HTTP request read off a connection.
pub struct RawRequest {
    /// `POST /_bulk HTTP/1.1`.
    pub request_line: String,
    /// Header lines as written.
    pub headers: Vec<String>,
    /// The body.
    pub body: Vec<u8>,
}

impl RawRequest {
    /// The value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// Reads one request (headers and Content-Length body); `None` at end of stream.
pub fn read_request(reader: &mut BufReader<TcpStream>) -> Option<RawRequest> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).ok()? == 0 {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end().to_string();
        if line.is_empty() {
            break;
        }
        headers.push(line);
    }
    let mut request = RawRequest {
        request_line: request_line.trim_end().to_string(),
        headers,
        body: Vec::new(),
    };
    let length: usize = request
        .header("content-length")
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    request.body = vec![0; length];
    reader.read_exact(&mut request.body).ok()?;
    Some(request)
}

fn serve_connection(
    client: TcpStream,
    upstream: &str,
    fault: &Mutex<Fault>,
    counters: &ProxyCounters,
) {
    let _ = client.set_nonblocking(false);
    let mut writer = match client.try_clone() {
        Ok(writer) => writer,
        Err(_) => return,
    };
    let mut reader = BufReader::new(client);
    while let Some(request) = read_request(&mut reader) {
        counters.requests.fetch_add(1, Ordering::Relaxed);
        let is_bulk = request.request_line.contains("/_bulk");
        let fault = current(fault);
        if is_bulk && fault != Fault::None && fault != Fault::Down {
            counters.bulk_faulted.fetch_add(1, Ordering::Relaxed);
        }
        let answer = match fault {
            Fault::Down => return,
            Fault::Status(status) => {
                let body = format!(
                    r#"{{"error":{{"type":"injected","reason":"fault proxy"}},"status":{status}}}"#
                );
                json_answer(status, &body)
            }
            Fault::ItemStatus(status) if is_bulk => {
                let items = bulk_items(&request);
                let answers: Vec<Value> =
                    items.iter().map(|item| item_error(item, status)).collect();
                json_answer(200, &bulk_answer(answers))
            }
            Fault::SomeItemStatus(status) if is_bulk => {
                // Even items go to the upstream in one request of their own; odd ones are
                // refused. The answer has one item per item sent, in order.
                let items = bulk_items(&request);
                let (passed, refused): (Vec<_>, Vec<_>) =
                    items.iter().enumerate().partition(|(at, _)| at % 2 == 0);
                let body: String = passed.iter().map(|(_, item)| item.lines.as_str()).collect();
                counters.bulk_forwarded.fetch_add(1, Ordering::Relaxed);
                counters
                    .bulk_items_forwarded
                    .fetch_add(passed.len(), Ordering::Relaxed);
                let Some(answer) = forward(upstream, &request.with_plain_body(body.into_bytes()))
                else {
                    return;
                };
                let upstream_items = answer_body(&answer)
                    .and_then(|body| serde_json::from_slice::<Value>(body).ok())
                    .and_then(|body| body["items"].as_array().cloned())
                    .unwrap_or_default();
                if upstream_items.len() != passed.len() {
                    return;
                }
                let mut upstream_items = upstream_items.into_iter();
                let mut refused = refused.into_iter().peekable();
                let answers: Vec<Value> = (0..items.len())
                    .filter_map(|at| match refused.peek() {
                        Some((next, item)) if *next == at => {
                            let error = item_error(item, status);
                            refused.next();
                            Some(error)
                        }
                        _ => upstream_items.next(),
                    })
                    .collect();
                json_answer(200, &bulk_answer(answers))
            }
            Fault::CutMidResponse => {
                if is_bulk {
                    counters.count_forwarded(&request);
                }
                let Some(answer) = forward(upstream, &request) else {
                    return;
                };
                let text = String::from_utf8_lossy(&answer);
                let head = text.find("\r\n\r\n").map_or(answer.len(), |at| at + 4);
                let cut = head + (answer.len() - head) / 2;
                let _ = writer.write_all(&answer[..cut]);
                let _ = writer.flush();
                let _ = writer.shutdown(std::net::Shutdown::Both);
                return;
            }
            Fault::Slow(delay) => {
                std::thread::sleep(delay);
                if is_bulk {
                    counters.count_forwarded(&request);
                }
                let Some(answer) = forward(upstream, &request) else {
                    return;
                };
                answer
            }
            Fault::None | Fault::ItemStatus(_) | Fault::SomeItemStatus(_) => {
                if is_bulk {
                    counters.count_forwarded(&request);
                }
                counters.passing.fetch_add(1, Ordering::Relaxed);
                let answered = forward(upstream, &request)
                    .is_some_and(|answer| writer.write_all(&answer).is_ok());
                counters.passing.fetch_sub(1, Ordering::Relaxed);
                if !answered {
                    return;
                }
                continue;
            }
        };
        if writer.write_all(&answer).is_err() {
            return;
        }
    }
}

impl ProxyCounters {
    fn count_forwarded(&self, request: &RawRequest) {
        self.bulk_forwarded.fetch_add(1, Ordering::Relaxed);
        self.bulk_items_forwarded
            .fetch_add(bulk_items(request).len(), Ordering::Relaxed);
    }
}

/// An HTTP/1.1 answer with a JSON body.
fn json_answer(status: u16, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        if status == 200 { "OK" } else { "Injected" },
        body.len()
    )
    .into_bytes()
}

/// The body of an HTTP answer (after the head), if it has one.
fn answer_body(answer: &[u8]) -> Option<&[u8]> {
    let at = answer.windows(4).position(|window| window == b"\r\n\r\n")?;
    answer.get(at + 4..)
}

/// One item of a bulk request: its action, its metadata and its lines (action and document,
/// each with its newline).
struct BulkItem {
    action: String,
    meta: Value,
    lines: String,
}

/// The items of a bulk request body (NDJSON: an action line, then, but for `delete`, a
/// document line), gzip-decoded when the request says so.
fn bulk_items(request: &RawRequest) -> Vec<BulkItem> {
    let mut body = Vec::new();
    if request
        .header("content-encoding")
        .is_some_and(|encoding| encoding.eq_ignore_ascii_case("gzip"))
    {
        let _ = flate2::read::GzDecoder::new(&request.body[..]).read_to_end(&mut body);
    } else {
        body.clone_from(&request.body);
    }
    let text = String::from_utf8_lossy(&body);
    let mut lines = text.lines().filter(|line| !line.trim().is_empty());
    let mut items = Vec::new();
    while let Some(line) = lines.next() {
        let parsed: Value = serde_json::from_str(line).unwrap_or(Value::Null);
        let Some((action, meta)) = parsed.as_object().and_then(|object| object.iter().next())
        else {
            continue;
        };
        let mut item_lines = format!("{line}\n");
        if action != "delete"
            && let Some(document) = lines.next()
        {
            item_lines.push_str(document);
            item_lines.push('\n');
        }
        items.push(BulkItem {
            action: action.clone(),
            meta: meta.clone(),
            lines: item_lines,
        });
    }
    items
}

/// The answer to one bulk item refused with `status`, as Elasticsearch writes it (429:
/// `es_rejected_execution_exception`).
fn item_error(item: &BulkItem, status: u16) -> Value {
    let mut answer = serde_json::json!({
        "_index": item.meta.get("_index").cloned().unwrap_or(Value::Null),
        "status": status,
        "error": {
            "type": if status == 429 { "es_rejected_execution_exception" } else { "injected" },
            "reason": "rejected by the fault proxy",
        },
    });
    if let Some(id) = item.meta.get("_id") {
        answer["_id"] = id.clone();
    }
    serde_json::json!({ item.action.as_str(): answer })
}

/// A bulk response body with these items and `"errors": true`.
fn bulk_answer(items: Vec<Value>) -> String {
    serde_json::json!({"took": 1, "errors": true, "items": items}).to_string()
}

impl RawRequest {
    /// The same request with another, uncompressed body (`Content-Length` set to match).
    fn with_plain_body(&self, body: Vec<u8>) -> RawRequest {
        let mut headers: Vec<String> = self
            .headers
            .iter()
            .filter(|line| {
                let name = line.split(':').next().unwrap_or("").trim();
                !name.eq_ignore_ascii_case("content-length")
                    && !name.eq_ignore_ascii_case("content-encoding")
            })
            .cloned()
            .collect();
        headers.push(format!("Content-Length: {}", body.len()));
        RawRequest {
            request_line: self.request_line.clone(),
            headers,
            body,
        }
    }
}

/// Sends `request` to `upstream` on a connection of its own; returns the whole answer, with
/// `Connection: close` so the answer ends at end of stream.
fn forward(upstream: &str, request: &RawRequest) -> Option<Vec<u8>> {
    let mut server = TcpStream::connect(upstream).ok()?;
    let mut head = format!("{}\r\n", request.request_line);
    for header in &request.headers {
        let name = header.split(':').next().unwrap_or("").trim();
        if !name.eq_ignore_ascii_case("connection") {
            head.push_str(header);
            head.push_str("\r\n");
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    server.write_all(head.as_bytes()).ok()?;
    server.write_all(&request.body).ok()?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer).ok()?;
    // Keep the client's connection usable: it may send more requests after this answer.
    let text = String::from_utf8_lossy(&answer);
    let (head, _) = text.split_once("\r\n\r\n")?;
    let head_len = head.len() + 4;
    let mut fixed: Vec<u8> = head
        .lines()
        .filter(|line| !line.to_ascii_lowercase().starts_with("connection:"))
        .collect::<Vec<_>>()
        .join("\r\n")
        .into_bytes();
    let body = &answer[head_len..];
    if !head.to_ascii_lowercase().contains("content-length:") {
        // An answer framed by closing: give it a length for the kept-alive client.
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(&String::from_utf8_lossy(body)).into_bytes()
        } else {
            body.to_vec()
        };
        let mut out: Vec<u8> = String::from_utf8_lossy(&fixed)
            .lines()
            .filter(|line| !line.to_ascii_lowercase().starts_with("transfer-encoding:"))
            .collect::<Vec<_>>()
            .join("\r\n")
            .into_bytes();
        out.extend_from_slice(format!("\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
        out.extend_from_slice(&body);
        return Some(out);
    }
    fixed.extend_from_slice(b"\r\n\r\n");
    fixed.extend_from_slice(body);
    Some(fixed)
}

/// An HTTP server that records every request and answers each with `answer` (status, body).
pub struct RecordingServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Requests received, in order.
    pub requests: Arc<Mutex<Vec<RawRequest>>>,
}

impl RecordingServer {
    /// Starts the server.
    pub fn start(status: u16, answer: &'static str) -> RecordingServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests: Arc<Mutex<Vec<RawRequest>>> = Arc::default();
        let recorded = Arc::clone(&requests);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let recorded = Arc::clone(&recorded);
                std::thread::spawn(move || {
                    let Ok(mut writer) = client.try_clone() else {
                        return;
                    };
                    let mut reader = BufReader::new(client);
                    while let Some(request) = read_request(&mut reader) {
                        recorded.lock().unwrap().push(request);
                        let reply = format!(
                            "HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
                            answer.len()
                        );
                        if writer.write_all(reply.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        RecordingServer { url, requests }
    }
}
