//! The event: one JSON object per log line, addressed by field paths.
//! Paths are written dotted (`http.request.method`) or in Logstash's bracket form
//! (`[http][request][method]`); both address the same nested objects.
//!
//! An event is stored flat, not as a tree of maps: a list of (path, value) entries sorted
//! by path, where no entry's path is the prefix of another's. Nested objects exist only in
//! the JSON written out (or inside a stored object value, for fields that arrive as objects,
//! such as a JSON line's). A line of nginx log thus costs one list and its values, instead
//! of about thirteen B-tree maps with a string per key; keys are written from their
//! precomputed JSON text.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::sync::{LazyLock, Mutex, PoisonError};

/// A JSON object, as nested objects are held in values.
pub type Fields = Map<String, Value>;

/// Name of the field that holds the event time.
pub const TIMESTAMP: &str = "@timestamp";
/// Name of the field that holds the tags list.
pub const TAGS: &str = "tags";

/// The paths every line-based event has, interned once.
static TIMESTAMP_PATH: LazyLock<FieldPath> = LazyLock::new(|| FieldPath::from_keys(&[TIMESTAMP]));
static TAGS_PATH: LazyLock<FieldPath> = LazyLock::new(|| FieldPath::from_keys(&[TAGS]));
static MESSAGE_PATH: LazyLock<FieldPath> = LazyLock::new(|| FieldPath::from_keys(&["message"]));
static ORIGINAL_PATH: LazyLock<FieldPath> =
    LazyLock::new(|| FieldPath::from_keys(&["event", "original"]));

/// One path's keys with what sorting and writing them needs.
#[derive(Debug, Clone)]
struct PathKeys {
    /// The keys from the root down.
    keys: Box<[Box<str>]>,
    /// What JSON output writes to reach the value when the first `d` parents' objects are
    /// already open, for each `d` below the number of keys: the other parents' keys, each
    /// opening its object, then the last key (`"b":{"c":` for `a.b.c` and `d` = 1).
    openings: Box<[Box<[u8]>]>,
    /// The keys in one byte string that sorts as the keys do, key by key and bytewise (the
    /// order of `serde_json::Map`): each key with bytes 0 and 1 escaped as `1 1` and `1 2`,
    /// followed by a 0 byte. An ancestor's sort key is a prefix of its descendants'.
    sort_key: Box<[u8]>,
    /// The first eight bytes of `sort_key`, big-endian, zero-padded: comparing two of these
    /// orders most paths without looking further.
    rank: u64,
    /// The interned paths of the parents, from the root down (`a`, `a.b` for `a.b.c`): two
    /// paths share a parent when they point to the same one.
    parents: Box<[&'static PathKeys]>,
}

impl PathKeys {
    fn new(keys: Box<[Box<str>]>, parents: Box<[&'static PathKeys]>) -> PathKeys {
        let openings = (0..keys.len())
            .map(|open| {
                let mut json = Vec::new();
                for (depth, key) in keys.iter().enumerate().skip(open) {
                    if depth > open {
                        json.push(b'{');
                    }
                    crate::json_writer::write_str(&mut json, key);
                    json.push(b':');
                }
                json.into_boxed_slice()
            })
            .collect();
        let mut sort_key = Vec::new();
        for key in &keys {
            for byte in key.bytes() {
                match byte {
                    0 => sort_key.extend_from_slice(&[1, 1]),
                    1 => sort_key.extend_from_slice(&[1, 2]),
                    _ => sort_key.push(byte),
                }
            }
            sort_key.push(0);
        }
        let mut rank = [0u8; 8];
        for (slot, byte) in rank.iter_mut().zip(&sort_key) {
            *slot = *byte;
        }
        PathKeys {
            keys,
            openings,
            sort_key: sort_key.into_boxed_slice(),
            rank: u64::from_be_bytes(rank),
            parents,
        }
    }

    /// The order of the fields in JSON output.
    fn compare(&self, other: &PathKeys) -> Ordering {
        if std::ptr::eq(self, other) {
            return Ordering::Equal;
        }
        self.rank
            .cmp(&other.rank)
            .then_with(|| self.sort_key.cmp(&other.sort_key))
    }

    /// Whether `self` is a proper prefix of `other` (an ancestor of it).
    fn is_ancestor_of(&self, other: &PathKeys) -> bool {
        other.sort_key.len() > self.sort_key.len() && other.sort_key.starts_with(&self.sort_key)
    }
}

/// A parsed field path: the keys from the root object down to the field.
///
/// Paths written in configuration or in the code are interned: parsed once for the life of
/// the process (their number is bounded by the configuration), so copying one into an event
/// costs a pointer and no reference count shared between threads. Keys that come from the
/// data (a JSON line's top-level fields) get a path of their own.
#[derive(Clone)]
pub struct FieldPath(PathRef);

#[derive(Clone)]
enum PathRef {
    Interned(&'static PathKeys),
    Owned(Box<PathKeys>),
}

/// Interned paths by their keys.
type Interned = HashMap<Box<[Box<str>]>, &'static PathKeys>;

/// The interned paths.
static INTERNED_PATHS: LazyLock<Mutex<Interned>> = LazyLock::new(Mutex::default);

/// The interned path of `keys`, interning its parents first.
fn intern(interned: &mut Interned, keys: Box<[Box<str>]>) -> &'static PathKeys {
    if let Some(&path) = interned.get(&keys) {
        return path;
    }
    let parents: Box<[&'static PathKeys]> = (1..keys.len())
        .map(|depth| intern(interned, keys.get(..depth).unwrap_or_default().into()))
        .collect();
    let path: &'static PathKeys = Box::leak(Box::new(PathKeys::new(keys.clone(), parents)));
    interned.insert(keys, path);
    path
}

/// A field path that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid field path `{path}`: {reason}; write `a.b.c` or `[a][b][c]`")]
pub struct FieldPathError {
    /// The path as written.
    pub path: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl FieldPath {
    /// Parses `a.b.c` or `[a][b][c]`. A bracketed key may contain dots.
    pub fn parse(path: &str) -> Result<FieldPath, FieldPathError> {
        let error = |reason| FieldPathError {
            path: path.to_string(),
            reason,
        };
        let keys: Vec<&str> = if path.starts_with('[') {
            let mut keys = Vec::new();
            let mut rest = path;
            while !rest.is_empty() {
                let inner = rest
                    .strip_prefix('[')
                    .ok_or_else(|| error("expected `[` after `]`"))?;
                let (key, after) = inner.split_once(']').ok_or_else(|| error("missing `]`"))?;
                keys.push(key);
                rest = after;
            }
            keys
        } else {
            path.split('.').collect()
        };
        if keys.is_empty() || keys.iter().any(|key| key.is_empty()) {
            return Err(error("empty key"));
        }
        Ok(FieldPath::from_keys(&keys))
    }

    /// The path of `keys`, written in the code (`&["user_agent", "original"]`): unlike
    /// [`FieldPath::parse`], which paths from configuration go through, it does not check them.
    pub fn from_keys(keys: &[&str]) -> FieldPath {
        let mut interned = INTERNED_PATHS
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let keys: Box<[Box<str>]> = keys.iter().map(|&key| Box::from(key)).collect();
        FieldPath(PathRef::Interned(intern(&mut interned, keys)))
    }

    /// The one-key path of a field named in the data; not interned.
    fn of_data_key(key: &str) -> FieldPath {
        let keys = Box::new([Box::from(key)]);
        FieldPath(PathRef::Owned(Box::new(PathKeys::new(keys, Box::new([])))))
    }

    fn path_keys(&self) -> &PathKeys {
        match &self.0 {
            PathRef::Interned(keys) => keys,
            PathRef::Owned(keys) => keys,
        }
    }

    /// The interned keys, which identify the path by their address (what the place and read
    /// memos compare); `None` for a path from the data, whose address could be reused.
    fn interned(&self) -> Option<&'static PathKeys> {
        match self.0 {
            PathRef::Interned(keys) => Some(keys),
            PathRef::Owned(_) => None,
        }
    }

