//! moto standing in for S3 and SQS: `Moto` runs a real moto_server on a free loopback port
//! (stopped at drop), `S3Fixture` is a blocking AWS client to arrange buckets, objects and
//! queues before a run and to look at them after it.

use crate::servers::free_port;
use crate::support::*;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sqs::types::QueueAttributeName;
use std::future::Future;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The access key moto accepts unless it is started with authentication.
pub const MOTO_KEY: &str = "testing";

/// A moto_server (from the project's `.venv`, installed by scripts/test) on a free port,
/// with S3, SQS and the rest of AWS in memory. Killed at drop, and exits by itself when the
/// test process dies.
pub struct Moto {
    child: Child,
    port: u16,
    /// Its stderr (the request log), shown when it fails to start.
    log: tempfile::NamedTempFile,
    credentials: (String, String),
}

/// moto_server's main, plus a thread that exits when the test process is gone (killed by a
/// timeout or Ctrl-C, when `Drop` does not run), so that no moto outlives its test.
const MOTO_MAIN: &str = "\
import os, sys, threading, time
from moto.server import main
parent = os.getppid()
def watch():
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
main(sys.argv[1:])
";

/// The `.venv` python that has moto, installed by scripts/test.
fn moto_python() -> PathBuf {
    let venv = repo().join(".venv/bin");
    assert!(
        venv.join("moto_server").exists(),
        "{} is missing; run scripts/test to install moto",
        venv.join("moto_server").display()
    );
    venv.join("python")
}

impl Moto {
    /// Starts an empty moto that accepts any credentials.
    pub fn start() -> Moto {
        Moto::start_with_env(&[])
    }

