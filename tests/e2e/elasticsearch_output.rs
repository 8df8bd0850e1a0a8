//! The elasticsearch output against osmem-server (an OpenSearch-compatible server; no registry
//! here ships Elasticsearch): documents and aggregations, the dead-letter queue and its replay,
//! outages and injected 429/503 through a fault proxy, a crash with fingerprint ids, basic
//! auth and TLS through nginx, and `logpipe setup`. osmem keeps its data in memory, so "the
//! server is down" is played by the proxy refusing every connection, not by killing osmem.
//! osmem has no data streams, and no Kibana runs here: those requests go to a recording
//! server and their exact bodies are asserted.

use crate::servers::*;
use crate::support::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// `count` nginx combined lines, each unique (the request path carries its number).
pub(crate) fn combined_lines(count: usize) -> String {
    let statuses = [200, 200, 200, 304, 404, 500, 301, 200];
    (0..count)
        .map(|i| {
            format!(
                "10.0.{}.{} - - [01/Dec/2026:10:{:02}:{:02} +0000] \"GET /item/{i}?q=x HTTP/1.1\" {} {} \"-\" \"curl/8.5.0\"\n",
                i / 250 % 250,
                i % 250,
                i / 60 % 60,
                i % 60,
                statuses[i % statuses.len()],
                100 + i % 900
            )
        })
        .collect()
}

/// A read-mode pipeline: `log` → grok NGINX_COMBINED → date → `output` options.
fn nginx_pipeline(dir: &Path, log: &str, output: &str) -> std::path::PathBuf {
    write_pipeline(
        dir,
        "p.toml",
        &format!(
            "[pipeline]\nbatch_size = 256\n\
             [[input]]\ntype = \"file\"\npath = \"{log}\"\nmode = \"read\"\n\
             [[filter]]\ntype = \"grok\"\nmatch = {{ message = \"%{{NGINX_COMBINED}}\" }}\n\
             [[filter]]\ntype = \"date\"\nmatch = [\"nginx.access.time\", \"dd/MMM/yyyy:HH:mm:ss Z\"]\n\
             [[output]]\ntype = \"elasticsearch\"\nflush_interval = \"100ms\"\nretry_initial = \"50ms\"\nretry_max = \"500ms\"\n{output}\n"
        ),
    )
}

