//! String templates: `%{field.path}` (or `%{[a][b]}`) is replaced by the event's field,
//! `%{+yyyy.MM.dd}` by `@timestamp` formatted with a Joda-style pattern (UTC).
//! Parsed once at build time, rendered per event.

use crate::event::{Event, FieldPath, FieldPathError};
use crate::joda::{JodaError, JodaFormat};
use chrono::Utc;
use serde_json::Value;
use std::fmt::Write;

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Literal(String),
    Field { path: FieldPath, raw: String },
    Time(JodaFormat),
}

/// A template that cannot be parsed.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// `%{` without a closing `}`.
    #[error("template `{template}`: `%{{` at byte {at} has no closing `}}`")]
    Unclosed { template: String, at: usize },
    /// A bad field path inside `%{…}`.
    #[error("template `{template}`: {source}")]
    Path {
        template: String,
        source: FieldPathError,
    },
    /// A bad date pattern inside `%{+…}`.
    #[error("template `{template}`: {source}")]
    Time { template: String, source: JodaError },
}

impl Template {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(start) = rest.find("%{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_string()));
            }
            let inner = &rest[start + 2..];
            let end = inner.find('}').ok_or(TemplateError::Unclosed {
                template: text.to_string(),
                at: offset + start,
            })?;
            let reference = &inner[..end];
            parts.push(match reference.strip_prefix('+') {
                Some(pattern) => Part::Time(JodaFormat::parse(pattern).map_err(|source| {
                    TemplateError::Time {
                        template: text.to_string(),
                        source,
                    }
                })?),
                None => Part::Field {
                    path: FieldPath::parse(reference).map_err(|source| TemplateError::Path {
                        template: text.to_string(),
                        source,
                    })?,
                    raw: format!("%{{{reference}}}"),
                },
            });
            let consumed = start + 2 + end + 1;
            offset += consumed;
            rest = &rest[consumed..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(Template {
            source: text.to_string(),
            parts,
        })
    }

    /// The template as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The text when the template has no references, else `None`.
    pub fn as_constant(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Literal(text)] => Some(text),
            _ => None,
        }
    }

    /// Renders for `event`.
    pub fn render(&self, event: &Event) -> String {
        let mut out = String::new();
        self.render_into(event, &mut out);
        out
    }

    /// Appends the rendering for `event` to `out`. A missing field is left as written
    /// (`%{field}`), as Logstash does; objects and arrays render as JSON; a missing or
    /// invalid `@timestamp` formats the current time.
    pub fn render_into(&self, event: &Event, out: &mut String) {
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Field { path, raw } => match event.get(path).as_deref() {
                    Some(Value::String(text)) => out.push_str(text),
                    Some(Value::Null) | None => out.push_str(raw),
                    Some(other) => {
                        let _ = write!(out, "{other}");
                    }
                },
                Part::Time(format) => {
                    let time = event.timestamp().unwrap_or_else(Utc::now);
                    format.format(&time, out);
                }
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for Template {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Template::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Event {
        let mut event = Event::from_line("x".into(), "2024-03-05T10:20:30.000Z");
        event.insert(
            &FieldPath::parse("http.response.status_code").unwrap(),
            json!(404),
        );
        event.insert(&FieldPath::parse("host.name").unwrap(), json!("web1"));
        event
    }

    #[test]
    fn fields_and_dates_are_substituted() {
        let template =
            Template::parse("nginx-%{host.name}-%{[http][response][status_code]}-%{+yyyy.MM.dd}")
                .unwrap();
        assert_eq!(template.render(&event()), "nginx-web1-404-2024.03.05");
    }

    #[test]
    fn missing_fields_stay_as_written() {
        let template = Template::parse("a-%{nope}-b").unwrap();
        assert_eq!(template.render(&event()), "a-%{nope}-b");
    }

    #[test]
    fn constant_templates_are_recognised() {
        assert_eq!(
            Template::parse("plain").unwrap().as_constant(),
            Some("plain")
        );
        assert_eq!(Template::parse("%{a}").unwrap().as_constant(), None);
    }

    #[test]
    fn unclosed_reference_is_an_error_naming_the_template() {
        let error = Template::parse("x-%{a").unwrap_err().to_string();
        assert_eq!(error, "template `x-%{a`: `%{` at byte 2 has no closing `}`");
    }
}