    /// Starts moto with extra environment variables, e.g. `("INITIAL_NO_AUTH_ACTION_COUNT",
    /// "0")`: moto then checks signatures against its IAM users and refuses every other
    /// access key (S3: 403 `InvalidAccessKeyId`, a wrong secret 403 `SignatureDoesNotMatch`;
    /// SQS: 403 `InvalidClientTokenId`). See `start_authenticated` for a key it accepts.
    pub fn start_with_env(env: &[(&str, &str)]) -> Moto {
        let mut last_log = String::new();
        // A free port can be taken between the probe and moto's bind: try a few.
        for _ in 0..3 {
            let port = free_port();
            let log = tempfile::NamedTempFile::new().expect("moto log file");
            // What `.venv/bin/moto_server -H 127.0.0.1 -p PORT` runs, with the watchdog.
            let mut command = Command::new(moto_python());
            command
                .args(["-c", MOTO_MAIN, "-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log.reopen().expect("moto log file"));
            for (key, value) in env {
                command.env(key, value);
            }
            let child = command.spawn().expect("start moto_server");
            let mut moto = Moto {
                child,
                port,
                log,
                credentials: (MOTO_KEY.into(), MOTO_KEY.into()),
            };
            if moto.wait_until_ready(Duration::from_secs(60)) {
                return moto;
            }
            last_log = std::fs::read_to_string(moto.log.path()).unwrap_or_default();
        }
        panic!("moto_server did not start:\n{last_log}");
    }

    /// Starts moto with authentication on and one IAM user allowed everything: requests
    /// signed with `credentials()` succeed, any other access key is refused (see
    /// `start_with_env`). The first three requests create that user, unauthenticated.
    pub fn start_authenticated() -> Moto {
        let mut moto = Moto::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", "3")]);
        moto.iam(&[("Action", "CreateUser"), ("UserName", "logpipe")]);
        let key = moto.iam(&[("Action", "CreateAccessKey"), ("UserName", "logpipe")]);
        let allow_all = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        moto.iam(&[
            ("Action", "PutUserPolicy"),
            ("UserName", "logpipe"),
            ("PolicyName", "everything"),
            ("PolicyDocument", allow_all),
        ]);
        moto.credentials = (
            xml_element(&key, "AccessKeyId"),
            xml_element(&key, "SecretAccessKey"),
        );
        moto
    }

    /// `http://127.0.0.1:PORT`, for `endpoint =` and the clients.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// (access key id, secret) that this moto accepts: `testing`/`testing`, or the IAM
    /// user's key after `start_authenticated`.
    pub fn credentials(&self) -> (String, String) {
        self.credentials.clone()
    }

    /// A client of this moto with `credentials()`.
    pub fn fixture(&self) -> S3Fixture {
        let (key, secret) = self.credentials();
        S3Fixture::with_credentials(&self.endpoint(), &key, &secret)
    }

    /// Whether moto answers HTTP before `timeout`; false when it exited (port taken).
    fn wait_until_ready(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return false;
            }
            // /moto-api/ does not count as an action for INITIAL_NO_AUTH_ACTION_COUNT.
            if let Ok((200, _)) = self.request("GET", "/moto-api/", &[], "") {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// One IAM query-API call; moto does not check the signature of its first
    /// INITIAL_NO_AUTH_ACTION_COUNT requests, only routes them by the credential scope.
    fn iam(&self, params: &[(&str, &str)]) -> String {
        let mut body = String::from("Version=2010-05-08");
        for (key, value) in params {
            body.push_str(&format!("&{key}={}", form_encode(value)));
        }
        let headers = [
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, \
                 SignedHeaders=host, Signature=0",
            ),
            ("X-Amz-Date", "20260101T000000Z"),
        ];
        match self.request("POST", "/", &headers, &body) {
            Ok((200, answer)) => answer,
            other => panic!("moto IAM {params:?}: {other:?}"),
        }
    }

    /// One HTTP/1.1 request with `Connection: close`: (status, body).
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.port,
            body.len()
        );
        for (key, value) in headers {
            request.push_str(&format!("{key}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes())?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        Ok((status, body.to_string()))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn xml_element(xml: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{name}> in {xml}"))
        + open.len();
    let end = xml[start..].find('<').expect("closing tag") + start;
    xml[start..end].to_string()
}

/// `application/x-www-form-urlencoded` value; also how S3 notifications write keys.
fn form_encode(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// A blocking S3 and SQS client for a moto (or any S3-compatible) endpoint: region
/// us-east-1, path-style, static credentials. Methods panic on any error, naming it.
pub struct S3Fixture {
    runtime: tokio::runtime::Runtime,
    /// The S3 client, for what the methods do not cover (use with `block_on`).
    pub s3: aws_sdk_s3::Client,
    /// The SQS client, likewise.
    pub sqs: aws_sdk_sqs::Client,
}

impl S3Fixture {
    /// A client of `endpoint` with the credentials moto accepts by default.
    pub fn new(endpoint: &str) -> S3Fixture {
        S3Fixture::with_credentials(endpoint, MOTO_KEY, MOTO_KEY)
    }

    /// A client of `endpoint` signing with this key.
    pub fn with_credentials(endpoint: &str, key_id: &str, secret: &str) -> S3Fixture {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let credentials = Credentials::new(key_id, secret, None, None, "s3-fixture");
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .endpoint_url(endpoint)
                .credentials_provider(credentials.clone())
                .force_path_style(true)
                .build(),
        );
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::Config::builder()
                .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
                .region(aws_sdk_sqs::config::Region::new("us-east-1"))
                .endpoint_url(endpoint)
                .credentials_provider(credentials)
                .build(),
        );
        S3Fixture { runtime, s3, sqs }
    }

    /// Runs a future of the clients to completion.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Creates `bucket` (in us-east-1, so without a location constraint).
    pub fn create_bucket(&self, bucket: &str) {
        self.block_on(self.s3.create_bucket().bucket(bucket).send())
            .unwrap_or_else(|e| panic!("create bucket {bucket}: {e:?}"));
    }

    /// Writes an object.
    pub fn put_object(&self, bucket: &str, key: &str, body: Vec<u8>) {
        self.block_on(
            self.s3
                .put_object()
                .bucket(bucket)
                .key(key)
                .body(ByteStream::from(body))
                .send(),
        )
        .unwrap_or_else(|e| panic!("put s3://{bucket}/{key}: {e:?}"));
    }

    /// Writes an object with a `Content-Encoding` (e.g. `gzip`; `body` is already encoded).
    pub fn put_object_with_encoding(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_encoding: &str,
    ) {
        self.block_on(
            self.s3
                .put_object()
                .bucket(bucket)
                .key(key)
                .content_encoding(content_encoding)
                .body(ByteStream::from(body))
                .send(),
        )
        .unwrap_or_else(|e| panic!("put s3://{bucket}/{key}: {e:?}"));
    }

    /// An object's bytes, or None when there is no such key.
    pub fn get_object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        self.block_on(async {
            match self.s3.get_object().bucket(bucket).key(key).send().await {
                Ok(object) => Some(
                    object
                        .body
                        .collect()
                        .await
                        .unwrap_or_else(|e| panic!("read s3://{bucket}/{key}: {e:?}"))
                        .to_vec(),
                ),
                Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => None,
                Err(e) => panic!("get s3://{bucket}/{key}: {e:?}"),
            }
        })
    }

