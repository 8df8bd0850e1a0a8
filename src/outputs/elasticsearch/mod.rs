//! The `elasticsearch` output: events are encoded into NDJSON bulk requests, sent to one of
//! the hosts with `concurrency` requests in flight, and read back item by item: retryable
//! failures are sent again with backoff (which back-pressures the pipeline), permanent ones go
//! to the dead-letter queue. A batch is acknowledged once each of its events is indexed,
//! declared a duplicate, or dead-lettered.

pub mod bulk;
pub mod client;
pub mod dlq;
pub mod setup;

use super::{CheckFuture, Output, OutputBuildContext, OutputContext, OutputError, OutputFuture};
use crate::batch::{Ack, OutputBatch};
use crate::config::{Secret, StringList};
use crate::event::{Event, FieldPath};
use crate::lock::lock;
use crate::stats::OutputStats;
use crate::template::Template;
use bulk::{ItemOutcome, write_action};
use bytes::Bytes;
use client::{Backoff, Client, RequestError};
use dlq::DeadLetterQueue;
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use std::fmt::Write as _;
use std::io::Write;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How often a continuing failure is logged again (the first one is logged at once).
const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Options of the `elasticsearch` output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ElasticsearchOutputConfig {
    /// One URL or a list (`"http://localhost:9200"`); requests go round-robin over the hosts
    /// that answer, a failing host is set aside and tried again after a backoff.
    pub hosts: StringList,
    /// Path prefix when Elasticsearch sits behind a proxy under a path (`"/es"`).
    pub path: String,
    /// Index to write to, a template (`"nginx-%{+yyyy.MM.dd}"`, `"%{[event][dataset]}"`).
    /// Default `"logpipe-%{+yyyy.MM.dd}"`. Ignored with `data_stream = true`.
    pub index: Template,
    /// Write to the data stream `<type>-<dataset>-<namespace>` (action `create`).
    pub data_stream: bool,
    /// Data stream type (default `"logs"`).
    pub data_stream_type: String,
    /// Data stream dataset (default `"nginx.access"`).
    pub data_stream_dataset: String,
    /// Data stream namespace (default `"default"`).
    pub data_stream_namespace: String,
    /// `"index"` (default; replaces a document with the same id) or `"create"` (a document
    /// with the same id is kept; the new one counts as delivered). Data streams use `create`.
    pub action: Option<BulkAction>,
    /// Document id: `"fingerprint"` for a stable id from where the event was read (file
    /// fingerprint and offset), so events read again after a crash overwrite themselves
    /// instead of being indexed twice; or a template (`"%{[request][id]}"`). Default: none
    /// (Elasticsearch picks one).
    pub document_id: Option<String>,
    /// Largest number of events in one bulk request (default 2048).
    pub batch_size: usize,
    /// Largest bulk request body in bytes before compression (default 5 MiB).
    pub batch_bytes: usize,
    /// Longest time events wait for a bulk request to fill (default 1 s).
    #[serde(with = "crate::config::duration")]
    pub flush_interval: Duration,
    /// `"none"` (default) or `"gzip"` request bodies.
    pub compression: Compression,
    /// Bulk requests in flight at once (default 2).
    pub concurrency: usize,
    /// First wait before a retry (default 250 ms); it doubles, with jitter, per failure.
    #[serde(with = "crate::config::duration")]
    pub retry_initial: Duration,
    /// Longest wait between retries (default 30 s). Retries never stop: a cluster that is
    /// down holds the pipeline back instead of dropping data.
    #[serde(with = "crate::config::duration")]
    pub retry_max: Duration,
    /// Timeout of one HTTP request (default 60 s).
    #[serde(with = "crate::config::duration")]
    pub timeout: Duration,
    /// Basic auth user (with `password`). An empty string means unset, so
    /// `"${ELASTICSEARCH_USER:-}"` works.
    pub user: Option<String>,
    /// Basic auth password.
    pub password: Option<Secret>,
    /// API key, `id:key` or the base64 form Elasticsearch prints.
    pub api_key: Option<Secret>,
    /// Bearer token (`Authorization: Bearer …`).
    pub bearer_token: Option<Secret>,
    /// PEM file with the CA certificate(s) to trust instead of the system's.
    pub ca_cert: Option<PathBuf>,
    /// Verify the server's certificate (default true). `false` is for tests only: anyone on
    /// the path can read and change the traffic, and logpipe warns at every start.
    pub tls_verify: bool,
    /// PEM client certificate, for clusters that require mutual TLS (with `client_key`).
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`.
    pub client_key: Option<PathBuf>,
    /// Install the index template (as `logpipe setup` does) when the output starts.
    pub setup: bool,
    /// Kibana's URL; when set, setup also imports the data view and the nginx dashboard.
    pub kibana_url: Option<String>,
    /// Name of the index template setup installs (default `"logpipe-<output id>"`).
    pub template_name: Option<String>,
}

/// `logpipe-%{+yyyy.MM.dd}`: the default `index`.
// A constant template that parses: every test that builds the default config runs this.
#[allow(clippy::expect_used)]
fn default_index() -> Template {
    Template::parse("logpipe-%{+yyyy.MM.dd}").expect("the default index template parses")
}

impl Default for ElasticsearchOutputConfig {
    fn default() -> Self {
        ElasticsearchOutputConfig {
            hosts: StringList(vec!["http://localhost:9200".to_string()]),
            path: String::new(),
            index: default_index(),
            data_stream: false,
            data_stream_type: "logs".to_string(),
            data_stream_dataset: "nginx.access".to_string(),
            data_stream_namespace: "default".to_string(),
            action: None,
            document_id: None,
            batch_size: 2048,
            batch_bytes: 5 * 1024 * 1024,
            flush_interval: Duration::from_secs(1),
            compression: Compression::None,
            concurrency: 2,
            retry_initial: Duration::from_millis(250),
            retry_max: Duration::from_secs(30),
            timeout: Duration::from_secs(60),
            user: None,
            password: None,
            api_key: None,
            bearer_token: None,
            ca_cert: None,
            tls_verify: true,
            client_cert: None,
            client_key: None,
            setup: false,
            kibana_url: None,
            template_name: None,
        }
    }
}

/// The bulk action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BulkAction {
    /// Create or replace.
    Index,
    /// Create only; an existing id is a duplicate (409), counted as delivered.
    Create,
}

impl BulkAction {
    fn name(self) -> &'static str {
        match self {
            BulkAction::Index => "index",
            BulkAction::Create => "create",
        }
    }
}

/// Request body compression.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Plain bodies.
    #[default]
    None,
    /// gzip bodies (`Content-Encoding: gzip`).
    Gzip,
}

/// Why the output could not be built or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum ElasticsearchError {
    /// Bad client settings (hosts, TLS files, credentials).
    #[error(transparent)]
    Client(#[from] client::ClientError),
    /// A numeric option is 0.
    #[error("`{0}` must be at least 1")]
    Zero(&'static str),
    /// `document_id` is neither `fingerprint` nor a template.
    #[error("`document_id`: {0}")]
    DocumentId(#[from] crate::template::TemplateError),
    /// `data_stream` with `action = "index"`.
    #[error(
        "data streams only take `action = \"create\"`; remove `action` or set it to \"create\""
    )]
    DataStreamAction,
    /// The cluster refused the credentials.
    #[error(
        "elasticsearch refused the credentials ({0}); check `user`/`password`, `api_key` or `bearer_token`"
    )]
    Unauthorized(RequestError),
    /// Setup failed.
    #[error(transparent)]
    Setup(#[from] setup::SetupError),
}

