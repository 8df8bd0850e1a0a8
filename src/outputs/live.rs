//! The `live` output: feeds every event's request (read by the filter workers, see
//! [`crate::live::request`]) into the live view's sliding window and acknowledges it at once,
//! and publishes the window's figures once a second (as JSON) for the browser
//! page, `/live/snapshot` and `logpipe top`. Watchers never hold the pipeline up.

use super::{Output, OutputBuildContext, OutputContext, OutputError, OutputFuture};
use crate::config::StringList;
use crate::config::duration;
use crate::event::FieldPath;
use crate::live::request::{RequestBatch, RequestFields, RequestReader};
use crate::live::window::{LiveWindow, WindowSettings};
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// The latest frame as JSON text, shared with the API; `None` before the live output starts.
pub type LiveFrames = watch::Sender<Option<Arc<str>>>;

/// Options of the `live` output. The field options default to the ECS names the bundled
/// nginx patterns and the useragent filter write; a list means the first field present.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveOutputConfig {
    /// Length of the sliding window (default 5 min, at 1 s resolution; at most 1 h).
    #[serde(default = "default_window", with = "duration")]
    pub window: Duration,
    /// Rows of the top URL, referrer and user-agent tables (default 10).
    #[serde(default = "default_top")]
    pub top: usize,
    /// The client whose distinct values are the live users (default `source.address`).
    #[serde(default = "default_client_field")]
    pub client_field: String,
    /// The URL of the top URLs (default `url.original`).
    #[serde(default = "default_url_field")]
    pub url_field: String,
    /// Count URLs without their query string (default true: `/search?q=a` and `/search?q=b`
    /// are one URL).
    #[serde(default = "default_strip_query")]
    pub strip_query: bool,
    /// The response status (default `http.response.status_code`).
    #[serde(default = "default_status_field")]
    pub status_field: String,
    /// Response bytes (default `http.response.body.bytes`).
    #[serde(default = "default_bytes_field")]
    pub bytes_field: String,
    /// The referrer (default `http.request.referrer`).
    #[serde(default = "default_referrer_field")]
    pub referrer_field: String,
    /// The browser family (default `user_agent.name`, from the useragent filter, else
    /// `user_agent.original`).
    #[serde(default = "default_user_agent_field")]
    pub user_agent_field: StringList,
    /// The raw line shown in the tail and error list (default `event.original`, else `message`).
    #[serde(default = "default_line_field")]
    pub line_field: StringList,
    /// Responses with a status at or above this are errors (default 500).
    #[serde(default = "default_error_status")]
    pub error_status: u16,
    /// Raw lines sent to the page per second (default 50).
    #[serde(default = "default_tail_lines")]
    pub tail_lines: usize,
    /// Latest error lines kept (default 20).
    #[serde(default = "default_recent_errors")]
    pub recent_errors: usize,
    /// Live users are counted exactly up to this many, estimated (HyperLogLog, ±2%) above
    /// (default 100,000).
    #[serde(default = "default_max_exact_users")]
    pub max_exact_users: usize,
}

fn default_window() -> Duration {
    Duration::from_secs(300)
}
fn default_top() -> usize {
    10
}
fn default_client_field() -> String {
    "source.address".into()
}
fn default_url_field() -> String {
    "url.original".into()
}
fn default_strip_query() -> bool {
    true
}
fn default_status_field() -> String {
    "http.response.status_code".into()
}
fn default_bytes_field() -> String {
    "http.response.body.bytes".into()
}
fn default_referrer_field() -> String {
    "http.request.referrer".into()
}
fn default_user_agent_field() -> StringList {
    StringList(vec!["user_agent.name".into(), "user_agent.original".into()])
}
fn default_line_field() -> StringList {
    StringList(vec!["event.original".into(), "message".into()])
}
fn default_error_status() -> u16 {
    500
}
fn default_tail_lines() -> usize {
    50
}
fn default_recent_errors() -> usize {
    20
}
fn default_max_exact_users() -> usize {
    100_000
}

