//! `logpipe top`: the live view in a terminal. Polls `GET /live/snapshot` of a running
//! pipeline once a second and draws the frame (rates, sparkline, status classes, top tables,
//! latest lines) fitted to the terminal; `render` is the pure frame → screen part.

use crate::live::frame::{LiveFrame, LiveLine, TopEntry};
use crate::outputs::elasticsearch::client::error_chain;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use std::io::{IsTerminal, Write};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::time::MissedTickBehavior;

/// Clears the screen and moves the cursor home.
const CLEAR_SCREEN: &str = "\x1b[H\x1b[2J";
const HIDE_CURSOR: &str = "\x1b[?25l";
const SHOW_CURSOR: &str = "\x1b[?25h";
/// Used when the terminal size cannot be read (stdout is a pipe or a file).
const FALLBACK_SIZE: (usize, usize) = (80, 24);
/// Sparkline levels, lowest first.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
/// The longest server message (404 reason, error body) kept, in characters.
const MAX_REASON_CHARS: usize = 300;

/// Where `logpipe top` reads from and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopOptions {
    /// The pipeline's API address, e.g. `http://127.0.0.1:9600` (`/live/snapshot` is appended).
    pub url: String,
    /// Sent as `Authorization: Bearer TOKEN` when the API requires one.
    pub token: Option<String>,
    /// Fetch and print one screen, then return (for scripts); errors are returned, not retried.
    pub once: bool,
}

/// Why `logpipe top` stopped.
#[derive(Debug, thiserror::Error)]
pub enum TopError {
    /// The address is not an http(s) URL.
    #[error(
        "`{url}` is not an http:// or https:// URL; give the pipeline's API address, e.g. http://127.0.0.1:9600"
    )]
    BadUrl { url: String },
    /// The token cannot be sent in a header.
    #[error("the token contains characters that cannot be sent in an HTTP header")]
    BadToken,
    /// reqwest refused the settings.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// No answer (connection refused, timeout, reset); `once` only, the live view retries.
    /// `reason` is the whole error chain, `cause` its innermost error.
    #[error("cannot reach logpipe at {url}: {reason}; is the pipeline running with its API on?")]
    Unreachable {
        url: String,
        reason: String,
        cause: String,
    },
    /// The API requires a token and none or a wrong one was sent.
    #[error("{url} needs a valid API token (HTTP 401): pass --token or set LOGPIPE_API_TOKEN")]
    Unauthorized { url: String },
    /// The pipeline runs without a live output.
    #[error("{url} has no live view (HTTP 404): {reason}")]
    NoLiveView { url: String, reason: String },
    /// Any other HTTP status.
    #[error("{url}: HTTP {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    /// The answer is not a live frame (another server on that port, or another version).
    #[error("{url} did not answer with a live frame: {reason}")]
    BadFrame { url: String, reason: String },
    /// The ctrl-c handler cannot be installed.
    #[error("cannot listen for ctrl-c: {0}")]
    Signal(std::io::Error),
    /// Standard output cannot be written (closed pipe, full disk).
    #[error("cannot write to standard output: {0}")]
    Write(#[from] std::io::Error),
}

impl TopError {
    /// Whether retrying cannot help: the server answered and said no.
    fn is_final(&self) -> bool {
        matches!(
            self,
            TopError::Unauthorized { .. } | TopError::NoLiveView { .. }
        )
    }

    /// What the waiting line shows in brackets.
    fn waiting_reason(&self) -> String {
        match self {
            TopError::Unreachable { cause, .. } => cause.clone(),
            TopError::Status { status, body, .. } => format!("HTTP {status}: {body}"),
            TopError::BadFrame { reason, .. } => format!("not a live frame: {reason}"),
            other => other.to_string(),
        }
    }
}

/// Runs the live view until ctrl-c (or, with `once`, prints one screen). An unreachable
/// pipeline is waited for; a refused token or a pipeline without live output ends it.
pub async fn run(options: TopOptions) -> Result<(), TopError> {
    let client = SnapshotClient::new(&options)?;
    let colour = std::io::stdout().is_terminal();
    if options.once {
        let frame = client.fetch().await?;
        let (width, height) = terminal_size();
        let mut screen = render_screen(&frame, &client.base, width, height, colour);
        screen.push('\n');
        let mut stdout = tokio::io::stdout();
        stdout.write_all(screen.as_bytes()).await?;
        stdout.flush().await?;
        return Ok(());
    }
    run_live(&client, colour).await
}