    /// Whether this is the interned path `keys`.
    fn is_interned(&self, keys: &PathKeys) -> bool {
        self.interned().is_some_and(|own| std::ptr::eq(own, keys))
    }

    /// The path of the field `key` inside the object at this path.
    pub fn child(&self, key: &str) -> FieldPath {
        let mut keys: Vec<&str> = self.keys().iter().map(|key| &**key).collect();
        keys.push(key);
        FieldPath::from_keys(&keys)
    }

    /// The keys from the root down.
    pub fn keys(&self) -> &[Box<str>] {
        &self.path_keys().keys
    }
}

impl PartialEq for FieldPath {
    fn eq(&self, other: &FieldPath) -> bool {
        self.path_keys().compare(other.path_keys()).is_eq()
    }
}

impl Eq for FieldPath {}

impl PartialOrd for FieldPath {
    fn partial_cmp(&self, other: &FieldPath) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for FieldPath {
    fn cmp(&self, other: &FieldPath) -> Ordering {
        self.path_keys().compare(other.path_keys())
    }
}

impl Hash for FieldPath {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.keys().hash(state);
    }
}

impl fmt::Debug for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FieldPath({self})")
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.keys().join("."))
    }
}

impl std::str::FromStr for FieldPath {
    type Err = FieldPathError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FieldPath::parse(s)
    }
}

impl<'de> serde::Deserialize<'de> for FieldPath {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        FieldPath::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Formats a time as `@timestamp` is stored: RFC 3339, UTC, milliseconds, `Z`.
pub fn format_timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// One event: a JSON object with at least `@timestamp` and, for line-based inputs,
/// `message` and `event.original`.
#[derive(Clone, Default)]
pub struct Event {
    /// Sorted by path; no path is an ancestor of another.
    entries: Vec<Entry>,
}

#[derive(Clone)]
struct Entry {
    path: FieldPath,
    value: Value,
}

/// Where a path falls among an event's entries.
enum Place {
    /// An entry has exactly this path.
    Exact(usize),
    /// The entry at this index is an ancestor of the path.
    Below(usize),
    /// The path is the ancestor of these entries: it names an object made of them.
    Above(Range<usize>),
    /// No entry is at, above or below the path; one would go at this index.
    Vacant(usize),
}

impl Place {
    /// The index of the entry at, above or below the path, or where it would go: a writer
    /// or reader's next search starts there.
    fn index(&self) -> usize {
        match self {
            Place::Exact(at) | Place::Below(at) | Place::Vacant(at) => *at,
            Place::Above(range) => range.start,
        }
    }
}

/// Entries an event starts with room for: a parsed nginx line with its date and user agent.
const TYPICAL_ENTRIES: usize = 24;

impl Event {
    /// An event for one line: `@timestamp` = `timestamp` (see [`format_timestamp`]),
    /// `message` and `event.original` = the line.
    pub fn from_line(line: String, timestamp: &str) -> Event {
        let mut entries = Vec::with_capacity(TYPICAL_ENTRIES);
        // In their sorted order: `@timestamp` < `event.original` < `message`.
        entries.push(Entry {
            path: TIMESTAMP_PATH.clone(),
            value: Value::String(timestamp.to_string()),
        });
        entries.push(Entry {
            path: ORIGINAL_PATH.clone(),
            value: Value::String(line.clone()),
        });
        entries.push(Entry {
            path: MESSAGE_PATH.clone(),
            value: Value::String(line),
        });
        Event { entries }
    }

    /// An event made of the given fields; `@timestamp` is set to `timestamp` when absent.
    pub fn from_fields(fields: Fields, timestamp: &str) -> Event {
        let mut entries = Vec::with_capacity(fields.len().max(TYPICAL_ENTRIES));
        // A `Map` iterates in key order, which is the entries' order for one-key paths.
        entries.extend(fields.into_iter().map(|(key, value)| Entry {
            path: FieldPath::of_data_key(&key),
            value,
        }));
        let mut event = Event { entries };
        if let Place::Vacant(at) = event.place(&TIMESTAMP_PATH) {
            event.entries.insert(
                at,
                Entry {
                    path: TIMESTAMP_PATH.clone(),
                    value: Value::String(timestamp.to_string()),
                },
            );
        }
        event
    }

