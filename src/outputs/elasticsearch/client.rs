//! The HTTP side of the Elasticsearch output: one reqwest client (TLS, auth) built once, the
//! hosts taken round-robin with failed ones set aside and re-tried after a backoff, and the
//! capped exponential backoff with jitter that every retry uses.

use super::{ElasticsearchOutputConfig, FAILURE_LOG_INTERVAL};
use crate::config::Secret;
use crate::lock::lock;

use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a failed host is first set aside; doubled per failure up to [`HOST_DEAD_MAX`].
const HOST_DEAD_START: Duration = Duration::from_secs(1);
const HOST_DEAD_MAX: Duration = Duration::from_secs(60);

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No host given.
    #[error("`hosts` is empty; give at least one URL, e.g. \"http://localhost:9200\"")]
    NoHosts,
    /// A host is not an http(s) URL.
    #[error("host `{0}` is not an http:// or https:// URL")]
    BadHost(String),
    /// A TLS file cannot be read.
    #[error("cannot read `{key}` file `{path}`: {source}", path = path.display())]
    ReadFile {
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A TLS file is not usable PEM.
    #[error("`{key}` file `{path}` is not a usable PEM file: {reason}", path = path.display())]
    BadPem {
        key: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// Only one of client_cert / client_key.
    #[error("`client_cert` and `client_key` go together; set both or neither")]
    HalfIdentity,
    /// A credential cannot be sent as a header.
    #[error("`{0}` contains characters that cannot be sent in an HTTP header")]
    BadCredential(&'static str),
    /// reqwest refused the settings.
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

/// One request's failure, classified for the retry loop.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Connection refused, reset, timed out: try again, maybe on another host.
    #[error("{url}: {reason}")]
    Transport { url: String, reason: String },
    /// An HTTP status for the whole request.
    #[error("{url}: HTTP {status}: {body}")]
    Status {
        url: String,
        status: StatusCode,
        body: String,
    },
}

impl RequestError {
    /// Whether waiting and sending again may succeed (connection errors, 429, 502/503/504).
    pub fn is_transient(&self) -> bool {
        match self {
            RequestError::Transport { .. } => true,
            RequestError::Status { status, .. } => {
                matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
            }
        }
    }

    /// Whether the server refused the credentials.
    pub fn is_auth(&self) -> bool {
        matches!(self, RequestError::Status { status, .. }
            if *status == StatusCode::UNAUTHORIZED || *status == StatusCode::FORBIDDEN)
    }
}

/// A response that arrived with a 2xx status.
#[derive(Debug)]
pub struct Response {
    /// The status.
    pub status: StatusCode,
    /// The whole body.
    pub body: Vec<u8>,
}

struct HostState {
    base: String,
    dead_until: Option<Instant>,
    failures: u32,
    /// When its coming back was last logged.
    revival_logged: Option<Instant>,
}

impl HostState {
    /// Marks the host alive. True when that is worth a log line: it had been set aside, and
    /// no revival was logged in the last [`FAILURE_LOG_INTERVAL`] (a host whose 503s come
    /// and go would otherwise log one at every good answer).
    fn revive(&mut self, now: Instant) -> bool {
        let was_dead = self.dead_until.take().is_some();
        self.failures = 0;
        let quiet = self
            .revival_logged
            .is_none_or(|logged| now.saturating_duration_since(logged) >= FAILURE_LOG_INTERVAL);
        if was_dead && quiet {
            self.revival_logged = Some(now);
        }
        was_dead && quiet
    }
}

/// An HTTP client for a set of Elasticsearch hosts.
pub struct Client {
    http: reqwest::Client,
    hosts: Vec<Mutex<HostState>>,
    next: AtomicUsize,
}

impl Client {
    /// Builds the client from the output's options: TLS roots and identity, default auth
    /// header, timeouts. Relative TLS file paths are resolved against `config_dir`.
    pub fn new(
        settings: &ElasticsearchOutputConfig,
        config_dir: &Path,
    ) -> Result<Client, ClientError> {
        if settings.hosts.0.is_empty() {
            return Err(ClientError::NoHosts);
        }
        let file = |value: &Option<PathBuf>| {
            value
                .as_ref()
                .filter(|path| !path.as_os_str().is_empty())
                .map(|path| config_dir.join(path))
        };
        let mut hosts = Vec::new();
        for host in &settings.hosts.0 {
            let trimmed = host.trim_end_matches('/');
            if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
                return Err(ClientError::BadHost(host.clone()));
            }
            let path = settings.path.trim_matches('/');
            let base = if path.is_empty() {
                trimmed.to_string()
            } else {
                format!("{trimmed}/{path}")
            };
            hosts.push(Mutex::new(HostState {
                base,
                dead_until: None,
                failures: 0,
                revival_logged: None,
            }));
        }
        let mut headers = HeaderMap::new();
        if let Some(value) = authorization(settings)? {
            headers.insert(AUTHORIZATION, value);
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(60))
            .no_proxy()
            .user_agent(concat!("logpipe/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &file(&settings.ca_cert) {
            let pem = read("ca_cert", path)?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|error| {
                ClientError::BadPem {
                    key: "ca_cert",
                    path: path.clone(),
                    reason: error.to_string(),
                }
            })?;
            builder = builder.tls_certs_only(certs);
        }
        match (&file(&settings.client_cert), &file(&settings.client_key)) {
            (Some(cert), Some(key)) => {
                let mut pem = read("client_cert", cert)?;
                pem.push(b'\n');
                pem.extend(read("client_key", key)?);
                let identity =
                    reqwest::Identity::from_pem(&pem).map_err(|error| ClientError::BadPem {
                        key: "client_cert",
                        path: cert.clone(),
                        reason: error.to_string(),
                    })?;
                builder = builder.identity(identity);
            }
            (None, None) => {}
            _ => return Err(ClientError::HalfIdentity),
        }
        if !settings.tls_verify {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let http = builder
            .build()
            .map_err(|error| ClientError::Build(error_chain(&error)))?;
        Ok(Client {
            http,
            hosts,
            next: AtomicUsize::new(0),
        })
    }

    /// The base URL of every host (for logs and `check`).
    pub fn host_urls(&self) -> Vec<String> {
        self.hosts
            .iter()
            .map(|host| lock(host).base.clone())
            .collect()
    }

    /// The next host to use: round-robin over live hosts; when every host is set aside, the
    /// one that comes back first.
    fn pick(&self) -> usize {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let first = start.checked_rem(self.hosts.len()).unwrap_or(0);
        let now = Instant::now();
        let mut soonest = (first, None::<Instant>);
        let hosts = self.hosts.iter().enumerate();
        for (index, host) in hosts.clone().skip(first).chain(hosts.take(first)) {
            match lock(host).dead_until {
                None => return index,
                Some(until) if until <= now => return index,
                Some(until) => {
                    if soonest.1.is_none_or(|best| until < best) {
                        soonest = (index, Some(until));
                    }
                }
            }
        }
        soonest.0
    }

    fn mark(&self, index: usize, alive: bool) {
        let Some(host) = self.hosts.get(index) else {
            return;
        };
        let mut host = lock(host);
        if alive {
            if host.revive(Instant::now()) {
                tracing::info!(host = %host.base, "elasticsearch host is reachable again");
            }
        } else {
            host.failures = host.failures.saturating_add(1);
            let wait = HOST_DEAD_START
                .saturating_mul(1 << host.failures.min(6).saturating_sub(1))
                .min(HOST_DEAD_MAX);
            host.dead_until = Some(Instant::now() + wait);
        }
    }

    /// Sends one request to the next host; a 2xx answer is a [`Response`], anything else a
    /// [`RequestError`]. `gzip` says the body is gzip-compressed.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: &'static str,
        body: Option<bytes::Bytes>,
        gzip: bool,
    ) -> Result<Response, RequestError> {
        let index = self.pick();
        let Some(host) = self.hosts.get(index) else {
            // `Client::new` refuses an empty `hosts`.
            return Err(RequestError::Transport {
                url: path.to_string(),
                reason: "no elasticsearch host is configured".into(),
            });
        };
        let url = format!("{}{path}", lock(host).base);
        let mut request = self.http.request(method, &url);
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, content_type).body(body);
            if gzip {
                request = request.header(CONTENT_ENCODING, "gzip");
            }
        }
        let result = exchange(request, &url).await;
        match &result {
            Ok(_) => self.mark(index, true),
            Err(RequestError::Transport { .. }) => self.mark(index, false),
            // A host answering 502/503/504 is as good as down for now.
            Err(RequestError::Status { status, .. }) => {
                self.mark(index, !matches!(status.as_u16(), 502..=504));
            }
        }
        result
    }

    /// Sends a multipart form (Kibana's saved-objects import) to an absolute URL.
    pub async fn send_form(
        &self,
        url: &str,
        form: reqwest::multipart::Form,
    ) -> Result<Response, RequestError> {
        let request = self
            .http
            .post(url)
            .header("kbn-xsrf", "true")
            .multipart(form);
        exchange(request, url).await
    }
}

