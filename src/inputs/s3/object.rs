//! Reading one S3 object: streams the body (never held whole in memory), gunzips it on the fly
//! when it starts with the gzip magic bytes (`.gz` keys, `Content-Encoding: gzip`), frames
//! lines and sends them as batches (the filter workers decode them with the input's codec and
//! build the events, see [`FramedLines`]), resumes a broken download
//! with a `Range` request on the same ETag, waits until every batch is acknowledged, then
//! applies `after_read`.

use super::AfterRead;
use super::client::AwsFailure;
use crate::batch::{Ack, AckReceipt, Batch};
use crate::codec::LineDecoder;
use crate::codec::framed::{FramedLines, LineOrigin};
use crate::codec::lines::{Line, LineFramer};
use crate::event::{Event, FieldPath, PlaceMemo, format_timestamp};
use crate::inputs::{InputContext, LogOrigin};
use crate::stats::{InputStats, SourceProgress};
use flate2::write::MultiGzDecoder;
use serde_json::Value;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Body bytes (compressed, for gzip) framed at a time before full batches are sent.
const PIECE_BYTES: usize = 16 * 1024;
/// How often a download that broke off is resumed before the object counts as failed.
const MAX_RESUMES: u32 = 5;

/// Which object to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
    /// When known (listing, notification): the version to read; a different one is refused.
    pub etag: Option<String>,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// How reading an object ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectOutcome {
    /// Every event was delivered (and `after_read` applied); this many events.
    Delivered(u64),
    /// Shutdown, or the pipeline stopped taking events: the object is not done.
    Stopped,
}

/// An object that could not be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ObjectError {
    /// S3 refused or kept failing.
    #[error("cannot read {object}: {failure}")]
    Aws { object: String, failure: AwsFailure },
    /// The body is not valid gzip.
    #[error("cannot read {object}: corrupt gzip data after {offset} decompressed bytes: {reason}")]
    Gzip {
        object: String,
        offset: u64,
        reason: String,
    },
}

impl ObjectError {
    /// The object is not there (a notification for a deleted key, say).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ObjectError::Aws { failure, .. } if failure.is_not_found())
    }
}

/// Reads objects into batches for one input; shared by its concurrent object tasks.
#[derive(Clone)]
pub struct ObjectReader {
    shared: Arc<Shared>,
}

struct Shared {
    s3: aws_sdk_s3::Client,
    decoder: LineDecoder,
    batches: mpsc::Sender<Batch>,
    shutdown: CancellationToken,
    batch_size: usize,
    after_read: AfterRead,
    input_id: String,
    stats: Arc<InputStats>,
    origin_fields: OriginFields,
}

/// The body's bytes before framing: plain, gzip, or not known until two bytes arrived.
enum Body {
    Undecided(Vec<u8>),
    Plain,
    Gzip(Box<MultiGzDecoder<Vec<u8>>>),
}

/// One object's read in progress: framing, the lines of the next batch, the receipts.
struct ObjectStream<'a> {
    reader: &'a Shared,
    object: &'a ObjectRef,
    body: Body,
    framer: LineFramer,
    origin: Arc<dyn LineOrigin>,
    /// The lines of the batch being filled.
    pending: FramedLines,
    /// Batches filled and not sent yet.
    full: Vec<FramedLines>,
    receipts: Vec<AckReceipt>,
    events: u64,
}

/// The paths of the fields every event of an object gets, parsed once.
#[derive(Debug, Clone)]
struct OriginFields {
    log_origin: LogOrigin,
    bucket_name: FieldPath,
    object_key: FieldPath,
}

/// The fields every event of one object gets.
#[derive(Debug)]
struct Origin {
    fields: OriginFields,
    bucket: Value,
    key: Value,
    path: Value,
    fingerprint: Value,
}

impl ObjectReader {
    /// A reader sending into `context`'s pipeline.
    pub fn new(
        s3: aws_sdk_s3::Client,
        decoder: LineDecoder,
        context: &InputContext,
        after_read: AfterRead,
    ) -> Result<ObjectReader, crate::event::FieldPathError> {
        Ok(ObjectReader {
            shared: Arc::new(Shared {
                s3,
                decoder,
                batches: context.batches.clone(),
                shutdown: context.shutdown.clone(),
                batch_size: context.batch_size.max(1),
                after_read,
                input_id: context.id.clone(),
                stats: Arc::clone(&context.stats),
                origin_fields: OriginFields {
                    log_origin: LogOrigin::new()?,
                    bucket_name: FieldPath::parse("aws.s3.bucket.name")?,
                    object_key: FieldPath::parse("aws.s3.object.key")?,
                },
            }),
        })
    }