    /// The whole event as one JSON object (built: for tests, pretty output and the rare
    /// caller that needs the tree).
    pub fn to_fields(&self) -> Fields {
        build_object(&self.entries, 0)
    }

    /// Where `path` falls among the entries.
    fn place(&self, path: &FieldPath) -> Place {
        let wanted = path.path_keys();
        let found = self
            .entries
            .binary_search_by(|entry| entry.path.path_keys().compare(wanted));
        self.place_found(found, path)
    }

    /// Where `path` falls, looking forward from entry `from` (a few steps when paths come
    /// in order; a binary search when `path` sorts before that entry's predecessor).
    fn place_from(&self, from: usize, path: &FieldPath) -> Place {
        let wanted = path.path_keys();
        let sorts_after = |at: usize| {
            self.entries
                .get(at)
                .map(|entry| entry.path.path_keys().compare(wanted))
        };
        if from > 0 && sorts_after(from - 1).is_none_or(Ordering::is_ge) {
            return self.place(path);
        }
        let mut at = from;
        let found = loop {
            match sorts_after(at) {
                Some(Ordering::Less) => at += 1,
                Some(Ordering::Equal) => break Ok(at),
                Some(Ordering::Greater) | None => break Err(at),
            }
        };
        self.place_found(found, path)
    }

    /// Where `path` falls, given where a search of the sorted entries found it.
    fn place_found(&self, found: Result<usize, usize>, path: &FieldPath) -> Place {
        let wanted = path.path_keys();
        match found {
            Ok(at) => Place::Exact(at),
            Err(at) => {
                // An ancestor sorts just before its descendants, and nothing sorts between
                // them, so it can only be the entry right before `at`.
                let before = at.checked_sub(1);
                if let Some(before) = before
                    && self
                        .entries
                        .get(before)
                        .is_some_and(|entry| entry.path.path_keys().is_ancestor_of(wanted))
                {
                    return Place::Below(before);
                }
                let below = self
                    .entries
                    .get(at..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|entry| wanted.is_ancestor_of(entry.path.path_keys()))
                    .count();
                if below > 0 {
                    Place::Above(at..at + below)
                } else {
                    Place::Vacant(at)
                }
            }
        }
    }

