//! The sliding window behind the live view: one slot per second (requests, errors, bytes,
//! status classes, and the URLs, referrers and user agents seen in it) in a ring, running
//! totals for the top tables, distinct clients, the latest error lines and a tail of lines.
//! Requests are recorded in the open second; a frame shows the closed seconds before it.

use crate::live::distinct::{self, DistinctCounter};
use crate::live::frame::{LiveFrame, LiveLine, LiveTotals, StatusClasses, TopEntry};
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;

/// What the window keeps; see the `live` output's options.
#[derive(Debug, Clone)]
pub struct WindowSettings {
    /// Length of the window in seconds (at least 1).
    pub seconds: u32,
    /// Rows of each top table.
    pub top: usize,
    /// Responses with a status at or above this are errors.
    pub error_status: u16,
    /// Lines of the tail sent per frame.
    pub tail_lines: usize,
    /// Latest error lines kept.
    pub recent_errors: usize,
    /// Distinct clients counted exactly; more are estimated.
    pub max_exact_users: usize,
    /// Distinct values of each top table counted per second; the rest count as `(other)`.
    pub max_keys_per_second: usize,
    /// Distinct values each top table holds over the whole window; new values past it count
    /// as `(other)`.
    pub max_values: usize,
}

/// One request as the window sees it.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    /// The client (live users are distinct clients).
    pub client: Option<&'a str>,
    /// The URL (for the top URLs).
    pub url: Option<&'a str>,
    /// The response status.
    pub status: Option<u16>,
    /// Response bytes.
    pub bytes: u64,
    /// The referrer.
    pub referrer: Option<&'a str>,
    /// The user agent (browser family).
    pub user_agent: Option<&'a str>,
    /// The raw line, for the tail and the error lines.
    pub line: Option<&'a str>,
}

/// The value counted for the values past `max_keys_per_second` in one second or past
/// `max_values` in the window.
const OTHER: &str = "(other)";

/// The sliding window.
#[derive(Debug)]
pub struct LiveWindow {
    settings: WindowSettings,
    /// `seconds + 1` slots: the open second and the closed seconds of the window.
    slots: Vec<Slot>,
    /// The second requests are recorded in now (unix seconds).
    open: i64,
    urls: TopTotals,
    referrers: TopTotals,
    user_agents: TopTotals,
    users: DistinctCounter,
    requests_since_start: u64,
    recent_errors: VecDeque<LiveLine>,
    /// Lines recorded since the last frame, at most `tail_lines`.
    tail: Vec<LiveLine>,
}

#[derive(Debug, Default)]
struct Slot {
    second: i64,
    requests: u64,
    errors: u64,
    bytes: u64,
    status: StatusClasses,
    urls: SecondCounts,
    referrers: SecondCounts,
    user_agents: SecondCounts,
}

/// Counts per value of a top table. foldhash instead of SipHash: a value is hashed several
/// times per request (URLs and user agents of 50 to 200 bytes), and the tables are bounded
/// (`max_keys_per_second`, `max_values`), so a flood of colliding values cannot grow them.
type ValueCounts = HashMap<Arc<str>, u64, foldhash::fast::RandomState>;

/// One second's counts of a top table.
#[derive(Debug, Default)]
struct SecondCounts {
    values: ValueCounts,
    /// Requests counted as `(other)` (kept apart: a busy second counts most of its requests
    /// there, and this saves hashing the name for each).
    other: u64,
}

/// Counts per value over the closed seconds of the window. Its keys are shared (`Arc`) with
/// the seconds' counts: a value seen in every second is stored once.
#[derive(Debug, Default)]
struct TopTotals(ValueCounts);

impl TopTotals {
    fn add(&mut self, counts: &SecondCounts) {
        for (value, count) in &counts.values {
            self.add_count(value, *count);
        }
        if counts.other > 0 {
            self.add_count(&Arc::from(OTHER), counts.other);
        }
    }

    fn add_count(&mut self, value: &Arc<str>, count: u64) {
        match self.0.get_mut(value) {
            Some(total) => *total += count,
            None => {
                self.0.insert(Arc::clone(value), count);
            }
        }
    }

