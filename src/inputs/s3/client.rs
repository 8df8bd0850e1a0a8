//! The AWS clients of an s3 input: credentials (static, the AWS chain, or an assumed role),
//! region, endpoint and retries; the startup check that turns a missing bucket, bad
//! credentials or an unreachable endpoint into one clear error; and what an AWS error means.

use super::{S3InputConfig, S3Mode};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use std::time::Duration;

/// Attempts the SDK makes for one request before an error reaches the input (with its
/// standard exponential backoff and jitter on throttling, 5xx, timeouts and lost connections).
const SDK_ATTEMPTS: u32 = 4;
/// The region when none is configured or found.
const DEFAULT_REGION: &str = "us-east-1";
/// How long connecting to the endpoint may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The clients, built once per input run.
#[derive(Clone)]
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// The endpoint, for messages: the configured URL or "AWS (<region>)".
    pub endpoint: String,
}

/// What went wrong with one AWS request, in a user's terms.
#[derive(Debug, Clone)]
pub struct AwsFailure {
    /// The service's error code (`NoSuchBucket`, `AccessDenied`, `SlowDown` …), if it sent one.
    pub code: Option<String>,
    /// HTTP status, when a response came back.
    pub status: Option<u16>,
    /// The whole error chain.
    pub message: String,
    /// Worth trying again later (throttling, 5xx, timeouts, connection errors).
    pub transient: bool,
}

impl AwsFailure {
    /// Classifies an SDK error.
    pub fn from_sdk<E>(error: &SdkError<E, HttpResponse>) -> AwsFailure
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = error
            .raw_response()
            .map(|response| response.status().as_u16());
        let code = error.code().map(str::to_string);
        let transient = match error {
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
            SdkError::ResponseError(_) => true,
            _ => {
                status.is_some_and(|status| status >= 500 || status == 429 || status == 408)
                    || matches!(
                        code.as_deref(),
                        Some(
                            "SlowDown"
                                | "Throttling"
                                | "ThrottlingException"
                                | "RequestTimeout"
                                | "InternalError"
                                | "ServiceUnavailable"
                        )
                    )
            }
        };
        let message = match error.message() {
            Some(text) => text.to_string(),
            None => DisplayErrorContext(error).to_string(),
        };
        if status.is_none() && message.contains("no credentials found") {
            // The chain's report is dozens of lines; what matters is that it found nothing.
            return AwsFailure {
                code: None,
                status,
                message: "no AWS credentials found (tried the environment, the profile, web identity, container and instance metadata)".into(),
                transient: false,
            };
        }
        AwsFailure {
            code,
            status,
            message,
            transient,
        }
    }

    /// The code, else the status, else "no response", for messages.
    pub fn code_or_status(&self) -> String {
        match (&self.code, self.status) {
            (Some(code), _) => code.clone(),
            (None, Some(status)) => format!("HTTP {status}"),
            (None, None) => "no response".to_string(),
        }
    }

    /// The object or bucket is not there (anymore).
    pub fn is_not_found(&self) -> bool {
        self.status == Some(404)
            || matches!(self.code.as_deref(), Some("NoSuchKey" | "NoSuchBucket"))
    }
}

impl std::fmt::Display for AwsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.code_or_status(), self.message)
    }
}

/// Startup failed: the input cannot work as configured.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartupError(String);