/// The polling loop: one fetch and one screen per second.
async fn run_live(client: &SnapshotClient, colour: bool) -> Result<(), TopError> {
    let mut stdout = tokio::io::stdout();
    stdout.write_all(HIDE_CURSOR.as_bytes()).await?;
    stdout.flush().await?;
    let _cursor = CursorRestore;
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let fetched = tokio::select! {
            signal = &mut ctrl_c => return signal.map_err(TopError::Signal),
            fetched = async {
                ticks.tick().await;
                client.fetch().await
            } => fetched,
        };
        let (width, height) = terminal_size();
        let screen = match fetched {
            Ok(frame) => render_screen(&frame, &client.base, width, height, colour),
            Err(error) if error.is_final() => return Err(error),
            Err(error) => {
                waiting_screen(&client.base, &error.waiting_reason(), width, height, colour)
            }
        };
        stdout
            .write_all(format!("{CLEAR_SCREEN}{screen}").as_bytes())
            .await?;
        stdout.flush().await?;
    }
}

/// Shows the cursor again and ends the last screen line, however the live view ends.
struct CursorRestore;

impl Drop for CursorRestore {
    fn drop(&mut self) {
        let mut stdout = std::io::stdout();
        // Nothing useful can be done if the terminal is gone.
        let _ = write!(stdout, "\n{SHOW_CURSOR}");
        let _ = stdout.flush();
    }
}

/// The terminal's (columns, rows), or 80×24 when stdout is not a terminal.
fn terminal_size() -> (usize, usize) {
    match console::Term::stdout().size_checked() {
        Some((rows, columns)) if rows > 0 && columns > 0 => {
            (usize::from(columns), usize::from(rows))
        }
        _ => FALLBACK_SIZE,
    }
}

/// The HTTP client for one pipeline's snapshot endpoint, built once.
struct SnapshotClient {
    client: reqwest::Client,
    /// The address as given, without a trailing `/` (shown in the header).
    base: String,
    /// `{base}/live/snapshot`.
    snapshot_url: String,
}

impl SnapshotClient {
    fn new(options: &TopOptions) -> Result<Self, TopError> {
        let base = options.url.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(TopError::BadUrl {
                url: options.url.clone(),
            });
        }
        let mut headers = HeaderMap::new();
        if let Some(token) = &options.token {
            let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| TopError::BadToken)?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|error| TopError::Client(error_chain(&error)))?;
        Ok(SnapshotClient {
            client,
            snapshot_url: format!("{base}/live/snapshot"),
            base,
        })
    }

    /// One `GET /live/snapshot`, classified.
    async fn fetch(&self) -> Result<LiveFrame, TopError> {
        let url = &self.snapshot_url;
        let unreachable = |error: reqwest::Error| TopError::Unreachable {
            url: url.clone(),
            reason: error_chain(&error),
            cause: innermost_cause(&error),
        };
        let response = self.client.get(url).send().await.map_err(unreachable)?;
        let status = response.status();
        let body = response.bytes().await.map_err(unreachable)?;
        match status {
            StatusCode::OK => serde_json::from_slice(&body).map_err(|error| TopError::BadFrame {
                url: url.clone(),
                reason: error.to_string(),
            }),
            StatusCode::UNAUTHORIZED => Err(TopError::Unauthorized { url: url.clone() }),
            StatusCode::NOT_FOUND => {
                let reason = server_text(&body);
                Err(TopError::NoLiveView {
                    url: url.clone(),
                    reason: if reason.is_empty() {
                        "the pipeline has no live output".to_string()
                    } else {
                        reason
                    },
                })
            }
            other => Err(TopError::Status {
                url: url.clone(),
                status: other.as_u16(),
                body: server_text(&body),
            }),
        }
    }
}

/// A server's plain-text answer made safe to print: cleaned, trimmed, shortened.
fn server_text(body: &[u8]) -> String {
    let text = clean(&String::from_utf8_lossy(body));
    let words: Vec<&str> = text.split_whitespace().collect();
    truncate_chars(&words.join(" "), MAX_REASON_CHARS)
}

/// The deepest error of the chain, e.g. `Connection refused (os error 111)`: what the
/// waiting line has room for.
fn innermost_cause(error: &dyn std::error::Error) -> String {
    let mut innermost = error;
    while let Some(cause) = innermost.source() {
        innermost = cause;
    }
    innermost.to_string()
}

/// Draws one frame as the whole screen: at most `height` lines of at most `width` characters,
/// joined by `\n` (no trailing newline), with ANSI colours and no cursor movement. Values from
/// the logs are cleaned of control characters and escape sequences and cut with `…`.
pub fn render(frame: &LiveFrame, source: &str, width: usize, height: usize) -> String {
    render_screen(frame, source, width, height, true)
}

fn render_screen(
    frame: &LiveFrame,
    source: &str,
    width: usize,
    height: usize,
    colour: bool,
) -> String {
    finish(
        screen_lines(frame, source, width, height),
        width,
        height,
        colour,
    )
}