/// How each event's document id is made.
#[derive(Debug, Clone)]
enum DocumentId {
    /// Elasticsearch assigns one.
    Auto,
    /// From where the event was read.
    Fingerprint,
    /// A template.
    Template(Template),
}

/// Everything the delivery tasks share.
struct Shared {
    id: String,
    client: Client,
    dlq: DeadLetterQueue,
    compression: Compression,
    batch_bytes: usize,
    retry_initial: Duration,
    retry_max: Duration,
    failures: Mutex<FailureLog>,
    /// Retries and dead letters are counted here (the monitoring API shows them).
    stats: Arc<OutputStats>,
    dlq_log: Mutex<FailureLog>,
}

/// Where an event goes: its index and action line.
struct Routing {
    action: BulkAction,
    target: Target,
    document_id: DocumentId,
    /// Events with no fingerprint get an automatic id; this is said once.
    warned_no_fingerprint: bool,
}

enum Target {
    Index(Template),
    DataStream(String),
}

/// The `elasticsearch` output.
pub struct ElasticsearchOutput {
    shared: Arc<Shared>,
    routing: Routing,
    batch_size: usize,
    flush_interval: Duration,
    concurrency: usize,
    /// What setup installs for this output.
    setup: setup::Setup,
    /// `setup = true`: install it when the output starts.
    setup_at_start: bool,
}

