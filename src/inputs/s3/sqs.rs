//! Sqs mode: consume S3 event notifications (`ObjectCreated:*`, direct, through SNS, or from
//! EventBridge) from an SQS queue with long polling. A message is deleted only after every
//! event of its objects is delivered; its visibility timeout is extended while a large object
//! is still being read; a message that fails is left for redelivery (so the queue's redrive
//! policy moves poison messages to a dead-letter queue). Many processes can share one queue.

use super::client::{AwsFailure, Clients};
use super::object::{ObjectOutcome, ObjectReader, ObjectRef};
use super::{KeyFilter, S3InputConfig};
use crate::inputs::{InputContext, InputError};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

/// SQS returns at most this many messages per receive.
const MAX_MESSAGES_PER_RECEIVE: usize = 10;
/// Pause after a failed receive.
const RECEIVE_RETRY: Duration = Duration::from_secs(2);

/// What a message asks for.
#[derive(Debug, PartialEq, Eq)]
enum Notification {
    /// S3's `s3:TestEvent`, sent when notifications are configured: nothing to read.
    Test,
    /// Objects created.
    Objects(Vec<ObjectRef>),
}

/// Everything a message task needs.
struct MessageContext {
    clients: Clients,
    queue_url: String,
    reader: ObjectReader,
    keys: KeyFilter,
    visibility: Duration,
    input_id: String,
}

/// Runs sqs mode until shutdown.
pub async fn run(
    config: &S3InputConfig,
    clients: &Clients,
    reader: ObjectReader,
    keys: KeyFilter,
    context: InputContext,
) -> Result<(), InputError> {
    let shared = Arc::new(MessageContext {
        clients: clients.clone(),
        queue_url: config.queue_url.clone().unwrap_or_default(),
        reader,
        keys,
        visibility: config.visibility_timeout,
        input_id: context.id.clone(),
    });
    let mut running = JoinSet::new();
    // `concurrency` messages have their objects downloaded at a time; a message whose objects
    // are all sent waits for their delivery without holding a slot (see the poll mode).
    let downloads = Arc::new(Semaphore::new(config.concurrency));
    let mut receive_failing = false;
    while !context.shutdown.is_cancelled() {
        while running.try_join_next().is_some() {}
        let room = downloads.available_permits();
        if room == 0 {
            tokio::select! {
                _ = downloads.acquire() => continue,
                () = context.shutdown.cancelled() => break,
            }
        }
        let receive = shared
            .clients
            .sqs
            .receive_message()
            .queue_url(&shared.queue_url)
            .max_number_of_messages(room.min(MAX_MESSAGES_PER_RECEIVE) as i32)
            .wait_time_seconds(config.wait_time.as_secs() as i32)
            .visibility_timeout(seconds(config.visibility_timeout))
            .send();
        let answer = tokio::select! {
            answer = receive => answer,
            () = context.shutdown.cancelled() => break,
        };
        match answer {
            Ok(output) => {
                if std::mem::take(&mut receive_failing) {
                    tracing::info!(input = %context.id, "receiving from {} again", shared.queue_url);
                }
                for message in output.messages() {
                    let shared = Arc::clone(&shared);
                    let message = message.clone();
                    // At most `room` messages came: a slot is free for each.
                    let slot = Arc::clone(&downloads).try_acquire_owned().ok();
                    running.spawn(async move { shared.handle(message, slot).await });
                }
            }
            Err(error) => {
                if !std::mem::replace(&mut receive_failing, true) {
                    tracing::warn!(
                        input = %context.id,
                        "cannot receive from {}: {}; retrying every {RECEIVE_RETRY:?}",
                        shared.queue_url,
                        AwsFailure::from_sdk(&error)
                    );
                }
                tokio::select! {
                    () = tokio::time::sleep(RECEIVE_RETRY) => {}
                    () = context.shutdown.cancelled() => break,
                }
            }
        }
    }
    // In-flight messages see the shutdown, stop, and are handed back to the queue.
    while running.join_next().await.is_some() {}
    Ok(())
}

