//! The `s3` input: reads objects from an S3 bucket (AWS, MinIO, Ceph, moto …), either by
//! listing the bucket every `interval` (`mode = "poll"`, checkpointed in `data_dir`) or by
//! consuming S3 event notifications from an SQS queue (`mode = "sqs"`, which scales over many
//! processes). Objects are streamed and gunzipped on the fly; the AWS clients live in
//! `client.rs`, reading one object in `object.rs`, the two modes in `poll.rs` and `sqs.rs`.

mod client;
mod object;
mod poll;
mod sqs;

use super::{Input, InputBuildContext, InputContext, InputError, InputFuture};
use crate::checkpoint::CheckpointFile;
use crate::codec::{LineDecoder, UnknownCharset};
use crate::config::Secret;
use serde::Deserialize;
use std::time::Duration;

/// Options of the `s3` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3InputConfig {
    /// The bucket to read (poll mode; in sqs mode the bucket named by each notification is
    /// read, and `bucket`, when given, is only checked at startup).
    #[serde(default)]
    pub bucket: Option<String>,
    /// Only keys starting with this (default: every key).
    #[serde(default)]
    pub prefix: String,
    /// Globs on keys to leave out, matched against the whole key (`*` also matches `/`).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// AWS region (default: the AWS chain — `AWS_REGION`, the profile — else `us-east-1`).
    #[serde(default)]
    pub region: Option<String>,
    /// S3 (and SQS) endpoint URL for S3-compatible stores, e.g. `http://127.0.0.1:9000`.
    /// An empty value means AWS.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Path-style URLs (`endpoint/bucket/key`); default: true when `endpoint` is set.
    #[serde(default)]
    pub force_path_style: Option<bool>,
    /// Static credentials; default: the AWS chain (environment, profile, web identity,
    /// container or instance metadata).
    #[serde(default)]
    pub access_key_id: Option<Secret>,
    /// Goes with `access_key_id`.
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    /// Goes with temporary `access_key_id`s.
    #[serde(default)]
    pub session_token: Option<Secret>,
    /// A role to assume (STS) with the credentials above or from the chain.
    #[serde(default)]
    pub role_arn: Option<String>,
    /// `poll` (default): list the bucket every `interval`; `sqs`: consume notifications.
    #[serde(default)]
    pub mode: S3Mode,
    /// Poll mode: time between listings (default 60 s).
    #[serde(default = "default_interval", with = "crate::config::duration")]
    pub interval: Duration,
    /// Objects (poll) or messages' objects (sqs) downloaded at the same time (default 4); one
    /// that waits for its events' delivery does not count.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Poll mode: one pass over the bucket, then the input is done (as `logpipe run --once`).
    #[serde(default)]
    pub once: bool,
    /// What to do with an object once all its events are delivered: `none` (default),
    /// `delete`, `{ move_to_prefix = "processed/" }` or `{ move_to_bucket = "archive" }`.
    #[serde(default)]
    pub after_read: AfterRead,
    /// Sqs mode: the queue receiving the bucket's `ObjectCreated:*` notifications.
    #[serde(default)]
    pub queue_url: Option<String>,
    /// Sqs mode: how long a received message stays hidden from other consumers; extended
    /// while its object is still being read (default 5 min).
    #[serde(
        default = "default_visibility_timeout",
        with = "crate::config::duration"
    )]
    pub visibility_timeout: Duration,
    /// Sqs mode: long-polling wait of one receive, at most 20 s (default 20 s).
    #[serde(default = "default_wait_time", with = "crate::config::duration")]
    pub wait_time: Duration,
}

/// How the input finds objects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum S3Mode {
    /// List the bucket every `interval`.
    #[default]
    Poll,
    /// Consume S3 event notifications from SQS.
    Sqs,
}

/// What happens to an object after every event of it is delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterRead {
    /// Leave it.
    #[default]
    None,
    /// Delete it.
    Delete,
    /// Move it (copy, then delete) to this prefix in the same bucket, keeping the rest of
    /// the key: `nginx/a.log` with `processed/` becomes `processed/nginx/a.log`.
    MoveToPrefix(String),
    /// Move it to this bucket under the same key.
    MoveToBucket(String),
}

fn default_interval() -> Duration {
    Duration::from_secs(60)
}
fn default_concurrency() -> usize {
    4
}
fn default_visibility_timeout() -> Duration {
    Duration::from_secs(300)
}
fn default_wait_time() -> Duration {
    Duration::from_secs(20)
}