    /// Every key of `bucket` starting with `prefix`, in S3's (lexicographic) order, from
    /// all pages of ListObjectsV2.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        self.keys_in_pages(bucket, prefix, None)
    }

    /// `keys` with pages of `page_size` keys (S3's default and maximum: 1000).
    fn keys_in_pages(&self, bucket: &str, prefix: &str, page_size: Option<i32>) -> Vec<String> {
        self.block_on(async {
            let mut keys = Vec::new();
            let mut token = None;
            loop {
                let page = self
                    .s3
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(prefix)
                    .set_max_keys(page_size)
                    .set_continuation_token(token)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("list s3://{bucket}/{prefix}: {e:?}"));
                keys.extend(
                    page.contents()
                        .iter()
                        .filter_map(|o| o.key().map(String::from)),
                );
                token = page.next_continuation_token().map(String::from);
                if token.is_none() {
                    return keys;
                }
            }
        })
    }

    /// Deletes an object (no error when it does not exist, as in S3).
    pub fn delete_object(&self, bucket: &str, key: &str) {
        self.block_on(self.s3.delete_object().bucket(bucket).key(key).send())
            .unwrap_or_else(|e| panic!("delete s3://{bucket}/{key}: {e:?}"));
    }

    /// Creates a standard queue and returns its URL
    /// (`http://127.0.0.1:PORT/123456789012/NAME` on moto).
    pub fn create_queue(&self, name: &str) -> String {
        let created = self
            .block_on(self.sqs.create_queue().queue_name(name).send())
            .unwrap_or_else(|e| panic!("create queue {name}: {e:?}"));
        created.queue_url().expect("queue URL").to_string()
    }

    /// The queue's ARN.
    pub fn queue_arn(&self, queue_url: &str) -> String {
        self.queue_attributes(queue_url, &[QueueAttributeName::QueueArn])
            .remove(&QueueAttributeName::QueueArn)
            .expect("QueueArn")
    }

    /// Sends `ObjectCreated:*` notifications of `bucket` to the queue. moto delivers them
    /// as S3 does: first one `s3:TestEvent` message, at once, then one message per created
    /// object with `{"Records": [...]}` and the key URL-encoded (moto also encodes `/`).
    pub fn notify_queue(&self, bucket: &str, queue_url: &str) {
        use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
        let queue = QueueConfiguration::builder()
            .queue_arn(self.queue_arn(queue_url))
            .events(Event::from("s3:ObjectCreated:*"))
            .build()
            .expect("queue configuration");
        let configuration = NotificationConfiguration::builder()
            .queue_configurations(queue)
            .build();
        self.block_on(
            self.s3
                .put_bucket_notification_configuration()
                .bucket(bucket)
                .notification_configuration(configuration)
                .send(),
        )
        .unwrap_or_else(|e| panic!("notification of {bucket} to {queue_url}: {e:?}"));
    }

    /// Sends by hand the message S3 sends when `key` is created in `bucket` (event
    /// notification format 2.1, key URL-encoded): for a notification of an object that
    /// does not exist, or a queue without `notify_queue`.
    pub fn send_s3_event(&self, queue_url: &str, bucket: &str, key: &str) {
        let body = serde_json::json!({"Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": "2026-12-01T00:00:00.000Z",
            "eventName": "ObjectCreated:Put",
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "logpipe-test",
                "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
                "object": {"key": form_encode(key).replace("%2F", "/"), "size": 0},
            },
        }]});
        self.send_message(queue_url, &body.to_string());
    }

    /// Sends a message with any body (a malformed notification, a test event …).
    pub fn send_message(&self, queue_url: &str, body: &str) {
        self.block_on(
            self.sqs
                .send_message()
                .queue_url(queue_url)
                .message_body(body)
                .send(),
        )
        .unwrap_or_else(|e| panic!("send to {queue_url}: {e:?}"));
    }

    /// Receives up to 10 messages (without waiting) and returns their bodies; they become
    /// in flight for the queue's visibility timeout (30 s by default), and are not deleted.
    pub fn receive_bodies(&self, queue_url: &str) -> Vec<String> {
        let received = self
            .block_on(
                self.sqs
                    .receive_message()
                    .queue_url(queue_url)
                    .max_number_of_messages(10)
                    .send(),
            )
            .unwrap_or_else(|e| panic!("receive from {queue_url}: {e:?}"));
        received
            .messages()
            .iter()
            .filter_map(|m| m.body().map(String::from))
            .collect()
    }

    /// (visible, in flight) messages: ApproximateNumberOfMessages and
    /// ApproximateNumberOfMessagesNotVisible (exact on moto).
    pub fn queue_counts(&self, queue_url: &str) -> (u64, u64) {
        let mut attributes = self.queue_attributes(
            queue_url,
            &[
                QueueAttributeName::ApproximateNumberOfMessages,
                QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            ],
        );
        let mut count = |name| {
            attributes
                .remove(&name)
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{queue_url}: no number {name:?}"))
        };
        (
            count(QueueAttributeName::ApproximateNumberOfMessages),
            count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        )
    }

    /// Moves a message to `dlq_url` once it has been received `max_receive_count` times
    /// without being deleted (RedrivePolicy; moto applies it when a message is received).
    pub fn set_redrive(&self, queue_url: &str, dlq_url: &str, max_receive_count: u32) {
        let policy = serde_json::json!({
            "deadLetterTargetArn": self.queue_arn(dlq_url),
            "maxReceiveCount": max_receive_count.to_string(),
        });
        self.set_queue_attribute(
            queue_url,
            QueueAttributeName::RedrivePolicy,
            &policy.to_string(),
        );
    }

    /// Sets the queue's default visibility timeout in seconds (30 unless set).
    pub fn set_visibility_timeout(&self, queue_url: &str, seconds: u32) {
        self.set_queue_attribute(
            queue_url,
            QueueAttributeName::VisibilityTimeout,
            &seconds.to_string(),
        );
    }

    fn set_queue_attribute(&self, queue_url: &str, name: QueueAttributeName, value: &str) {
        self.block_on(
            self.sqs
                .set_queue_attributes()
                .queue_url(queue_url)
                .attributes(name.clone(), value)
                .send(),
        )
        .unwrap_or_else(|e| panic!("set {name:?} of {queue_url}: {e:?}"));
    }

    fn queue_attributes(
        &self,
        queue_url: &str,
        names: &[QueueAttributeName],
    ) -> std::collections::HashMap<QueueAttributeName, String> {
        self.block_on(
            self.sqs
                .get_queue_attributes()
                .queue_url(queue_url)
                .set_attribute_names(Some(names.to_vec()))
                .send(),
        )
        .unwrap_or_else(|e| panic!("attributes of {queue_url}: {e:?}"))
        .attributes
        .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::error::ProvideErrorMetadata;

    #[test]
    fn s3_fixture_drives_buckets_objects_and_queues_of_a_real_moto() {
        let moto = Moto::start();
        let s3 = moto.fixture();
        s3.create_bucket("logs");
        for i in 0..5 {
            s3.put_object("logs", &format!("many/{i}.log"), b"x\n".to_vec());
        }
        let many = s3.keys_in_pages("logs", "many/", Some(2));
        assert_eq!(
            many,
            [
                "many/0.log",
                "many/1.log",
                "many/2.log",
                "many/3.log",
                "many/4.log"
            ]
        );
        assert_eq!(s3.keys("logs", "many/"), many);

        s3.put_object("logs", "nginx/a.log", b"line 1\nline 2\n".to_vec());
        s3.put_object_with_encoding("logs", "nginx/b.log.gz", vec![0x1f, 0x8b, 8, 0], "gzip");
        assert_eq!(s3.keys("logs", "nginx/"), ["nginx/a.log", "nginx/b.log.gz"]);
        let head = s3
            .block_on(
                s3.s3
                    .head_object()
                    .bucket("logs")
                    .key("nginx/b.log.gz")
                    .send(),
            )
            .expect("head");
        assert_eq!(head.content_encoding(), Some("gzip"));
        assert_eq!(
            s3.get_object("logs", "nginx/a.log").unwrap(),
            b"line 1\nline 2\n"
        );
        s3.delete_object("logs", "nginx/b.log.gz");
        s3.delete_object("logs", "nginx/never-was.log");
        assert_eq!(s3.keys("logs", "nginx/"), ["nginx/a.log"]);
        assert_eq!(s3.get_object("logs", "nginx/b.log.gz"), None);

        // Real notifications: the test event at once, then one message per created object.
        let queue = s3.create_queue("logs-created");
        assert!(queue.starts_with(&moto.endpoint()), "{queue}");
        s3.notify_queue("logs", &queue);
        assert_eq!(s3.queue_counts(&queue), (1, 0), "the s3:TestEvent");
        s3.put_object("logs", "nginx/c d.log", b"c\n".to_vec());
        s3.send_s3_event(&queue, "logs", "nginx/by hand.log");
        assert_eq!(s3.queue_counts(&queue), (3, 0));
        let mut bodies = Vec::new();
        for _ in 0..3 {
            bodies.extend(s3.receive_bodies(&queue));
        }
        assert_eq!(
            s3.queue_counts(&queue),
            (0, 3),
            "received messages are in flight"
        );
        let events: Vec<serde_json::Value> = bodies
            .iter()
            .map(|body| serde_json::from_str(body).unwrap())
            .collect();
        assert!(
            events.iter().any(|e| e["Event"] == "s3:TestEvent"),
            "{bodies:?}"
        );
        let keys: Vec<&str> = events
            .iter()
            .filter_map(|e| e["Records"][0]["s3"]["object"]["key"].as_str())
            .collect();
        assert!(
            keys.contains(&"nginx%2Fc+d.log"),
            "moto's encoding: {keys:?}"
        );
        assert!(
            keys.contains(&"nginx/by+hand.log"),
            "S3's encoding: {keys:?}"
        );
        for event in events.iter().filter(|e| e.get("Records").is_some()) {
            assert_eq!(event["Records"][0]["eventName"], "ObjectCreated:Put");
            assert_eq!(event["Records"][0]["s3"]["bucket"]["name"], "logs");
        }

        // Redrive: a message received twice without being deleted goes to the DLQ.
        let work = s3.create_queue("work");
        let dlq = s3.create_queue("work-dlq");
        s3.set_redrive(&work, &dlq, 2);
        s3.set_visibility_timeout(&work, 1);
        s3.send_message(&work, "poison");
        let mut receives = 0;
        wait_until("the message in the DLQ", Duration::from_secs(20), || {
            receives += s3.receive_bodies(&work).len();
            std::thread::sleep(Duration::from_millis(300));
            s3.queue_counts(&dlq) == (1, 0)
        });
        assert_eq!(
            receives, 2,
            "received max_receive_count times before the move"
        );
        assert_eq!(s3.queue_counts(&work), (0, 0));
        assert_eq!(s3.receive_bodies(&dlq), ["poison"]);
    }

    /// The HTTP status and error code an AWS call failed with. moto answers SQS errors in
    /// the XML of the query protocol, which aws-sdk-sqs (JSON protocol) cannot parse: it
    /// reports no code, so the code is then read from the raw body.
    fn failure<E: ProvideErrorMetadata + std::fmt::Debug>(
        error: aws_sdk_s3::error::SdkError<E>,
    ) -> (u16, String) {
        let parsed = error
            .as_service_error()
            .and_then(|e| e.code().map(String::from));
        let Some(raw) = error.raw_response() else {
            panic!("not an answer of the server: {error:?}");
        };
        let status = raw.status().as_u16();
        let body = String::from_utf8_lossy(raw.body().bytes().unwrap_or_default()).into_owned();
        let code = parsed.unwrap_or_else(|| {
            let start = body.find("<Code>").map_or(0, |i| i + "<Code>".len());
            let end = body[start..]
                .find("</Code>")
                .map_or(body.len(), |i| start + i);
            format!("unparsed {}", &body[start..end])
        });
        (status, code)
    }

    #[test]
    fn moto_with_authentication_refuses_unknown_access_keys() {
        let list = |s3: &S3Fixture| {
            s3.block_on(s3.s3.list_objects_v2().bucket("logs").send())
                .map(|_| ())
                .map_err(failure)
        };
        let queues = |s3: &S3Fixture| {
            s3.block_on(s3.sqs.list_queues().send())
                .map(|_| ())
                .map_err(failure)
        };
        let refused = |code: &str| Err((403, code.to_string()));

        let moto = Moto::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]);
        let default = S3Fixture::new(&moto.endpoint());
        assert_eq!(list(&default), refused("InvalidAccessKeyId"));
        assert_eq!(queues(&default), refused("unparsed InvalidClientTokenId"));

        let moto = Moto::start_authenticated();
        let (key, secret) = moto.credentials();
        assert_ne!((key.as_str(), secret.as_str()), (MOTO_KEY, MOTO_KEY));
        let good = moto.fixture();
        good.create_bucket("logs");
        assert_eq!(list(&good), Ok(()));
        assert_eq!(queues(&good), Ok(()));
        let unknown = S3Fixture::new(&moto.endpoint());
        assert_eq!(list(&unknown), refused("InvalidAccessKeyId"));
        assert_eq!(queues(&unknown), refused("unparsed InvalidClientTokenId"));
        let wrong_secret = S3Fixture::with_credentials(&moto.endpoint(), &key, "wrong");
        assert_eq!(list(&wrong_secret), refused("SignatureDoesNotMatch"));
        let missing = good.block_on(good.s3.list_objects_v2().bucket("nope").send());
        assert_eq!(
            missing.map(|_| ()).map_err(failure),
            Err((404, "NoSuchBucket".to_string()))
        );
    }
}
