# syntax=docker/dockerfile:1
# logpipe container image: a release build of the binary on Debian slim, with the bundled
# pipelines, grok patterns, sample logs and Elasticsearch/Kibana setup assets.
#
#   docker build -t logpipe .
#   docker run --rm -v logpipe-data:/var/lib/logpipe logpipe check pipelines/nginx-file.toml
#
# docker-compose.yml runs it next to Elasticsearch and Kibana.

# --- build -------------------------------------------------------------------------------
FROM rust:1-slim-bookworm AS build
WORKDIR /src
# PCRE2 (grok) and AWS-LC (rustls) are C libraries compiled from source by their -sys crates
# with the image's gcc; build PCRE2 statically so the runtime needs no libpcre2.
ENV PCRE2_SYS_STATIC=1
COPY . .
# The cache mounts keep the crate registry and target/ between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin logpipe \
    && install -m 0755 target/release/logpipe /usr/local/bin/logpipe

# --- runtime -----------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# ca-certificates: HTTPS to Elasticsearch, Kibana and S3 with the system trust store (left
# unpinned so a rebuild picks up the current trust store).
# hadolint ignore=DL3008
# curl: the health check (GET /health of the monitoring API).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
# A fixed uid/gid so mounted log files and volumes can be granted to it from the host.
RUN groupadd --system --gid 10001 logpipe \
    && useradd --system --uid 10001 --gid logpipe --home-dir /opt/logpipe \
       --no-create-home --shell /usr/sbin/nologin logpipe \
    && install -d -o logpipe -g logpipe -m 0750 /var/lib/logpipe
COPY --from=build /usr/local/bin/logpipe /usr/local/bin/logpipe
WORKDIR /opt/logpipe
COPY pipelines/ pipelines/
COPY patterns/ patterns/
COPY examples/ examples/
COPY setup/ setup/
# Checkpoints (and dead letters) go here; mount a volume on it to keep them across containers.
ENV LOGPIPE_DATA_DIR=/var/lib/logpipe
# The logpipe user, by number so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
# The monitoring API and live view.
EXPOSE 9600
ENTRYPOINT ["logpipe"]
CMD ["run", "pipelines/nginx-elasticsearch.toml"]
