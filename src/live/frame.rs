//! What the live view sends to its watchers once a second: the figures of the sliding
//! window as one JSON object (`LiveFrame`), the same for the browser page (`/live/ws`),
//! `GET /live/snapshot` and `logpipe top`.

use serde::{Deserialize, Serialize};

/// One second's view of the sliding window. Series are per second, oldest first, and end
/// with the second `time`; they are `window_seconds` long.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveFrame {
    /// Unix time (seconds) of the newest second in the series.
    pub time: i64,
    /// Length of the window in seconds.
    pub window_seconds: u32,
    /// Requests (events) per second.
    pub requests: Vec<u64>,
    /// Error responses (status at or above `error_status`) per second.
    pub errors: Vec<u64>,
    /// Response bytes per second.
    pub bytes: Vec<u64>,
    /// Sums over the whole window.
    pub totals: LiveTotals,
    /// Requests seen since the live output started.
    pub requests_since_start: u64,
    /// Distinct clients (`client_field`) in the window.
    pub live_users: u64,
    /// Whether `live_users` is exact (false: estimated, above `max_exact_users`).
    pub live_users_exact: bool,
    /// Most requested URLs in the window, most first.
    pub top_urls: Vec<TopEntry>,
    /// Most frequent referrers in the window, most first.
    pub top_referrers: Vec<TopEntry>,
    /// Most frequent user agents (browser families) in the window, most first.
    pub top_user_agents: Vec<TopEntry>,
    /// The latest error lines, oldest first.
    pub recent_errors: Vec<LiveLine>,
    /// Lines that arrived in the newest second (at most `tail_lines`), oldest first.
    pub tail: Vec<LiveLine>,
}

/// Sums over the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveTotals {
    /// Requests.
    pub requests: u64,
    /// Error responses.
    pub errors: u64,
    /// Response bytes.
    pub bytes: u64,
    /// Responses by status class.
    pub status: StatusClasses,
}

/// Responses by status class; `other` counts events without a status in 100–599.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusClasses {
    /// 100–199.
    #[serde(rename = "1xx")]
    pub informational: u64,
    /// 200–299.
    #[serde(rename = "2xx")]
    pub success: u64,
    /// 300–399.
    #[serde(rename = "3xx")]
    pub redirect: u64,
    /// 400–499.
    #[serde(rename = "4xx")]
    pub client_error: u64,
    /// 500–599.
    #[serde(rename = "5xx")]
    pub server_error: u64,
    /// No status, or not a number in 100–599.
    pub other: u64,
}

/// A value and how often it occurred in the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopEntry {
    /// The URL, referrer or user agent.
    pub value: String,
    /// Occurrences in the window.
    pub count: u64,
}

/// A raw line as the live view shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveLine {
    /// Unix time (seconds) the line arrived.
    pub time: i64,
    /// The response status, when the event has one.
    pub status: Option<u16>,
    /// The raw line (`line_field`, else `message`).
    pub line: String,
}