    /// The keys of `path` below the entry at `at` (which is its ancestor).
    fn keys_below<'p>(&self, at: usize, path: &'p FieldPath) -> &'p [Box<str>] {
        let depth = self
            .entries
            .get(at)
            .map_or(0, |entry| entry.path.keys().len());
        path.keys().get(depth..).unwrap_or_default()
    }

    /// The value at `path` when it is stored as one value: a string, number, array, or an
    /// object that arrived whole (a JSON line's); not an object made of several fields, as
    /// [`Event::get`] builds. For callers that want a string, number or array: no copy.
    pub fn get_stored(&self, path: &FieldPath) -> Option<&Value> {
        self.stored_at(self.place(path), path)
    }

    /// The value stored at `path`, which falls at `place`.
    fn stored_at(&self, place: Place, path: &FieldPath) -> Option<&Value> {
        match place {
            Place::Exact(at) => self.entries.get(at).map(|entry| &entry.value),
            Place::Below(at) => {
                let keys = self.keys_below(at, path);
                let mut value = &self.entries.get(at)?.value;
                for key in keys {
                    value = value.as_object()?.get(&**key)?;
                }
                Some(value)
            }
            Place::Above(_) | Place::Vacant(_) => None,
        }
    }

    /// The value at `path`, if present. An object made of several fields (`http` when
    /// `http.request.method` is set) is built for the caller.
    pub fn get(&self, path: &FieldPath) -> Option<Cow<'_, Value>> {
        match self.place(path) {
            Place::Above(range) => {
                let depth = path.keys().len();
                let entries = self.entries.get(range).unwrap_or_default();
                Some(Cow::Owned(Value::Object(build_object(entries, depth))))
            }
            place => self.stored_at(place, path).map(Cow::Borrowed),
        }
    }

    /// The value at `path` as a string slice, if it is a string.
    pub fn get_str(&self, path: &FieldPath) -> Option<&str> {
        self.get_stored(path).and_then(Value::as_str)
    }

    /// The value at `path`, mutable. An object made of several fields becomes one stored
    /// object first.
    pub fn get_mut(&mut self, path: &FieldPath) -> Option<&mut Value> {
        match self.place(path) {
            Place::Exact(at) => self.entries.get_mut(at).map(|entry| &mut entry.value),
            Place::Below(at) => {
                let keys = self.keys_below(at, path);
                let mut value = &mut self.entries.get_mut(at)?.value;
                for key in keys {
                    value = value.as_object_mut()?.get_mut(&**key)?;
                }
                Some(value)
            }
            Place::Above(range) => {
                let at = self.store_whole(range, path);
                self.entries.get_mut(at).map(|entry| &mut entry.value)
            }
            Place::Vacant(_) => None,
        }
    }

    /// Makes the entries of `range` (all below `path`) one entry at `path` holding their
    /// object; returns its index.
    fn store_whole(&mut self, range: Range<usize>, path: &FieldPath) -> usize {
        let at = range.start;
        let object = self.take_object(range, path);
        self.entries.insert(
            at,
            Entry {
                path: path.clone(),
                value: Value::Object(object),
            },
        );
        at
    }

    /// Removes the entries of `range` (all below `path`) and returns them as one object.
    fn take_object(&mut self, range: Range<usize>, path: &FieldPath) -> Fields {
        let depth = path.keys().len();
        let mut object = Fields::new();
        for Entry { path, value } in self.entries.drain(range) {
            insert_in(
                &mut object,
                path.keys().get(depth..).unwrap_or_default(),
                value,
            );
        }
        object
    }

    /// Sets the value at `path`, creating intermediate objects (a non-object value in
    /// the way is replaced by an object). Returns the previous value.
    pub fn insert(&mut self, path: &FieldPath, value: Value) -> Option<Value> {
        let mut previous = None;
        self.merge(path, value, |existing, value| {
            previous = Some(std::mem::replace(existing, value));
        });
        previous
    }

    /// Sets the value at `path` as [`Event::insert`] does when the field is absent (or
    /// behind a non-object value); when it is present, hands it to `combine` with the new
    /// value instead. One search for callers that look at a field before they set it.
    pub fn merge(
        &mut self,
        path: &FieldPath,
        value: Value,
        combine: impl FnOnce(&mut Value, Value),
    ) {
        self.merge_at(self.place(path), path, value, combine);
    }

    /// A reader for fields asked for in path order, each found by a short step forward from
    /// the last instead of a search of the whole event.
    pub fn sorted_reader(&self) -> SortedReader<'_> {
        SortedReader {
            event: self,
            last: 0,
            memo: None,
        }
    }

    /// A [`Event::sorted_reader`] that first looks for each field where `memo` says the same
    /// read found it in the last event, and keeps where it finds it in this one.
    pub fn sorted_reader_with<'e>(&'e self, memo: &'e mut ReadMemo) -> SortedReader<'e> {
        SortedReader {
            event: self,
            last: 0,
            memo: Some(ReadCursor { memo, read: 0 }),
        }
    }

    /// A writer for fields given in path order, each found by a short step forward from
    /// the last instead of a search of the whole event.
    pub fn sorted_writer(&mut self) -> SortedWriter<'_> {
        SortedWriter {
            event: self,
            last: 0,
            memo: None,
        }
    }

    /// A [`Event::sorted_writer`] that replays where `memo`'s fields went in the last event
    /// it wrote, when this event has the same layout and the same fields come in the same
    /// order (the common case for one filter on lines of one log); it searches, and
    /// records again, from the first field that differs.
    pub fn sorted_writer_with<'e>(&'e mut self, memo: &'e mut PlaceMemo) -> SortedWriter<'e> {
        let replaying = memo.begin(&self.entries);
        SortedWriter {
            event: self,
            last: 0,
            memo: Some(MemoCursor {
                recording: memo.layout.is_some(),
                memo,
                step: 0,
                replaying,
            }),
        }
    }

    /// [`Event::merge`] at `place`, where `path` falls; returns the index of the entry
    /// that holds the field (or its stored ancestor object).
    fn merge_at(
        &mut self,
        place: Place,
        path: &FieldPath,
        value: Value,
        combine: impl FnOnce(&mut Value, Value),
    ) -> usize {
        let at = match place {
            Place::Exact(at) => {
                if let Some(entry) = self.entries.get_mut(at) {
                    combine(&mut entry.value, value);
                }
                return at;
            }
            Place::Below(at) => {
                let keys = self.keys_below(at, path);
                let Some(entry) = self.entries.get_mut(at) else {
                    return at;
                };
                if let Value::Object(object) = &mut entry.value {
                    merge_in(object, keys, value, combine);
                    return at;
                }
                // A scalar in the way: the new field replaces it.
                self.entries.remove(at);
                at
            }
            Place::Above(range) => {
                let at = self.store_whole(range, path);
                if let Some(entry) = self.entries.get_mut(at) {
                    combine(&mut entry.value, value);
                }
                return at;
            }
            Place::Vacant(at) => at,
        };
        self.entries.insert(
            at,
            Entry {
                path: path.clone(),
                value,
            },
        );
        at
    }

    /// Removes the value at `path` and returns it. Parent objects left empty are removed too.
    pub fn remove(&mut self, path: &FieldPath) -> Option<Value> {
        self.remove_at(self.place(path), path)
    }

    /// [`Event::remove`] at `place`, where `path` falls.
    fn remove_at(&mut self, place: Place, path: &FieldPath) -> Option<Value> {
        match place {
            Place::Exact(at) => Some(self.entries.remove(at).value),
            Place::Below(at) => {
                let keys = self.keys_below(at, path);
                let object = self.entries.get_mut(at)?.value.as_object_mut()?;
                let removed = remove_in(object, keys);
                if removed.is_some() && object.is_empty() {
                    self.entries.remove(at);
                }
                removed
            }
            Place::Above(range) => Some(Value::Object(self.take_object(range, path))),
            Place::Vacant(_) => None,
        }
    }

    /// The tags, in order.
    pub fn tags(&self) -> impl Iterator<Item = &str> {
        self.get_stored(&TAGS_PATH)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
    }

    /// Whether the event carries `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags().any(|t| t == tag)
    }

    /// Adds `tag` unless present. A non-array `tags` value is turned into an array holding it.
    pub fn add_tag(&mut self, tag: &str) {
        if self.has_tag(tag) {
            return;
        }
        let tag = Value::String(tag.to_string());
        self.merge(&TAGS_PATH, Value::Array(vec![tag]), |tags, mut new| {
            if !tags.is_array() {
                let previous = std::mem::take(tags);
                *tags = Value::Array(vec![previous]);
            }
            if let (Value::Array(tags), Value::Array(new)) = (tags, &mut new) {
                tags.append(new);
            }
        });
    }

    /// Removes `tag`; removes `tags` altogether when it becomes empty.
    pub fn remove_tag(&mut self, tag: &str) {
        if let Some(Value::Array(tags)) = self.get_mut(&TAGS_PATH) {
            tags.retain(|t| t.as_str() != Some(tag));
            if tags.is_empty() {
                self.remove(&TAGS_PATH);
            }
        }
    }

    /// The line the event was read from: `event.original`, else `message`, when a string.
    pub fn original_line(&self) -> Option<&str> {
        match self.get_stored(&ORIGINAL_PATH) {
            Some(original) => original.as_str(),
            None => self.get_str(&MESSAGE_PATH),
        }
    }

    /// `@timestamp` parsed, if present and valid.
    pub fn timestamp(&self) -> Option<DateTime<Utc>> {
        let text = self.get_str(&TIMESTAMP_PATH)?;
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Appends the event as one line of compact JSON (no trailing newline): the bytes
    /// `serde_json` writes for [`Event::to_fields`], without building it. The entries are
    /// in key order, so each one closes the objects the previous one opened down to the
    /// parents they share, and opens its own.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        let mut open: &[&PathKeys] = &[];
        // The longest string written so far and where its JSON is in `out`: a line is in
        // both `event.original` and `message`, and is escaped once.
        let mut longest: (&str, Range<usize>) = ("", 0..0);
        let mut first = true;
        for entry in &self.entries {
            let path = entry.path.path_keys();
            let shared = open
                .iter()
                .zip(&path.parents)
                .take_while(|(open, parent)| std::ptr::eq(**open, **parent))
                .count();
            let Some(opening) = path.openings.get(shared) else {
                continue;
            };
            for _ in shared..open.len() {
                out.push(b'}');
            }
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(opening);
            match &entry.value {
                Value::String(text) if text.len() > longest.0.len() => {
                    let start = out.len();
                    crate::json_writer::write_str(out, text);
                    longest = (text, start..out.len());
                }
                Value::String(text) if !text.is_empty() && *text == longest.0 => {
                    out.extend_from_within(longest.1.clone());
                }
                value => crate::json_writer::write_value(out, value),
            }
            open = &path.parents;
        }
        for _ in 0..open.len() {
            out.push(b'}');
        }
        out.push(b'}');
    }
}