/// Sends `request` and reads the whole answer: a 2xx is a [`Response`], anything else a
/// [`RequestError`] naming `url`.
async fn exchange(request: reqwest::RequestBuilder, url: &str) -> Result<Response, RequestError> {
    let result = async {
        let response = request.send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        Ok::<_, reqwest::Error>((status, body))
    }
    .await;
    match result {
        Err(error) => Err(RequestError::Transport {
            url: url.to_string(),
            reason: error_chain(&error),
        }),
        Ok((status, body)) if status.is_success() => Ok(Response {
            status,
            body: body.to_vec(),
        }),
        Ok((status, body)) => Err(RequestError::Status {
            url: url.to_string(),
            status,
            body: String::from_utf8_lossy(&body).chars().take(500).collect(),
        }),
    }
}

/// The error and its causes, `: `-joined (reqwest's own message alone says little); also
/// what `logpipe top` shows of a failed request.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|source| ClientError::ReadFile {
        key,
        path: path.to_path_buf(),
        source,
    })
}

/// The `Authorization` header for the configured credentials, if any (empty strings count
/// as unset, so `"${ELASTICSEARCH_USER:-}"` works).
fn authorization(settings: &ElasticsearchOutputConfig) -> Result<Option<HeaderValue>, ClientError> {
    let set = |value: Option<&str>| value.filter(|text| !text.is_empty()).map(str::to_string);
    let secret = |value: &Option<Secret>| set(value.as_ref().map(Secret::expose));
    let (text, key) = if let Some(user) = set(settings.user.as_deref()) {
        let password = secret(&settings.password).unwrap_or_default();
        (
            format!("Basic {}", base64(format!("{user}:{password}").as_bytes())),
            "password",
        )
    } else if let Some(api_key) = secret(&settings.api_key) {
        let encoded = if api_key.contains(':') {
            base64(api_key.as_bytes())
        } else {
            api_key
        };
        (format!("ApiKey {encoded}"), "api_key")
    } else if let Some(token) = secret(&settings.bearer_token) {
        (format!("Bearer {token}"), "bearer_token")
    } else {
        return Ok(None);
    };
    let mut value = HeaderValue::from_str(&text).map_err(|_| ClientError::BadCredential(key))?;
    value.set_sensitive(true);
    Ok(Some(value))
}