/// The fields a fingerprint id is made from.
struct FingerprintFields {
    file: FieldPath,
    offset: FieldPath,
}

impl FingerprintFields {
    fn new() -> Result<FingerprintFields, crate::event::FieldPathError> {
        Ok(FingerprintFields {
            file: FieldPath::parse("log.file.fingerprint")?,
            offset: FieldPath::parse("log.offset")?,
        })
    }
}

impl ElasticsearchOutput {
    /// Builds the output: HTTP client, templates, DLQ directory name.
    pub fn build(
        config: &ElasticsearchOutputConfig,
        context: &OutputBuildContext,
        id: &str,
        stats: &Arc<OutputStats>,
    ) -> Result<ElasticsearchOutput, ElasticsearchError> {
        for (name, value) in [
            ("batch_size", config.batch_size),
            ("batch_bytes", config.batch_bytes),
            ("concurrency", config.concurrency),
        ] {
            if value == 0 {
                return Err(ElasticsearchError::Zero(name));
            }
        }
        let client = Client::new(config, &context.config_dir)?;
        let action = match (config.data_stream, config.action) {
            (true, Some(BulkAction::Index)) => return Err(ElasticsearchError::DataStreamAction),
            (true, _) => BulkAction::Create,
            (false, action) => action.unwrap_or(BulkAction::Index),
        };
        let target = if config.data_stream {
            Target::DataStream(format!(
                "{}-{}-{}",
                config.data_stream_type, config.data_stream_dataset, config.data_stream_namespace
            ))
        } else {
            Target::Index(config.index.clone())
        };
        let document_id = match config.document_id.as_deref() {
            None | Some("") => DocumentId::Auto,
            Some("fingerprint") => DocumentId::Fingerprint,
            Some(template) => DocumentId::Template(Template::parse(template)?),
        };
        Ok(ElasticsearchOutput {
            shared: Arc::new(Shared {
                id: id.to_string(),
                client,
                dlq: DeadLetterQueue::new(&context.data_dir, id),
                compression: config.compression,
                batch_bytes: config.batch_bytes,
                retry_initial: config.retry_initial,
                retry_max: config.retry_max,
                failures: Mutex::new(FailureLog::default()),
                stats: Arc::clone(stats),
                dlq_log: Mutex::new(FailureLog::default()),
            }),
            routing: Routing {
                action,
                target,
                document_id,
                warned_no_fingerprint: false,
            },
            batch_size: config.batch_size,
            flush_interval: config.flush_interval,
            concurrency: config.concurrency,
            setup: setup::Setup::new(config, id),
            setup_at_start: config.setup,
        })
    }

    /// One line for `logpipe check`: where the cluster is and whether it answers.
    pub async fn check(&self) -> Result<String, String> {
        let hosts = self.shared.client.host_urls().join(", ");
        match cluster_info(&self.shared.client).await {
            Ok(version) => Ok(format!("{hosts}: {version}")),
            Err(error) => Err(format!("cannot reach elasticsearch: {error}")),
        }
    }