    fn subtract(&mut self, counts: &SecondCounts) {
        let other = (counts.other > 0).then_some((OTHER, &counts.other));
        let values = counts.values.iter().map(|(value, count)| (&**value, count));
        for (value, count) in values.chain(other) {
            if let Some(total) = self.0.get_mut(value) {
                *total = total.saturating_sub(*count);
                if *total == 0 {
                    self.0.remove(value);
                }
            }
        }
    }

    /// The `top` values with the highest counts, most first (ties by value). One pass keeps
    /// the best `top` in a heap: the totals can hold hundreds of thousands of values (up to
    /// `max_keys_per_second` for each second of the window), and this runs once a second.
    fn top(&self, top: usize) -> Vec<TopEntry> {
        // The heap's greatest entry is the worst of those kept.
        let mut best: BinaryHeap<Ranked<'_>> = BinaryHeap::with_capacity(top.min(self.0.len()));
        for (value, count) in &self.0 {
            let candidate = Ranked {
                count: *count,
                value,
            };
            if best.len() < top {
                best.push(candidate);
            } else if best.peek().is_some_and(|worst| candidate < *worst) {
                best.pop();
                best.push(candidate);
            }
        }
        best.into_sorted_vec()
            .into_iter()
            .map(|entry| TopEntry {
                value: entry.value.to_string(),
                count: entry.count,
            })
            .collect()
    }
}

/// A value of a top table, ordered best first: the higher count, then the lower value.
#[derive(Debug, PartialEq, Eq)]
struct Ranked<'a> {
    count: u64,
    value: &'a str,
}

impl Ord for Ranked<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other
            .count
            .cmp(&self.count)
            .then_with(|| self.value.cmp(other.value))
    }
}

impl PartialOrd for Ranked<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl LiveWindow {
    /// An empty window whose open second is `now`.
    pub fn new(mut settings: WindowSettings, now: i64) -> LiveWindow {
        settings.seconds = settings.seconds.max(1);
        let slots = (0..=settings.seconds).map(|_| Slot::default()).collect();
        LiveWindow {
            users: DistinctCounter::new(settings.seconds, settings.max_exact_users),
            settings,
            slots,
            open: now,
            urls: TopTotals::default(),
            referrers: TopTotals::default(),
            user_agents: TopTotals::default(),
            requests_since_start: 0,
            recent_errors: VecDeque::new(),
            tail: Vec::new(),
        }
    }

    /// Whether [`LiveWindow::record`] keeps the lines of requests that are not errors: while
    /// this frame's tail has room. Most requests at a high rate need no line.
    pub fn tail_has_room(&self) -> bool {
        self.tail.len() < self.settings.tail_lines
    }

    /// Records one request that arrived at `now` (unix seconds).
    pub fn record(&mut self, now: i64, request: &Request<'_>) {
        if now > self.open {
            self.advance(now);
        }
        self.requests_since_start += 1;
        let settings = &self.settings;
        let index = slot_index(self.open, settings.seconds);
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        slot.second = self.open;
        slot.requests += 1;
        slot.bytes += request.bytes;
        let is_error = request.status.is_some_and(|s| s >= settings.error_status);
        if is_error {
            slot.errors += 1;
        }
        let status_class = match request.status {
            Some(100..=199) => &mut slot.status.informational,
            Some(200..=299) => &mut slot.status.success,
            Some(300..=399) => &mut slot.status.redirect,
            Some(400..=499) => &mut slot.status.client_error,
            Some(500..=599) => &mut slot.status.server_error,
            _ => &mut slot.status.other,
        };
        *status_class += 1;
        let limits = (settings.max_keys_per_second, settings.max_values);
        count_value(&mut slot.urls, &self.urls, request.url, limits);
        count_value(
            &mut slot.referrers,
            &self.referrers,
            request.referrer,
            limits,
        );
        count_value(
            &mut slot.user_agents,
            &self.user_agents,
            request.user_agent,
            limits,
        );
        if let Some(client) = request.client {
            let hash = distinct::mix(crate::fingerprint::fnv1a(client.as_bytes()));
            self.users.insert(hash, unix_u32(self.open));
        }
        let line = request.line.unwrap_or_default();
        if is_error && settings.recent_errors > 0 {
            if self.recent_errors.len() == settings.recent_errors {
                self.recent_errors.pop_front();
            }
            self.recent_errors.push_back(LiveLine {
                time: self.open,
                status: request.status,
                line: line.to_string(),
            });
        }
        if self.tail.len() < settings.tail_lines {
            self.tail.push(LiveLine {
                time: self.open,
                status: request.status,
                line: line.to_string(),
            });
        }
    }

