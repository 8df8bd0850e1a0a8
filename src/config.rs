//! The pipeline file (TOML) model (placeholder).
