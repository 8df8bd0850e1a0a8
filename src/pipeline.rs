//! Runs a pipeline (placeholder).