impl MessageContext {
    /// Reads the message's objects, gives back `slot` once they are downloaded, and deletes
    /// the message once their events are delivered.
    async fn handle(
        self: Arc<Self>,
        message: aws_sdk_sqs::types::Message,
        slot: Option<OwnedSemaphorePermit>,
    ) {
        let Some(receipt) = message.receipt_handle() else {
            return;
        };
        let id = message.message_id().unwrap_or_default();
        let objects = match parse_notification(message.body().unwrap_or_default()) {
            Ok(Notification::Test) => {
                self.delete(receipt).await;
                return;
            }
            Ok(Notification::Objects(objects)) => objects,
            Err(reason) => {
                tracing::warn!(
                    input = %self.input_id,
                    "message {id} is not an S3 event notification ({reason}); left on the queue for its redrive policy"
                );
                return;
            }
        };
        let extender = Arc::clone(&self).keep_invisible(receipt.to_string());
        let mut stopped = false;
        let mut failure = None;
        let mut downloaded = Vec::new();
        for object in objects
            .iter()
            .filter(|object| self.keys.accepts(&object.key))
        {
            match self.reader.download(object).await {
                Ok(download) => downloaded.push((object, download)),
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        drop(slot);
        // After a failed download the message is left for redelivery: no need to wait.
        let delivering = match failure {
            None => downloaded,
            Some(_) => Vec::new(),
        };
        for (object, download) in delivering {
            match download.delivered().await {
                Ok(ObjectOutcome::Delivered(events)) => {
                    tracing::debug!(input = %self.input_id, %object, events, "object done");
                }
                Ok(ObjectOutcome::Stopped) => {
                    stopped = true;
                    break;
                }
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        extender.abort();
        if stopped {
            // Hand it back now rather than after the visibility timeout.
            if let Err(failure) = self.change_visibility(receipt, Duration::ZERO).await {
                tracing::debug!(input = %self.input_id, "cannot release a message: {failure}");
            }
        } else if let Some(error) = failure {
            tracing::error!(
                input = %self.input_id,
                "{error}; message {id} is left for redelivery (the queue's redrive policy moves it to a dead-letter queue after maxReceiveCount)"
            );
        } else {
            self.delete(receipt).await;
        }
    }

    /// Extends the message's visibility at half its timeout until aborted.
    fn keep_invisible(self: Arc<Self>, receipt: String) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(self.visibility / 2).await;
                if let Err(failure) = self.change_visibility(&receipt, self.visibility).await {
                    tracing::warn!(
                        input = %self.input_id,
                        "cannot extend a message's visibility: {failure}; another consumer may read its object too"
                    );
                }
            }
        })
    }

    async fn change_visibility(
        &self,
        receipt: &str,
        visibility: Duration,
    ) -> Result<(), AwsFailure> {
        self.clients
            .sqs
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds(visibility))
            .send()
            .await
            .map(drop)
            .map_err(|error| AwsFailure::from_sdk(&error))
    }

    async fn delete(&self, receipt: &str) {
        let deleted = self
            .clients
            .sqs
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await;
        if let Err(error) = deleted {
            tracing::warn!(
                input = %self.input_id,
                "cannot delete a finished message: {}; it will be delivered again (with fingerprint ids this adds no documents)",
                AwsFailure::from_sdk(&error)
            );
        }
    }
}

fn seconds(duration: Duration) -> i32 {
    i32::try_from(duration.as_secs()).unwrap_or(i32::MAX)
}