/// Per-second counts each top table keeps over the whole window: 500 distinct values a
/// second in a 5-minute window, fewer in longer ones (the rest count as `(other)`), so the
/// window's memory stays near 30 MB at most whatever the traffic and the window (measured:
/// 30 MB, and 53 MB with 300,000, at 70,000 requests/s of the benchmark's varied URLs).
const COUNTS_PER_WINDOW: usize = 150_000;
/// The most distinct values a top table counts in one second.
const MAX_KEYS_PER_SECOND: usize = 1_000;
/// Distinct values each top table holds over the window (the rest count as `(other)`).
const MAX_VALUES: usize = 20_000;
/// The longest window: 3,600 one-second slots.
const MAX_WINDOW: Duration = Duration::from_secs(3_600);

/// A problem in the `live` output's options.
#[derive(Debug, thiserror::Error)]
pub enum LiveOutputError {
    /// A field option is not a valid path.
    #[error("`{option}`: {source}")]
    Field {
        option: &'static str,
        source: crate::event::FieldPathError,
    },
    /// The window is out of range.
    #[error("`window` must be between 1s and 1h, not {0:?}")]
    Window(Duration),
    /// The API, which serves the live view, is off.
    #[error(
        "the live view is served by the API, which is off: remove `[api] enabled = false` or this output"
    )]
    ApiOff,
}

/// The fields a request is read from, parsed from the options.
fn request_fields(config: &LiveOutputConfig) -> Result<RequestFields, LiveOutputError> {
    let one = |option: &'static str, path: &str| {
        FieldPath::parse(path).map_err(|source| LiveOutputError::Field { option, source })
    };
    let list = |option: &'static str, paths: &StringList| {
        paths
            .0
            .iter()
            .map(|path| one(option, path))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(RequestFields {
        client: one("client_field", &config.client_field)?,
        url: one("url_field", &config.url_field)?,
        strip_query: config.strip_query,
        status: one("status_field", &config.status_field)?,
        bytes: one("bytes_field", &config.bytes_field)?,
        referrer: one("referrer_field", &config.referrer_field)?,
        user_agent: list("user_agent_field", &config.user_agent_field)?,
        line: list("line_field", &config.line_field)?,
    })
}

/// The `live` output.
pub struct LiveOutput {
    requests: Arc<RequestReader>,
    settings: WindowSettings,
    frames: LiveFrames,
}

impl LiveOutput {
    /// Builds the output; the pipeline's live view must be free (one live output per
    /// pipeline, with the API on).
    pub fn build(
        config: &LiveOutputConfig,
        context: &OutputBuildContext,
    ) -> Result<LiveOutput, LiveOutputError> {
        if config.window < Duration::from_secs(1) || config.window > MAX_WINDOW {
            return Err(LiveOutputError::Window(config.window));
        }
        let Some(frames) = context.live_frames.clone() else {
            return Err(LiveOutputError::ApiOff);
        };
        Ok(LiveOutput {
            requests: Arc::new(RequestReader::new(
                request_fields(config)?,
                config.error_status,
                config.recent_errors,
                config.tail_lines,
            )),
            settings: WindowSettings {
                seconds: config.window.as_secs() as u32,
                top: config.top,
                error_status: config.error_status,
                tail_lines: config.tail_lines,
                recent_errors: config.recent_errors,
                max_exact_users: config.max_exact_users,
                max_keys_per_second: (COUNTS_PER_WINDOW / config.window.as_secs() as usize)
                    .min(MAX_KEYS_PER_SECOND),
                max_values: MAX_VALUES,
            },
            frames,
        })
    }

