//! Bulk requests: the NDJSON body built from events (action line + document per event),
//! and the bulk response read item by item into delivered / retry / dead-letter outcomes.

use crate::json_writer::write_str;
use serde::Deserialize;
use serde_json::Value;

/// One event's place in a bulk body: its action and document lines, and where it goes.
#[derive(Debug, Clone)]
pub struct BulkItem {
    /// The two NDJSON lines (action, then document), each ending with `\n`.
    pub lines: Vec<u8>,
    /// The index or data stream it is written to.
    pub index: String,
    /// Which event of its batch group this is (to find the event for the DLQ).
    pub event: usize,
}

/// Writes the action line `{"<action>":{"_index":…,"_id":…}}` and a newline.
pub fn write_action(out: &mut Vec<u8>, action: &str, index: &str, id: Option<&str>) {
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(action.as_bytes());
    out.extend_from_slice(b"\":{\"_index\":");
    write_str(out, index);
    if let Some(id) = id {
        out.extend_from_slice(b",\"_id\":");
        write_str(out, id);
    }
    out.extend_from_slice(b"}}\n");
}

/// What happened to one item of a bulk request.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemOutcome {
    /// Indexed, or already there (409 on `create`).
    Delivered,
    /// Try again later: 429, 5xx.
    Retry { status: u16 },
    /// A permanent error for this document (mapping conflict, …): dead-letter it.
    Rejected {
        status: u16,
        error_type: String,
        reason: String,
    },
}

/// The parts of a bulk response logpipe reads.
#[derive(Debug, Deserialize)]
struct BulkResponse {
    /// Absent in JSON that is not a bulk response (an error document, a proxy's `{}`).
    #[serde(default)]
    errors: Option<bool>,
    #[serde(default)]
    items: Vec<std::collections::HashMap<String, BulkResponseItem>>,
}

#[derive(Debug, Deserialize)]
struct BulkResponseItem {
    status: u16,
    #[serde(default)]
    error: Option<Value>,
}

/// A bulk response that cannot be read item by item.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BulkResponseError {
    /// Not the JSON a bulk response is.
    #[error("the bulk response is not valid JSON: {0}")]
    Invalid(String),
    /// A different number of items than were sent.
    #[error("the bulk response has {got} items for {sent} sent")]
    ItemCount { sent: usize, got: usize },
}

/// Reads a bulk response for `sent` items into one outcome per item, in order.
pub fn parse_response(body: &[u8], sent: usize) -> Result<Vec<ItemOutcome>, BulkResponseError> {
    let response: BulkResponse = serde_json::from_slice(body)
        .map_err(|error| BulkResponseError::Invalid(error.to_string()))?;
    if response.errors == Some(false) && response.items.is_empty() {
        // Some servers leave the items out when nothing failed. Only a response that says
        // so counts: any other JSON without items is not taken as "all delivered".
        return Ok(vec![ItemOutcome::Delivered; sent]);
    }
    if response.items.len() != sent {
        return Err(BulkResponseError::ItemCount {
            sent,
            got: response.items.len(),
        });
    }
    Ok(response
        .items
        .into_iter()
        .map(|item| {
            let Some((action, item)) = item.into_iter().next() else {
                return ItemOutcome::Retry { status: 0 };
            };
            outcome(&action, item)
        })
        .collect())
}

fn outcome(action: &str, item: BulkResponseItem) -> ItemOutcome {
    match item.status {
        200..=299 => ItemOutcome::Delivered,
        409 if action == "create" => ItemOutcome::Delivered,
        429 | 500..=599 => ItemOutcome::Retry {
            status: item.status,
        },
        status => {
            let error = item.error.unwrap_or(Value::Null);
            let text = |key: &str| match error.get(key) {
                Some(Value::String(text)) => text.clone(),
                _ => String::new(),
            };
            let reason = match error.get("caused_by").and_then(|cause| cause.get("reason")) {
                Some(Value::String(cause)) => format!("{}: {cause}", text("reason")),
                _ => text("reason"),
            };
            ItemOutcome::Rejected {
                status,
                error_type: text("type"),
                reason,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_lines_escape_index_and_id() {
        let mut out = Vec::new();
        write_action(&mut out, "create", "nginx-\"x\"", Some("a\\b"));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"create\":{\"_index\":\"nginx-\\\"x\\\"\",\"_id\":\"a\\\\b\"}}\n"
        );
        let mut out = Vec::new();
        write_action(&mut out, "index", "i", None);
        assert_eq!(out, b"{\"index\":{\"_index\":\"i\"}}\n");
    }

    #[test]
    fn bulk_response_items_become_delivered_retry_or_rejected() {
        let body = br#"{"errors":true,"took":3,"items":[
            {"index":{"_index":"a","status":201,"result":"created"}},
            {"create":{"_index":"a","status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}},
            {"index":{"_index":"a","status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
            {"index":{"_index":"a","status":503,"error":{"type":"unavailable_shards_exception","reason":"x"}}},
            {"index":{"_index":"a","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [n] of type [long]","caused_by":{"type":"illegal_argument_exception","reason":"For input string: \"abc\""}}}},
            {"index":{"_index":"a","status":409,"error":{"type":"version_conflict_engine_exception","reason":"version"}}}
        ]}"#;
        assert_eq!(
            parse_response(body, 6).unwrap(),
            [
                ItemOutcome::Delivered,
                ItemOutcome::Delivered,
                ItemOutcome::Retry { status: 429 },
                ItemOutcome::Retry { status: 503 },
                ItemOutcome::Rejected {
                    status: 400,
                    error_type: "mapper_parsing_exception".into(),
                    reason: "failed to parse field [n] of type [long]: For input string: \"abc\""
                        .into(),
                },
                ItemOutcome::Rejected {
                    status: 409,
                    error_type: "version_conflict_engine_exception".into(),
                    reason: "version".into(),
                },
            ]
        );
    }

    #[test]
    fn bulk_response_without_errors_may_omit_items() {
        assert_eq!(
            parse_response(br#"{"errors":false,"took":1}"#, 2).unwrap(),
            [ItemOutcome::Delivered, ItemOutcome::Delivered]
        );
    }

    #[test]
    fn json_that_does_not_say_errors_false_is_not_taken_as_all_delivered() {
        // Found by the fuzz target `bulk_response`: an error document or a proxy's `{}`
        // answered with 200 counted every event as delivered.
        for body in [
            &br#"{"error":{"type":"illegal_argument_exception","reason":"x"},"status":400}"#[..],
            b"{}",
            br#"{"took":1}"#,
            br#"{"errors":null}"#,
        ] {
            assert_eq!(
                parse_response(body, 2),
                Err(BulkResponseError::ItemCount { sent: 2, got: 0 }),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn bulk_response_that_cannot_be_read_is_an_error() {
        assert!(matches!(
            parse_response(b"<html>", 1),
            Err(BulkResponseError::Invalid(_))
        ));
        assert_eq!(
            parse_response(br#"{"errors":true,"items":[]}"#, 1),
            Err(BulkResponseError::ItemCount { sent: 1, got: 0 })
        );
    }
}
