//! Joda-Time date patterns (`dd/MMM/yyyy:HH:mm:ss Z`, as Logstash users write them),
//! compiled once, used to parse times (date filter) and to format them (templates).

use chrono::{DateTime, Utc};

/// A compiled Joda-style pattern.
#[derive(Debug, Clone)]
pub struct JodaFormat {
    pattern: String,
}

/// A pattern that cannot be compiled.
#[derive(Debug, Clone, thiserror::Error)]
#[error("date pattern `{pattern}`: {reason}")]
pub struct JodaError {
    /// The pattern as written.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

impl JodaFormat {
    /// Compiles `pattern`.
    pub fn parse(pattern: &str) -> Result<JodaFormat, JodaError> {
        Ok(JodaFormat {
            pattern: pattern.to_string(),
        })
    }

    /// Appends `time` formatted with this pattern (in UTC) to `out`.
    pub fn format(&self, time: &DateTime<Utc>, out: &mut String) {
        todo!("helper implements: {time} {out} {}", self.pattern)
    }

    /// Parses `text` with this pattern; zone-less text is read in `default_zone`.
    pub fn parse_time(&self, text: &str, default_zone: chrono_tz::Tz) -> Option<DateTime<Utc>> {
        todo!("helper implements: {text} {default_zone}")
    }
}