/// The screen shown while the pipeline does not answer.
fn waiting_screen(base: &str, reason: &str, width: usize, height: usize, colour: bool) -> String {
    let lines = vec![
        Line::new()
            .push("logpipe top — ", Style::Bold)
            .push(clean(base), Style::Bold),
        Line::new()
            .push("waiting for logpipe at ", Style::Yellow)
            .push(clean(base), Style::Yellow)
            .push(" … (", Style::Yellow)
            .push(clean(reason), Style::Yellow)
            .push(")", Style::Yellow),
        Line::new().push("retrying every second; ctrl-c to quit", Style::Dim),
    ];
    finish(lines, width, height, colour)
}

fn finish(lines: Vec<Line>, width: usize, height: usize, colour: bool) -> String {
    lines
        .iter()
        .take(height)
        .map(|line| line.truncated(width).to_text(colour))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The screen's lines, top to bottom, before fitting to the width.
fn screen_lines(frame: &LiveFrame, source: &str, width: usize, height: usize) -> Vec<Line> {
    let mut lines = vec![
        header_line(frame, source, width),
        figures_line(frame),
        sparkline_line(&frame.requests, width),
        status_line(frame),
    ];
    let mut remaining = height.saturating_sub(lines.len());

    // Tables first, leaving about two fifths of the rest to the latest lines.
    let tables = [
        ("Top URLs", frame.top_urls.as_slice()),
        ("Top referrers", frame.top_referrers.as_slice()),
        ("Top user agents", frame.top_user_agents.as_slice()),
    ];
    let blocks = table_blocks(width, tables);
    let longest = tables.iter().map(|(_, entries)| entries.len()).max();
    let tail_reserve = remaining * 2 / 5;
    let table_rows = ((remaining - tail_reserve) / blocks.len())
        .saturating_sub(1)
        .min(longest.unwrap_or(0).max(1));
    if table_rows > 0 {
        for block in blocks {
            let columns = block.len();
            let column_width = width.saturating_sub(2 * (columns - 1)) / columns;
            let drawn: Vec<Vec<Line>> = block
                .iter()
                .map(|&(title, entries)| table(title, entries, table_rows, column_width))
                .collect();
            for row in 0..=table_rows {
                let mut line = Line::new();
                for (column, cells) in drawn.iter().enumerate() {
                    if column > 0 {
                        line = line.push("  ", Style::Plain);
                    }
                    if let Some(cell) = cells.get(row) {
                        line.spans.extend(cell.spans.iter().cloned());
                    }
                }
                lines.push(line);
            }
            remaining -= table_rows + 1;
        }
    }

    // The latest lines get what is left; recent errors only what the latest lines leave.
    let mut tail_rows = 0;
    let mut error_rows = 0;
    if remaining >= 2 {
        tail_rows = frame.tail.len().max(1).min(remaining - 1);
        remaining -= tail_rows + 1;
    }
    if remaining >= 2 && !frame.recent_errors.is_empty() {
        error_rows = frame.recent_errors.len().min(remaining - 1);
    }
    if error_rows > 0 {
        lines.push(Line::new().push("Recent errors", Style::Bold));
        lines.extend(last(&frame.recent_errors, error_rows).iter().map(live_line));
    }
    if tail_rows > 0 {
        lines.push(
            Line::new()
                .push("Latest lines", Style::Bold)
                .push(" (newest second)", Style::Dim),
        );
        if frame.tail.is_empty() {
            lines.push(Line::new().push("no lines in the newest second", Style::Dim));
        } else {
            lines.extend(last(&frame.tail, tail_rows).iter().map(live_line));
        }
    }
    lines
}

/// The last `count` of `items` (all of them when there are fewer).
fn last<T>(items: &[T], count: usize) -> &[T] {
    items
        .get(items.len().saturating_sub(count)..)
        .unwrap_or(items)
}

/// How the three top tables (URLs, referrers, user agents) are arranged: one inner list per
/// block of rows, side by side within a block.
fn table_blocks<T: Copy>(width: usize, [urls, referrers, agents]: [T; 3]) -> Vec<Vec<T>> {
    if width >= 120 {
        vec![vec![urls, referrers, agents]]
    } else if width >= 60 {
        vec![vec![urls], vec![referrers, agents]]
    } else {
        vec![vec![urls], vec![referrers], vec![agents]]
    }
}

fn header_line(frame: &LiveFrame, source: &str, width: usize) -> Line {
    let after_source = format!(
        " — {} UTC — window {}",
        clock(frame.time),
        duration(frame.window_seconds)
    );
    let prefix = "logpipe top — ";
    let source_room = width
        .saturating_sub(prefix.chars().count() + after_source.chars().count())
        .max(8);
    Line::new()
        .push(prefix, Style::Bold)
        .push(truncate_chars(&clean(source), source_room), Style::Bold)
        .push(after_source, Style::Bold)
}

fn figures_line(frame: &LiveFrame) -> Line {
    let now = frame.requests.last().copied().unwrap_or(0);
    let bytes_now = frame.bytes.last().copied().unwrap_or(0);
    let totals = &frame.totals;
    let error_style = if totals.errors > 0 {
        Style::Red
    } else {
        Style::Plain
    };
    let users = if frame.live_users_exact || frame.live_users == 0 {
        grouped(frame.live_users)
    } else {
        format!("≈{}", grouped(frame.live_users))
    };
    Line::new()
        .push(grouped(now), Style::Bold)
        .push(" req/s   ", Style::Plain)
        .push(grouped(totals.requests), Style::Bold)
        .push(" requests   ", Style::Plain)
        .push(grouped(totals.errors), error_style)
        .push(
            format!(" errors {}   ", percent(totals.errors, totals.requests)),
            error_style,
        )
        .push(users, Style::Bold)
        .push(" live users   ", Style::Plain)
        .push(byte_rate(bytes_now), Style::Bold)
}

fn sparkline_line(requests: &[u64], width: usize) -> Line {
    let label = "req/s ";
    let peak = requests.iter().copied().max().unwrap_or(0);
    let suffix = format!(" peak {}", grouped(peak));
    if requests.is_empty() {
        return Line::new()
            .push(label, Style::Dim)
            .push("no data yet", Style::Dim);
    }
    let room = width.saturating_sub(label.chars().count() + suffix.chars().count());
    Line::new()
        .push(label, Style::Dim)
        .push(sparkline(requests, room), Style::Green)
        .push(suffix, Style::Dim)
}

/// `series` as one bar per value, or, when longer than `width`, one bar per bucket (the
/// bucket's busiest value). The largest value is `█`, zero is a space.
fn sparkline(series: &[u64], width: usize) -> String {
    if width == 0 || series.is_empty() {
        return String::new();
    }
    let buckets: Vec<u64> = if series.len() <= width {
        series.to_vec()
    } else {
        (0..width)
            .map(|bucket| {
                let start = bucket * series.len() / width;
                let end = ((bucket + 1) * series.len() / width).max(start + 1);
                let bucket = series.get(start..end).unwrap_or_default();
                bucket.iter().copied().max().unwrap_or(0)
            })
            .collect()
    };
    let peak = u128::from(buckets.iter().copied().max().unwrap_or(0));
    buckets
        .iter()
        .map(|&value| {
            if value == 0 || peak == 0 {
                ' '
            } else {
                let level = (u128::from(value) * 8).div_ceil(peak).clamp(1, 8);
                let level = usize::try_from(level - 1).unwrap_or(BARS.len() - 1);
                BARS.get(level).copied().unwrap_or('█')
            }
        })
        .collect()
}

fn status_line(frame: &LiveFrame) -> Line {
    let status = &frame.totals.status;
    let all = status.informational
        + status.success
        + status.redirect
        + status.client_error
        + status.server_error
        + status.other;
    let classes = [
        ("1xx", status.informational, Style::Plain, false),
        ("2xx", status.success, Style::Green, true),
        ("3xx", status.redirect, Style::Cyan, true),
        ("4xx", status.client_error, Style::Yellow, true),
        ("5xx", status.server_error, Style::Red, true),
        ("other", status.other, Style::Dim, false),
    ];
    let mut line = Line::new();
    for (label, count, style, always) in classes {
        if count == 0 && !always {
            continue;
        }
        if !line.spans.is_empty() {
            line = line.push("   ", Style::Plain);
        }
        line = line
            .push(format!("{label} {}", grouped(count)), style)
            .push(format!(" {}", percent(count, all)), Style::Dim);
    }
    line
}

/// A table `width` characters wide: a title row then `rows` rows of value and count.
fn table(title: &str, entries: &[TopEntry], rows: usize, width: usize) -> Vec<Line> {
    let counts: Vec<String> = entries
        .iter()
        .take(rows)
        .map(|e| grouped(e.count))
        .collect();
    let count_width = counts
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    let value_width = width.saturating_sub(count_width + 1);
    let mut lines = vec![
        Line::new()
            .push(
                pad(&truncate_chars(title, value_width), value_width),
                Style::Bold,
            )
            .push(format!(" {:>count_width$}", "count"), Style::Dim)
            .padded(width),
    ];
    for row in 0..rows {
        let line = match (entries.get(row), counts.get(row)) {
            (Some(entry), Some(count)) => {
                let value = clean(&entry.value);
                Line::new()
                    .push(
                        pad(&truncate_chars(&value, value_width), value_width),
                        Style::Plain,
                    )
                    .push(format!(" {count:>count_width$}"), Style::Bold)
            }
            _ if row == 0 => Line::new().push("–", Style::Dim),
            _ => Line::new(),
        };
        lines.push(line.padded(width));
    }
    lines
}

/// `HH:MM:SS 200 the line` for the tail and recent errors.
fn live_line(line: &LiveLine) -> Line {
    let (status, style) = match line.status {
        Some(status) => (status.to_string(), status_style(status)),
        None => ("---".to_string(), Style::Dim),
    };
    Line::new()
        .push(clock(line.time), Style::Dim)
        .push(" ", Style::Plain)
        .push(format!("{status:>3}"), style)
        .push(" ", Style::Plain)
        .push(clean(&line.line), Style::Plain)
}

fn status_style(status: u16) -> Style {
    match status / 100 {
        2 => Style::Green,
        3 => Style::Cyan,
        4 => Style::Yellow,
        5 => Style::Red,
        _ => Style::Plain,
    }
}

/// `HH:MM:SS` (UTC) of a Unix time.
fn clock(unix_seconds: i64) -> String {
    let of_day = unix_seconds.rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// `90s`, `5m`, `2h`.
fn duration(seconds: u32) -> String {
    if seconds >= 7200 && seconds.is_multiple_of(3600) {
        format!("{}h", seconds / 3600)
    } else if seconds >= 120 && seconds.is_multiple_of(60) {
        format!("{}m", seconds / 60)
    } else {
        format!("{seconds}s")
    }
}

/// `1234567` → `1,234,567`.
fn grouped(number: u64) -> String {
    let digits = number.to_string();
    let mut text = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

/// `part` of `whole` with one decimal, `0.0%` when `whole` is zero.
fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0.0%".to_string();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

/// `512 B/s`, `1.2 KB/s`, `3.4 MB/s` (decimal units).
fn byte_rate(bytes_per_second: u64) -> String {
    if bytes_per_second < 1000 {
        return format!("{bytes_per_second} B/s");
    }
    let mut value = bytes_per_second as f64 / 1000.0;
    let mut unit = "KB/s";
    for larger in ["MB/s", "GB/s", "TB/s", "PB/s"] {
        if value < 999.95 {
            break;
        }
        value /= 1000.0;
        unit = larger;
    }
    format!("{value:.1} {unit}")
}

/// `text` without what could move the cursor, recolour or reorder the terminal: escape
/// sequences (CSI, OSC, DCS and two-character ones), control characters and bidirectional
/// overrides. Tabs and line breaks become spaces.
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                Some('[') => skip_csi(&mut chars),
                Some(']' | 'P' | 'X' | '^' | '_') => skip_string(&mut chars),
                _ => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\t' | '\n' | '\r' => out.push(' '),
            '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {}
            '\u{feff}' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Skips a CSI sequence's parameters up to and including its final byte (`@`..`~`).
fn skip_csi(chars: &mut impl Iterator<Item = char>) {
    for c in chars.by_ref() {
        if ('@'..='~').contains(&c) {
            break;
        }
    }
}

/// Skips an OSC/DCS/PM/APC string up to and including BEL, ST (`ESC \`) or C1 ST.
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\x07' | '\u{9c}' => break,
            '\x1b' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                break;
            }
            _ => {}
        }
    }
}