impl Clients {
    /// Builds the clients and checks that the bucket (or queue) answers. Fails with one
    /// message naming the bucket, the endpoint and the error code.
    pub async fn connect(config: &S3InputConfig) -> Result<Clients, StartupError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(SDK_ATTEMPTS))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .build(),
            );
        let region_from_env = ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|value| !value.is_empty()));
        match (&config.region, &config.endpoint) {
            (Some(region), _) => loader = loader.region(Region::new(region.clone())),
            // An S3-compatible store: no instance metadata to ask.
            (None, Some(_)) => {
                let region = region_from_env.unwrap_or_else(|| DEFAULT_REGION.to_string());
                loader = loader.region(Region::new(region));
            }
            (None, None) => {}
        }
        if let Some(endpoint) = &config.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        if let (Some(key), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
            loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
                key.expose(),
                secret.expose(),
                config
                    .session_token
                    .as_ref()
                    .map(|token| token.expose().to_string()),
                None,
                "logpipe-config",
            ));
        }
        let mut shared = loader.load().await;
        if shared.region().is_none() {
            shared = shared
                .into_builder()
                .region(Region::new(DEFAULT_REGION))
                .build();
        }
        if let Some(role_arn) = &config.role_arn {
            let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
                .session_name("logpipe")
                .configure(&shared)
                .build()
                .await;
            shared = shared
                .into_builder()
                .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(provider))
                .build();
        }
        let endpoint = match &config.endpoint {
            Some(endpoint) => endpoint.clone(),
            None => format!(
                "AWS ({})",
                shared.region().map(ToString::to_string).unwrap_or_default()
            ),
        };
        let path_style = config.force_path_style.unwrap_or(config.endpoint.is_some());
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&shared)
                .force_path_style(path_style)
                .build(),
        );
        let sqs = aws_sdk_sqs::Client::new(&shared);
        let clients = Clients { s3, sqs, endpoint };
        if let Some(bucket) = &config.bucket {
            clients.check_bucket(bucket, &config.prefix).await?;
        }
        if config.mode == S3Mode::Sqs
            && let Some(queue_url) = &config.queue_url
        {
            clients.check_queue(queue_url).await?;
        }
        Ok(clients)
    }

    async fn check_bucket(&self, bucket: &str, prefix: &str) -> Result<(), StartupError> {
        let answer = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .max_keys(1)
            .send()
            .await;
        answer.map(drop).map_err(|error| {
            self.startup_error(&format!("list bucket `{bucket}`"), "bucket", &error)
        })
    }

    async fn check_queue(&self, queue_url: &str) -> Result<(), StartupError> {
        let answer = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout)
            .send()
            .await;
        answer.map(drop).map_err(|error| {
            self.startup_error(&format!("read queue {queue_url}"), "queue_url", &error)
        })
    }

    /// "cannot <action> at <endpoint>: <code> (<message>); <what to do>".
    fn startup_error<E>(
        &self,
        action: &str,
        option: &str,
        error: &SdkError<E, HttpResponse>,
    ) -> StartupError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let failure = AwsFailure::from_sdk(error);
        StartupError(format!(
            "cannot {action} at {}: {failure}; {}",
            self.endpoint,
            advice(&failure, option)
        ))
    }
}

/// What to do about a startup failure.
fn advice(failure: &AwsFailure, what: &str) -> String {
    match failure.code.as_deref() {
        Some("NoSuchBucket") => "check `bucket` and `region`".into(),
        Some("AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist") => {
            "check `queue_url`".into()
        }
        Some(
            "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "InvalidClientTokenId"
            | "ExpiredToken"
            | "InvalidToken",
        ) => "check the credentials (access_key_id / secret_access_key, or the AWS chain)".into(),
        Some("AccessDenied" | "AccessDeniedException" | "AllAccessDisabled") => {
            format!("grant the credentials access to this {what} (s3:ListBucket, s3:GetObject)")
        }
        _ if failure.status.is_none() && failure.message.contains("credentials") => {
            "no credentials were found: set access_key_id and secret_access_key, or AWS_ACCESS_KEY_ID / AWS_PROFILE / an instance role".into()
        }
        _ if failure.status.is_none() => {
            "check `endpoint` and that the store is running and reachable".into()
        }
        _ => format!("check `{what}`, `endpoint` and the credentials"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: Option<&str>, status: Option<u16>) -> AwsFailure {
        AwsFailure {
            code: code.map(str::to_string),
            status,
            message: "m".into(),
            transient: false,
        }
    }

    #[test]
    fn advice_names_the_option_to_fix() {
        assert!(advice(&failure(Some("NoSuchBucket"), Some(404)), "bucket").contains("`bucket`"));
        assert!(
            advice(&failure(Some("InvalidAccessKeyId"), Some(403)), "bucket")
                .contains("credentials")
        );
        assert!(advice(&failure(None, None), "bucket").contains("`endpoint`"));
        let mut no_credentials = failure(None, None);
        no_credentials.message = "failed to construct request: no credentials in the chain".into();
        assert!(advice(&no_credentials, "bucket").starts_with("no credentials were found"));
        assert_eq!(failure(None, Some(503)).code_or_status(), "HTTP 503");
        assert!(failure(None, Some(404)).is_not_found());
    }
}