/// Reads fields of an event in path order (see [`Event::sorted_reader`]); fields out of
/// order are still found, at the cost of a search.
pub struct SortedReader<'e> {
    event: &'e Event,
    /// Where the last field was looked for.
    last: usize,
    memo: Option<ReadCursor<'e>>,
}

/// Where a [`SortedReader`] found each field of an event, by the order of the reads (see
/// [`Event::sorted_reader_with`]): in the next event with the same fields, each is found at
/// once. A field is taken from the memo only if the entry there has the very path asked
/// for (an interned path, compared by address), so a memo of another layout costs a search
/// and is never wrong.
#[derive(Debug, Default)]
pub struct ReadMemo {
    found_at: Vec<usize>,
}

/// A reader's memo and how many reads it has answered.
struct ReadCursor<'m> {
    memo: &'m mut ReadMemo,
    read: usize,
}

impl<'e> SortedReader<'e> {
    /// [`Event::get_stored`].
    pub fn get_stored(&mut self, path: &FieldPath) -> Option<&'e Value> {
        let place = match self.remembered(path) {
            Some(at) => Place::Exact(at),
            None => self.event.place_from(self.last, path),
        };
        self.last = place.index();
        if let Some(cursor) = &mut self.memo {
            match cursor.memo.found_at.get_mut(cursor.read) {
                Some(found_at) => *found_at = self.last,
                None => cursor.memo.found_at.push(self.last),
            }
            cursor.read += 1;
        }
        self.event.stored_at(place, path)
    }

    /// The entry the memo holds for this read, if it has exactly `path`.
    fn remembered(&self, path: &FieldPath) -> Option<usize> {
        let cursor = self.memo.as_ref()?;
        let at = *cursor.memo.found_at.get(cursor.read)?;
        let wanted = path.interned()?;
        let entry = self.event.entries.get(at)?;
        entry.path.is_interned(wanted).then_some(at)
    }

    /// [`Event::get_str`].
    pub fn get_str(&mut self, path: &FieldPath) -> Option<&'e str> {
        self.get_stored(path).and_then(Value::as_str)
    }
}

/// Sets fields of an event in path order (see [`Event::sorted_writer`]); fields out of
/// order are still set right, at the cost of a search.
pub struct SortedWriter<'e> {
    event: &'e mut Event,
    /// The entry the last field went to.
    last: usize,
    memo: Option<MemoCursor<'e>>,
}

impl SortedWriter<'_> {
    /// [`Event::insert`], without the previous value.
    pub fn insert(&mut self, path: &FieldPath, value: Value) {
        self.merge(path, value, |existing, value| *existing = value);
    }

    /// [`Event::remove`], without the removed value.
    pub fn remove(&mut self, path: &FieldPath) {
        let place = self.place(path, true);
        self.last = place.index();
        self.event.remove_at(place, path);
    }

    /// [`Event::merge`].
    pub fn merge(
        &mut self,
        path: &FieldPath,
        value: Value,
        combine: impl FnOnce(&mut Value, Value),
    ) {
        let place = self.place(path, false);
        self.last = self.event.merge_at(place, path, value, combine);
    }

    /// Where `path` falls: replayed from the memo, or searched (and recorded).
    fn place(&mut self, path: &FieldPath, removing: bool) -> Place {
        if let Some(place) = self.replayed(path, removing) {
            return place;
        }
        let place = self.event.place_from(self.last, path);
        self.record(path, removing, &place);
        place
    }

    /// The memo's place for this field, if it is being replayed, names `path` and was the
    /// same kind of write; otherwise replaying stops and the memo forgets its steps from
    /// this one on.
    fn replayed(&mut self, path: &FieldPath, removing: bool) -> Option<Place> {
        let cursor = self.memo.as_mut()?;
        if cursor.replaying {
            if let Some(step) = cursor.memo.steps.get(cursor.step)
                && path.is_interned(step.path)
                && step.removing == removing
            {
                cursor.step += 1;
                return Some(if step.exact {
                    Place::Exact(step.at)
                } else {
                    Place::Vacant(step.at)
                });
            }
            cursor.replaying = false;
            cursor.memo.steps.truncate(cursor.step);
        }
        None
    }

    /// Records a searched field's place. A place that cannot be replayed (a path inside
    /// another field's object, or above several fields) ends the recording: what the entries
    /// look like after it depends on more than their paths.
    fn record(&mut self, path: &FieldPath, removing: bool, place: &Place) {
        let Some(cursor) = self.memo.as_mut().filter(|cursor| cursor.recording) else {
            return;
        };
        let (exact, at) = match *place {
            Place::Exact(at) => (true, at),
            Place::Vacant(at) => (false, at),
            Place::Below(_) | Place::Above(_) => {
                cursor.recording = false;
                return;
            }
        };
        match path.interned() {
            Some(keys) => {
                cursor.memo.steps.push(Step {
                    path: keys,
                    removing,
                    exact,
                    at,
                });
                cursor.step += 1;
            }
            None => cursor.recording = false,
        }
    }
}