fn originals(documents: &[Value]) -> Vec<String> {
    documents
        .iter()
        .map(|doc| {
            doc["event"]["original"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

fn assert_exactly_the_lines(documents: &[Value], text: &str) {
    let mut found = originals(documents);
    found.sort();
    let mut expected: Vec<String> = text.lines().map(str::to_string).collect();
    expected.sort();
    assert_eq!(found.len(), expected.len(), "documents vs lines");
    assert_eq!(found, expected, "every line exactly once");
}

#[test]
fn sample_log_lands_in_elasticsearch_with_status_counts_matching_the_input() {
    let osmem = Osmem::start();
    let dir = temp_dir();
    let sample = repo().join("examples/access.log");
    let pipeline = write_pipeline(
        dir.path(),
        "p.toml",
        &format!(
            "[[input]]\ntype = \"file\"\npath = \"{}\"\nmode = \"read\"\ncharset = \"ISO-8859-1\"\n\
             [[filter]]\ntype = \"grok\"\nmatch = {{ message = [\"%{{NGINX_MAIN}}\", \"%{{NGINX_COMBINED}}\"] }}\n\
             [[filter]]\ntype = \"date\"\nmatch = [\"nginx.access.time\", \"dd/MMM/yyyy:HH:mm:ss Z\"]\n\
             [[filter]]\ntype = \"useragent\"\n\
             [[output]]\ntype = \"elasticsearch\"\nhosts = \"{}\"\nindex = \"nginx-%{{+yyyy.MM.dd}}\"\ndocument_id = \"fingerprint\"\nsetup = true\n\
             [[output]]\ntype = \"file\"\npath = \"expected.ndjson\"\n",
            sample.display(),
            osmem.url
        ),
    );
    run_to_end(&pipeline);
    let expected = ndjson_in(dir.path());
    let lines = std::fs::read(&sample)
        .unwrap()
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .count();
    assert_eq!(expected.len(), lines);
    assert_eq!(osmem.count("nginx-*"), lines as u64);

    let mut by_status: BTreeMap<i64, u64> = BTreeMap::new();
    for event in &expected {
        if let Some(status) = field(event, "http.response.status_code").and_then(Value::as_i64) {
            *by_status.entry(status).or_default() += 1;
        }
    }
    let answer = http_json(
        "POST",
        &format!("{}/nginx-*/_search", osmem.url),
        Some(
            r#"{"size":0,"aggs":{"status":{"terms":{"field":"http.response.status_code","size":100}}}}"#,
        ),
    );
    let buckets: BTreeMap<i64, u64> = answer["aggregations"]["status"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["key"].as_i64().unwrap(), b["doc_count"].as_u64().unwrap()))
        .collect();
    assert_eq!(buckets, by_status);

    // setup = true installed the ECS mappings before the first document.
    let mapping = http_json("GET", &format!("{}/nginx-*/_mapping", osmem.url), None);
    let properties =
        &mapping.as_object().unwrap().values().next().unwrap()["mappings"]["properties"];
    assert_eq!(
        properties["http"]["properties"]["response"]["properties"]["status_code"]["type"],
        "long"
    );
    assert_eq!(
        properties["url"]["properties"]["original"]["type"],
        "wildcard"
    );
    assert_eq!(properties["@timestamp"]["type"], "date");
}

#[test]
fn mapping_conflicts_go_to_the_dead_letter_queue_and_replay_delivers_them_after_a_fix() {
    let osmem = Osmem::with_conflicting_mapping();
    let dir = temp_dir();
    std::fs::write(
        dir.path().join("in.ndjson"),
        "{\"n\":1}\n{\"n\":\"abc\"}\n{\"n\":2}\n{\"n\":\"x\"}\n{\"n\":3}\n",
    )
    .unwrap();
    let pipeline = write_pipeline(
        dir.path(),
        "p.toml",
        &format!(
            "[[input]]\ntype = \"file\"\npath = \"in.ndjson\"\nmode = \"read\"\ncodec = \"json\"\n\
             [[output]]\ntype = \"elasticsearch\"\nhosts = \"{}\"\nindex = \"${{TARGET:-conflict}}\"\n",
            osmem.url
        ),
    );
    let output = run_to_end(&pipeline);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(osmem.count("conflict"), 3);
    let dlq = dir.path().join("data/dlq/elasticsearch-1");
    let letters = ndjson_in(&dlq);
    assert_eq!(letters.len(), 2, "{stderr}");
    for letter in &letters {
        assert_eq!(letter["status"], 400);
        assert_eq!(letter["index"], "conflict");
        assert_eq!(letter["output"], "elasticsearch-1");
        assert_eq!(letter["error_type"], "mapper_parsing_exception");
        assert!(
            letter["reason"].as_str().unwrap().contains("[n]"),
            "{letter}"
        );
        assert!(letter["@timestamp"].is_string());
    }
    let refused: BTreeSet<&str> = letters
        .iter()
        .map(|l| l["event"]["n"].as_str().unwrap())
        .collect();
    assert_eq!(refused, BTreeSet::from(["abc", "x"]));

    // The fix: send them to an index without the conflicting mapping.
    let replay = logpipe()
        .args(["dlq", "replay"])
        .arg(&pipeline)
        .env("TARGET", "fixed")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&replay.stdout);
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert_eq!(
        said.trim(),
        "elasticsearch-1: replayed 2 events from 1 files; 0 refused again (back in the queue)"
    );
    assert_eq!(osmem.count("fixed"), 2);
    assert!(ndjson_in(&dlq).is_empty());
    assert_eq!(std::fs::read_dir(&dlq).unwrap().count(), 0);
}

/// osmem behind a fault proxy, and a read-mode pipeline of `count` fresh lines into `index`
/// with fingerprint ids (and `extra` output options).
struct Proxied {
    osmem: Osmem,
    proxy: FaultProxy,
    dir: tempfile::TempDir,
    text: String,
    pipeline: std::path::PathBuf,
}

impl Proxied {
    fn new(count: usize, index: &str, extra: &str) -> Proxied {
        let osmem = Osmem::start();
        let proxy = FaultProxy::start(&osmem.address());
        let dir = temp_dir();
        let text = combined_lines(count);
        std::fs::write(dir.path().join("access.log"), &text).unwrap();
        let pipeline = nginx_pipeline(
            dir.path(),
            "access.log",
            &format!(
                "hosts = \"{}\"\nindex = \"{index}\"\ndocument_id = \"fingerprint\"\n{extra}",
                proxy.url
            ),
        );
        Proxied {
            osmem,
            proxy,
            dir,
            text,
            pipeline,
        }
    }
}

#[test]
fn an_outage_in_the_middle_of_a_run_loses_nothing_and_duplicates_nothing() {
    let Proxied {
        osmem,
        proxy,
        dir,
        text,
        pipeline,
    } = Proxied::new(20_000, "outage", "batch_size = 500\nconcurrency = 1");
    let mut running = Running::start(&pipeline);
    wait_until("first documents", Duration::from_secs(60), || {
        osmem.count("outage") > 0
    });
    proxy.set(Fault::Down);
    let during = osmem.count("outage");
    std::thread::sleep(Duration::from_secs(10));
    assert_eq!(
        osmem.count("outage"),
        during,
        "nothing gets through while down"
    );
    assert!(during < 20_000, "the outage came before the end");
    assert!(
        running.child.try_wait().unwrap().is_none(),
        "logpipe waits, it does not exit"
    );
    proxy.set(Fault::None);
    // Deliveries resume within seconds (the host is retried after at most retry_max).
    wait_until("deliveries to resume", Duration::from_secs(15), || {
        osmem.count("outage") > during
    });
    assert!(running.wait_for_exit(Duration::from_secs(300)).success());
    assert_exactly_the_lines(&osmem.documents("outage"), &text);
    let stderr = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    let complaints = stderr.lines().filter(|l| l.contains("retrying")).count();
    assert!(
        (1..=5).contains(&complaints),
        "the outage is reported, not once per event or request:\n{stderr}"
    );
}

#[test]
fn a_crash_and_restart_with_fingerprint_ids_indexes_every_line_once() {
    let Proxied {
        osmem,
        proxy,
        text,
        pipeline,
        dir: _dir,
    } = Proxied::new(10_000, "crash", "batch_size = 300");
    let running = Running::start(&pipeline);
    wait_until("first documents", Duration::from_secs(60), || {
        osmem.count("crash") > 0
    });
    // Stop deliveries so the crash surely leaves indexed but unacknowledged events behind.
    proxy.set(Fault::Status(503));
    let seen = proxy.requests.load(std::sync::atomic::Ordering::Relaxed);
    wait_until(
        "a bulk request answered 503",
        Duration::from_secs(30),
        || proxy.requests.load(std::sync::atomic::Ordering::Relaxed) > seen + 1,
    );
    running.kill();
    let before_restart = osmem.count("crash");
    assert!(before_restart < 10_000);
    proxy.set(Fault::None);
    run_to_end(&pipeline);
    assert_exactly_the_lines(&osmem.documents("crash"), &text);
}

/// Resident memory of a process in MiB, from /proc.
pub(crate) fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

#[test]
fn answers_429_and_503_are_retried_with_back_pressure_and_bounded_memory() {
    let Proxied {
        osmem,
        proxy,
        pipeline,
        dir: _dir,
        text: _,
    } = Proxied::new(30_000, "faults", "");
    proxy.set(Fault::Status(429));
    let mut running = Running::start(&pipeline);
    let pid = running.child.id();
    let mut peak: f64 = 0.0;
    let watch = |seconds: u64, peak: &mut f64| {
        let until = Instant::now() + Duration::from_secs(seconds);
        while Instant::now() < until {
            *peak = peak.max(rss_mib(pid));
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    watch(3, &mut peak);
    let requests_during_429 = proxy.requests.load(std::sync::atomic::Ordering::Relaxed);
    proxy.set(Fault::Status(503));
    watch(3, &mut peak);
    assert_eq!(osmem.count("faults"), 0, "nothing was let through");
    // The 7 MB file (some 300 MB as events) is not read into memory while Elasticsearch
    // refuses: the inputs wait.
    assert!(peak < 80.0, "peak RSS {peak:.1} MiB during the faults");
    // Capped backoff, not a retry storm: well under one request per 10 ms.
    let requests = proxy.requests.load(std::sync::atomic::Ordering::Relaxed);
    assert!((2..300).contains(&requests), "{requests} requests in 6 s");
    assert!(requests_during_429 >= 2, "429 was retried");
    proxy.set(Fault::None);
    assert!(running.wait_for_exit(Duration::from_secs(300)).success());
    assert_eq!(osmem.count("faults"), 30_000);
}

/// A CA and a certificate for 127.0.0.1 signed by it, made with openssl in `dir`.
fn make_certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl must be installed (scripts/test installs it)");
        assert!(status.success(), "openssl {args:?}");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=logpipe test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    // Extensions make it an X.509 v3 certificate, the only version rustls accepts.
    std::fs::write(dir.join("client.cnf"), "extendedKeyUsage=clientAuth\n").unwrap();
    for args in [
        "req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=logpipe",
        "x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2 -extfile client.cnf",
    ] {
        run(&args.split(' ').collect::<Vec<_>>());
    }
}

/// nginx with TLS (certificates made in `dir` by [`make_certificates`]) in front of
/// `osmem`: `directives` go into the server block (`{d}` stands for `dir`), and
/// `location` is the path proxied to osmem. Returns nginx and its port.
fn tls_nginx(osmem: &Osmem, dir: &Path, directives: &str, location: &str) -> (Nginx, u16) {
    make_certificates(dir);
    let port = free_port();
    let d = dir.display().to_string();
    let directives = directives.replace("{d}", &d);
    // With a URI, nginx replaces the matched location with it: `/es/_bulk` → `/_bulk`.
    let upstream = format!("{}/", osmem.url);
    let nginx = Nginx::start(
        dir,
        &format!(
            "  server {{\n    listen 127.0.0.1:{port} ssl;\n    ssl_certificate {d}/server.pem;\n    ssl_certificate_key {d}/server.key;\n\
             {directives}\n    location {location} {{ proxy_pass {upstream}; }}\n  }}"
        ),
        port,
    );
    (nginx, port)
}

#[test]
fn basic_auth_and_tls_through_nginx_and_a_wrong_password_fails_clearly_without_a_retry_storm() {
    let osmem = Osmem::start();
    let dir = temp_dir();
    std::fs::write(dir.path().join("htpasswd"), "elastic:{PLAIN}s3cret-pw\n").unwrap();
    let (_nginx, port) = tls_nginx(
        &osmem,
        dir.path(),
        "auth_basic \"elasticsearch\";\n    auth_basic_user_file {d}/htpasswd;",
        "/",
    );
    // nginx writes its own access.log in `dir`: the input is another file.
    let text = combined_lines(500);
    std::fs::write(dir.path().join("in.log"), &text).unwrap();
    let pipeline = nginx_pipeline(
        dir.path(),
        "in.log",
        &format!(
            "hosts = \"https://127.0.0.1:{port}\"\nindex = \"secure\"\nuser = \"elastic\"\npassword = \"${{ES_PASSWORD}}\"\nca_cert = \"ca.pem\""
        ),
    );
    let good = logpipe()
        .arg("run")
        .arg(&pipeline)
        .env("ES_PASSWORD", "s3cret-pw")
        .output()
        .unwrap();
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    assert_eq!(osmem.count("secure"), 500);

    let check = logpipe()
        .arg("check")
        .arg(&pipeline)
        .env("ES_PASSWORD", "s3cret-pw")
        .output()
        .unwrap();
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(check.status.success(), "{shown}");
    assert!(
        shown.contains("opensearch 3"),
        "check reaches the cluster: {shown}"
    );
    assert!(
        !shown.contains("s3cret-pw"),
        "the password is never printed: {shown}"
    );

    let started = Instant::now();
    let bad = logpipe()
        .arg("run")
        .arg(&pipeline)
        .env("ES_PASSWORD", "wrong")
        .env("LOGPIPE_DATA_DIR", dir.path().join("other-data"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refused the credentials"), "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    assert!(
        !stderr.contains("wrong"),
        "the password is never printed: {stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    let refused = std::fs::read_to_string(dir.path().join("access.log"))
        .unwrap()
        .lines()
        .filter(|line| line.contains("\" 401 "))
        .count();
    assert!(
        (1..=2).contains(&refused),
        "{refused} refused requests: no retry storm"
    );
}

#[test]
fn a_server_certificate_from_an_unknown_ca_is_refused_unless_tls_verify_is_off() {
    let osmem = Osmem::start();
    let dir = temp_dir();
    let (_nginx, port) = tls_nginx(&osmem, dir.path(), "", "/");
    std::fs::write(dir.path().join("in.log"), "one line\n").unwrap();
    let write = |name: &str, extra: &str| {
        write_pipeline(
            dir.path(),
            name,
            &format!(
                "[pipeline]\nshutdown_timeout = \"1s\"\n[[input]]\ntype = \"file\"\npath = \"in.log\"\nmode = \"read\"\n\
                 [[output]]\ntype = \"elasticsearch\"\nhosts = \"https://127.0.0.1:{port}\"\nindex = \"tls\"\n{extra}\n"
            ),
        )
    };
    let unverified = write("insecure.toml", "tls_verify = false");
    let output = logpipe().arg("run").arg(&unverified).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("tls_verify = false"),
        "a loud warning: {stderr}"
    );
    assert_eq!(osmem.count("tls"), 1);

    let verified = write("strict.toml", "");
    let check = logpipe().arg("check").arg(&verified).output().unwrap();
    let warning = String::from_utf8_lossy(&check.stderr);
    assert!(check.status.success());
    assert!(
        warning.contains("warning: elasticsearch-1: cannot reach elasticsearch: https://127.0.0.1"),
        "{warning}"
    );
}

#[test]
fn mutual_tls_sends_the_client_certificate_and_a_path_prefix_reaches_the_proxied_cluster() {
    let osmem = Osmem::start();
    let dir = temp_dir();
    let (_nginx, port) = tls_nginx(
        &osmem,
        dir.path(),
        "ssl_client_certificate {d}/ca.pem;\n    ssl_verify_client on;",
        "/es/",
    );
    std::fs::write(dir.path().join("in.log"), "one\ntwo\n").unwrap();
    let pipeline = write_pipeline(
        dir.path(),
        "p.toml",
        &format!(
            "[[input]]\ntype = \"file\"\npath = \"in.log\"\nmode = \"read\"\n\
             [[output]]\ntype = \"elasticsearch\"\nhosts = \"https://127.0.0.1:{port}\"\npath = \"/es\"\nindex = \"mtls\"\n\
             ca_cert = \"ca.pem\"\nclient_cert = \"client.pem\"\nclient_key = \"client.key\"\n"
        ),
    );
    run_to_end(&pipeline);
    assert_eq!(osmem.count("mtls"), 2);
    let served = std::fs::read_to_string(dir.path().join("access.log")).unwrap();
    assert!(
        served.contains("\"POST /es/_bulk HTTP/1.1\" 200"),
        "{served}"
    );

    // Without the client certificate nginx refuses, and check says so.
    let text = std::fs::read_to_string(&pipeline).unwrap();
    let without = text.replace(
        "client_cert = \"client.pem\"\nclient_key = \"client.key\"\n",
        "",
    );
    let anonymous = write_pipeline(dir.path(), "anonymous.toml", &without);
    let check = logpipe().arg("check").arg(&anonymous).output().unwrap();
    let warning = String::from_utf8_lossy(&check.stderr);
    assert!(
        warning.contains("warning: elasticsearch-1: cannot reach elasticsearch:")
            && warning.contains("HTTP 400"),
        "{warning}"
    );
}

#[test]
fn setup_installs_templates_once_and_imports_the_kibana_dashboard() {
    let osmem = Osmem::start();
    let kibana = RecordingServer::start(200, r#"{"success":true,"successCount":8}"#);
    let dir = temp_dir();
    let pipeline = write_pipeline(
        dir.path(),
        "p.toml",
        &format!(
            "[[input]]\ntype = \"file\"\npath = \"in.log\"\n\
             [[output]]\ntype = \"elasticsearch\"\nhosts = \"{}\"\nindex = \"nginx-%{{+yyyy.MM.dd}}\"\nkibana_url = \"{}\"\n",
            osmem.url, kibana.url
        ),
    );
    let setup = || {
        let output = logpipe().arg("setup").arg(&pipeline).output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let first = setup();
    let version = first.lines().next().unwrap_or_default().to_string();
    assert!(
        version.starts_with("elasticsearch-1: opensearch 3."),
        "{first}"
    );
    assert_eq!(
        first.lines().skip(1).collect::<Vec<_>>(),
        [
            "elasticsearch-1: component template `logpipe-nginx-ecs` installed",
            "elasticsearch-1: index template `logpipe-elasticsearch-1` installed",
            "elasticsearch-1: Kibana: imported 8 saved objects (data view `nginx-*`, dashboard \"logpipe — nginx access logs\")",
        ]
    );
    let template = http_json(
        "GET",
        &format!("{}/_index_template/logpipe-elasticsearch-1", osmem.url),
        None,
    );
    let installed = &template["index_templates"][0]["index_template"];
    assert_eq!(installed["index_patterns"], json!(["nginx-*"]));
    assert_eq!(installed["composed_of"], json!(["logpipe-nginx-ecs"]));
    assert_eq!(installed["priority"], 200);

    let second = setup();
    assert_eq!(
        second.lines().skip(1).take(2).collect::<Vec<_>>(),
        [
            "elasticsearch-1: component template `logpipe-nginx-ecs` is up to date",
            "elasticsearch-1: index template `logpipe-elasticsearch-1` is up to date",
        ]
    );

    let requests = kibana.requests.lock().unwrap();
    assert_eq!(requests.len(), 2, "one import per run, overwriting by id");
    for request in requests.iter() {
        assert_eq!(
            request.request_line,
            "POST /api/saved_objects/_import?overwrite=true HTTP/1.1"
        );
        assert_eq!(request.header("kbn-xsrf"), Some("true"));
        assert!(
            request
                .header("content-type")
                .unwrap()
                .starts_with("multipart/form-data")
        );
        let body = String::from_utf8_lossy(&request.body);
        assert!(body.contains("filename=\"logpipe-nginx.ndjson\""), "{body}");
        assert!(body.contains("\"title\":\"nginx-*\""), "{body}");
        assert!(!body.contains("@@INDEX_PATTERN@@"));
        assert!(body.contains("\"id\":\"logpipe-nginx-dashboard\""));
    }
}

#[test]
fn data_streams_get_a_data_stream_template_and_create_actions() {
    // osmem has no data streams: a recording server stands in and the requests are asserted.
    let server = RecordingServer::start(200, r#"{"errors":false,"took":1}"#);
    let dir = temp_dir();
    std::fs::write(dir.path().join("in.log"), "first\nsecond\n").unwrap();
    let pipeline = write_pipeline(
        dir.path(),
        "p.toml",
        &format!(
            "[[input]]\ntype = \"file\"\npath = \"in.log\"\nmode = \"read\"\n\
             [[output]]\ntype = \"elasticsearch\"\nhosts = \"{}\"\ndata_stream = true\ndocument_id = \"fingerprint\"\nsetup = true\ncompression = \"gzip\"\n",
            server.url
        ),
    );
    run_to_end(&pipeline);
    let requests = server.requests.lock().unwrap();
    let lines: Vec<&str> = requests.iter().map(|r| r.request_line.as_str()).collect();
    assert_eq!(
        lines,
        [
            "GET / HTTP/1.1",
            "GET /_component_template/logpipe-nginx-ecs HTTP/1.1",
            "PUT /_component_template/logpipe-nginx-ecs HTTP/1.1",
            "GET /_index_template/logpipe-elasticsearch-1 HTTP/1.1",
            "PUT /_index_template/logpipe-elasticsearch-1 HTTP/1.1",
            "POST /_bulk HTTP/1.1",
        ]
    );
    let template: Value = serde_json::from_slice(&requests[4].body).unwrap();
    assert_eq!(template["index_patterns"], json!(["logs-nginx.access-*"]));
    assert_eq!(template["data_stream"], json!({}));
    assert_eq!(template["composed_of"], json!(["logpipe-nginx-ecs"]));

    let bulk = &requests[5];
    assert_eq!(bulk.header("content-encoding"), Some("gzip"));
    assert_eq!(bulk.header("content-type"), Some("application/x-ndjson"));
    let mut body = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bulk.body[..]), &mut body)
        .unwrap();
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    let fingerprint = lines[1]["log"]["file"]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(fingerprint.len(), 16);
    assert_eq!(
        lines[0],
        json!({"create": {"_index": "logs-nginx.access-default", "_id": format!("{fingerprint}-0")}})
    );
    assert_eq!(lines[1]["message"], "first");
    assert_eq!(lines[2]["create"]["_id"], format!("{fingerprint}-6"));
    assert_eq!(lines[3]["message"], "second");
}
