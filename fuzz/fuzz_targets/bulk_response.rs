//! The Elasticsearch bulk-response parser (`src/outputs/elasticsearch/bulk.rs`) on arbitrary
//! response bodies.
//!
//! Input: one byte, the number of items sent (0..=255), then the body.
//!
//! Checks: no panic; a body it reads gives exactly one outcome per item sent; an item is
//! delivered only when the response says so: its status is 2xx (or 409 on `create`), or the
//! response says `"errors": false` and leaves the items out. Anything else is retried or
//! dead-lettered with its status, so that no event is acknowledged that Elasticsearch did
//! not store.

#![no_main]

use libfuzzer_sys::fuzz_target;
use logpipe::outputs::elasticsearch::bulk::{ItemOutcome, parse_response};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some((&sent, body)) = data.split_first() else {
        return;
    };
    let sent = usize::from(sent);
    let Ok(outcomes) = parse_response(body, sent) else {
        return;
    };
    assert_eq!(outcomes.len(), sent);
    // serde_json skips fields it ignores without checking them all (the UTF-8 of their
    // strings, the range of their numbers): read the rest as leniently.
    let text = String::from_utf8_lossy(body);
    let Ok(document) = serde_json::from_str::<Value>(&text) else {
        return;
    };
    let Value::Object(response) = &document else {
        // serde also reads a struct from an array (`[errors, items]`); nothing else to check.
        return;
    };
    let items = match response.get("items") {
        Some(Value::Array(items)) => items.as_slice(),
        _ => &[],
    };
    if items.is_empty() && sent > 0 {
        assert_eq!(
            response.get("errors"),
            Some(&Value::Bool(false)),
            "{sent} items taken as delivered from a response that does not say so: {document}"
        );
        assert!(outcomes.iter().all(|o| *o == ItemOutcome::Delivered));
        return;
    }
    for (item, outcome) in items.iter().zip(&outcomes) {
        let Value::Object(item) = item else {
            panic!("item {item} read");
        };
        let mut entries = item.iter();
        let (Some((action, result)), None) = (entries.next(), entries.next()) else {
            // No action, or several (one is read): only checked not to be "delivered" when empty.
            if item.is_empty() {
                assert_ne!(*outcome, ItemOutcome::Delivered, "{document}");
            }
            continue;
        };
        let status = result
            .get("status")
            .and_then(Value::as_u64)
            .expect("an item read has a status");
        let delivered = (200..300).contains(&status) || (status == 409 && action == "create");
        let retried = status == 429 || (500..600).contains(&status);
        match outcome {
            ItemOutcome::Delivered => assert!(delivered, "{action} {status} delivered"),
            ItemOutcome::Retry { status: got } => {
                assert!(!delivered && retried, "{action} {status} retried");
                assert_eq!(u64::from(*got), status);
            }
            ItemOutcome::Rejected { status: got, .. } => {
                assert!(!delivered && !retried, "{action} {status} rejected");
                assert_eq!(u64::from(*got), status);
            }
        }
    }
});