/// Where a [`SortedWriter`]'s fields went in the last event it wrote (see
/// [`Event::sorted_writer_with`]); keep one per sequence of fields that a filter writes.
#[derive(Default)]
pub struct PlaceMemo {
    /// The paths of the entries the last event had before the writer began; `None` when
    /// one was not interned (its address could be reused by another path).
    layout: Option<Vec<&'static PathKeys>>,
    /// Each field written, in order, with what it did.
    steps: Vec<Step>,
}

impl PlaceMemo {
    /// Whether `entries` have the layout the steps were recorded on; if not, the memo starts
    /// recording on this one.
    fn begin(&mut self, entries: &[Entry]) -> bool {
        let same = self.layout.as_ref().is_some_and(|layout| {
            layout.len() == entries.len()
                && layout
                    .iter()
                    .zip(entries)
                    .all(|(keys, entry)| entry.path.is_interned(keys))
        });
        if !same {
            self.steps.clear();
            self.layout = entries.iter().map(|entry| entry.path.interned()).collect();
        }
        same
    }
}

/// One field a writer wrote, and where it fell among the entries.
#[derive(Debug, Clone, Copy)]
struct Step {
    path: &'static PathKeys,
    /// Whether it was removed (or set).
    removing: bool,
    /// Whether an entry had exactly this path (or none was at, above or below it).
    exact: bool,
    /// That entry's index, or where the path would go.
    at: usize,
}

/// A [`PlaceMemo`] in use by a writer.
struct MemoCursor<'m> {
    memo: &'m mut PlaceMemo,
    /// The index of the writer's next field in the memo's steps.
    step: usize,
    /// Whether the steps so far were replayed (the event had the recorded layout).
    replaying: bool,
    /// Whether the fields searched are recorded (all so far could be, and the event's
    /// paths are interned).
    recording: bool,
}

impl PartialEq for Event {
    fn eq(&self, other: &Event) -> bool {
        self.to_fields() == other.to_fields()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("fields", &self.to_fields())
            .finish()
    }
}

/// The object that `entries`, all below a path `depth` keys long, make.
fn build_object(entries: &[Entry], depth: usize) -> Fields {
    let mut object = Fields::new();
    for entry in entries {
        let keys = entry.path.keys().get(depth..).unwrap_or_default();
        insert_in(&mut object, keys, entry.value.clone());
    }
    object
}

/// Sets the value at `keys` below `object`, as [`Event::insert`] does.
fn insert_in(object: &mut Fields, keys: &[Box<str>], value: Value) -> Option<Value> {
    let mut previous = None;
    merge_in(object, keys, value, |existing, value| {
        previous = Some(std::mem::replace(existing, value));
    });
    previous
}

/// [`Event::merge`] below `object`.
fn merge_in(
    mut object: &mut Fields,
    keys: &[Box<str>],
    value: Value,
    combine: impl FnOnce(&mut Value, Value),
) {
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    for key in parents {
        let slot = object
            .entry(&**key)
            .or_insert_with(|| Value::Object(Fields::new()));
        if !slot.is_object() {
            *slot = Value::Object(Fields::new());
        }
        object = match slot {
            Value::Object(inner) => inner,
            _ => return,
        };
    }
    match object.entry(&**last) {
        serde_json::map::Entry::Vacant(vacant) => {
            vacant.insert(value);
        }
        serde_json::map::Entry::Occupied(occupied) => combine(occupied.into_mut(), value),
    }
}