/// Standard base64 with padding (RFC 4648), for credentials.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let [a, b, c] = [0, 1, 2].map(|i| chunk.get(i).copied().unwrap_or(0));
        let triple = (u32::from(a) << 16) | (u32::from(b) << 8) | u32::from(c);
        for (position, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if position <= chunk.len() {
                let sextet = ((triple >> shift) & 63) as usize;
                out.push(ALPHABET.get(sextet).map_or('=', |&digit| char::from(digit)));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Capped exponential backoff with full jitter: each wait is random in [initial/2, current],
/// where current doubles per failure up to `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
    state: u64,
}

impl Backoff {
    /// Starts at `initial`, never waits longer than `max`.
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |since| since.as_nanos() as u64);
        Backoff {
            initial,
            max: max.max(initial),
            current: initial,
            state: seed | 1,
        }
    }

    /// The wait before the next attempt.
    pub fn next_wait(&mut self) -> Duration {
        // xorshift64: a cheap jitter source; no need for a cryptographic one.
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        let low = self.initial / 2;
        let span = self.current.saturating_sub(low).as_millis() as u64;
        let wait = low
            + Duration::from_millis(if span == 0 {
                0
            } else {
                self.state % (span + 1)
            });
        self.current = self.current.saturating_mul(2).min(self.max);
        wait
    }

    /// A success: the next failure starts again at `initial`.
    pub fn reset(&mut self) {
        self.current = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StringList;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn authorization_header_for_each_kind_of_credential() {
        let header = |settings: ElasticsearchOutputConfig| {
            authorization(&settings)
                .unwrap()
                .map(|value| value.to_str().unwrap().to_string())
        };
        assert_eq!(header(ElasticsearchOutputConfig::default()), None);
        assert_eq!(
            header(ElasticsearchOutputConfig {
                user: Some("elastic".into()),
                password: Some("changeme".into()),
                ..ElasticsearchOutputConfig::default()
            }),
            Some("Basic ZWxhc3RpYzpjaGFuZ2VtZQ==".into())
        );
        assert_eq!(
            header(ElasticsearchOutputConfig {
                api_key: Some("id:key".into()),
                ..ElasticsearchOutputConfig::default()
            }),
            Some("ApiKey aWQ6a2V5".into())
        );
        assert_eq!(
            header(ElasticsearchOutputConfig {
                api_key: Some("aWQ6a2V5".into()),
                ..ElasticsearchOutputConfig::default()
            }),
            Some("ApiKey aWQ6a2V5".into())
        );
        assert_eq!(
            header(ElasticsearchOutputConfig {
                bearer_token: Some("t0k".into()),
                ..ElasticsearchOutputConfig::default()
            }),
            Some("Bearer t0k".into())
        );
    }

    #[test]
    fn a_host_that_comes_and_goes_logs_its_revival_once_per_interval() {
        let start = Instant::now();
        let mut host = HostState {
            base: "http://127.0.0.1:9200".into(),
            dead_until: None,
            failures: 0,
            revival_logged: None,
        };
        assert!(!host.revive(start), "alive all along: nothing to say");
        host.dead_until = Some(start);
        assert!(host.revive(start), "back after being set aside");
        assert_eq!((host.dead_until, host.failures), (None, 0));
        host.dead_until = Some(start);
        assert!(
            !host.revive(start + Duration::from_secs(1)),
            "again within 10 s"
        );
        host.dead_until = Some(start);
        assert!(host.revive(start + FAILURE_LOG_INTERVAL));
    }

    #[test]
    fn backoff_grows_with_jitter_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let waits: Vec<Duration> = (0..10).map(|_| backoff.next_wait()).collect();
        for wait in &waits {
            assert!(*wait >= Duration::from_millis(50) && *wait <= Duration::from_secs(1));
        }
        assert!(waits[0] <= Duration::from_millis(100));
        backoff.reset();
        assert!(backoff.next_wait() <= Duration::from_millis(100));
    }

    #[test]
    fn hosts_must_be_urls_and_failed_hosts_are_set_aside() {
        let settings = |hosts: &[&str]| ElasticsearchOutputConfig {
            hosts: StringList(hosts.iter().map(|h| h.to_string()).collect()),
            ..ElasticsearchOutputConfig::default()
        };
        let dir = Path::new("/");
        assert!(matches!(
            Client::new(&settings(&[]), dir),
            Err(ClientError::NoHosts)
        ));
        assert!(matches!(
            Client::new(&settings(&["localhost:9200"]), dir),
            Err(ClientError::BadHost(_))
        ));
        assert!(matches!(
            Client::new(
                &ElasticsearchOutputConfig {
                    client_cert: Some("cert.pem".into()),
                    ..settings(&["http://a:1"])
                },
                dir
            ),
            Err(ClientError::HalfIdentity)
        ));
        let client = Client::new(&settings(&["http://a:1/", "http://b:2"]), dir).unwrap();
        assert_eq!(client.host_urls(), ["http://a:1", "http://b:2"]);
        let first = client.pick();
        let second = client.pick();
        assert_ne!(first, second, "round-robin");
        client.mark(0, false);
        for _ in 0..4 {
            assert_eq!(client.pick(), 1, "host 0 is set aside");
        }
        client.mark(1, false);
        // Every host is down: the one that comes back first (host 0) is tried.
        assert_eq!(client.pick(), 0);
        client.mark(0, true);
        assert_eq!(lock(&client.hosts[0]).dead_until, None);
    }
}
