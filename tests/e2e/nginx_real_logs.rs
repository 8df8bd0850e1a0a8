//! Real nginx writes the access log (IPv4 and IPv6 clients, several methods, a bad request
//! with binary junk); the bundled NGINX_COMBINED pattern must parse every line of it.

use crate::servers::{Nginx, free_port};
use crate::support::*;
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

fn start_nginx(dir: &Path, port: u16) -> Nginx {
    let servers = format!(
        "  server {{\n    listen 127.0.0.1:{port};\n    listen [::1]:{port};\n\
         location = /missing {{ return 404; }}\n    location / {{ return 200 \"ok\\n\"; }}\n  }}"
    );
    Nginx::start(dir, &servers, port)
}

/// Sends raw bytes as one request and reads the whole answer.
fn request(address: &str, raw: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(raw).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn every_line_nginx_writes_is_parsed_by_nginx_combined() {
    let dir = temp_dir();
    let port = free_port();
    let nginx = start_nginx(dir.path(), port);
    let v4 = format!("127.0.0.1:{port}");
    let v6 = format!("[::1]:{port}");
    let browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    let requests: Vec<(&str, Vec<u8>)> = vec![
        (&v4, format!("GET /index.html?q=caf%C3%A9&x=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: {browser}\r\nReferer: http://example.test/\r\nConnection: close\r\n\r\n").into_bytes()),
        (&v4, b"HEAD /missing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".to_vec()),
        (&v6, b"POST /api/v1/items HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nUser-Agent: say \"hi\"\r\nConnection: close\r\n\r\n{}".to_vec()),
        (&v4, b"GET / HTTP/1.0\r\n\r\n".to_vec()),
        (&v4, b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n".to_vec()),
    ];
    for (address, raw) in &requests {
        request(address, raw);
    }
    // nginx writes a request's log line after it answered: wait for all of them.
    let log = dir.path().join("access.log");
    let logged = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
    };
    wait_until(
        "nginx to log every request",
        Duration::from_secs(10),
        || logged() >= requests.len(),
    );
    drop(nginx);
    let written = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(written.lines().count(), requests.len(), "{written}");

    let pipeline = write_pipeline(
        dir.path(),
        "p.toml",
        "[[input]]\ntype = \"file\"\npath = \"access.log\"\nmode = \"read\"\nstart_position = \"beginning\"\n\
         [[filter]]\ntype = \"grok\"\nmatch = { message = \"%{NGINX_COMBINED}\" }\n\
         [[filter]]\ntype = \"date\"\nmatch = [\"nginx.access.time\", \"dd/MMM/yyyy:HH:mm:ss Z\"]\n\
         [[output]]\ntype = \"stdout\"\n",
    );
    let events = json_lines(&run_to_end(&pipeline).stdout);
    assert_eq!(events.len(), requests.len());
    for event in &events {
        assert!(event.get("tags").is_none(), "not parsed: {event}");
    }
    let status: Vec<_> = events
        .iter()
        .map(|e| e["http"]["response"]["status_code"].clone())
        .collect();
    assert_eq!(
        status,
        [json!(200), json!(404), json!(200), json!(200), json!(400)]
    );
    assert_eq!(
        events[0]["url"]["original"],
        json!("/index.html?q=caf%C3%A9&x=1")
    );
    assert_eq!(events[0]["http"]["request"]["method"], json!("GET"));
    assert_eq!(
        events[0]["http"]["request"]["referrer"],
        json!("http://example.test/")
    );
    assert_eq!(events[0]["user_agent"]["original"], json!(browser));
    assert_eq!(events[1]["http"]["request"]["method"], json!("HEAD"));
    assert_eq!(events[2]["source"]["address"], json!("::1"));
    assert_eq!(
        events[2]["user_agent"]["original"],
        json!("say \\x22hi\\x22")
    );
    assert_eq!(events[3]["http"]["version"], json!("1.0"));
    assert!(
        events[4]["url"].get("original").is_none()
            || events[4]["http"]["request"].get("method").is_none()
    );
    assert!(events[0]["@timestamp"].as_str().unwrap().ends_with(".000Z"));
}