    /// Moves the open second to `now` and returns the view of the closed seconds before it;
    /// the tail is the lines recorded since the previous frame.
    pub fn frame(&mut self, now: i64) -> LiveFrame {
        if now > self.open {
            self.advance(now);
        }
        let newest = self.open - 1;
        let oldest = newest - i64::from(self.settings.seconds) + 1;
        let capacity = self.settings.seconds as usize;
        let mut frame = LiveFrame {
            time: newest,
            window_seconds: self.settings.seconds,
            requests: Vec::with_capacity(capacity),
            errors: Vec::with_capacity(capacity),
            bytes: Vec::with_capacity(capacity),
            ..LiveFrame::default()
        };
        let mut totals = LiveTotals::default();
        for second in oldest..=newest {
            let slot = self
                .slots
                .get(slot_index(second, self.settings.seconds))
                .filter(|slot| slot.second == second);
            let (requests, errors, bytes) =
                slot.map_or((0, 0, 0), |s| (s.requests, s.errors, s.bytes));
            frame.requests.push(requests);
            frame.errors.push(errors);
            frame.bytes.push(bytes);
            totals.requests += requests;
            totals.errors += errors;
            totals.bytes += bytes;
            if let Some(slot) = slot {
                add_classes(&mut totals.status, &slot.status);
            }
        }
        frame.totals = totals;
        frame.requests_since_start = self.requests_since_start;
        self.users.expire(unix_u32(newest));
        (frame.live_users, frame.live_users_exact) = self.users.count(unix_u32(newest));
        frame.top_urls = self.urls.top(self.settings.top);
        frame.top_referrers = self.referrers.top(self.settings.top);
        frame.top_user_agents = self.user_agents.top(self.settings.top);
        frame.recent_errors = self
            .recent_errors
            .iter()
            .filter(|line| line.time >= oldest)
            .cloned()
            .collect();
        frame.tail = std::mem::take(&mut self.tail);
        frame
    }

    /// Closes every second before `now`: each closed second's top counts join the totals,
    /// and the slots that fall out of the window are cleared (their counts leave the totals).
    fn advance(&mut self, now: i64) {
        let window = i64::from(self.settings.seconds);
        // Close the open second: its values join the totals.
        let index = slot_index(self.open, self.settings.seconds);
        if let Some(slot) = self.slots.get(index).filter(|s| s.second == self.open) {
            self.urls.add(&slot.urls);
            self.referrers.add(&slot.referrers);
            self.user_agents.add(&slot.user_agents);
        }
        // Open `now`, clearing the slots of the seconds that leave the window on the way
        // (at most one pass round the ring).
        let first = (self.open + 1).max(now - window);
        for second in first..=now {
            let index = slot_index(second, self.settings.seconds);
            if let Some(slot) = self.slots.get_mut(index) {
                if slot.second < second && slot.requests > 0 {
                    self.urls.subtract(&slot.urls);
                    self.referrers.subtract(&slot.referrers);
                    self.user_agents.subtract(&slot.user_agents);
                }
                *slot = Slot {
                    second,
                    ..Slot::default()
                };
            }
        }
        self.open = now;
    }
}

fn slot_index(second: i64, window: u32) -> usize {
    second.rem_euclid(i64::from(window) + 1) as usize
}

fn unix_u32(second: i64) -> u32 {
    u32::try_from(second.max(0)).unwrap_or(u32::MAX)
}

