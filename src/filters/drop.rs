//! The `drop` filter: removes events that match its conditions (all of `if_field`, `if_tag`,
//! `if_match` that are set; every event when none is), e.g. health checks, optionally only a
//! `percentage` of them, chosen by a hash of the event's original line so replays choose alike.

use super::{BuildContext, BuildError, Filter, FilterOutcome};
use crate::event::{Event, FieldPath};
use crate::fingerprint::fnv1a;
use regex::Regex;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Options of the `drop` filter. The kinds of condition combine with AND; with none, every
/// event is dropped (as Logstash's `drop`). Events that match but are kept by `percentage` count
/// as a success, so the common options (`add_tag`, …) mark them; events that do not match are
/// passed on untouched.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DropConfig {
    /// Fields that must all equal the given value, `path = value` (string, number or boolean).
    /// A number or boolean also matches its text form, so `200` matches `"200"` and vice versa.
    pub if_field: BTreeMap<FieldPath, Value>,
    /// Tags of which the event must carry at least one.
    pub if_tag: Vec<String>,
    /// Fields whose string value must all match the given regex (unanchored; an array field
    /// matches when one of its strings does), `path = "regex"`.
    pub if_match: BTreeMap<FieldPath, String>,
    /// Percentage (0 to 100) of the matching events that are dropped. The choice is a hash of
    /// `event.original` (else `message`, else the whole event), so it is the same on every run.
    /// Default 100.
    pub percentage: f64,
}

impl Default for DropConfig {
    fn default() -> Self {
        DropConfig {
            if_field: BTreeMap::new(),
            if_tag: Vec::new(),
            if_match: BTreeMap::new(),
            percentage: 100.0,
        }
    }
}

/// A `drop` option that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DropError {
    /// An `if_match` regex does not compile.
    #[error("drop `if_match` regex `{pattern}` for field `{field}` does not compile: {source}")]
    Regex {
        /// The field the regex applies to.
        field: FieldPath,
        /// The regex as written.
        pattern: String,
        /// Why it does not compile.
        source: regex::Error,
    },
    /// An `if_field` value is not a scalar.
    #[error(
        "drop `if_field` value for field `{field}` must be a string, number or boolean, not {value}"
    )]
    FieldValue {
        /// The field.
        field: FieldPath,
        /// The value as given.
        value: Value,
    },
    /// `percentage` is outside 0..=100.
    #[error("drop `percentage` must be between 0 and 100, not {0}")]
    Percentage(f64),
}

/// An `if_field` condition, with the expected value in each form an event may hold it in.
struct ExpectedValue {
    field: FieldPath,
    text: String,
    number: Option<f64>,
    flag: Option<bool>,
}

impl ExpectedValue {
    fn new(field: &FieldPath, value: &Value) -> Result<ExpectedValue, DropError> {
        let text = match value {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            Value::Bool(flag) => flag.to_string(),
            _ => {
                return Err(DropError::FieldValue {
                    field: field.clone(),
                    value: value.clone(),
                });
            }
        };
        Ok(ExpectedValue {
            field: field.clone(),
            number: text.parse().ok(),
            flag: text.parse().ok(),
            text,
        })
    }

    fn matches(&self, event: &Event) -> bool {
        match event.get(&self.field).as_deref() {
            Some(Value::String(text)) => *text == self.text,
            Some(Value::Number(number)) => self.number.is_some() && number.as_f64() == self.number,
            Some(Value::Bool(flag)) => self.flag == Some(*flag),
            _ => false,
        }
    }
}

/// The `drop` filter.
pub struct DropFilter {
    if_field: Vec<ExpectedValue>,
    if_tag: Vec<String>,
    if_match: Vec<(FieldPath, Regex)>,
    /// Events whose hash modulo 10 000 is below this are dropped; `None` drops every match.
    sample_below: Option<u64>,
}

/// Resolution of `percentage`: hundredths of a percent.
const SAMPLE_BUCKETS: u64 = 10_000;