    /// Reads `object` to its end, sending its lines into the pipeline; what is returned
    /// waits for their delivery. Transient failures are retried (the SDK's retries, then
    /// resumes).
    pub async fn download(&self, object: &ObjectRef) -> Result<Downloaded, ObjectError> {
        let shared = &*self.shared;
        let mut stream = ObjectStream {
            reader: shared,
            object,
            body: Body::Undecided(Vec::new()),
            framer: shared.decoder.framer(0),
            origin: Arc::new(Origin::of(object, &shared.origin_fields)),
            pending: FramedLines::new(&shared.decoder),
            full: Vec::new(),
            receipts: Vec::new(),
            events: 0,
        };
        let downloaded = stream.download().await;
        shared.stats.finished(&object.to_string());
        Ok(Downloaded {
            shared: Arc::clone(&self.shared),
            object: object.clone(),
            complete: downloaded?,
            receipts: stream.receipts,
            events: stream.events,
        })
    }
}

/// An object read to its end (or until the pipeline stopped), whose lines are on their way.
pub struct Downloaded {
    shared: Arc<Shared>,
    object: ObjectRef,
    /// Whether every line was sent (false: shutdown or the pipeline stopped).
    complete: bool,
    receipts: Vec<AckReceipt>,
    events: u64,
}

impl Downloaded {
    /// Waits until every event of the object is delivered, then applies `after_read`.
    pub async fn delivered(mut self) -> Result<ObjectOutcome, ObjectError> {
        if !self.complete {
            return Ok(ObjectOutcome::Stopped);
        }
        for receipt in &mut self.receipts {
            if !receipt.acknowledged().await {
                return Ok(ObjectOutcome::Stopped);
            }
        }
        self.shared.apply_after_read(&self.object).await;
        Ok(ObjectOutcome::Delivered(self.events))
    }
}

impl Shared {
    async fn apply_after_read(&self, object: &ObjectRef) {
        let destination = match &self.after_read {
            AfterRead::None => return,
            AfterRead::Delete => None,
            AfterRead::MoveToPrefix(prefix) => {
                Some((object.bucket.clone(), format!("{prefix}{}", object.key)))
            }
            AfterRead::MoveToBucket(bucket) => Some((bucket.clone(), object.key.clone())),
        };
        if let Some((bucket, key)) = &destination {
            let copied = self
                .s3
                .copy_object()
                .bucket(bucket)
                .key(key)
                .copy_source(copy_source(&object.bucket, &object.key))
                .send()
                .await;
            if let Err(error) = copied {
                tracing::warn!(
                    input = %self.input_id,
                    "after_read: cannot copy {object} to s3://{bucket}/{key}: {}; the object stays where it is",
                    AwsFailure::from_sdk(&error)
                );
                return;
            }
        }
        let deleted = self
            .s3
            .delete_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .send()
            .await;
        if let Err(error) = deleted {
            tracing::warn!(
                input = %self.input_id,
                "after_read: cannot delete {object}: {}",
                AwsFailure::from_sdk(&error)
            );
        }
    }
}

