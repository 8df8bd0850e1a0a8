//! End-to-end tests: the real `logpipe` binary on real files (one test binary, a module per
//! behaviour; see DESIGN.md).

mod chaos;
mod charsets_and_junk;
mod chromium;
mod compose_stack;
mod config_errors;
mod elasticsearch_output;
mod grok_cli;
mod hostile_input;
mod live_in_chromium;
mod monitoring_api;
mod nginx_real_logs;
mod outages;
mod s3_fixture;
mod s3_input;
mod sample_pipeline;
mod security;
mod servers;
mod support;
mod tail_follows_files;