    /// Waits until the cluster answers `GET /`, logging its version; retries with backoff.
    async fn wait_for_cluster(&self, abort: &CancellationToken) -> Result<bool, OutputError> {
        let mut backoff = Backoff::new(self.shared.retry_initial, self.shared.retry_max);
        let mut warned = false;
        loop {
            match cluster_info(&self.shared.client).await {
                Ok(version) => {
                    tracing::info!(output = %self.shared.id, "connected to {version}");
                    return Ok(true);
                }
                Err(error) if error.is_auth() => {
                    return Err(ElasticsearchError::Unauthorized(error).into());
                }
                Err(error) => {
                    let wait = backoff.next_wait();
                    if !warned {
                        tracing::warn!(
                            output = %self.shared.id,
                            "elasticsearch is not reachable ({error}); retrying with backoff, events wait"
                        );
                        warned = true;
                    }
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = abort.cancelled() => return Ok(false),
                    }
                }
            }
        }
    }

    async fn deliver(mut self, mut context: OutputContext) -> Result<(), OutputError> {
        if !self.wait_for_cluster(&context.abort).await? {
            return Ok(());
        }
        if self.setup_at_start {
            for line in self.setup.run(&self.shared.client).await? {
                tracing::info!(output = %self.shared.id, "setup: {line}");
            }
        }
        let fingerprint_fields = FingerprintFields::new()?;
        let mut in_flight: JoinSet<()> = JoinSet::new();
        let mut group = Group::default();
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            let next = tokio::select! {
                batch = context.batches.recv() => Some(batch),
                () = sleep_until(deadline) => None,
                () = context.abort.cancelled() => return Ok(()),
            };
            match next {
                Some(Some(batch)) => {
                    self.routing
                        .encode(&batch, &mut group, &fingerprint_fields, &self.shared.id);
                    // Only the bytes and the acknowledgement are kept: the events' memory
                    // goes back as soon as no other output holds them.
                    group.acks.push(batch.ack);
                    if deadline.is_none() {
                        deadline = Some(tokio::time::Instant::now() + self.flush_interval);
                    }
                    if group.items.len() < self.batch_size
                        && group.body.len() < self.shared.batch_bytes
                    {
                        continue;
                    }
                }
                Some(None) => {
                    // Every worker finished: send what is left and wait for it.
                    if !group.acks.is_empty() {
                        in_flight.spawn(deliver_group(
                            Arc::clone(&self.shared),
                            std::mem::take(&mut group),
                            context.abort.clone(),
                        ));
                    }
                    while in_flight.join_next().await.is_some() {}
                    return Ok(());
                }
                None => {}
            }
            deadline = None;
            if group.acks.is_empty() {
                continue;
            }
            while in_flight.len() >= self.concurrency {
                tokio::select! {
                    _ = in_flight.join_next() => {}
                    () = context.abort.cancelled() => return Ok(()),
                }
            }
            in_flight.spawn(deliver_group(
                Arc::clone(&self.shared),
                std::mem::take(&mut group),
                context.abort.clone(),
            ));
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

impl Output for ElasticsearchOutput {
    fn run(self: Box<Self>, context: OutputContext) -> OutputFuture {
        Box::pin(self.deliver(context))
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(ElasticsearchOutput::check(self))
    }
}

/// `GET /`: the cluster's distribution and version, e.g. `elasticsearch 8.15.0`.
async fn cluster_info(client: &Client) -> Result<String, RequestError> {
    let response = client
        .send(Method::GET, "/", "application/json", None, false)
        .await?;
    let info: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let distribution = info
        .pointer("/version/distribution")
        .and_then(Value::as_str)
        .unwrap_or("elasticsearch");
    let number = info
        .pointer("/version/number")
        .and_then(Value::as_str)
        .unwrap_or("(unknown version)");
    Ok(format!("{distribution} {number}"))
}

/// Events of whole batches encoded as one bulk body, waiting to be sent, with the
/// acknowledgements of those batches.
#[derive(Default)]
struct Group {
    acks: Vec<Ack>,
    body: Vec<u8>,
    /// Where each event's two lines (action, document) are in `body`.
    items: Vec<Range<usize>>,
}

impl Routing {
    /// Appends the action and document lines of every event of `batch` to `group`.
    fn encode(
        &mut self,
        batch: &OutputBatch,
        group: &mut Group,
        fields: &FingerprintFields,
        output_id: &str,
    ) {
        let mut index = String::new();
        let mut id = String::new();
        for (event_index, event) in batch.events.iter().enumerate() {
            let start = group.body.len();
            let target = match &self.target {
                Target::Index(template) => {
                    index.clear();
                    template.render_into(event, &mut index);
                    index.as_str()
                }
                Target::DataStream(name) => name.as_str(),
            };
            let document_id = match &self.document_id {
                DocumentId::Auto => None,
                DocumentId::Template(template) => {
                    id.clear();
                    template.render_into(event, &mut id);
                    Some(id.as_str())
                }
                DocumentId::Fingerprint => match fingerprint_id(event, fields, &mut id) {
                    true => Some(id.as_str()),
                    false => {
                        if !self.warned_no_fingerprint {
                            tracing::warn!(
                                output = output_id,
                                "document_id = \"fingerprint\": an event has no log.file.fingerprint and log.offset; such events get automatic ids"
                            );
                            self.warned_no_fingerprint = true;
                        }
                        None
                    }
                },
            };
            write_action(&mut group.body, self.action.name(), target, document_id);
            // The document line comes encoded by the filter workers.
            group
                .body
                .extend_from_slice(batch.events.json_line(event_index));
            group.items.push(start..group.body.len());
        }
    }
}

/// The fingerprint id of an event: `<log.file.fingerprint>-<log.offset>`.
fn fingerprint_id(event: &Event, fields: &FingerprintFields, out: &mut String) -> bool {
    let source = event.get_str(&fields.file);
    let offset = event.get_stored(&fields.offset).and_then(Value::as_u64);
    match (source, offset) {
        (Some(source), Some(offset)) => {
            out.clear();
            let _ = write!(out, "{source}-{offset}");
            true
        }
        _ => false,
    }
}

/// Logs a condition when it starts, then at most every [`FAILURE_LOG_INTERVAL`] with how
/// often it happened meanwhile, and once when it ends. A condition that comes and goes (a
/// cluster rejecting some requests and taking others) is still logged at most once per
/// interval, and its end only when its start was logged.
#[derive(Debug, Default)]
struct FailureLog {
    since: Option<Instant>,
    last_logged: Option<Instant>,
    suppressed: u64,
    /// Whether the current occurrence was logged, so that its end is worth a line too.
    announced: bool,
}

impl FailureLog {
    /// Records one occurrence; returns `Some(count suppressed since the last log)` when it
    /// should be logged now.
    fn occurred(&mut self) -> Option<u64> {
        let now = Instant::now();
        self.since.get_or_insert(now);
        match self.last_logged {
            Some(last) if now.duration_since(last) < FAILURE_LOG_INTERVAL => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last_logged = Some(now);
                self.announced = true;
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }

    /// The condition ended; returns how long it lasted if its start was logged. The time of
    /// the last message is kept: if it comes back within the interval, it is counted, not
    /// logged again at once.
    fn cleared(&mut self) -> Option<Duration> {
        let since = self.since.take()?;
        std::mem::take(&mut self.announced).then(|| since.elapsed())
    }
}

impl Shared {
    fn request_failed(&self, error: &RequestError, items: usize) {
        self.stats
            .retries
            .fetch_add(items as u64, Ordering::Relaxed);
        if let Some(suppressed) = lock(&self.failures).occurred() {
            let again = if suppressed > 0 {
                format!(" ({suppressed} more failures since the last message)")
            } else {
                String::new()
            };
            if error.is_auth() {
                tracing::error!(
                    output = %self.id,
                    "bulk request refused: {error}; check the credentials; retrying with backoff{again}"
                );
            } else {
                tracing::warn!(
                    output = %self.id,
                    "bulk request of {items} events failed: {error}; retrying with backoff, inputs pause meanwhile{again}"
                );
            }
        }
    }

    fn items_retried(&self, count: usize, status: u16) {
        self.stats
            .retries
            .fetch_add(count as u64, Ordering::Relaxed);
        if let Some(suppressed) = lock(&self.failures).occurred() {
            tracing::warn!(
                output = %self.id,
                "{count} events of a bulk request got status {status}; retrying them with backoff ({suppressed} more such responses since the last message)"
            );
        }
    }

    fn request_succeeded(&self) {
        if let Some(lasted) = lock(&self.failures).cleared() {
            tracing::info!(
                output = %self.id,
                "bulk requests succeed again after {:.1} s of failures",
                lasted.as_secs_f64()
            );
        }
    }

    fn dead_lettered(&self, count: usize, first_reason: &str, path: &std::path::Path) {
        let total = self
            .stats
            .dead_lettered
            .fetch_add(count as u64, Ordering::Relaxed)
            + count as u64;
        if lock(&self.dlq_log).occurred().is_some() {
            tracing::warn!(
                output = %self.id,
                "{count} events refused by elasticsearch went to the dead-letter queue {} ({total} so far); first reason: {first_reason}; fix the mapping, then `logpipe dlq replay`",
                path.display()
            );
        }
    }
}

/// A refused event waiting to be written to the DLQ.
struct Refusal {
    item: usize,
    status: u16,
    error_type: String,
    reason: String,
}

/// Sends one group until each of its events is delivered or dead-lettered, then acknowledges
/// its batches. Returns without acknowledging when `abort` is cancelled.
async fn deliver_group(shared: Arc<Shared>, group: Group, abort: CancellationToken) {
    let Group { acks, body, items } = group;
    // Shared, not copied, by the request that sends the whole group.
    let body = Bytes::from(body);
    let mut pending: Vec<usize> = (0..items.len()).collect();
    let mut backoff = Backoff::new(shared.retry_initial, shared.retry_max);
    while !pending.is_empty() {
        let mut retry = Vec::new();
        let mut refused = Vec::new();
        for chunk in chunks(&items, &pending, shared.batch_bytes) {
            send_chunk(&shared, &body, &items, &chunk, &mut retry, &mut refused).await;
        }
        while !refused.is_empty() {
            match write_dead_letters(&shared, &body, &items, &refused).await {
                Ok(()) => refused.clear(),
                Err(error) => {
                    tracing::error!(output = %shared.id, "{error}; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(backoff.next_wait()) => {}
                        () = abort.cancelled() => return,
                    }
                }
            }
        }
        if retry.is_empty() {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(backoff.next_wait()) => {}
            () = abort.cancelled() => return,
        }
        pending = retry;
    }
    for ack in acks {
        ack.complete();
    }
}

/// Splits `pending` items into runs whose bodies stay under `batch_bytes` (at least one item each).
fn chunks(items: &[Range<usize>], pending: &[usize], batch_bytes: usize) -> Vec<Vec<usize>> {
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0;
    for &item in pending {
        let size = items.get(item).map_or(0, Range::len);
        if !current.is_empty() && bytes + size > batch_bytes {
            chunks.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push(item);
        bytes += size;
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// Sends one bulk request of `chunk`; sorts its items into `retry` and `refused`.
async fn send_chunk(
    shared: &Shared,
    body: &Bytes,
    items: &[Range<usize>],
    chunk: &[usize],
    retry: &mut Vec<usize>,
    refused: &mut Vec<Refusal>,
) {
    let mut request = if chunk.len() == items.len() {
        // Every item, in order: the whole body.
        body.clone()
    } else {
        let ranges = || chunk.iter().filter_map(|&item| items.get(item));
        let mut part = Vec::with_capacity(ranges().map(Range::len).sum());
        for range in ranges() {
            part.extend_from_slice(body.get(range.clone()).unwrap_or_default());
        }
        Bytes::from(part)
    };
    let gzip = shared.compression == Compression::Gzip;
    if gzip {
        let mut encoder = flate2::write::GzEncoder::new(
            Vec::with_capacity(request.len() / 4),
            flate2::Compression::fast(),
        );
        // Writing into memory cannot fail.
        let _ = encoder.write_all(&request);
        request = Bytes::from(encoder.finish().unwrap_or_default());
    }
    let response = shared
        .client
        .send(
            Method::POST,
            "/_bulk",
            "application/x-ndjson",
            Some(request),
            gzip,
        )
        .await;
    let response = match response {
        Ok(response) => response,
        Err(error) if error.is_transient() || error.is_auth() => {
            shared.request_failed(&error, chunk.len());
            retry.extend_from_slice(chunk);
            return;
        }
        Err(error) => {
            // The whole request was refused for good (400, 413, …): every event of it is
            // dead-lettered with the server's answer, so the pipeline does not stall on it.
            let (status, reason) = match &error {
                RequestError::Status { status, body, .. } => (status.as_u16(), body.clone()),
                RequestError::Transport { reason, .. } => (0, reason.clone()),
            };
            refused.extend(chunk.iter().map(|&item| Refusal {
                item,
                status,
                error_type: "bulk_request_refused".to_string(),
                reason: reason.clone(),
            }));
            return;
        }
    };
    let outcomes = match bulk::parse_response(&response.body, chunk.len()) {
        Ok(outcomes) => outcomes,
        Err(error) => {
            let error = RequestError::Transport {
                url: "_bulk".to_string(),
                reason: error.to_string(),
            };
            shared.request_failed(&error, chunk.len());
            retry.extend_from_slice(chunk);
            return;
        }
    };
    let mut retried = 0;
    let mut retry_status = 0;
    for (&item, outcome) in chunk.iter().zip(outcomes) {
        match outcome {
            ItemOutcome::Delivered => {}
            ItemOutcome::Retry { status } => {
                retry.push(item);
                retried += 1;
                retry_status = status;
            }
            ItemOutcome::Rejected {
                status,
                error_type,
                reason,
            } => refused.push(Refusal {
                item,
                status,
                error_type,
                reason,
            }),
        }
    }
    // A response whose items must be sent again is no success yet: announcing one would
    // log the failure again at every such response (Elasticsearch under indexing pressure).
    if retried > 0 {
        shared.items_retried(retried, retry_status);
    } else {
        shared.request_succeeded();
    }
}

/// Appends the refused events to the DLQ (fsynced) before their batches may be acknowledged.
/// The events are read back from their document lines in the request body.
async fn write_dead_letters(
    shared: &Arc<Shared>,
    body: &[u8],
    items: &[Range<usize>],
    refused: &[Refusal],
) -> Result<(), dlq::DlqError> {
    let letters: Vec<dlq::Refused> = refused
        .iter()
        .filter_map(|refusal| {
            let lines = body.get(items.get(refusal.item)?.clone())?;
            let (action, document) = split_item(lines);
            Some(dlq::Refused {
                event: serde_json::from_slice(document).unwrap_or(Value::Null),
                index: index_from_action(action),
                status: refusal.status,
                error_type: refusal.error_type.clone(),
                reason: refusal.reason.clone(),
            })
        })
        .collect();
    let first_reason = refused
        .first()
        .map(|refusal| {
            format!(
                "{} {}: {}",
                refusal.status, refusal.error_type, refusal.reason
            )
        })
        .unwrap_or_default();
    let count = letters.len();
    let queue = shared.dlq.clone();
    let written = tokio::task::spawn_blocking(move || queue.append(letters))
        .await
        .map_err(|error| dlq::DlqError::Write {
            path: shared.dlq.dir().to_path_buf(),
            source: std::io::Error::other(error),
        })??;
    shared.dead_lettered(count, &first_reason, &written);
    Ok(())
}

/// An item's action line and document line (without their newlines).
fn split_item(lines: &[u8]) -> (&[u8], &[u8]) {
    let lines = lines.strip_suffix(b"\n").unwrap_or(lines);
    match lines.iter().position(|byte| *byte == b'\n') {
        Some(at) => (
            lines.get(..at).unwrap_or_default(),
            lines.get(at + 1..).unwrap_or_default(),
        ),
        None => (lines, &[]),
    }
}

/// The `_index` of an encoded action line.
fn index_from_action(action_line: &[u8]) -> String {
    let action: Value = serde_json::from_slice(action_line).unwrap_or(Value::Null);
    action
        .as_object()
        .and_then(|object| object.values().next())
        .and_then(|meta| meta["_index"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// The Elasticsearch outputs of a pipeline (all, or the one named `only`), built.
fn elasticsearch_outputs(
    config: &crate::config::PipelineConfig,
    only: Option<&str>,
) -> Result<Vec<ElasticsearchOutput>, String> {
    let context = OutputBuildContext {
        config_dir: config.config_dir(),
        data_dir: config.data_dir(),
        live_frames: None,
    };
    let mut outputs = Vec::new();
    for spec in &config.outputs {
        if only.is_some_and(|wanted| wanted != spec.id) {
            continue;
        }
        if let super::OutputConfig::Elasticsearch(options) = &spec.config {
            outputs.push(
                ElasticsearchOutput::build(
                    options,
                    &context,
                    &spec.id,
                    &Arc::new(OutputStats::new(&spec.id, "elasticsearch")),
                )
                .map_err(|error| format!("{}: {error}", spec.id))?,
            );
        }
    }
    match (outputs.is_empty(), only) {
        (true, Some(wanted)) => Err(format!("no elasticsearch output with id `{wanted}`")),
        (true, None) => Err("the pipeline has no elasticsearch output".to_string()),
        (false, _) => Ok(outputs),
    }
}

/// `logpipe setup`: installs the templates (and Kibana objects) of every Elasticsearch output
/// of `config`; returns what was done, one line per step.
pub async fn setup_pipeline(config: &crate::config::PipelineConfig) -> Result<Vec<String>, String> {
    let mut done = Vec::new();
    for output in elasticsearch_outputs(config, None)? {
        let version = cluster_info(&output.shared.client).await.map_err(|error| {
            format!("{}: cannot reach elasticsearch: {error}", output.shared.id)
        })?;
        done.push(format!("{}: {version}", output.shared.id));
        for line in output
            .setup
            .run(&output.shared.client)
            .await
            .map_err(|error| format!("{}: {error}", output.shared.id))?
        {
            done.push(format!("{}: {line}", output.shared.id));
        }
    }
    Ok(done)
}

/// What `logpipe dlq replay` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Events read from the DLQ files.
    pub replayed: usize,
    /// Of those, how many Elasticsearch refused again (they are back in the DLQ).
    pub refused_again: u64,
    /// DLQ files replayed and removed.
    pub files: usize,
    /// Lines that were not dead letters (left in place, in `*.unreadable`).
    pub unreadable: usize,
}

/// `logpipe dlq replay`: sends the dead-lettered events of each Elasticsearch output again
/// (with the output's current settings, so a fixed mapping or index applies). A file is
/// renamed `*.replaying` first and removed once every event of it is delivered or refused
/// again (refused events go to a new DLQ file); a replay that dies is taken up next time.
pub async fn replay_dead_letters(
    config: &crate::config::PipelineConfig,
    only: Option<&str>,
) -> Result<Vec<(String, ReplaySummary)>, String> {
    let mut summaries = Vec::new();
    for mut output in elasticsearch_outputs(config, only)? {
        let id = output.shared.id.clone();
        let fail = |error: &dyn std::fmt::Display| format!("{id}: {error}");
        let mut summary = ReplaySummary::default();
        cluster_info(&output.shared.client)
            .await
            .map_err(|error| fail(&format!("cannot reach elasticsearch: {error}")))?;
        let fields = FingerprintFields::new().map_err(|e| fail(&e))?;
        for file in output.shared.dlq.files().map_err(|e| fail(&e))? {
            let replaying = file.with_extension("replaying");
            if file != replaying {
                std::fs::rename(&file, &replaying).map_err(|e| fail(&e))?;
            }
            let (letters, unreadable) = dlq::read_letters(&replaying).map_err(|e| fail(&e))?;
            summary.unreadable += unreadable;
            let refused_before = output.shared.stats.dead_lettered.load(Ordering::Relaxed);
            for chunk in letters.chunks(output.batch_size) {
                let events: Vec<Event> = chunk
                    .iter()
                    .filter_map(|letter| match &letter.event {
                        Value::Object(fields) => Some(Event::from_fields(fields.clone(), "")),
                        _ => None,
                    })
                    .collect();
                summary.replayed += events.len();
                let (ack, mut receipt) = crate::batch::Ack::new();
                let batch = OutputBatch {
                    events: Arc::new(crate::batch::FilteredEvents::new(events, true)),
                    ack,
                };
                let mut group = Group::default();
                output.routing.encode(&batch, &mut group, &fields, &id);
                group.acks.push(batch.ack);
                deliver_group(Arc::clone(&output.shared), group, CancellationToken::new()).await;
                if !receipt.acknowledged().await {
                    return Err(fail(&"replay stopped before delivery; run it again"));
                }
            }
            summary.refused_again +=
                output.shared.stats.dead_lettered.load(Ordering::Relaxed) - refused_before;
            if unreadable > 0 {
                let keep = replaying.with_extension("unreadable");
                std::fs::rename(&replaying, &keep).map_err(|e| fail(&e))?;
            } else {
                std::fs::remove_file(&replaying).map_err(|e| fail(&e))?;
            }
            summary.files += 1;
        }
        summaries.push((id, summary));
    }
    Ok(summaries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_that_comes_and_goes_is_logged_once_per_interval() {
        let mut log = FailureLog::default();
        assert_eq!(log.occurred(), Some(0), "the first failure is logged");
        assert!(log.cleared().is_some(), "and so is its end");
        for _ in 0..5 {
            assert_eq!(log.occurred(), None, "back within the interval: counted");
            assert_eq!(
                log.cleared(),
                None,
                "an end nobody was told of is not logged"
            );
        }
        assert_eq!(log.suppressed, 5);
    }
}
