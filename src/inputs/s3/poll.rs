//! Poll mode: list the bucket under the prefix every `interval`, read the objects not done
//! yet, oldest first, `concurrency` downloads at a time. The checkpoint stays small for any number of
//! keys: a watermark (every object last modified before it is done) plus the keys done or
//! failed since, with their ETags (a changed ETag means the object was rewritten: read again).

use super::client::{AwsFailure, Clients};
use super::object::{ObjectOutcome, ObjectReader, ObjectRef};
use super::{KeyFilter, S3InputConfig};
use crate::checkpoint::CheckpointFile;
use crate::inputs::{InputContext, InputError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// How far behind the newest listed object the watermark stays, so that an object that
/// shows up late with an older `LastModified` (a long upload, clock skew) is still read.
const LATE_ARRIVAL_MS: i64 = 15 * 60 * 1000;
/// How often the checkpoint is saved while objects complete.
const SAVE_INTERVAL: Duration = Duration::from_secs(1);

/// The poll-mode checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PollState {
    /// The bucket this state belongs to.
    pub bucket: String,
    /// Every object last modified before this (ms since the epoch) is done.
    #[serde(default)]
    pub watermark_ms: i64,
    /// Objects done that were last modified at or after the watermark.
    #[serde(default)]
    pub done: BTreeMap<String, DoneObject>,
    /// Objects that could not be read (retried once when the process starts again, and
    /// whenever their ETag changes).
    #[serde(default)]
    pub failed: BTreeMap<String, FailedObject>,
}

/// An object whose events were all delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoneObject {
    pub etag: String,
    pub modified_ms: i64,
}

/// An object that could not be read after retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedObject {
    pub etag: String,
    pub modified_ms: i64,
    pub error: String,
    /// When it failed (RFC 3339).
    pub at: String,
}

/// An object as listed.
#[derive(Debug, Clone)]
struct Listed {
    key: String,
    etag: String,
    modified_ms: i64,
}

impl PollState {
    /// Whether `object` is to be read in this pass.
    fn wants(&self, object: &Listed, retried: &HashSet<String>) -> bool {
        if let Some(failed) = self.failed.get(&object.key)
            && failed.etag == object.etag
        {
            return !retried.contains(&object.key);
        }
        let done = object.modified_ms < self.watermark_ms
            || self
                .done
                .get(&object.key)
                .is_some_and(|done| done.etag == object.etag);
        !done
    }

    /// Moves the watermark up to `candidate` (never down) and forgets what it now covers.
    fn advance(&mut self, candidate: i64) {
        if candidate > self.watermark_ms {
            self.watermark_ms = candidate;
            let watermark = self.watermark_ms;
            self.done.retain(|_, done| done.modified_ms >= watermark);
        }
    }
}

/// Runs poll mode until shutdown (or after one pass with `once`).
pub async fn run(
    config: &S3InputConfig,
    clients: &Clients,
    reader: ObjectReader,
    keys: KeyFilter,
    context: InputContext,
) -> Result<(), InputError> {
    let bucket = config.bucket.clone().unwrap_or_default();
    let checkpoint = context.checkpoint.clone();
    let mut state = match load(&checkpoint).await? {
        Some(state) if state.bucket != bucket => {
            return Err(format!(
                "checkpoint {} belongs to bucket `{}`, not `{bucket}`; give this input another `id`, or remove the file to read the bucket from the start",
                checkpoint.path().display(),
                state.bucket
            )
            .into());
        }
        Some(state) => state,
        None => PollState {
            bucket: bucket.clone(),
            ..PollState::default()
        },
    };
    let mut poller = Poller {
        config,
        clients,
        reader,
        keys,
        context: &context,
        bucket,
        retried: HashSet::new(),
        failed_this_run: Vec::new(),
        last_save: Instant::now(),
    };
    loop {
        poller.pass(&mut state).await;
        save(&checkpoint, &state).await?;
        if config.once || context.shutdown.is_cancelled() {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(config.interval) => {}
            () = context.shutdown.cancelled() => break,
        }
    }
    if config.once && !poller.failed_this_run.is_empty() {
        return Err(format!(
            "{} object(s) could not be read: {}; they are recorded in the checkpoint (logpipe check --state) and retried on the next run",
            poller.failed_this_run.len(),
            poller.failed_this_run.join(", ")
        )
        .into());
    }
    Ok(())
}

struct Poller<'a> {
    config: &'a S3InputConfig,
    clients: &'a Clients,
    reader: ObjectReader,
    keys: KeyFilter,
    context: &'a InputContext,
    bucket: String,
    /// Failed objects tried again in this process (each is retried once per start).
    retried: HashSet<String>,
    failed_this_run: Vec<String>,
    last_save: Instant,
}