/// Counts `value` in one second's `counts`. A value the window already holds shares its key;
/// past `per_second` values in this second, or `in_window` values in `totals`, a new value
/// counts as `(other)`.
fn count_value(
    counts: &mut SecondCounts,
    totals: &TopTotals,
    value: Option<&str>,
    (per_second, in_window): (usize, usize),
) {
    let Some(value) = value else { return };
    if let Some(count) = counts.values.get_mut(value) {
        *count += 1;
        return;
    }
    // A busy second fills its counts early: the rest of it goes straight to `(other)`,
    // without looking the value up in the totals.
    let key = match counts.values.len() < per_second {
        true => match totals.0.get_key_value(value) {
            Some((key, _)) => Some(Arc::clone(key)),
            None if totals.0.len() < in_window => Some(Arc::from(value)),
            None => None,
        },
        false => None,
    };
    match key {
        Some(key) => {
            counts.values.insert(key, 1);
        }
        None => counts.other += 1,
    }
}

fn add_classes(total: &mut StatusClasses, slot: &StatusClasses) {
    total.informational += slot.informational;
    total.success += slot.success;
    total.redirect += slot.redirect;
    total.client_error += slot.client_error;
    total.server_error += slot.server_error;
    total.other += slot.other;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(seconds: u32) -> WindowSettings {
        WindowSettings {
            seconds,
            top: 3,
            error_status: 500,
            tail_lines: 5,
            recent_errors: 2,
            max_exact_users: 1000,
            max_keys_per_second: 100,
            max_values: 1000,
        }
    }

    /// A top table as (value, count) pairs.
    fn pairs(entries: Vec<TopEntry>) -> Vec<(String, u64)> {
        entries
            .into_iter()
            .map(|entry| (entry.value, entry.count))
            .collect()
    }

    fn request<'a>(client: &'a str, url: &'a str, status: u16, bytes: u64) -> Request<'a> {
        Request {
            client: Some(client),
            url: Some(url),
            status: Some(status),
            bytes,
            referrer: None,
            user_agent: Some("Firefox"),
            line: Some(url),
        }
    }

    #[test]
    fn a_frame_counts_the_closed_seconds_exactly() {
        let mut window = LiveWindow::new(settings(5), 100);
        window.record(100, &request("a", "/", 200, 10));
        window.record(100, &request("b", "/", 200, 10));
        window.record(101, &request("a", "/x", 503, 5));
        window.record(102, &request("c", "/y", 404, 1));
        // The open second (102) is not in the frame yet.
        let frame = window.frame(102);
        assert_eq!(frame.time, 101);
        assert_eq!(frame.requests, vec![0, 0, 0, 2, 1]);
        assert_eq!(frame.errors, vec![0, 0, 0, 0, 1]);
        assert_eq!(frame.bytes, vec![0, 0, 0, 20, 5]);
        assert_eq!(frame.totals.requests, 3);
        assert_eq!(frame.totals.errors, 1);
        assert_eq!(frame.totals.status.success, 2);
        assert_eq!(frame.totals.status.server_error, 1);
        assert_eq!(frame.requests_since_start, 4);
        // Clients are counted as they arrive, the open second included.
        assert_eq!((frame.live_users, frame.live_users_exact), (3, true));
        assert_eq!(
            frame.top_urls,
            vec![
                TopEntry {
                    value: "/".into(),
                    count: 2
                },
                TopEntry {
                    value: "/x".into(),
                    count: 1
                }
            ]
        );
        assert_eq!(frame.recent_errors.len(), 1);
        assert_eq!(frame.recent_errors[0].status, Some(503));
        assert_eq!(frame.tail.len(), 4);
        // The tail is what arrived since the previous frame.
        assert!(window.frame(102).tail.is_empty());
    }

    #[test]
    fn seconds_leave_the_window_with_their_counts() {
        let mut window = LiveWindow::new(settings(3), 10);
        window.record(10, &request("a", "/old", 500, 1));
        window.record(12, &request("b", "/new", 200, 1));
        let frame = window.frame(13);
        assert_eq!(frame.requests, vec![1, 0, 1]);
        assert_eq!(frame.top_urls.len(), 2);
        // At 14 the window is 11..=13: second 10 and everything in it are gone.
        let frame = window.frame(14);
        assert_eq!(frame.requests, vec![0, 1, 0]);
        assert_eq!(frame.totals.requests, 1);
        assert_eq!(frame.totals.errors, 0);
        assert_eq!(frame.top_urls.len(), 1);
        assert_eq!(frame.top_urls[0].value, "/new");
        assert!(frame.recent_errors.is_empty());
        assert_eq!((frame.live_users, frame.live_users_exact), (1, true));
        // Long after, nothing is left.
        let frame = window.frame(1000);
        assert_eq!(frame.totals.requests, 0);
        assert!(frame.top_urls.is_empty());
        assert_eq!(frame.live_users, 0);
        assert_eq!(frame.requests_since_start, 2);
    }

    #[test]
    fn top_tables_keep_the_most_frequent_values() {
        let mut window = LiveWindow::new(settings(60), 0);
        for (url, times) in [("/a", 5), ("/b", 9), ("/c", 1), ("/d", 7)] {
            for _ in 0..times {
                window.record(1, &request("x", url, 200, 0));
            }
        }
        let top = pairs(window.frame(2).top_urls);
        assert_eq!(
            top,
            vec![("/b".into(), 9), ("/d".into(), 7), ("/a".into(), 5)]
        );
    }

    #[test]
    fn top_tables_sort_every_count_and_break_ties_by_value() {
        let mut totals = TopTotals::default();
        for (i, value) in ["m", "c", "x", "a", "q", "b", "z", "k"]
            .into_iter()
            .enumerate()
        {
            let counts = SecondCounts {
                values: ValueCounts::from_iter([(
                    Arc::<str>::from(value),
                    [3, 1, 3, 2, 3, 1, 2, 3][i],
                )]),
                other: 0,
            };
            totals.add(&counts);
        }
        let top = |n| pairs(totals.top(n));
        let all = vec![
            ("k".to_string(), 3),
            ("m".to_string(), 3),
            ("q".to_string(), 3),
            ("x".to_string(), 3),
            ("a".to_string(), 2),
            ("z".to_string(), 2),
            ("b".to_string(), 1),
            ("c".to_string(), 1),
        ];
        for n in 0..=all.len() {
            assert_eq!(top(n), all[..n].to_vec(), "top {n}");
        }
        assert_eq!(top(100), all);
    }

    #[test]
    fn values_past_the_window_bound_count_as_other_until_room_returns() {
        let mut settings = settings(3);
        settings.max_values = 2;
        let mut window = LiveWindow::new(settings, 0);
        for url in ["/a", "/b"] {
            window.record(0, &request("x", url, 200, 0));
        }
        // Second 1: the window holds /a and /b; /c is new and counts as (other), /a is known.
        for url in ["/c", "/a"] {
            window.record(1, &request("x", url, 200, 0));
        }
        let top = pairs(window.frame(2).top_urls);
        assert_eq!(
            top,
            vec![("/a".into(), 2), (OTHER.into(), 1), ("/b".into(), 1)]
        );
        // Once seconds 0 and 1 have left the window there is room again.
        window.record(5, &request("x", "/c", 200, 0));
        let frame = window.frame(6);
        assert_eq!(frame.top_urls.len(), 1);
        assert_eq!(frame.top_urls[0].value, "/c");
    }

    #[test]
    fn values_past_the_per_second_bound_count_as_other() {
        let mut settings = settings(60);
        settings.max_keys_per_second = 2;
        let mut window = LiveWindow::new(settings, 0);
        for url in ["/a", "/b", "/c", "/d", "/a"] {
            window.record(0, &request("x", url, 200, 0));
        }
        assert_eq!(
            pairs(window.frame(1).top_urls),
            vec![(OTHER.into(), 2), ("/a".into(), 2), ("/b".into(), 1)]
        );
    }

    #[test]
    fn the_tail_and_error_lines_are_bounded() {
        let mut window = LiveWindow::new(settings(60), 0);
        for i in 0..20 {
            window.record(0, &request("x", &format!("/{i}"), 500, 0));
        }
        assert!(!window.tail_has_room());
        let frame = window.frame(1);
        assert!(window.tail_has_room(), "a frame empties the tail");
        assert_eq!(frame.tail.len(), 5);
        assert_eq!(frame.tail[0].line, "/0");
        let errors: Vec<&str> = frame
            .recent_errors
            .iter()
            .map(|l| l.line.as_str())
            .collect();
        assert_eq!(errors, vec!["/18", "/19"]);
    }
}