/// The first `width` characters of `text`, the last one `…` when cut.
fn truncate_chars(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut cut: String = text.chars().take(width - 1).collect();
    cut.push('…');
    cut
}

/// `text` filled with spaces to `width` characters.
fn pad(text: &str, width: usize) -> String {
    let missing = width.saturating_sub(text.chars().count());
    format!("{text}{}", " ".repeat(missing))
}

/// How a piece of a line is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Bold,
    Dim,
    Green,
    Cyan,
    Yellow,
    Red,
}

impl Style {
    fn ansi(self) -> Option<&'static str> {
        match self {
            Style::Plain => None,
            Style::Bold => Some("\x1b[1m"),
            Style::Dim => Some("\x1b[2m"),
            Style::Green => Some("\x1b[32m"),
            Style::Cyan => Some("\x1b[36m"),
            Style::Yellow => Some("\x1b[33m"),
            Style::Red => Some("\x1b[31m"),
        }
    }
}

/// A piece of a line in one style; its text holds no control characters.
#[derive(Debug, Clone)]
struct Span {
    text: String,
    style: Style,
}

/// One screen line as styled pieces, so it can be cut to the width without cutting a colour
/// code.
#[derive(Debug, Clone, Default)]
struct Line {
    spans: Vec<Span>,
}