impl Poller<'_> {
    /// One listing and the reads it calls for.
    async fn pass(&mut self, state: &mut PollState) {
        let Some((mut todo, newest_ms)) = self.list(state).await else {
            return;
        };
        todo.sort_by(|a, b| (a.modified_ms, &a.key).cmp(&(b.modified_ms, &b.key)));
        if !todo.is_empty() {
            tracing::info!(
                input = %self.context.id,
                "{} new object(s) in s3://{}/{}",
                todo.len(),
                self.bucket,
                self.config.prefix
            );
        }
        let mut unfinished: BTreeSet<(i64, String)> = todo
            .iter()
            .map(|object| (object.modified_ms, object.key.clone()))
            .collect();
        let mut queue = todo.into_iter().peekable();
        let mut running = JoinSet::new();
        // `concurrency` objects are downloaded at a time. An object whose lines are all sent
        // gives its slot to the next one while it waits for their delivery: an output that
        // waits to fill a request (elasticsearch's `flush_interval`) is filled by the next
        // objects instead of holding them back. Back-pressure still bounds what is in flight.
        let downloads = Arc::new(Semaphore::new(self.config.concurrency));
        // Objects finished since the last save: saved within SAVE_INTERVAL, also while the
        // others are still being read (a large object can take minutes), so that a crash
        // does not read them again.
        let mut unsaved = false;
        loop {
            while !self.context.shutdown.is_cancelled() && queue.peek().is_some() {
                let Ok(slot) = Arc::clone(&downloads).try_acquire_owned() else {
                    break;
                };
                let Some(object) = queue.next() else { break };
                if state.failed.contains_key(&object.key) {
                    self.retried.insert(object.key.clone());
                }
                let reader = self.reader.clone();
                let target = ObjectRef {
                    bucket: self.bucket.clone(),
                    key: object.key.clone(),
                    etag: Some(object.etag.clone()),
                };
                running.spawn(async move {
                    let downloaded = reader.download(&target).await;
                    drop(slot);
                    let outcome = match downloaded {
                        Ok(downloaded) => downloaded.delivered().await,
                        Err(error) => Err(error),
                    };
                    (object, outcome)
                });
            }
            let more_to_start = !self.context.shutdown.is_cancelled() && queue.peek().is_some();
            let next = async {
                tokio::select! {
                    joined = running.join_next() => Some(joined),
                    // A download slot came free: start the next object.
                    _ = downloads.acquire(), if more_to_start => None,
                }
            };
            let joined = if unsaved {
                let wait = SAVE_INTERVAL.saturating_sub(self.last_save.elapsed());
                match tokio::time::timeout(wait, next).await {
                    Ok(joined) => joined,
                    Err(_) => {
                        // join_next is cancel safe: the object is joined on the next turn.
                        self.save_now(state).await;
                        unsaved = false;
                        continue;
                    }
                }
            } else {
                next.await
            };
            let Some(joined) = joined else {
                continue;
            };
            let Some(joined) = joined else {
                break;
            };
            let (object, outcome) = match joined {
                Ok(done) => done,
                Err(error) => {
                    // Its object stays unfinished: the watermark waits for it; read next pass.
                    tracing::error!(input = %self.context.id, "an object task ended abnormally: {error}");
                    continue;
                }
            };
            match outcome {
                Ok(ObjectOutcome::Delivered(events)) => {
                    tracing::debug!(input = %self.context.id, key = %object.key, events, "object done");
                    unfinished.remove(&(object.modified_ms, object.key.clone()));
                    state.failed.remove(&object.key);
                    state.done.insert(
                        object.key,
                        DoneObject {
                            etag: object.etag,
                            modified_ms: object.modified_ms,
                        },
                    );
                }
                Ok(ObjectOutcome::Stopped) => {}
                Err(error) if error.is_not_found() => {
                    // Deleted between the listing and the read: nothing to read.
                    unfinished.remove(&(object.modified_ms, object.key.clone()));
                }
                Err(error) => {
                    tracing::error!(input = %self.context.id, "{error}; recorded as failed (logpipe check --state)");
                    unfinished.remove(&(object.modified_ms, object.key.clone()));
                    self.failed_this_run
                        .push(format!("s3://{}/{}", self.bucket, object.key));
                    state.failed.insert(
                        object.key,
                        FailedObject {
                            etag: object.etag,
                            modified_ms: object.modified_ms,
                            error: error.to_string(),
                            at: chrono::Utc::now().to_rfc3339(),
                        },
                    );
                }
            }
            unsaved = true;
            if self.last_save.elapsed() >= SAVE_INTERVAL {
                self.save_now(state).await;
                unsaved = false;
            }
        }
        let oldest_unfinished = unfinished.first().map(|(modified, _)| *modified);
        let candidate = newest_ms
            .saturating_sub(LATE_ARRIVAL_MS)
            .min(oldest_unfinished.unwrap_or(i64::MAX));
        state.advance(candidate);
    }

    /// Saves the checkpoint now (a failure is logged: the next save tries again).
    async fn save_now(&mut self, state: &PollState) {
        self.last_save = Instant::now();
        if let Err(error) = save(&self.context.checkpoint, state).await {
            tracing::warn!(input = %self.context.id, "{error}");
        }
    }

    /// Lists the bucket: the objects to read and the newest `LastModified` seen. `None` when
    /// listing failed (logged; the next interval tries again).
    async fn list(&self, state: &PollState) -> Option<(Vec<Listed>, i64)> {
        let mut pages = self
            .clients
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&self.config.prefix)
            .into_paginator()
            .send();
        let mut todo = Vec::new();
        let mut newest_ms = i64::MIN;
        loop {
            let page = tokio::select! {
                page = pages.next() => page,
                () = self.context.shutdown.cancelled() => return None,
            };
            let page = match page {
                None => break,
                Some(Ok(page)) => page,
                Some(Err(error)) => {
                    tracing::warn!(
                        input = %self.context.id,
                        "cannot list s3://{}/{} at {}: {}; trying again in {:?}",
                        self.bucket,
                        self.config.prefix,
                        self.clients.endpoint,
                        AwsFailure::from_sdk(&error),
                        self.config.interval
                    );
                    return None;
                }
            };
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                if !self.keys.accepts(key) {
                    continue;
                }
                let modified_ms = object
                    .last_modified()
                    .and_then(|time| time.to_millis().ok())
                    .unwrap_or(0);
                newest_ms = newest_ms.max(modified_ms);
                let listed = Listed {
                    key: key.to_string(),
                    etag: object.e_tag().unwrap_or_default().to_string(),
                    modified_ms,
                };
                if state.wants(&listed, &self.retried) {
                    todo.push(listed);
                }
            }
        }
        Some((todo, newest_ms))
    }
}