    async fn aggregate(self, mut context: OutputContext) -> Result<(), OutputError> {
        let mut window = LiveWindow::new(self.settings, unix_seconds());
        self.frames.send_replace(Some(frame_json(&mut window)));
        // Ticks on whole seconds, so a frame closes the second that just ended.
        let first_tick = tokio::time::Instant::now() + until_next_second();
        let mut ticks = tokio::time::interval_at(first_tick, Duration::from_secs(1));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                batch = context.batches.recv() => {
                    let Some(batch) = batch else { break };
                    let now = unix_seconds();
                    for request in batch.events.requests().into_iter().flat_map(RequestBatch::iter) {
                        window.record(now, &request);
                    }
                    self.requests.set_tail_open(window.tail_has_room());
                    batch.ack.complete();
                }
                _ = ticks.tick() => {
                    let frame = frame_json(&mut window);
                    self.requests.set_tail_open(window.tail_has_room());
                    self.frames.send_replace(Some(frame));
                }
            }
        }
        // The last figures stay on show until the process exits.
        self.frames.send_replace(Some(frame_json(&mut window)));
        Ok(())
    }
}

impl Output for LiveOutput {
    fn run(self: Box<Self>, context: OutputContext) -> OutputFuture {
        Box::pin(self.aggregate(context))
    }

    fn reads_events(&self) -> bool {
        false
    }

    fn live_requests(&self) -> Option<Arc<RequestReader>> {
        Some(Arc::clone(&self.requests))
    }
}

fn frame_json(window: &mut LiveWindow) -> Arc<str> {
    let frame = window.frame(unix_seconds());
    // A frame holds only strings and numbers: encoding it cannot fail.
    serde_json::to_string(&frame).unwrap_or_default().into()
}

fn unix_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