impl S3InputConfig {
    /// Whether the input ends by itself (`once`).
    pub fn is_finite(&self) -> bool {
        self.once && self.mode == S3Mode::Poll
    }
}

/// An s3 input that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum S3InputError {
    /// A required option is missing.
    #[error("`{key}` is required {when}, e.g. {key} = {example}")]
    Missing {
        key: &'static str,
        when: &'static str,
        example: &'static str,
    },
    /// An option has a value that cannot work.
    #[error("`{key}`: {message}")]
    Invalid { key: &'static str, message: String },
    /// A glob in `exclude` is malformed.
    #[error("invalid glob `{glob}` in `exclude`: {reason}")]
    Glob { glob: String, reason: String },
    /// The charset is unknown.
    #[error(transparent)]
    Charset(#[from] UnknownCharset),
}

/// The `s3` input.
pub struct S3Input {
    config: S3InputConfig,
    exclude: Vec<glob::Pattern>,
    decoder: LineDecoder,
}

impl S3Input {
    /// Builds the input: checks the options that need no network.
    pub fn build(
        config: &S3InputConfig,
        context: &InputBuildContext,
    ) -> Result<S3Input, S3InputError> {
        let mut config = config.clone();
        // `${S3_ENDPOINT:-}` left empty means AWS itself.
        config.endpoint = config
            .endpoint
            .filter(|endpoint| !endpoint.trim().is_empty());
        match config.mode {
            S3Mode::Poll if config.bucket.is_none() => {
                return Err(S3InputError::Missing {
                    key: "bucket",
                    when: "in poll mode",
                    example: "\"my-logs\"",
                });
            }
            S3Mode::Sqs if config.queue_url.is_none() => {
                return Err(S3InputError::Missing {
                    key: "queue_url",
                    when: "in sqs mode",
                    example: "\"https://sqs.eu-west-1.amazonaws.com/123456789012/logs\"",
                });
            }
            _ => {}
        }
        if config.secret_access_key.is_some() != config.access_key_id.is_some() {
            return Err(S3InputError::Missing {
                key: if config.access_key_id.is_some() {
                    "secret_access_key"
                } else {
                    "access_key_id"
                },
                when: "with the other static credential",
                example: "\"${AWS_SECRET_ACCESS_KEY}\"",
            });
        }
        if config.concurrency == 0 {
            return Err(S3InputError::Invalid {
                key: "concurrency",
                message: "must be at least 1".into(),
            });
        }
        if config.wait_time > Duration::from_secs(20) {
            return Err(S3InputError::Invalid {
                key: "wait_time",
                message: "SQS waits at most 20 s; use 20s or less".into(),
            });
        }
        if config.mode == S3Mode::Sqs && config.visibility_timeout < Duration::from_secs(2) {
            return Err(S3InputError::Invalid {
                key: "visibility_timeout",
                message: "must be at least 2s (it is extended at half its length)".into(),
            });
        }
        if let AfterRead::MoveToPrefix(prefix) = &config.after_read
            && (prefix.is_empty() || prefix == &config.prefix)
        {
            return Err(S3InputError::Invalid {
                key: "after_read.move_to_prefix",
                message: format!(
                    "`{prefix}` would move objects onto themselves; use another prefix, e.g. \"processed/\""
                ),
            });
        }
        let exclude = config
            .exclude
            .iter()
            .map(|glob| {
                glob::Pattern::new(glob).map_err(|error| S3InputError::Glob {
                    glob: glob.clone(),
                    reason: error.msg.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let decoder = LineDecoder::new(&context.codec)?;
        Ok(S3Input {
            config,
            exclude,
            decoder,
        })
    }
}

impl Input for S3Input {
    fn describe(&self) -> String {
        let endpoint = self.config.endpoint.as_deref().unwrap_or("AWS");
        match self.config.mode {
            S3Mode::Poll => format!(
                "poll s3://{}/{} every {:?} via {endpoint}{}",
                self.config.bucket.as_deref().unwrap_or_default(),
                self.config.prefix,
                self.config.interval,
                if self.config.once { ", once" } else { "" }
            ),
            S3Mode::Sqs => format!(
                "sqs {} via {endpoint}",
                self.config.queue_url.as_deref().unwrap_or_default()
            ),
        }
    }

    fn state(&self, checkpoint: &CheckpointFile) -> Result<String, InputError> {
        match self.config.mode {
            S3Mode::Poll => poll::describe_state(checkpoint),
            S3Mode::Sqs => Ok("sqs mode keeps no state: the queue holds what is left".into()),
        }
    }

    fn run(self: Box<Self>, context: InputContext) -> InputFuture {
        Box::pin(async move {
            let clients = client::Clients::connect(&self.config).await?;
            let reader = object::ObjectReader::new(
                clients.s3.clone(),
                self.decoder,
                &context,
                self.config.after_read.clone(),
            )?;
            let keys = KeyFilter {
                prefix: self.config.prefix.clone(),
                exclude: self.exclude,
            };
            match self.config.mode {
                S3Mode::Poll => poll::run(&self.config, &clients, reader, keys, context).await,
                S3Mode::Sqs => sqs::run(&self.config, &clients, reader, keys, context).await,
            }
        })
    }
}

/// Which keys the input reads: under `prefix` and matching no `exclude` glob.
pub(crate) struct KeyFilter {
    prefix: String,
    exclude: Vec<glob::Pattern>,
}

impl KeyFilter {
    fn accepts(&self, key: &str) -> bool {
        key.starts_with(&self.prefix)
            && !key.ends_with('/')
            && !self.exclude.iter().any(|pattern| pattern.matches(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::CodecConfig;

    fn config(toml_text: &str) -> Result<S3InputConfig, toml::de::Error> {
        toml::from_str(toml_text)
    }

    fn build(toml_text: &str) -> Result<S3Input, S3InputError> {
        S3Input::build(
            &config(toml_text).unwrap(),
            &InputBuildContext {
                config_dir: ".".into(),
                codec: CodecConfig::default(),
            },
        )
    }

    #[test]
    fn after_read_takes_a_word_or_a_table() {
        let delete = config("bucket = \"b\"\nafter_read = \"delete\"").unwrap();
        assert_eq!(delete.after_read, AfterRead::Delete);
        let moved = config("bucket = \"b\"\nafter_read = { move_to_prefix = \"done/\" }").unwrap();
        assert_eq!(moved.after_read, AfterRead::MoveToPrefix("done/".into()));
        let other = config("bucket = \"b\"\nafter_read = { move_to_bucket = \"x\" }").unwrap();
        assert_eq!(other.after_read, AfterRead::MoveToBucket("x".into()));
        assert!(config("bucket = \"b\"\nafter_read = \"shred\"").is_err());
    }

    #[test]
    fn build_names_what_is_missing_or_wrong() {
        let no_bucket = build("prefix = \"x\"").err().unwrap().to_string();
        assert!(
            no_bucket.contains("`bucket` is required in poll mode"),
            "{no_bucket}"
        );
        let no_queue = build("mode = \"sqs\"").err().unwrap().to_string();
        assert!(no_queue.contains("`queue_url` is required"), "{no_queue}");
        let half = build("bucket = \"b\"\naccess_key_id = \"AK\"")
            .err()
            .unwrap()
            .to_string();
        assert!(half.contains("`secret_access_key` is required"), "{half}");
        let onto_itself =
            build("bucket = \"b\"\nprefix = \"p/\"\nafter_read = { move_to_prefix = \"p/\" }")
                .err()
                .unwrap()
                .to_string();
        assert!(onto_itself.contains("onto themselves"), "{onto_itself}");
        assert!(
            build("bucket = \"b\"\nendpoint = \"\"")
                .unwrap()
                .config
                .endpoint
                .is_none()
        );
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let config = config(
            "bucket = \"b\"\naccess_key_id = \"AKIDSECRET\"\nsecret_access_key = \"verysecret\"",
        )
        .unwrap();
        let printed = format!("{config:?}");
        assert!(
            !printed.contains("AKIDSECRET") && !printed.contains("verysecret"),
            "{printed}"
        );
    }

    #[test]
    fn key_filter_applies_prefix_and_exclude_globs() {
        let filter = KeyFilter {
            prefix: "nginx/".into(),
            exclude: vec![
                glob::Pattern::new("*.tmp").unwrap(),
                glob::Pattern::new("nginx/private/**").unwrap(),
            ],
        };
        assert!(filter.accepts("nginx/a.log"));
        assert!(filter.accepts("nginx/2024/a.log.gz"));
        assert!(!filter.accepts("other/a.log"));
        assert!(!filter.accepts("nginx/"));
        assert!(!filter.accepts("nginx/private/x/y.log"));
        assert!(!filter.accepts("nginx/deep/x.tmp"));
    }
}