async fn load(checkpoint: &CheckpointFile) -> Result<Option<PollState>, InputError> {
    let checkpoint = checkpoint.clone();
    let loaded = tokio::task::spawn_blocking(move || checkpoint.load::<PollState>()).await?;
    Ok(loaded?)
}

async fn save(checkpoint: &CheckpointFile, state: &PollState) -> Result<(), InputError> {
    let (checkpoint, state) = (checkpoint.clone(), state.clone());
    tokio::task::spawn_blocking(move || checkpoint.save(&state)).await??;
    Ok(())
}

/// For `logpipe check --state`: the watermark, how many objects are done past it, and every
/// failed object with its error.
pub fn describe_state(checkpoint: &CheckpointFile) -> Result<String, InputError> {
    let Some(state) = checkpoint.load::<PollState>()? else {
        return Ok("nothing read yet".into());
    };
    let watermark = chrono::DateTime::from_timestamp_millis(state.watermark_ms)
        .filter(|_| state.watermark_ms > 0)
        .map_or_else(|| "none".to_string(), |time| time.to_rfc3339());
    let mut text = format!(
        "bucket {}: every object modified before {watermark} is done, and {} since; {} failed",
        state.bucket,
        state.done.len(),
        state.failed.len()
    );
    for (key, failed) in &state.failed {
        text.push_str(&format!(
            "\n      failed {key} at {}: {}",
            failed.at, failed.error
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(key: &str, etag: &str, modified_ms: i64) -> Listed {
        Listed {
            key: key.into(),
            etag: etag.into(),
            modified_ms,
        }
    }

    #[test]
    fn objects_under_the_watermark_or_done_with_the_same_etag_are_skipped() {
        let mut state = PollState {
            bucket: "b".into(),
            watermark_ms: 1_000,
            ..PollState::default()
        };
        state.done.insert(
            "new".into(),
            DoneObject {
                etag: "e1".into(),
                modified_ms: 2_000,
            },
        );
        let none = HashSet::new();
        assert!(!state.wants(&listed("old", "x", 999), &none));
        assert!(!state.wants(&listed("new", "e1", 2_000), &none));
        assert!(state.wants(&listed("new", "e2", 2_000), &none), "rewritten");
        assert!(state.wants(&listed("other", "x", 1_000), &none));
    }

    #[test]
    fn failed_objects_are_retried_once_per_start_or_when_rewritten() {
        let mut state = PollState::default();
        state.failed.insert(
            "bad".into(),
            FailedObject {
                etag: "e".into(),
                modified_ms: 5,
                error: "boom".into(),
                at: "then".into(),
            },
        );
        state.advance(10);
        assert!(state.wants(&listed("bad", "e", 5), &HashSet::new()));
        let retried = HashSet::from(["bad".to_string()]);
        assert!(!state.wants(&listed("bad", "e", 5), &retried));
        assert!(state.wants(&listed("bad", "e2", 20), &retried));
    }

    #[test]
    fn watermark_only_moves_up_and_forgets_what_it_covers() {
        let mut state = PollState::default();
        for (key, modified_ms) in [("a", 10), ("b", 20)] {
            state.done.insert(
                key.into(),
                DoneObject {
                    etag: "e".into(),
                    modified_ms,
                },
            );
        }
        state.advance(15);
        assert_eq!(state.watermark_ms, 15);
        assert_eq!(state.done.keys().collect::<Vec<_>>(), ["b"]);
        state.advance(5);
        assert_eq!(state.watermark_ms, 15);
    }
}