impl Line {
    fn new() -> Self {
        Line::default()
    }

    fn push(mut self, text: impl Into<String>, style: Style) -> Self {
        self.spans.push(Span {
            text: text.into(),
            style,
        });
        self
    }

    fn width(&self) -> usize {
        self.spans
            .iter()
            .map(|span| span.text.chars().count())
            .sum()
    }

    /// The line cut to `width` characters, `…` last when cut.
    fn truncated(&self, width: usize) -> Line {
        if self.width() <= width {
            return self.clone();
        }
        let mut room = width.saturating_sub(1);
        let mut cut = Line::new();
        for span in &self.spans {
            let length = span.text.chars().count();
            if length < room {
                cut.spans.push(span.clone());
                room -= length;
                continue;
            }
            let text: String = span.text.chars().take(room).collect();
            if width > 0 {
                cut = cut.push(text + "…", span.style);
            }
            break;
        }
        cut
    }

    /// The line cut or filled with spaces to exactly `width` characters.
    fn padded(&self, width: usize) -> Line {
        let cut = self.truncated(width);
        let missing = width - cut.width();
        cut.push(" ".repeat(missing), Style::Plain)
    }

    fn to_text(&self, colour: bool) -> String {
        let mut text = String::new();
        for span in &self.spans {
            match span.style.ansi() {
                Some(code) if colour && !span.text.is_empty() => {
                    text.push_str(code);
                    text.push_str(&span.text);
                    text.push_str("\x1b[0m");
                }
                _ => text.push_str(&span.text),
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::frame::{LiveTotals, StatusClasses};
    use std::io::{Read, Write};
    use std::net::TcpListener;

    fn entry(value: &str, count: u64) -> TopEntry {
        TopEntry {
            value: value.to_string(),
            count,
        }
    }

    fn line(time: i64, status: u16, text: &str) -> LiveLine {
        LiveLine {
            time,
            status: Some(status),
            line: text.to_string(),
        }
    }

    /// 12:34:56 UTC on 2024-03-05, a 60-second window.
    fn busy_frame() -> LiveFrame {
        let mut requests = vec![100; 60];
        requests[30] = 400;
        *requests.last_mut().unwrap() = 123;
        LiveFrame {
            time: 1_709_642_096,
            window_seconds: 60,
            requests,
            errors: vec![0; 60],
            bytes: {
                let mut bytes = vec![0; 60];
                bytes[59] = 1_234_567;
                bytes
            },
            totals: LiveTotals {
                requests: 7_380,
                errors: 185,
                bytes: 50_000_000,
                status: StatusClasses {
                    informational: 0,
                    success: 7_000,
                    redirect: 195,
                    client_error: 150,
                    server_error: 35,
                    other: 0,
                },
            },
            requests_since_start: 99_000,
            live_users: 1_234,
            live_users_exact: true,
            top_urls: vec![
                entry("/index.html", 4_321),
                entry("/api/v1/orders", 987),
                entry(&format!("/very/long/{}", "x".repeat(200)), 12),
            ],
            top_referrers: vec![entry("https://example.com/", 55), entry("-", 40)],
            top_user_agents: vec![entry("Chrome", 5_000), entry("Firefox", 1_200)],
            recent_errors: vec![line(1_709_642_090, 502, "GET /api upstream failed")],
            tail: vec![
                line(
                    1_709_642_096,
                    200,
                    "10.0.0.1 - - \"GET /index.html HTTP/1.1\" 200 512",
                ),
                line(
                    1_709_642_096,
                    404,
                    "10.0.0.2 - - \"GET /missing HTTP/1.1\" 404 0",
                ),
            ],
        }
    }

    /// The text without colour codes (the only escape sequences `render` writes).
    fn strip_ansi(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    fn plain_lines(screen: &str) -> Vec<String> {
        strip_ansi(screen).lines().map(str::to_string).collect()
    }

    fn assert_fits(screen: &str, width: usize, height: usize) {
        let lines = plain_lines(screen);
        assert!(lines.len() <= height, "{} lines > {height}", lines.len());
        for line in &lines {
            assert!(
                line.chars().count() <= width,
                "line wider than {width}: {line:?}"
            );
        }
    }

    #[test]
    fn render_shows_the_exact_figures_of_a_known_frame() {
        let screen = render(&busy_frame(), "http://127.0.0.1:9600", 80, 24);
        let lines = plain_lines(&screen);
        assert_eq!(
            lines[0],
            "logpipe top — http://127.0.0.1:9600 — 12:34:56 UTC — window 60s"
        );
        assert_eq!(
            lines[1],
            "123 req/s   7,380 requests   185 errors 2.5%   1,234 live users   1.2 MB/s"
        );
        assert!(lines[2].starts_with("req/s ") && lines[2].ends_with(" peak 400"));
        assert_eq!(
            lines[3],
            "2xx 7,000 94.9%   3xx 195 2.6%   4xx 150 2.0%   5xx 35 0.5%"
        );
        let url_line = lines
            .iter()
            .find(|line| line.starts_with("/index.html"))
            .unwrap();
        assert!(url_line.ends_with(" 4,321"), "{url_line:?}");
        assert_eq!(url_line.chars().count(), 80);
        assert!(
            lines
                .iter()
                .any(|line| line.contains("Chrome") && line.contains("5,000"))
        );
        assert!(
            lines
                .iter()
                .any(|line| line.contains("https://example.com/"))
        );
        assert!(
            lines
                .iter()
                .any(|line| line == "12:34:56 404 10.0.0.2 - - \"GET /missing HTTP/1.1\" 404 0")
        );
    }

    #[test]
    fn render_marks_estimated_live_users() {
        let mut frame = busy_frame();
        frame.live_users_exact = false;
        frame.live_users = 250_000;
        let lines = plain_lines(&render(&frame, "x", 80, 24));
        assert!(lines[1].contains("≈250,000 live users"), "{}", lines[1]);
    }

    #[test]
    fn render_colours_status_classes() {
        let screen = render(&busy_frame(), "x", 80, 24);
        assert!(screen.contains("\x1b[32m2xx 7,000\x1b[0m"));
        assert!(screen.contains("\x1b[36m3xx 195\x1b[0m"));
        assert!(screen.contains("\x1b[33m4xx 150\x1b[0m"));
        assert!(screen.contains("\x1b[31m5xx 35\x1b[0m"));
    }

    #[test]
    fn render_without_colour_writes_no_escape_codes() {
        let screen = render_screen(&busy_frame(), "x", 80, 24, false);
        assert!(!screen.contains('\x1b'));
        assert_eq!(screen, strip_ansi(&render(&busy_frame(), "x", 80, 24)));
    }

    #[test]
    fn no_line_is_wider_than_the_screen_at_any_size() {
        let mut frame = busy_frame();
        frame.tail.push(line(0, 200, &"ü".repeat(500)));
        let source = format!("http://{}.example:9600", "long".repeat(30));
        for (width, height) in [
            (80, 24),
            (20, 5),
            (1, 1),
            (0, 0),
            (59, 30),
            (60, 30),
            (119, 40),
            (120, 60),
            (250, 80),
        ] {
            assert_fits(&render(&frame, &source, width, height), width, height);
        }
    }

    #[test]
    fn a_bigger_terminal_shows_more_tail_lines_and_tables_side_by_side() {
        let mut frame = busy_frame();
        frame.tail = (0..30)
            .map(|i| line(1_709_642_096, 200, &format!("line {i}")))
            .collect();
        let small = plain_lines(&render(&frame, "x", 80, 24));
        let big = plain_lines(&render(&frame, "x", 160, 50));
        let tail_count =
            |lines: &[String]| lines.iter().filter(|l| l.contains(" 200 line ")).count();
        assert!(
            tail_count(&big) > tail_count(&small),
            "{} vs {}",
            tail_count(&big),
            tail_count(&small)
        );
        // The newest line is always shown.
        assert!(small.iter().any(|l| l.ends_with("line 29")));
        // At 160 columns the three tables share one row of titles.
        assert!(big.iter().any(|l| l.contains("Top URLs")
            && l.contains("Top referrers")
            && l.contains("Top user agents")));
        assert!(big.iter().any(|l| l.contains("Recent errors")));
    }

    #[test]
    fn control_characters_and_escape_sequences_in_log_lines_are_removed() {
        let mut frame = busy_frame();
        frame.tail = vec![line(
            1_709_642_096,
            200,
            "GET /\x1b[2J\x1b[31mred\x1b]0;owned title\x07\r\n\x08\u{202e}evil\tdone\u{9b}1;1H",
        )];
        frame.top_urls = vec![entry("/a\x1b[Hb\x00c", 3)];
        let screen = render(&frame, "src\x1b[5m", 80, 24);
        let lines = plain_lines(&screen);
        assert!(
            lines
                .iter()
                .any(|l| l == "12:34:56 200 GET /red  evil done"),
            "{lines:?}"
        );
        assert!(lines.iter().any(|l| l.starts_with("/abc ")));
        assert!(lines[0].starts_with("logpipe top — src — "));
        // The only escape sequences left are the colour codes render writes itself.
        for (index, _) in screen.match_indices('\x1b') {
            let code = &screen[index..];
            assert!(
                [
                    "\x1b[0m", "\x1b[1m", "\x1b[2m", "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[36m"
                ]
                .iter()
                .any(|allowed| code.starts_with(allowed)),
                "unexpected escape at {:?}",
                &code[..code.len().min(8)]
            );
        }
        assert!(
            !strip_ansi(&screen)
                .chars()
                .any(|c| c.is_control() && c != '\n')
        );
    }

    #[test]
    fn sparkline_puts_the_peak_at_full_height() {
        assert_eq!(sparkline(&[0, 1, 2, 4, 8], 10), " ▁▂▄█");
        assert_eq!(sparkline(&[5, 5, 5], 10), "███");
        assert_eq!(sparkline(&[0, 0], 10), "  ");
        assert_eq!(sparkline(&[u64::MAX, 1], 10), "█▁");
    }

    #[test]
    fn sparkline_downsamples_to_the_width_keeping_the_peak() {
        let mut series = vec![10; 300];
        series[150] = 80;
        let line = sparkline(&series, 30);
        assert_eq!(line.chars().count(), 30);
        assert_eq!(line.chars().filter(|&c| c == '█').count(), 1);
        assert_eq!(line.chars().filter(|&c| c == '▁').count(), 29);
    }

    #[test]
    fn an_empty_frame_renders_at_small_and_normal_sizes() {
        let frame = LiveFrame::default();
        let tiny = render(&frame, "http://127.0.0.1:9600", 20, 5);
        assert_fits(&tiny, 20, 5);
        let normal = render(&frame, "http://127.0.0.1:9600", 80, 24);
        assert_fits(&normal, 80, 24);
        let lines = plain_lines(&normal);
        assert_eq!(
            lines[1],
            "0 req/s   0 requests   0 errors 0.0%   0 live users   0 B/s"
        );
        assert_eq!(lines[2], "req/s no data yet");
        assert!(lines.iter().any(|l| l == "no lines in the newest second"));
    }

    #[test]
    fn numbers_and_rates_read_as_people_write_them() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(byte_rate(999), "999 B/s");
        assert_eq!(byte_rate(1_500), "1.5 KB/s");
        assert_eq!(byte_rate(999_990), "1.0 MB/s");
        assert_eq!(byte_rate(2_500_000_000), "2.5 GB/s");
        assert_eq!(percent(1, 3), "33.3%");
        assert_eq!(duration(60), "60s");
        assert_eq!(duration(300), "5m");
        assert_eq!(duration(7200), "2h");
        assert_eq!(clock(-1), "23:59:59");
    }

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(truncate_chars("ééééé", 5), "ééééé");
        assert_eq!(truncate_chars("éééééé", 5), "éééé…");
        let cut = Line::new()
            .push("ab", Style::Red)
            .push("çdéf", Style::Plain)
            .truncated(4);
        assert_eq!(cut.to_text(false), "abç…");
        assert_eq!(cut.to_text(true), "\x1b[31mab\x1b[0mç…");
    }

    /// Answers every connection with `status` and `body` until the test ends; returns the
    /// base URL.
    fn serve(status: &str, body: &str) -> String {
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(response.as_bytes());
            }
        });
        format!("http://{address}")
    }

    fn options(url: String) -> TopOptions {
        TopOptions {
            url,
            token: Some("t0k".to_string()),
            once: true,
        }
    }

    #[tokio::test]
    async fn fetch_reads_the_frame_of_a_snapshot() {
        let frame_json = serde_json::to_string(&busy_frame()).unwrap();
        let url = serve("200 OK", &frame_json);
        let client = SnapshotClient::new(&options(url + "/")).unwrap();
        assert_eq!(client.fetch().await.unwrap(), busy_frame());
    }

    #[tokio::test]
    async fn once_names_the_token_fix_on_401() {
        let url = serve("401 Unauthorized", "");
        let error = run(options(url.clone())).await.unwrap_err();
        assert!(matches!(error, TopError::Unauthorized { .. }), "{error:?}");
        assert_eq!(
            error.to_string(),
            format!(
                "{url}/live/snapshot needs a valid API token (HTTP 401): pass --token or set LOGPIPE_API_TOKEN"
            )
        );
    }

    #[tokio::test]
    async fn once_passes_on_the_reason_of_a_404() {
        let url = serve("404 Not Found", "the pipeline has no `live` output\n");
        let error = run(options(url.clone())).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "{url}/live/snapshot has no live view (HTTP 404): the pipeline has no `live` output"
            )
        );
    }

    #[tokio::test]
    async fn once_reports_an_unreachable_pipeline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let error = run(options(url.clone())).await.unwrap_err();
        assert!(matches!(error, TopError::Unreachable { .. }), "{error:?}");
        assert!(!error.is_final());
        // The waiting line gets the deepest cause, not reqwest's "error sending request for url".
        assert!(!error.waiting_reason().contains("error sending request"));
        assert!(
            error
                .to_string()
                .starts_with(&format!("cannot reach logpipe at {url}/live/snapshot: "))
        );
    }

    #[test]
    fn a_url_without_scheme_or_a_token_with_newlines_is_refused() {
        let error = SnapshotClient::new(&options("127.0.0.1:9600".to_string()))
            .err()
            .unwrap();
        assert!(matches!(error, TopError::BadUrl { .. }));
        let mut bad_token = options("http://127.0.0.1:9600".to_string());
        bad_token.token = Some("a\nb".to_string());
        assert!(matches!(
            SnapshotClient::new(&bad_token).err().unwrap(),
            TopError::BadToken
        ));
    }

    #[test]
    fn the_waiting_screen_names_the_address_and_the_reason() {
        let screen = waiting_screen(
            "http://127.0.0.1:9600",
            "connection refused\x1b[2J",
            80,
            24,
            false,
        );
        let lines = plain_lines(&screen);
        assert_eq!(
            lines[1],
            "waiting for logpipe at http://127.0.0.1:9600 … (connection refused)"
        );
        assert_fits(
            &waiting_screen("http://127.0.0.1:9600", &"x".repeat(300), 30, 2, true),
            30,
            2,
        );
    }
}