impl ObjectStream<'_> {
    /// Downloads and sends every line; false when stopped before the end.
    async fn download(&mut self) -> Result<bool, ObjectError> {
        let shared = self.reader;
        let name = self.object.to_string();
        let mut raw_offset = 0u64;
        let mut size = None;
        let mut etag = self.object.etag.clone();
        let mut resumes = 0;
        loop {
            let mut request = shared
                .s3
                .get_object()
                .bucket(&self.object.bucket)
                .key(&self.object.key);
            if let Some(etag) = &etag {
                request = request.if_match(etag);
            }
            if raw_offset > 0 {
                request = request.range(format!("bytes={raw_offset}-"));
            }
            let answer = tokio::select! {
                answer = request.send() => answer,
                () = shared.shutdown.cancelled() => return Ok(false),
            };
            let output = match answer {
                Ok(output) => output,
                Err(error) => {
                    let failure = AwsFailure::from_sdk(&error);
                    if failure.transient && resumes < MAX_RESUMES {
                        resumes += 1;
                        self.pause_before_resume(resumes, &failure.to_string())
                            .await;
                        continue;
                    }
                    return Err(ObjectError::Aws {
                        object: self.object.to_string(),
                        failure,
                    });
                }
            };
            if etag.is_none() {
                // Resumes must continue the same version of the object.
                etag = output.e_tag().map(str::to_string);
            }
            if raw_offset == 0 {
                size = output.content_length().and_then(|l| u64::try_from(l).ok());
            }
            let mut body = output.body;
            loop {
                let chunk = tokio::select! {
                    chunk = body.next() => chunk,
                    () = shared.shutdown.cancelled() => return Ok(false),
                };
                match chunk {
                    None => return self.finish().await,
                    Some(Ok(bytes)) => {
                        raw_offset += bytes.len() as u64;
                        let progress = SourceProgress {
                            offset: raw_offset,
                            size,
                        };
                        shared.stats.reading(&name, progress);
                        if !self.push(&bytes).await? {
                            return Ok(false);
                        }
                    }
                    Some(Err(error)) if resumes < MAX_RESUMES => {
                        resumes += 1;
                        self.pause_before_resume(resumes, &error.to_string()).await;
                        break;
                    }
                    Some(Err(error)) => {
                        return Err(ObjectError::Aws {
                            object: self.object.to_string(),
                            failure: AwsFailure {
                                code: None,
                                status: None,
                                message: format!("download broke off: {error}"),
                                transient: true,
                            },
                        });
                    }
                }
            }
        }
    }

    async fn pause_before_resume(&self, attempt: u32, reason: &str) {
        let delay = Duration::from_millis(200 * 2u64.pow(attempt.min(6)));
        tracing::warn!(
            input = %self.reader.input_id,
            "reading {} failed ({reason}); resuming in {delay:?} (attempt {attempt} of {MAX_RESUMES})",
            self.object
        );
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = self.reader.shutdown.cancelled() => {}
        }
    }

    /// Takes raw body bytes; false when the pipeline stopped taking batches.
    async fn push(&mut self, bytes: &[u8]) -> Result<bool, ObjectError> {
        if let Body::Undecided(head) = &mut self.body {
            head.extend_from_slice(bytes);
            if head.len() < 2 {
                return Ok(true);
            }
            let head = std::mem::take(head);
            self.body = if head.starts_with(&[0x1f, 0x8b]) {
                Body::Gzip(Box::new(MultiGzDecoder::new(Vec::new())))
            } else {
                Body::Plain
            };
            return self.push_decided(&head).await;
        }
        self.push_decided(bytes).await
    }

    /// Gunzips (if the body is gzip), frames and sends, [`PIECE_BYTES`] of the body at a
    /// time: a large network chunk never becomes a mountain of events at once.
    async fn push_decided(&mut self, bytes: &[u8]) -> Result<bool, ObjectError> {
        for piece in bytes.chunks(PIECE_BYTES) {
            let decoded = match &mut self.body {
                Body::Gzip(decoder) => match decoder.write_all(piece) {
                    Ok(()) => Some(std::mem::take(decoder.get_mut())),
                    Err(error) => return Err(self.gzip_error(&error)),
                },
                Body::Plain | Body::Undecided(_) => None,
            };
            self.frame(Some(decoded.as_deref().unwrap_or(piece)));
            if !self.send_full_batches().await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// End of the body: flushes the decoder, the last line without newline, the last batch.
    async fn finish(&mut self) -> Result<bool, ObjectError> {
        match std::mem::replace(&mut self.body, Body::Plain) {
            Body::Undecided(head) => self.frame(Some(&head)),
            Body::Plain => {}
            Body::Gzip(decoder) => {
                let decoded = decoder.finish().map_err(|error| self.gzip_error(&error))?;
                self.frame(Some(&decoded));
            }
        }
        self.frame(None);
        if !self.send_full_batches().await? {
            return Ok(false);
        }
        let rest = std::mem::take(&mut self.pending);
        Ok(rest.is_empty() || self.send(rest).await)
    }

    fn gzip_error(&self, error: &std::io::Error) -> ObjectError {
        ObjectError::Gzip {
            object: self.object.to_string(),
            offset: self.framer.next_offset(),
            reason: error.to_string(),
        }
    }

    /// Frames bytes into the lines of batches; `None`: the end, the last line even without
    /// its newline.
    fn frame(&mut self, bytes: Option<&[u8]>) {
        let timestamp = format_timestamp(chrono::Utc::now());
        let size = self.reader.batch_size;
        let (origin, pending, full) = (&self.origin, &mut self.pending, &mut self.full);
        let mut collect = |line: Line<'_>| {
            if line.makes_event() {
                pending.push(&line, origin, &timestamp);
                if pending.len() >= size {
                    let next = pending.next_batch();
                    full.push(std::mem::replace(pending, next));
                }
            }
        };
        match bytes {
            Some(bytes) => self.framer.push(bytes, &mut collect),
            None => self.framer.finish(&mut collect),
        }
    }

    async fn send_full_batches(&mut self) -> Result<bool, ObjectError> {
        for lines in std::mem::take(&mut self.full) {
            if !self.send(lines).await {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Sends one batch; false when the pipeline stopped taking batches.
    async fn send(&mut self, lines: FramedLines) -> bool {
        let count = lines.len() as u64;
        let (ack, receipt) = Ack::new();
        let batch = Batch {
            events: Vec::new(),
            lines,
            ack,
        };
        let sent = tokio::select! {
            sent = crate::inputs::send_batch(&self.reader.batches, batch) => sent,
            () = self.reader.shutdown.cancelled() => false,
        };
        if sent {
            self.reader.stats.sent(count as usize);
            self.events += count;
            self.receipts.push(receipt);
        }
        sent
    }
}

impl Origin {
    fn of(object: &ObjectRef, fields: &OriginFields) -> Origin {
        let path = object.to_string();
        let fingerprint = crate::fingerprint::fnv1a(path.as_bytes());
        Origin {
            fields: fields.clone(),
            bucket: Value::String(object.bucket.clone()),
            key: Value::String(object.key.clone()),
            path: Value::String(path),
            fingerprint: Value::String(format!("{fingerprint:016x}")),
        }
    }
}

impl LineOrigin for Origin {
    /// Adds `aws.s3.bucket.name`, `aws.s3.object.key` and the `log.*` fields every
    /// line-based input sets, in path order, in a writer that uses `places`.
    fn add(&self, event: &mut Event, offset: u64, places: &mut PlaceMemo) {
        let paths = &self.fields;
        let mut fields = event.sorted_writer_with(places);
        fields.insert(&paths.bucket_name, self.bucket.clone());
        fields.insert(&paths.object_key, self.key.clone());
        paths
            .log_origin
            .add(&mut fields, &self.path, &self.fingerprint, offset);
    }
}

/// `bucket/key` for CopyObject's `x-amz-copy-source`, the key percent-encoded except `/`.
fn copy_source(bucket: &str, key: &str) -> String {
    let mut encoded = format!("{bucket}/");
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~/".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_encodes_everything_but_slashes() {
        assert_eq!(
            copy_source("logs", "nginx/a b+c/ü.log"),
            "logs/nginx/a%20b%2Bc/%C3%BC.log"
        );
    }

    #[test]
    fn origin_fields_are_the_ecs_ones_with_a_stable_fingerprint() {
        let object = ObjectRef {
            bucket: "logs".into(),
            key: "nginx/a.log".into(),
            etag: None,
        };
        let fields = OriginFields {
            log_origin: LogOrigin::new().unwrap(),
            bucket_name: FieldPath::parse("aws.s3.bucket.name").unwrap(),
            object_key: FieldPath::parse("aws.s3.object.key").unwrap(),
        };
        let origin = Origin::of(&object, &fields);
        assert_eq!(origin.bucket, "logs");
        assert_eq!(origin.key, "nginx/a.log");
        assert_eq!(origin.path, "s3://logs/nginx/a.log");
        assert_eq!(
            origin.fingerprint,
            format!(
                "{:016x}",
                crate::fingerprint::fnv1a(b"s3://logs/nginx/a.log")
            )
        );
    }
}
