//! logpipe: a log-ingestion pipeline. Inputs read lines, filters enrich events, outputs
//! deliver them; see DESIGN.md for how batches and acknowledgements move between them.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

pub mod api;
pub mod batch;
pub mod batch_order;
pub mod checkpoint;
pub mod codec;
pub mod config;
pub mod event;
pub mod filters;
pub mod fingerprint;
pub mod inputs;
pub mod joda;
pub mod json_writer;
pub mod live;
pub mod lock;
pub mod outputs;
pub mod pipeline;
pub mod private_fs;
pub mod run_lock;
pub mod stats;
pub mod template;
pub mod top;
