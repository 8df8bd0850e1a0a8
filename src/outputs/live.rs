//! The `live` output: feeds every event into the live view's sliding window and acknowledges
//! it at once, and publishes the window's figures once a second (as JSON) for the browser
//! page, `/live/snapshot` and `logpipe top`. Watchers never hold the pipeline up.

use super::{Output, OutputBuildContext, OutputContext, OutputError, OutputFuture};
use crate::config::StringList;
use crate::config::duration;
use crate::event::{Event, FieldPath};
use crate::live::window::{LiveWindow, Request, WindowSettings};
use serde::Deserialize;
use serde_json::Value;
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

/// The fields a request is read from, parsed once.
#[derive(Debug)]
struct RequestFields {
    client: FieldPath,
    url: FieldPath,
    strip_query: bool,
    status: FieldPath,
    bytes: FieldPath,
    referrer: FieldPath,
    user_agent: Vec<FieldPath>,
    line: Vec<FieldPath>,
}

impl RequestFields {
    fn parse(config: &LiveOutputConfig) -> Result<RequestFields, LiveOutputError> {
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

    /// The request an event describes; its line only if `window` wants it. The fields are
    /// read in the order of the default paths (`http.request.referrer` …
    /// `user_agent.original`), each a short step from the last.
    fn request<'a>(&self, event: &'a Event, window: &LiveWindow) -> Request<'a> {
        let mut fields = event.sorted_reader();
        let referrer = fields.get_str(&self.referrer);
        let bytes = number(fields.get_stored(&self.bytes)).unwrap_or(0);
        let status = number(fields.get_stored(&self.status)).and_then(|s| u16::try_from(s).ok());
        let client = fields.get_str(&self.client);
        let url = fields.get_str(&self.url).map(|url| match self.strip_query {
            true => url.split_once('?').map_or(url, |(path, _)| path),
            false => url,
        });
        let user_agent = self.user_agent.iter().find_map(|path| fields.get_str(path));
        let line = match window.wants_line(status) {
            true => self.line.iter().find_map(|path| event.get_str(path)),
            false => None,
        };
        Request {
            client,
            url,
            status,
            bytes,
            referrer,
            user_agent,
            line,
        }
    }
}

/// A number, or a string holding one (a grok capture without `:int`).
fn number(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.parse().ok(),
        _ => None,
    }
}

/// The `live` output.
pub struct LiveOutput {
    fields: RequestFields,
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
            fields: RequestFields::parse(config)?,
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
                    for event in batch.events.iter() {
                        let request = self.fields.request(event, &window);
                        window.record(now, &request);
                    }
                    batch.ack.complete();
                }
                _ = ticks.tick() => {
                    self.frames.send_replace(Some(frame_json(&mut window)));
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
    use serde_json::json;

    fn config(toml_text: &str) -> LiveOutputConfig {
        toml::from_str(toml_text).unwrap()
    }

    fn event(fields: Value) -> Event {
        let Value::Object(fields) = fields else {
            panic!("an object")
        };
        Event::from_fields(fields, "2026-01-01T00:00:00.000Z")
    }

    #[test]
    fn requests_are_read_from_the_ecs_fields_by_default() {
        let fields = RequestFields::parse(&config("")).unwrap();
        let event = event(json!({
            "source": {"address": "10.0.0.1"},
            "url": {"original": "/search?q=x"},
            "http": {"response": {"status_code": 502, "body": {"bytes": "1234"}},
                     "request": {"referrer": "https://example.com/"}},
            "user_agent": {"original": "Mozilla/5.0 …", "name": "Firefox"},
            "event": {"original": "the raw line"},
            "message": "the message"
        }));
        let request = fields.request(&event, &window(1));
        assert_eq!(request.client, Some("10.0.0.1"));
        assert_eq!(request.url, Some("/search"));
        assert_eq!(request.status, Some(502));
        assert_eq!(request.bytes, 1234);
        assert_eq!(request.referrer, Some("https://example.com/"));
        assert_eq!(request.user_agent, Some("Firefox"));
        assert_eq!(request.line, Some("the raw line"));
    }

    /// A window whose tail takes `tail_lines` lines a frame.
    fn window(tail_lines: usize) -> LiveWindow {
        let settings = WindowSettings {
            seconds: 60,
            top: 10,
            error_status: 500,
            tail_lines,
            recent_errors: 10,
            max_exact_users: 100,
            max_keys_per_second: 100,
            max_values: 100,
        };
        LiveWindow::new(settings, 0)
    }

    #[test]
    fn the_line_is_read_only_for_the_tail_and_error_lines() {
        let fields = RequestFields::parse(&config("")).unwrap();
        let ok = event(json!({"http": {"response": {"status_code": 200}}, "message": "ok"}));
        let failed = event(json!({"http": {"response": {"status_code": 503}}, "message": "503"}));
        let mut window = window(1);
        assert_eq!(fields.request(&ok, &window).line, Some("ok"));
        window.record(0, &fields.request(&ok, &window));
        // The tail is full until the next frame: only errors need their line now.
        assert_eq!(fields.request(&ok, &window).line, None);
        assert_eq!(fields.request(&failed, &window).line, Some("503"));
        window.frame(1);
        assert_eq!(fields.request(&ok, &window).line, Some("ok"));
    }

    #[test]
    fn configured_fields_and_fallbacks_are_used() {
        let fields = RequestFields::parse(&config(
            r#"client_field = "user.name"
strip_query = false
user_agent_field = ["ua.family", "user_agent.original"]"#,
        ))
        .unwrap();
        let event = event(json!({
            "user": {"name": "alice"},
            "url": {"original": "/a?b=c"},
            "user_agent": {"original": "curl/8"},
            "message": "only a message"
        }));
        let request = fields.request(&event, &window(1));
        assert_eq!(request.client, Some("alice"));
        assert_eq!(request.url, Some("/a?b=c"));
        assert_eq!(request.status, None);
        assert_eq!(request.user_agent, Some("curl/8"));
        assert_eq!(request.line, Some("only a message"));
    }

    #[test]
    fn a_window_out_of_range_or_no_api_is_refused() {
        let (frames, _) = watch::channel(None);
        let context = OutputBuildContext {
            config_dir: ".".into(),
            data_dir: ".".into(),
            live_frames: Some(frames),
        };
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