impl DropFilter {
    /// Builds the filter, compiling the `if_match` regexes.
    pub fn build(config: &DropConfig, _context: &BuildContext) -> Result<DropFilter, BuildError> {
        if !(0.0..=100.0).contains(&config.percentage) {
            return Err(DropError::Percentage(config.percentage).into());
        }
        let if_field = config
            .if_field
            .iter()
            .map(|(field, value)| ExpectedValue::new(field, value))
            .collect::<Result<_, _>>()?;
        let if_match = config
            .if_match
            .iter()
            .map(|(field, pattern)| {
                Regex::new(pattern)
                    .map(|regex| (field.clone(), regex))
                    .map_err(|source| DropError::Regex {
                        field: field.clone(),
                        pattern: pattern.clone(),
                        source,
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(DropFilter {
            if_field,
            if_tag: config.if_tag.clone(),
            if_match,
            sample_below: (config.percentage < 100.0)
                .then(|| (config.percentage * (SAMPLE_BUCKETS as f64 / 100.0)).round() as u64),
        })
    }

    fn matches(&self, event: &Event) -> bool {
        self.if_field.iter().all(|expected| expected.matches(event))
            && (self.if_tag.is_empty() || self.if_tag.iter().any(|tag| event.has_tag(tag)))
            && self
                .if_match
                .iter()
                .all(|(field, regex)| match event.get(field).as_deref() {
                    Some(Value::String(text)) => regex.is_match(text),
                    Some(Value::Array(values)) => values
                        .iter()
                        .filter_map(Value::as_str)
                        .any(|text| regex.is_match(text)),
                    _ => false,
                })
    }
}

/// A hash of the event that is the same on every run and every build: of its original line
/// when it has one.
fn event_hash(event: &Event) -> u64 {
    let line = event.original_line();
    match line {
        Some(line) => fnv1a(line.as_bytes()),
        None => {
            let mut json = Vec::new();
            event.write_json(&mut json);
            fnv1a(&json)
        }
    }
}

impl Filter for DropFilter {
    fn process(&mut self, event: &mut Event) -> FilterOutcome {
        if !self.matches(event) {
            return FilterOutcome::Failure;
        }
        match self.sample_below {
            Some(below) if event_hash(event) % SAMPLE_BUCKETS >= below => FilterOutcome::Success,
            _ => FilterOutcome::Drop,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn build(toml_text: &str) -> Result<DropFilter, BuildError> {
        let config: DropConfig = toml::from_str(toml_text).unwrap();
        DropFilter::build(
            &config,
            &BuildContext {
                config_dir: ".".into(),
            },
        )
    }

    fn event(fields: Value) -> Event {
        let Value::Object(fields) = fields else {
            panic!("fields must be an object")
        };
        Event::from_fields(fields, "2024-01-01T00:00:00.000Z")
    }

    fn outcome(toml_text: &str, fields: Value) -> FilterOutcome {
        build(toml_text).unwrap().process(&mut event(fields))
    }

    #[test]
    fn drop_without_conditions_drops_every_event() {
        assert_eq!(outcome("", json!({})), FilterOutcome::Drop);
    }

    #[test]
    fn drop_if_field_drops_health_checks_and_passes_others_untouched() {
        let config = r#"if_field = { "url.original" = "/healthz" }"#;
        assert_eq!(
            outcome(config, json!({"url": {"original": "/healthz"}})),
            FilterOutcome::Drop
        );
        let mut filter = build(config).unwrap();
        let mut kept = event(json!({"url": {"original": "/index.html"}}));
        let before = kept.clone();
        assert_eq!(filter.process(&mut kept), FilterOutcome::Failure);
        assert_eq!(kept, before);
        assert_eq!(outcome(config, json!({})), FilterOutcome::Failure);
    }

    #[test]
    fn drop_if_field_requires_every_listed_field_to_be_equal() {
        let config = r#"if_field = { "url.original" = "/healthz", "http.request.method" = "GET" }"#;
        assert_eq!(
            outcome(
                config,
                json!({"url": {"original": "/healthz"}, "http": {"request": {"method": "GET"}}})
            ),
            FilterOutcome::Drop
        );
        assert_eq!(
            outcome(
                config,
                json!({"url": {"original": "/healthz"}, "http": {"request": {"method": "POST"}}})
            ),
            FilterOutcome::Failure
        );
    }

    #[test]
    fn drop_if_field_matches_numbers_and_booleans_in_text_or_typed_form() {
        let number = r#"if_field = { "status" = 200 }"#;
        assert_eq!(outcome(number, json!({"status": 200})), FilterOutcome::Drop);
        assert_eq!(
            outcome(number, json!({"status": "200"})),
            FilterOutcome::Drop
        );
        assert_eq!(
            outcome(number, json!({"status": 404})),
            FilterOutcome::Failure
        );
        let text = r#"if_field = { "status" = "200" }"#;
        assert_eq!(outcome(text, json!({"status": 200})), FilterOutcome::Drop);
        let flag = r#"if_field = { "bot" = true }"#;
        assert_eq!(outcome(flag, json!({"bot": true})), FilterOutcome::Drop);
        assert_eq!(outcome(flag, json!({"bot": "true"})), FilterOutcome::Drop);
        assert_eq!(outcome(flag, json!({"bot": false})), FilterOutcome::Failure);
    }

    #[test]
    fn drop_if_tag_drops_events_carrying_any_listed_tag() {
        let config = r#"if_tag = ["_grokparsefailure", "debug"]"#;
        assert_eq!(
            outcome(config, json!({"tags": ["x", "debug"]})),
            FilterOutcome::Drop
        );
        assert_eq!(
            outcome(config, json!({"tags": ["x"]})),
            FilterOutcome::Failure
        );
        assert_eq!(outcome(config, json!({})), FilterOutcome::Failure);
    }

    #[test]
    fn drop_if_match_drops_events_whose_field_matches_the_regex() {
        let config = r#"if_match = { "url.original" = "^/(healthz|metrics)" }"#;
        assert_eq!(
            outcome(config, json!({"url": {"original": "/metrics?x=1"}})),
            FilterOutcome::Drop
        );
        assert_eq!(
            outcome(config, json!({"url": {"original": "/app/healthz"}})),
            FilterOutcome::Failure
        );
        assert_eq!(
            outcome(config, json!({"url": {"original": ["/a", "/healthz"]}})),
            FilterOutcome::Drop
        );
        assert_eq!(
            outcome(config, json!({"url": {"original": 5}})),
            FilterOutcome::Failure
        );
    }

    #[test]
    fn drop_conditions_of_different_kinds_combine_with_and() {
        let config = r#"
            if_field = { "http.request.method" = "GET" }
            if_tag = ["internal"]
            if_match = { "url.original" = "^/healthz" }
        "#;
        let all = json!({"http": {"request": {"method": "GET"}}, "tags": ["internal"], "url": {"original": "/healthz"}});
        assert_eq!(outcome(config, all.clone()), FilterOutcome::Drop);
        for (key, other) in [
            ("http", json!({"request": {"method": "HEAD"}})),
            ("tags", json!(["external"])),
            ("url", json!({"original": "/"})),
        ] {
            let mut fields = all.clone();
            fields[key] = other;
            assert_eq!(outcome(config, fields), FilterOutcome::Failure, "{key}");
        }
    }

    #[test]
    fn drop_percentage_drops_about_that_share_and_marks_the_kept_matches() {
        let mut filter = build(
            r#"
            percentage = 25
            if_match = { "message" = "healthz" }
            "#,
        )
        .unwrap();
        let outcomes: Vec<FilterOutcome> = (0..4000)
            .map(|i| {
                let line = format!("GET /healthz {i}");
                filter.process(&mut Event::from_line(line, "t"))
            })
            .collect();
        let dropped = outcomes
            .iter()
            .filter(|o| **o == FilterOutcome::Drop)
            .count();
        assert!((900..=1100).contains(&dropped), "dropped {dropped} of 4000");
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, FilterOutcome::Drop | FilterOutcome::Success))
        );
    }

    #[test]
    fn drop_percentage_decides_the_same_way_for_the_same_line() {
        let mut first = build("percentage = 50").unwrap();
        let mut second = build("percentage = 50").unwrap();
        for i in 0..100 {
            let line = format!("line {i}");
            assert_eq!(
                first.process(&mut Event::from_line(line.clone(), "t1")),
                second.process(&mut Event::from_line(line, "t2"))
            );
        }
    }

    #[test]
    fn drop_percentage_zero_keeps_every_event() {
        let mut filter = build("percentage = 0").unwrap();
        for i in 0..200 {
            let mut event = event(json!({"n": i}));
            assert_eq!(filter.process(&mut event), FilterOutcome::Success);
        }
    }

    #[test]
    fn drop_rejects_a_bad_regex_naming_it() {
        let error = build(r#"if_match = { "url.original" = "(unclosed" }"#)
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.starts_with(
                "drop `if_match` regex `(unclosed` for field `url.original` does not compile:"
            ),
            "{error}"
        );
    }

    #[test]
    fn drop_rejects_a_percentage_outside_0_to_100() {
        let error = build("percentage = 150").err().unwrap().to_string();
        assert_eq!(
            error,
            "drop `percentage` must be between 0 and 100, not 150"
        );
    }

    #[test]
    fn drop_rejects_a_non_scalar_if_field_value() {
        let error = build(r#"if_field = { "a" = [1, 2] }"#)
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            error,
            "drop `if_field` value for field `a` must be a string, number or boolean, not [1,2]"
        );
    }

    #[test]
    fn drop_rejects_unknown_options() {
        let error = toml::from_str::<DropConfig>(r#"if = "x""#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field `if`"), "{error}");
    }
}
