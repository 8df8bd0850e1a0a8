//! The monitoring HTTP API that `run` serves while the pipeline runs: node info (`/`),
//! per-component figures (`/stats`, `/metrics` for Prometheus), `/health` for Docker and
//! systemd, and the live traffic page (`/live`, its WebSocket `/live/ws`, `/live/snapshot`).

pub mod health;
pub mod prometheus;

use crate::config::{ApiSettings, PipelineConfig, Secret};
use crate::stats::PipelineStats;
use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use health::HealthWatch;
use serde::Deserialize;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The live traffic page: one self-contained HTML file (no CDN), shipped in the binary.
const LIVE_PAGE: &str = include_str!("live.html");
/// The ports tried when `listen` is not set, as Logstash does: the first free one.
const DEFAULT_PORTS: std::ops::RangeInclusive<u16> = 9600..=9700;
/// A WebSocket client that takes longer than this to accept a frame is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// What `/live` and `/live/snapshot` answer when the pipeline has no `live` output.
const NO_LIVE_OUTPUT: &str = "this pipeline has no live view: add an output with type = \"live\"";

/// The API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The configured address is taken or not ours.
    #[error(
        "cannot listen on {address} ([api] listen): {source}; choose a free address, or set [api] enabled = false"
    )]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// What the handlers share.
#[derive(Clone)]
struct ApiState {
    stats: Arc<PipelineStats>,
    live_frames: Option<watch::Receiver<Option<Arc<str>>>>,
    auth_token: Option<Secret>,
    health: HealthWatch,
    /// Cancelled when the pipeline has finished: WebSockets close, the server stops.
    stopping: CancellationToken,
}

/// A bound, not yet serving, API.
pub struct ApiServer {
    listener: TcpListener,
    address: SocketAddr,
}

impl ApiServer {
    /// Binds the API's address; `None` when the API is off, or when no default port is free
    /// (said in the log: the pipeline runs without it).
    pub async fn bind(settings: &ApiSettings) -> Result<Option<ApiServer>, ApiError> {
        if !settings.enabled {
            return Ok(None);
        }
        if let Some(address) = settings.listen {
            let listener = TcpListener::bind(address)
                .await
                .map_err(|source| ApiError::Bind { address, source })?;
            return Ok(Some(ApiServer::from_listener(listener, address)));
        }
        for port in DEFAULT_PORTS {
            let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            if let Ok(listener) = TcpListener::bind(address).await {
                return Ok(Some(ApiServer::from_listener(listener, address)));
            }
        }
        tracing::warn!(
            "the monitoring API is off: ports 9600-9700 on 127.0.0.1 are all taken; set [api] listen"
        );
        Ok(None)
    }

    fn from_listener(listener: TcpListener, configured: SocketAddr) -> ApiServer {
        let address = listener.local_addr().unwrap_or(configured);
        ApiServer { listener, address }
    }

    /// Serves until `stopping` is cancelled (after the pipeline finished). Meanwhile its URL
    /// is in `data_dir/api.url`, where `logpipe top PIPELINE.toml` finds it.
    pub async fn serve(
        self,
        settings: ApiSettings,
        data_dir: PathBuf,
        stats: Arc<PipelineStats>,
        live_frames: Option<watch::Receiver<Option<Arc<str>>>>,
        stopping: CancellationToken,
    ) {
        let health = HealthWatch::start(Arc::clone(&stats), settings.health_timeout, &stopping);
        let state = ApiState {
            stats,
            live_frames,
            auth_token: settings.auth_token,
            health,
            stopping: stopping.clone(),
        };
        let app = Router::new()
            .route("/", get(node_info))
            .route("/stats", get(stats_json))
            .route("/metrics", get(metrics))
            .route("/health", get(health_status))
            .route("/live", get(live_page))
            .route("/live/ws", get(live_socket))
            .route("/live/snapshot", get(live_snapshot))
            .layer(middleware::from_fn_with_state(state.clone(), authorize))
            .with_state(state);
        tracing::info!("monitoring API on http://{}", self.address);
        let announced = address_file(&data_dir);
        let written = crate::private_fs::create_file(&announced)
            .and_then(|mut file| writeln!(file, "http://{}", self.address));
        if let Err(error) = written {
            tracing::warn!("cannot write {}: {error}", announced.display());
        }
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(stopping.cancelled_owned())
            .await;
        if let Err(error) = served {
            tracing::warn!("the monitoring API stopped: {error}");
        }
        let _ = std::fs::remove_file(&announced);
    }
}

/// The file in `data_dir` where a running pipeline writes its API's URL (for `logpipe top`).
fn address_file(data_dir: &Path) -> PathBuf {
    data_dir.join("api.url")
}

