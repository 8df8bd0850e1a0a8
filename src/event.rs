//! The event: one JSON object per log line, addressed by field paths.
//! Paths are written dotted (`http.request.method`) or in Logstash's bracket form
//! (`[http][request][method]`); both address the same nested objects.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};
use std::fmt;

/// The JSON object behind an event.
pub type Fields = Map<String, Value>;

/// Name of the field that holds the event time.
pub const TIMESTAMP: &str = "@timestamp";
/// Name of the field that holds the tags list.
pub const TAGS: &str = "tags";

/// One event: a JSON object with at least `@timestamp` and, for line-based inputs,
/// `message` and `event.original`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Event {
    fields: Fields,
}

/// A parsed field path: the keys from the root object down to the field.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldPath {
    keys: Box<[String]>,
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
        let keys: Vec<String> = if path.starts_with('[') {
            let mut keys = Vec::new();
            let mut rest = path;
            while !rest.is_empty() {
                let inner = rest
                    .strip_prefix('[')
                    .ok_or_else(|| error("expected `[` after `]`"))?;
                let (key, after) = inner.split_once(']').ok_or_else(|| error("missing `]`"))?;
                keys.push(key.to_string());
                rest = after;
            }
            keys
        } else {
            path.split('.').map(str::to_string).collect()
        };
        if keys.is_empty() || keys.iter().any(String::is_empty) {
            return Err(error("empty key"));
        }
        Ok(FieldPath { keys: keys.into() })
    }

    /// The path of `keys`, written in the code (`&["user_agent", "original"]`): unlike
    /// [`FieldPath::parse`], which paths from configuration go through, it does not check them.
    pub fn from_keys(keys: &[&str]) -> FieldPath {
        FieldPath {
            keys: keys.iter().map(|key| key.to_string()).collect(),
        }
    }

    /// The keys from the root down.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.keys.join("."))
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

impl Event {
    /// An event for one line: `@timestamp` = `timestamp` (see [`format_timestamp`]),
    /// `message` and `event.original` = the line.
    pub fn from_line(line: String, timestamp: &str) -> Event {
        let mut fields = Fields::new();
        fields.insert(TIMESTAMP.to_string(), Value::String(timestamp.to_string()));
        let mut event_object = Fields::new();
        event_object.insert("original".to_string(), Value::String(line.clone()));
        fields.insert("event".to_string(), Value::Object(event_object));
        fields.insert("message".to_string(), Value::String(line));
        Event { fields }
    }

    /// An event made of the given fields; `@timestamp` is set to `timestamp` when absent.
    pub fn from_fields(mut fields: Fields, timestamp: &str) -> Event {
        if !fields.contains_key(TIMESTAMP) {
            fields.insert(TIMESTAMP.to_string(), Value::String(timestamp.to_string()));
        }
        Event { fields }
    }

    /// The whole object.
    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// The whole object, mutable.
    pub fn fields_mut(&mut self) -> &mut Fields {
        &mut self.fields
    }

    /// The value at `path`, if present.
    pub fn get(&self, path: &FieldPath) -> Option<&Value> {
        let (last, parents) = path.keys.split_last()?;
        let mut object = &self.fields;
        for key in parents {
            object = object.get(key)?.as_object()?;
        }
        object.get(last)
    }

    /// The value at `path` as a string slice, if it is a string.
    pub fn get_str(&self, path: &FieldPath) -> Option<&str> {
        self.get(path).and_then(Value::as_str)
    }

    /// The value at `path`, mutable.
    pub fn get_mut(&mut self, path: &FieldPath) -> Option<&mut Value> {
        let (last, parents) = path.keys.split_last()?;
        let mut object = &mut self.fields;
        for key in parents {
            object = object.get_mut(key)?.as_object_mut()?;
        }
        object.get_mut(last)
    }

    /// Sets the value at `path`, creating intermediate objects (a non-object value in
    /// the way is replaced by an object). Returns the previous value.
    pub fn insert(&mut self, path: &FieldPath, value: Value) -> Option<Value> {
        let (object, key) = self.parent_mut(path)?;
        object.insert(key.to_string(), value)
    }

    /// The object that holds the field at `path`, and the field's key in it; the parent
    /// objects are created as [`Event::insert`] creates them. One walk down the tree for a
    /// caller that looks at the field before it sets it.
    pub fn parent_mut<'p>(&mut self, path: &'p FieldPath) -> Option<(&mut Fields, &'p str)> {
        let (last, parents) = path.keys.split_last()?;
        let mut object = &mut self.fields;
        for key in parents {
            let slot = object
                .entry(key.clone())
                .or_insert_with(|| Value::Object(Fields::new()));
            if !slot.is_object() {
                *slot = Value::Object(Fields::new());
            }
            object = match slot {
                Value::Object(inner) => inner,
                _ => return None,
            };
        }
        Some((object, last))
    }

    /// Removes the value at `path` and returns it. Parent objects left empty are removed too.
    pub fn remove(&mut self, path: &FieldPath) -> Option<Value> {
        remove_in(&mut self.fields, &path.keys)
    }

    /// The tags, in order.
    pub fn tags(&self) -> impl Iterator<Item = &str> {
        self.fields
            .get(TAGS)
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
        let slot = self
            .fields
            .entry(TAGS.to_string())
            .or_insert_with(|| Value::Array(Vec::new()));
        if !slot.is_array() {
            let previous = std::mem::take(slot);
            *slot = Value::Array(vec![previous]);
        }
        if let Value::Array(tags) = slot {
            tags.push(Value::String(tag.to_string()));
        }
    }

    /// Removes `tag`; removes `tags` altogether when it becomes empty.
    pub fn remove_tag(&mut self, tag: &str) {
        if let Some(Value::Array(tags)) = self.fields.get_mut(TAGS) {
            tags.retain(|t| t.as_str() != Some(tag));
            if tags.is_empty() {
                self.fields.remove(TAGS);
            }
        }
    }

    /// `@timestamp` parsed, if present and valid.
    pub fn timestamp(&self) -> Option<DateTime<Utc>> {
        let text = self.fields.get(TIMESTAMP)?.as_str()?;
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Appends the event as one line of compact JSON (no trailing newline).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        crate::json_writer::write_object(out, &self.fields);
    }
}

fn remove_in(object: &mut Fields, keys: &[String]) -> Option<Value> {
    match keys {
        [] => None,
        [last] => object.remove(last),
        [first, rest @ ..] => {
            let child = object.get_mut(first)?.as_object_mut()?;
            let removed = remove_in(child, rest);
            if removed.is_some() && child.is_empty() {
                object.remove(first);
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
            event.get(&path("[http][request][method]")),
            Some(&json!("GET"))
        );
        assert_eq!(
            event.fields(),
            json!({"http": {"request": {"method": "GET"}}})
                .as_object()
                .unwrap()
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
        assert_eq!(path("[a.b][c]").keys(), ["a.b", "c"]);
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
            event.fields(),
            json!({"@timestamp": "2024-01-02T03:04:05.000Z", "message": "GET /", "event": {"original": "GET /"}})
                .as_object()
                .unwrap()
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
        assert_eq!(event.fields(), json!({"a": {"d": 2}}).as_object().unwrap());
        assert_eq!(event.remove(&path("a.x.y")), None);
    }

    #[test]
    fn insert_replaces_a_scalar_in_the_way() {
        let mut event = Event::default();
        event.insert(&path("a"), json!("x"));
        event.insert(&path("a.b"), json!(1));
        assert_eq!(event.fields(), json!({"a": {"b": 1}}).as_object().unwrap());
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
        assert!(!event.fields().contains_key(TAGS));
    }
}
