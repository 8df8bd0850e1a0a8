//! The `json` codec: each line is one JSON object whose fields become the event's; any other
//! line is kept as `message` and tagged `_jsonparsefailure`.

use crate::event::{Event, Fields, TIMESTAMP};
use serde_json::Value;

/// Tag for lines that are not a JSON object.
pub const JSON_FAILURE_TAG: &str = "_jsonparsefailure";
/// Tag for objects whose `@timestamp` is not RFC 3339 (the value moves to `_@timestamp`).
pub const TIMESTAMP_FAILURE_TAG: &str = "_timestampparsefailure";

/// The event for one line of JSON text. `event.original` keeps the line as read.
pub fn decode_json_line(text: String, timestamp: &str) -> Event {
    match serde_json::from_str::<Fields>(&text) {
        Ok(mut fields) => {
            let bad_timestamp = match fields.get(TIMESTAMP) {
                Some(Value::String(value)) => chrono::DateTime::parse_from_rfc3339(value).is_err(),
                Some(_) => true,
                None => false,
            };
            if bad_timestamp && let Some(value) = fields.remove(TIMESTAMP) {
                fields.insert(format!("_{TIMESTAMP}"), value);
            }
            let event_object = fields
                .entry("event".to_string())
                .or_insert_with(|| Value::Object(Fields::new()));
            if let Value::Object(object) = event_object {
                object
                    .entry("original".to_string())
                    .or_insert(Value::String(text));
            }
            let mut event = Event::from_fields(fields, timestamp);
            if bad_timestamp {
                event.add_tag(TIMESTAMP_FAILURE_TAG);
            }
            event
        }
        Err(_) => {
            let mut event = Event::from_line(text, timestamp);
            event.add_tag(JSON_FAILURE_TAG);
            event
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: &str = "2024-01-01T00:00:00.000Z";

    #[test]
    fn object_fields_become_event_fields_with_the_original_line() {
        let event = decode_json_line(r#"{"a":{"b":1}}"#.into(), NOW);
        assert_eq!(
            Value::Object(event.to_fields()),
            json!({"a": {"b": 1}, "@timestamp": NOW, "event": {"original": "{\"a\":{\"b\":1}}"}})
        );
    }

    #[test]
    fn non_objects_and_invalid_json_are_kept_and_tagged() {
        for line in ["not json", "[1,2]", "{\"a\":"] {
            let event = decode_json_line(line.into(), NOW);
            assert_eq!(event.to_fields()["message"], json!(line));
            assert!(event.has_tag(JSON_FAILURE_TAG));
        }
    }

    #[test]
    fn a_valid_timestamp_is_kept_and_an_invalid_one_moved_aside() {
        let good = decode_json_line(r#"{"@timestamp":"2020-05-06T07:08:09Z"}"#.into(), NOW);
        assert_eq!(good.to_fields()[TIMESTAMP], json!("2020-05-06T07:08:09Z"));
        let bad = decode_json_line(r#"{"@timestamp":"yesterday"}"#.into(), NOW);
        assert_eq!(bad.to_fields()[TIMESTAMP], json!(NOW));
        assert_eq!(bad.to_fields()["_@timestamp"], json!("yesterday"));
        assert!(bad.has_tag(TIMESTAMP_FAILURE_TAG));
    }
}