/// The URL of the API of the pipeline running `config`: the one it wrote in its data_dir,
/// else the configured or default address.
pub fn running_address(config: &PipelineConfig) -> String {
    let written = std::fs::read_to_string(address_file(&config.data_dir())).ok();
    match written {
        Some(url) if !url.trim().is_empty() => url.trim().to_string(),
        _ => {
            let port = *DEFAULT_PORTS.start();
            let address = config
                .api
                .listen
                .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
            format!("http://{address}")
        }
    }
}

/// `?token=` on any route.
#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// With `auth_token` set, every route needs it (bearer header or `?token=`).
async fn authorize(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let Some(expected) = &state.auth_token else {
        return next.run(request).await;
    };
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::to_string);
    let query = Query::<TokenQuery>::try_from_uri(request.uri())
        .ok()
        .and_then(|Query(query)| query.token);
    let given = bearer.or(query);
    if given.is_some_and(|given| same_secret(given.as_bytes(), expected.expose().as_bytes())) {
        return next.run(request).await;
    }
    let mut response = (
        StatusCode::UNAUTHORIZED,
        "a token is required: send `Authorization: Bearer TOKEN` or add ?token=TOKEN\n",
    )
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"logpipe\""),
    );
    response
}

/// Compares without stopping at the first difference, so timing tells nothing of the token.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

async fn node_info(State(state): State<ApiState>) -> Response {
    let stats = &state.stats;
    axum::Json(serde_json::json!({
        "name": "logpipe",
        "version": env!("CARGO_PKG_VERSION"),
        "pipeline": stats.file.display().to_string(),
        "pid": std::process::id(),
        "uptime_seconds": stats.started.elapsed().as_secs_f64(),
        "workers": stats.workers,
        "live_view": state.live_frames.is_some(),
        "routes": ["/", "/stats", "/metrics", "/health", "/live", "/live/ws", "/live/snapshot"],
    }))
    .into_response()
}

async fn stats_json(State(state): State<ApiState>) -> Response {
    axum::Json(state.stats.snapshot()).into_response()
}

async fn metrics(State(state): State<ApiState>) -> Response {
    let text = prometheus::render(&state.stats.snapshot());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn health_status(State(state): State<ApiState>) -> Response {
    let problems = state.health.problems();
    if problems.is_empty() {
        return axum::Json(serde_json::json!({"status": "ok"})).into_response();
    }
    let body = serde_json::json!({"status": "unhealthy", "reasons": problems});
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}

async fn live_page(State(state): State<ApiState>) -> Response {
    if state.live_frames.is_none() {
        return (StatusCode::NOT_FOUND, NO_LIVE_OUTPUT).into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        LIVE_PAGE,
    )
        .into_response()
}

async fn live_snapshot(State(state): State<ApiState>) -> Response {
    let Some(frames) = &state.live_frames else {
        return (StatusCode::NOT_FOUND, NO_LIVE_OUTPUT).into_response();
    };
    let frame = frames.borrow().clone();
    match frame {
        Some(json) => (
            [(header::CONTENT_TYPE, "application/json")],
            json.to_string(),
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the live output has not started yet",
        )
            .into_response(),
    }
}

async fn live_socket(State(state): State<ApiState>, upgrade: WebSocketUpgrade) -> Response {
    let Some(frames) = state.live_frames.clone() else {
        return (StatusCode::NOT_FOUND, NO_LIVE_OUTPUT).into_response();
    };
    let stopping = state.stopping.clone();
    upgrade.on_upgrade(move |socket| stream_frames(socket, frames, stopping))
}

/// Sends the latest frame now and every new one after. A watcher that falls behind only
/// ever gets the newest frame (the channel keeps one), and one that stops reading is dropped
/// after `SEND_TIMEOUT`: the live output never waits for a watcher.
async fn stream_frames(
    mut socket: WebSocket,
    mut frames: watch::Receiver<Option<Arc<str>>>,
    stopping: CancellationToken,
) {
    loop {
        let frame = frames.borrow_and_update().clone();
        if let Some(json) = frame {
            let send = socket.send(Message::Text(json.as_ref().into()));
            match tokio::time::timeout(SEND_TIMEOUT, send).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return,
            }
        }
        tokio::select! {
            changed = frames.changed() => if changed.is_err() { break },
            received = socket.recv() => match received {
                // Pings are answered by the WebSocket layer; anything else from the page is ignored.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            () = stopping.cancelled() => break,
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same_secret(b"s3cret", b"s3cret"));
        assert!(!same_secret(b"s3cres", b"s3cret"));
        assert!(!same_secret(b"s3cret-longer", b"s3cret"));
        assert!(!same_secret(b"", b"s3cret"));
    }
}