fn until_next_second() -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    Duration::from_nanos(u64::from(1_000_000_000 - nanos)) + Duration::from_millis(5)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Ack, FilteredEvents, OutputBatch};
    use crate::event::Event;
    use serde_json::{Value, json};

    fn config(toml_text: &str) -> LiveOutputConfig {
        toml::from_str(toml_text).unwrap()
    }

    fn event(fields: Value) -> Event {
        let Value::Object(fields) = fields else {
            panic!("an object")
        };
        Event::from_fields(fields, "2026-01-01T00:00:00.000Z")
    }

    /// A build context whose live frames go to `frames`.
    fn build_context(frames: LiveFrames) -> OutputBuildContext {
        OutputBuildContext {
            config_dir: ".".into(),
            data_dir: ".".into(),
            live_frames: Some(frames),
        }
    }

    /// The reader a `live` output with these options gives the filter workers.
    fn reader(toml_text: &str) -> Arc<RequestReader> {
        let (frames, _) = watch::channel(None);
        let context = build_context(frames);
        let output = LiveOutput::build(&config(toml_text), &context).unwrap();
        output.live_requests().unwrap()
    }

    /// The lines packed with the requests of `events`.
    fn lines(reader: &RequestReader, events: &[Event]) -> Vec<Option<String>> {
        let batch = reader.read(events);
        batch
            .iter()
            .map(|request| request.line.map(String::from))
            .collect()
    }

    #[test]
    fn requests_are_read_from_the_ecs_fields_by_default() {
        let event = event(json!({
            "source": {"address": "10.0.0.1"},
            "url": {"original": "/search?q=x"},
            "http": {"response": {"status_code": 502, "body": {"bytes": "1234"}},
                     "request": {"referrer": "https://example.com/"}},
            "user_agent": {"original": "Mozilla/5.0 …", "name": "Firefox"},
            "event": {"original": "the raw line"},
            "message": "the message"
        }));
        let batch = reader("").read(&[event]);
        let requests: Vec<_> = batch.iter().collect();
        let [request] = requests.as_slice() else {
            panic!("one request: {requests:?}")
        };
        assert_eq!(request.client, Some("10.0.0.1"));
        assert_eq!(request.url, Some("/search"));
        assert_eq!(request.status, Some(502));
        assert_eq!(request.bytes, 1234);
        assert_eq!(request.referrer, Some("https://example.com/"));
        assert_eq!(request.user_agent, Some("Firefox"));
        assert_eq!(request.line, Some("the raw line"));
    }

    #[test]
    fn the_line_is_packed_only_for_the_open_tail_and_error_lines() {
        let reader = reader("tail_lines = 2");
        let ok = |n: u32| {
            event(json!({"http": {"response": {"status_code": 200}}, "message": format!("ok {n}")}))
        };
        let failed = event(json!({"http": {"response": {"status_code": 503}}, "message": "503"}));
        let batch = [ok(1), ok(2), failed, ok(3)];
        let line = |text: &str| Some(text.to_string());
        // While the tail is open, a batch carries at most `tail_lines` lines besides errors.
        assert_eq!(
            lines(&reader, &batch),
            [line("ok 1"), line("ok 2"), line("503"), None]
        );
        // The tail is full until the next frame: only errors carry their line now.
        reader.set_tail_open(false);
        assert_eq!(lines(&reader, &batch), [None, None, line("503"), None]);
        reader.set_tail_open(true);
        assert_eq!(lines(&reader, &batch)[0], line("ok 1"));
        let no_errors = self::reader("tail_lines = 0\nrecent_errors = 0");
        assert_eq!(lines(&no_errors, &batch), [None, None, None, None]);
    }

    #[tokio::test]
    async fn the_workers_pack_tail_lines_again_after_each_frame() {
        let (frames, mut published) = watch::channel(None);
        let context = build_context(frames);
        let output = LiveOutput::build(&config("tail_lines = 1"), &context).unwrap();
        let reader = output.live_requests().unwrap();
        let (sender, batches) = tokio::sync::mpsc::channel(1);
        let running = tokio::spawn(Box::new(output).run(OutputContext {
            id: "live".into(),
            batches,
            abort: Default::default(),
        }));
        let ok = [event(
            json!({"http": {"response": {"status_code": 200}}, "message": "ok"}),
        )];
        let (ack, mut receipt) = Ack::new();
        let events = FilteredEvents::new(Vec::new(), false).with_requests(Some(reader.read(&ok)));
        let batch = OutputBatch {
            events: Arc::new(events),
            ack,
        };
        sender.send(batch).await.unwrap();
        assert!(receipt.acknowledged().await);
        // The line filled the tail: until the next frame, batches carry none.
        assert_eq!(lines(&reader, &ok), [None]);
        published.borrow_and_update();
        published.changed().await.unwrap();
        assert_eq!(lines(&reader, &ok), [Some("ok".to_string())]);
        drop(sender);
        running.await.unwrap().unwrap();
    }

    #[test]
    fn configured_fields_and_fallbacks_are_used() {
        let reader = reader(
            r#"client_field = "user.name"
strip_query = false
user_agent_field = ["ua.family", "user_agent.original"]"#,
        );
        let event = event(json!({
            "user": {"name": "alice"},
            "url": {"original": "/a?b=c"},
            "user_agent": {"original": "curl/8"},
            "message": "only a message"
        }));
        let batch = reader.read(&[event]);
        let request = batch.iter().next().unwrap();
        assert_eq!(request.client, Some("alice"));
        assert_eq!(request.url, Some("/a?b=c"));
        assert_eq!(request.status, None);
        assert_eq!(request.user_agent, Some("curl/8"));
        assert_eq!(request.line, Some("only a message"));
    }

    #[test]
    fn a_window_out_of_range_or_no_api_is_refused() {
        let (frames, _) = watch::channel(None);
        let context = build_context(frames);
        let error = LiveOutput::build(&config(r#"window = "2h""#), &context)
            .err()
            .unwrap();
        assert!(error.to_string().contains("between 1s and 1h"), "{error}");
        let without_api = OutputBuildContext {
            live_frames: None,
            ..context
        };
        let error = LiveOutput::build(&config(""), &without_api).err().unwrap();
        assert!(
            error.to_string().contains("[api] enabled = false"),
            "{error}"
        );
    }
}