/// Reads a message body: an S3 event notification, the same wrapped in an SNS notification,
/// or an EventBridge "Object Created" event.
fn parse_notification(body: &str) -> Result<Notification, String> {
    let value: Value = serde_json::from_str(body).map_err(|error| format!("not JSON: {error}"))?;
    if value.get("Type").and_then(Value::as_str) == Some("Notification")
        && let Some(inner) = value.get("Message").and_then(Value::as_str)
    {
        return parse_notification(inner);
    }
    if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Notification::Test);
    }
    if value.get("detail-type").and_then(Value::as_str) == Some("Object Created") {
        return match (
            value.pointer("/detail/bucket/name").and_then(Value::as_str),
            value.pointer("/detail/object/key").and_then(Value::as_str),
        ) {
            (Some(bucket), Some(key)) => Ok(Notification::Objects(vec![ObjectRef {
                bucket: bucket.to_string(),
                key: key.to_string(),
                etag: None,
            }])),
            _ => {
                Err("an EventBridge event without detail.bucket.name and detail.object.key".into())
            }
        };
    }
    let Some(records) = value.get("Records").and_then(Value::as_array) else {
        return Err("no `Records`".into());
    };
    let mut objects = Vec::new();
    for record in records {
        let created = record
            .get("eventName")
            .and_then(Value::as_str)
            .is_some_and(|name| name.starts_with("ObjectCreated:"));
        if !created {
            continue;
        }
        match (
            record.pointer("/s3/bucket/name").and_then(Value::as_str),
            record.pointer("/s3/object/key").and_then(Value::as_str),
        ) {
            (Some(bucket), Some(key)) => objects.push(ObjectRef {
                bucket: bucket.to_string(),
                key: decode_key(key),
                // The newest version is read: the notified one may have been replaced since.
                etag: None,
            }),
            _ => return Err("a record without s3.bucket.name and s3.object.key".into()),
        }
    }
    Ok(Notification::Objects(objects))
}

/// Keys in S3 notifications are URL-encoded, with `+` for spaces.
fn decode_key(encoded: &str) -> String {
    let bytes = encoded.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (byte, hex) {
            (b'+', _) => decoded.push(b' '),
            (b'%', Some(value)) => {
                decoded.push(value);
                index += 2;
            }
            _ => decoded.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(bucket: &str, key: &str) -> ObjectRef {
        ObjectRef {
            bucket: bucket.into(),
            key: key.into(),
            etag: None,
        }
    }

    #[test]
    fn s3_notifications_give_decoded_keys_of_created_objects() {
        let body = json!({"Records": [
            {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "logs"}, "object": {"key": "nginx/a+b%2Bc%C3%BC.log", "eTag": "x"}}},
            {"eventName": "ObjectRemoved:Delete", "s3": {"bucket": {"name": "logs"}, "object": {"key": "gone"}}}
        ]});
        assert_eq!(
            parse_notification(&body.to_string()),
            Ok(Notification::Objects(vec![object(
                "logs",
                "nginx/a b+cü.log"
            )]))
        );
    }

    #[test]
    fn sns_wrapped_eventbridge_and_test_events_are_understood() {
        let inner = json!({"Records": [{"eventName": "ObjectCreated:Post", "s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}}]});
        let sns = json!({"Type": "Notification", "Message": inner.to_string()});
        assert_eq!(
            parse_notification(&sns.to_string()),
            Ok(Notification::Objects(vec![object("b", "k")]))
        );
        let bridge = json!({"detail-type": "Object Created", "detail": {"bucket": {"name": "b"}, "object": {"key": "a b"}}});
        assert_eq!(
            parse_notification(&bridge.to_string()),
            Ok(Notification::Objects(vec![object("b", "a b")]))
        );
        let test = json!({"Service": "Amazon S3", "Event": "s3:TestEvent"});
        assert_eq!(
            parse_notification(&test.to_string()),
            Ok(Notification::Test)
        );
    }

    #[test]
    fn other_messages_are_refused_with_a_reason() {
        assert!(
            parse_notification("hello")
                .unwrap_err()
                .starts_with("not JSON")
        );
        assert_eq!(parse_notification("{}").unwrap_err(), "no `Records`");
        assert_eq!(decode_key("100%"), "100%");
    }
}