fn remove_in(object: &mut Fields, keys: &[Box<str>]) -> Option<Value> {
    match keys {
        [] => None,
        [last] => object.remove(&**last),
        [first, rest @ ..] => {
            let child = object.get_mut(&**first)?.as_object_mut()?;
            let removed = remove_in(child, rest);
            if removed.is_some() && child.is_empty() {
                object.remove(&**first);
            }
            removed
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(text: &str) -> FieldPath {
        FieldPath::parse(text).unwrap()
    }

    #[test]
    fn dotted_and_bracket_paths_address_the_same_nested_field() {
        let mut event = Event::default();
        event.insert(&path("http.request.method"), json!("GET"));
        assert_eq!(
            event.get(&path("[http][request][method]")).as_deref(),
            Some(&json!("GET"))
        );
        assert_eq!(
            event.to_fields(),
            json!({"http": {"request": {"method": "GET"}}})
                .as_object()
                .unwrap()
                .clone()
        );
    }

    #[test]
    fn from_keys_gives_the_path_parse_gives() {
        assert_eq!(
            FieldPath::from_keys(&["user_agent", "original"]),
            path("user_agent.original")
        );
    }

    #[test]
    fn bracket_keys_may_contain_dots() {
        let bracketed = path("[a.b][c]");
        let keys: Vec<&str> = bracketed.keys().iter().map(|key| &**key).collect();
        assert_eq!(keys, ["a.b", "c"]);
    }

    #[test]
    fn malformed_paths_are_rejected_with_the_path_named() {
        for bad in ["", "a..b", "[a", "[a]b", "[]"] {
            let error = FieldPath::parse(bad).unwrap_err();
            assert!(error.to_string().contains(&format!("`{bad}`")), "{error}");
        }
    }

    #[test]
    fn from_line_sets_timestamp_message_and_original() {
        let event = Event::from_line("GET /".into(), "2024-01-02T03:04:05.000Z");
        assert_eq!(
            event.to_fields(),
            json!({"@timestamp": "2024-01-02T03:04:05.000Z", "message": "GET /", "event": {"original": "GET /"}})
                .as_object()
                .unwrap()
                .clone()
        );
        assert_eq!(
            event.timestamp().map(format_timestamp).as_deref(),
            Some("2024-01-02T03:04:05.000Z")
        );
    }

    #[test]
    fn remove_prunes_emptied_parents() {
        let mut event = Event::default();
        event.insert(&path("a.b.c"), json!(1));
        event.insert(&path("a.d"), json!(2));
        assert_eq!(event.remove(&path("a.b.c")), Some(json!(1)));
        assert_eq!(
            event.to_fields(),
            json!({"a": {"d": 2}}).as_object().unwrap().clone()
        );
        assert_eq!(event.remove(&path("a.x.y")), None);
    }

    #[test]
    fn insert_replaces_a_scalar_in_the_way() {
        let mut event = Event::default();
        event.insert(&path("a"), json!("x"));
        event.insert(&path("a.b"), json!(1));
        assert_eq!(
            event.to_fields(),
            json!({"a": {"b": 1}}).as_object().unwrap().clone()
        );
    }

    #[test]
    fn tags_are_unique_and_dropped_when_empty() {
        let mut event = Event::default();
        event.add_tag("x");
        event.add_tag("x");
        event.add_tag("y");
        assert_eq!(event.tags().collect::<Vec<_>>(), ["x", "y"]);
        event.remove_tag("x");
        event.remove_tag("y");
        assert!(!event.to_fields().contains_key(TAGS));
    }

    #[test]
    fn a_path_above_stored_fields_reads_and_replaces_them_as_one_object() {
        let mut event = Event::default();
        event.insert(&path("http.request.method"), json!("GET"));
        event.insert(&path("http.version"), json!("1.1"));
        assert_eq!(
            event.get(&path("http")).as_deref(),
            Some(&json!({"request": {"method": "GET"}, "version": "1.1"}))
        );
        assert_eq!(event.get_stored(&path("http")), None);
        if let Some(Value::Object(http)) = event.get_mut(&path("http")) {
            http.insert("x".into(), json!(1));
        }
        assert_eq!(event.get_str(&path("http.request.method")), Some("GET"));
        assert_eq!(
            event.insert(&path("http"), json!("flat")),
            Some(json!({"request": {"method": "GET"}, "version": "1.1", "x": 1}))
        );
        assert_eq!(
            event.to_fields(),
            json!({"http": "flat"}).as_object().unwrap().clone()
        );
    }

    #[test]
    fn fields_of_a_json_line_and_configured_paths_meet_in_one_object() {
        let fields = json!({"log": {"level": "info"}, "zeta": 1})
            .as_object()
            .unwrap()
            .clone();
        let mut event = Event::from_fields(fields, "t");
        event.insert(&path("log.offset"), json!(7));
        event.insert(&path("[zeta]"), json!(2));
        let mut json = Vec::new();
        event.write_json(&mut json);
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"{"@timestamp":"t","log":{"level":"info","offset":7},"zeta":2}"#
        );
    }

    /// One change to an event, applied alike to an [`Event`] and to a plain JSON object.
    #[derive(Debug, Clone)]
    enum Change {
        Insert(Vec<&'static str>, Value),
        Remove(Vec<&'static str>),
        AppendToArray(Vec<&'static str>),
        /// Inserts (`Some`) and removes (`None`) through one [`SortedWriter`], sorted or not.
        Written(Vec<(Vec<&'static str>, Option<Value>)>, bool),
    }

    fn change() -> impl proptest::strategy::Strategy<Value = Change> {
        use proptest::prelude::*;
        let keys = proptest::collection::vec(
            proptest::sample::select(vec![
                "a", "b", "a.b", "a\u{0}b", "\u{0}", "\u{1}", "é", "\"q",
            ]),
            1..4,
        );
        let value = prop_oneof![
            Just(json!(null)),
            Just(json!(1)),
            Just(json!("text \"with\" quotes\n")),
            Just(json!(["x"])),
            Just(json!({})),
            Just(json!({"a": {"b": true}, "c": 2})),
        ];
        let written =
            proptest::collection::vec((keys.clone(), proptest::option::of(value.clone())), 0..6);
        prop_oneof![
            (keys.clone(), value).prop_map(|(keys, value)| Change::Insert(keys, value)),
            keys.clone().prop_map(Change::Remove),
            keys.prop_map(Change::AppendToArray),
            (written, any::<bool>()).prop_map(|(written, sorted)| Change::Written(written, sorted)),
        ]
    }

    /// One write of a sorted writer, for the memo property.
    #[derive(Debug, Clone)]
    enum MemoWrite {
        Insert(Vec<&'static str>, Value),
        Remove(Vec<&'static str>),
        /// A merge that makes an array of the old and new values.
        Append(Vec<&'static str>, Value),
    }

    impl MemoWrite {
        fn apply(&self, writer: &mut SortedWriter) {
            match self {
                MemoWrite::Insert(keys, value) => {
                    writer.insert(&FieldPath::from_keys(keys), value.clone());
                }
                MemoWrite::Remove(keys) => writer.remove(&FieldPath::from_keys(keys)),
                MemoWrite::Append(keys, value) => {
                    writer.merge(&FieldPath::from_keys(keys), value.clone(), |old, new| {
                        *old = json!([old.take(), new]);
                    });
                }
            }
        }
    }

    fn memo_write() -> impl proptest::strategy::Strategy<Value = MemoWrite> {
        use proptest::prelude::*;
        // Few paths, so that sequences write the same path more than once.
        let keys = proptest::collection::vec(proptest::sample::select(vec!["a", "b"]), 1..3);
        let value = prop_oneof![Just(json!(1)), Just(json!({"b": "x"})), Just(json!("s"))];
        prop_oneof![
            (keys.clone(), value.clone()).prop_map(|(keys, value)| MemoWrite::Insert(keys, value)),
            keys.clone().prop_map(MemoWrite::Remove),
            (keys, value).prop_map(|(keys, value)| MemoWrite::Append(keys, value)),
        ]
    }

    /// One of four events to write into: empty, two with interned paths (one holding an
    /// object the writes can reach into), one with paths from the data.
    fn memo_layout(which: usize) -> Event {
        let mut event = Event::default();
        match which {
            0 => {}
            1 => {
                event.insert(&path("a.b"), json!(1));
                event.insert(&path("c"), json!("c"));
            }
            2 => {
                event.insert(&path("b"), json!({"a": 2}));
                event.insert(&path("c.a.b"), json!(3));
            }
            _ => {
                let fields = json!({"a": {"c": 4}, "b": 5}).as_object().unwrap().clone();
                event = Event::from_fields(fields, "t");
            }
        }
        event
    }

    proptest::proptest! {
        /// The flat event behaves as the tree of JSON objects it stands for, and writes the
        /// bytes serde_json writes for that tree.
        #[test]
        fn the_flat_event_behaves_as_its_json_object(changes in proptest::collection::vec(change(), 0..24)) {
            let mut event = Event::default();
            let mut model = Fields::new();
            for change in changes {
                match change {
                    Change::Insert(keys, value) => {
                        let keys_boxed: Vec<Box<str>> = keys.iter().map(|&key| Box::from(key)).collect();
                        let ours = event.insert(&FieldPath::from_keys(&keys), value.clone());
                        let theirs = insert_in(&mut model, &keys_boxed, value);
                        proptest::prop_assert_eq!(ours, theirs);
                    }
                    Change::Remove(keys) => {
                        let keys_boxed: Vec<Box<str>> = keys.iter().map(|&key| Box::from(key)).collect();
                        let ours = event.remove(&FieldPath::from_keys(&keys));
                        let theirs = remove_in(&mut model, &keys_boxed);
                        proptest::prop_assert_eq!(ours, theirs);
                    }
                    Change::Written(mut written, sorted) => {
                        let path = |keys: &[&str]| FieldPath::from_keys(keys);
                        if sorted {
                            written.sort_by_key(|(keys, _)| path(keys));
                        }
                        let mut writer = event.sorted_writer();
                        for (keys, value) in written {
                            let keys_boxed: Vec<Box<str>> = keys.iter().map(|&key| Box::from(key)).collect();
                            match value {
                                Some(value) => {
                                    writer.insert(&path(&keys), value.clone());
                                    insert_in(&mut model, &keys_boxed, value);
                                }
                                None => {
                                    writer.remove(&path(&keys));
                                    remove_in(&mut model, &keys_boxed);
                                }
                            }
                        }
                    }
                    Change::AppendToArray(keys) => {
                        let mut node = Some(&mut model);
                        let (last, parents) = keys.split_last().unwrap();
                        for key in parents {
                            node = node.and_then(|object| object.get_mut(*key)).and_then(Value::as_object_mut);
                        }
                        let theirs = node.and_then(|object| object.get_mut(*last));
                        let ours = event.get_mut(&FieldPath::from_keys(&keys));
                        proptest::prop_assert_eq!(ours.as_deref(), theirs.as_deref());
                        if let (Some(Value::Array(ours)), Some(Value::Array(theirs))) = (ours, theirs) {
                            ours.push(json!("appended"));
                            theirs.push(json!("appended"));
                        }
                    }
                }
                proptest::prop_assert_eq!(&event.to_fields(), &model);
                // A reader answers as lookups do, with the paths in or out of order.
                let mut reader = event.sorted_reader();
                for keys in [&["a"][..], &["a", "b"], &["\u{0}"], &["a", "a"], &["b"], &["a", "b", "a"], &["é"]] {
                    let path = FieldPath::from_keys(keys);
                    proptest::prop_assert_eq!(reader.get_stored(&path), event.get_stored(&path));
                }
                let mut json = Vec::new();
                event.write_json(&mut json);
                proptest::prop_assert_eq!(String::from_utf8(json).unwrap(), serde_json::to_string(&model).unwrap());
            }
        }

        /// A reader with a memo reads what lookups read, over events of several layouts
        /// with some fields read in one and not in the next.
        #[test]
        fn a_reader_with_a_memo_reads_what_lookups_read(
            events in proptest::collection::vec(
                (
                    0..4usize,
                    proptest::collection::vec(memo_write(), 0..6),
                    proptest::collection::vec(proptest::bool::weighted(0.8), 8),
                ),
                1..12,
            ),
        ) {
            let paths = ["a", "a.b", "a.c", "b", "b.a", "c", "c.a.b", "d"].map(path);
            let mut memo = ReadMemo::default();
            for (layout, writes, read) in events {
                let mut event = memo_layout(layout);
                let mut writer = event.sorted_writer();
                for write in &writes {
                    write.apply(&mut writer);
                }
                let mut reader = event.sorted_reader_with(&mut memo);
                for (path, _) in paths.iter().zip(&read).filter(|(_, read)| **read) {
                    proptest::prop_assert_eq!(reader.get_stored(path), event.get_stored(path));
                }
            }
        }

        /// A writer that replays a memo leaves every event exactly as a writer that searches:
        /// the same entries in the same order. The events start from a few layouts (some
        /// with paths from the data, which are not interned) and get the same sequence of
        /// writes with some left out, so that the memo is replayed, departed from and
        /// recorded again.
        #[test]
        fn a_writer_with_a_memo_writes_what_one_that_searches_writes(
            writes in proptest::collection::vec(memo_write(), 0..10),
            events in proptest::collection::vec(
                (0..4usize, proptest::collection::vec(proptest::bool::weighted(0.8), 10)),
                1..12,
            ),
        ) {
            let mut memo = PlaceMemo::default();
            for (layout, kept) in events {
                let mut searched = memo_layout(layout);
                let mut replayed = searched.clone();
                let mut writer = searched.sorted_writer();
                let mut memo_writer = replayed.sorted_writer_with(&mut memo);
                for (write, _) in writes.iter().zip(&kept).filter(|(_, kept)| **kept) {
                    write.apply(&mut writer);
                    write.apply(&mut memo_writer);
                }
                let entries = |event: &Event| {
                    event
                        .entries
                        .iter()
                        .map(|entry| (entry.path.keys().to_vec(), entry.value.clone()))
                        .collect::<Vec<_>>()
                };
                proptest::prop_assert_eq!(entries(&replayed), entries(&searched));
            }
        }
    }
}
