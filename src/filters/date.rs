//! The `date` filter: parses a time field with Joda patterns, `ISO8601`, `UNIX` or `UNIX_MS`
//! (tried in order) and writes it to `@timestamp` (or `target`) in UTC, as Logstash's does.
//! Events whose field parses with no format are tagged `_dateparsefailure`.

use super::{BuildContext, BuildError, Filter, FilterOutcome};
use crate::event::{Event, FieldPath, FieldPathError, format_timestamp};
use crate::joda::{JodaError, JodaFormat, parse_iso8601};
use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::Value;

/// Options of the `date` filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DateConfig {
    /// The field holding the time, then one or more formats tried in order: Joda patterns
    /// (`"dd/MMM/yyyy:HH:mm:ss Z"`), `"ISO8601"`, `"UNIX"` (seconds, may have a fraction) or
    /// `"UNIX_MS"` (milliseconds). `UNIX` and `UNIX_MS` also accept JSON numbers.
    /// Example: `match = ["nginx.access.time", "dd/MMM/yyyy:HH:mm:ss Z"]`. Required.
    #[serde(rename = "match")]
    pub matches: Vec<String>,
    /// Where the parsed time is written (RFC 3339, UTC, milliseconds). Default `"@timestamp"`.
    #[serde(default = "default_target")]
    pub target: String,
    /// IANA zone (`"Europe/Berlin"`) for times that carry no offset or zone. Default `"UTC"`.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Tags added when the field is present but no format parses it.
    /// Default `["_dateparsefailure"]`. An absent field is not a failure to tag: the event
    /// passes unchanged and the common options (`add_field` …) are not applied.
    #[serde(default = "default_tag_on_failure")]
    pub tag_on_failure: Vec<String>,
}

fn default_target() -> String {
    crate::event::TIMESTAMP.to_string()
}

fn default_timezone() -> String {
    "UTC".to_string()
}

fn default_tag_on_failure() -> Vec<String> {
    vec!["_dateparsefailure".to_string()]
}

/// A `date` filter config that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum DateError {
    /// `match` lacks the field or the formats.
    #[error(
        "`match` needs the field and at least one format, e.g. \
         match = [\"nginx.access.time\", \"dd/MMM/yyyy:HH:mm:ss Z\"]"
    )]
    MatchTooShort,
    /// The first element of `match` is not a field path.
    #[error("`match`: {0}")]
    Field(FieldPathError),
    /// `target` is not a field path.
    #[error("`target`: {0}")]
    Target(FieldPathError),
    /// A format is not a valid Joda pattern.
    #[error("`match`: {0}")]
    Pattern(#[from] JodaError),
    /// `timezone` is not a zone name.
    #[error(
        "`timezone`: unknown time zone `{0}`: use an IANA name such as `UTC` or `Europe/Berlin`"
    )]
    Timezone(String),
}

/// One way of reading the field.
#[derive(Debug, Clone)]
enum DateFormat {
    Iso8601,
    Unix,
    UnixMillis,
    Pattern(JodaFormat),
}

/// The `date` filter.
pub struct DateFilter {
    source: FieldPath,
    formats: Vec<DateFormat>,
    target: FieldPath,
    timezone: Tz,
    tag_on_failure: Vec<String>,
    /// The last text parsed and the `@timestamp` text it gave: log lines come in time order,
    /// many per second, so consecutive events mostly carry the same time text.
    last_parsed: Option<(String, String)>,
}

impl DateFilter {
    /// Builds the filter: compiles the patterns and resolves the time zone.
    pub fn build(config: &DateConfig, _context: &BuildContext) -> Result<DateFilter, BuildError> {
        Ok(DateFilter::new(config)?)
    }

    fn new(config: &DateConfig) -> Result<DateFilter, DateError> {
        let (field, formats) = match config.matches.split_first() {
            Some((field, formats)) if !formats.is_empty() => (field, formats),
            _ => return Err(DateError::MatchTooShort),
        };
        let formats = formats
            .iter()
            .map(|format| {
                Ok(match format.as_str() {
                    "ISO8601" => DateFormat::Iso8601,
                    "UNIX" => DateFormat::Unix,
                    "UNIX_MS" => DateFormat::UnixMillis,
                    pattern => DateFormat::Pattern(JodaFormat::parse(pattern)?),
                })
            })
            .collect::<Result<Vec<_>, DateError>>()?;
        let timezone = config
            .timezone
            .parse::<Tz>()
            .map_err(|_| DateError::Timezone(config.timezone.clone()))?;
        Ok(DateFilter {
            source: FieldPath::parse(field).map_err(DateError::Field)?,
            formats,
            target: FieldPath::parse(&config.target).map_err(DateError::Target)?,
            timezone,
            tag_on_failure: config.tag_on_failure.clone(),
            last_parsed: None,
        })
    }

    /// The target's text for `value`, or None when no format parses it. A text equal to the
    /// previous event's is not parsed again. (A format without a year takes the current year
    /// when the text is first parsed: a text repeated across New Year keeps the old year, as
    /// if all its events had arrived at once.)
    fn timestamp_text(&mut self, value: &Value) -> Option<String> {
        let Value::String(text) = value else {
            return self.parse(value).map(format_timestamp);
        };
        if let Some((last_text, last_timestamp)) = &self.last_parsed
            && last_text == text
        {
            return Some(last_timestamp.clone());
        }
        let timestamp = format_timestamp(self.parse(value)?);
        self.last_parsed = Some((text.clone(), timestamp.clone()));
        Some(timestamp)
    }

    /// The time of the first format that parses `value` into a year `@timestamp` can hold:
    /// RFC 3339 has four-digit years, so a time outside 0..=9999 (a huge epoch number, an
    /// offset before year 0) is not taken, and the next format is tried.
    fn parse(&self, value: &Value) -> Option<DateTime<Utc>> {
        self.formats.iter().find_map(|format| {
            match (format, value) {
                (DateFormat::Pattern(pattern), Value::String(text)) => {
                    pattern.parse_time(text, self.timezone)
                }
                (DateFormat::Iso8601, Value::String(text)) => parse_iso8601(text, self.timezone),
                (DateFormat::Unix, value) => epoch(value, 1),
                (DateFormat::UnixMillis, value) => epoch(value, 1000),
                _ => None,
            }
            .filter(|time| (0..=9999).contains(&time.year()))
        })
    }
}

impl Filter for DateFilter {
    fn process(&mut self, event: &mut Event) -> FilterOutcome {
        let timestamp = match event.get(&self.source) {
            Some(value) => self.timestamp_text(&value),
            None => return FilterOutcome::Failure,
        };
        match timestamp {
            Some(timestamp) => {
                event.insert(&self.target, Value::String(timestamp));
                FilterOutcome::Success
            }
            None => {
                for tag in &self.tag_on_failure {
                    event.add_tag(tag);
                }
                FilterOutcome::Failure
            }
        }
    }
}

/// A time given as `units_per_second` units since 1970 (a JSON number or decimal text).
fn epoch(value: &Value, units_per_second: i64) -> Option<DateTime<Utc>> {
    let (units, nanos_of_unit) = match value {
        Value::Number(number) => match number.as_i64() {
            Some(whole) => (whole, 0),
            None => {
                let float = number.as_f64()?;
                let whole = float.floor();
                // Rounded to microseconds: binary floats cannot hold most decimal fractions.
                let nanos = ((float - whole) * 1e6).round() as i64 * 1000;
                (whole as i64, nanos)
            }
        },
        Value::String(text) => decimal(text.trim())?,
        _ => return None,
    };
    let nanos_per_unit = 1_000_000_000 / units_per_second;
    let seconds = units.div_euclid(units_per_second);
    let nanos =
        units.rem_euclid(units_per_second) * nanos_per_unit + nanos_of_unit / units_per_second;
    DateTime::from_timestamp(
        seconds.checked_add(nanos.div_euclid(1_000_000_000))?,
        u32::try_from(nanos.rem_euclid(1_000_000_000)).ok()?,
    )
}

/// Decimal text `[-]123[.456]` as whole units and nanoseconds of a unit (the fraction is
/// non-negative, so `-1.5` is `(-2, 500_000_000)`).
fn decimal(text: &str) -> Option<(i64, i64)> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let mut nanos: i64 = 0;
    for (index, digit) in fraction.bytes().take(9).enumerate() {
        nanos += i64::from(digit - b'0') * 10i64.pow(8 - index as u32);
    }
    Some(match (negative, nanos) {
        (false, _) => (whole, nanos),
        (true, 0) => (-whole, 0),
        (true, _) => (-whole - 1, 1_000_000_000 - nanos),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filter(toml_text: &str) -> DateFilter {
        let config: DateConfig = toml::from_str(toml_text).unwrap();
        DateFilter::new(&config).unwrap()
    }

    fn event_with(field: &str, value: Value) -> Event {
        let mut event = Event::from_line("x".into(), "2000-01-01T00:00:00.000Z");
        event.insert(&FieldPath::parse(field).unwrap(), value);
        event
    }

    fn timestamp_after(filter: &mut DateFilter, value: Value) -> Option<String> {
        let mut event = event_with("t", value);
        match filter.process(&mut event) {
            FilterOutcome::Success => Some(event.to_fields()["@timestamp"].as_str()?.to_string()),
            _ => None,
        }
    }

    #[test]
    fn nginx_time_becomes_the_utc_timestamp() {
        let mut date = filter(r#"match = ["nginx.access.time", "dd/MMM/yyyy:HH:mm:ss Z"]"#);
        let mut event = event_with("nginx.access.time", json!("05/Mar/2024:10:20:30 +0100"));
        assert_eq!(date.process(&mut event), FilterOutcome::Success);
        assert_eq!(
            event.to_fields()["@timestamp"],
            json!("2024-03-05T09:20:30.000Z")
        );
        assert!(event.to_fields().get("tags").is_none());
    }

    #[test]
    fn a_repeated_text_gives_the_same_timestamp_and_a_new_one_is_parsed() {
        let mut date = filter(r#"match = ["t", "dd/MMM/yyyy:HH:mm:ss Z"]"#);
        for (text, expected) in [
            (
                "05/Mar/2024:10:20:30 +0100",
                Some("2024-03-05T09:20:30.000Z"),
            ),
            (
                "05/Mar/2024:10:20:30 +0100",
                Some("2024-03-05T09:20:30.000Z"),
            ),
            (
                "05/Mar/2024:10:20:31 +0100",
                Some("2024-03-05T09:20:31.000Z"),
            ),
            ("not a time", None),
            ("not a time", None),
            (
                "05/Mar/2024:10:20:30 +0100",
                Some("2024-03-05T09:20:30.000Z"),
            ),
        ] {
            assert_eq!(
                timestamp_after(&mut date, json!(text)).as_deref(),
                expected,
                "{text}"
            );
        }
    }

    #[test]
    fn times_outside_years_0_to_9999_fail_and_the_next_format_is_tried() {
        // Found by the fuzz target `date`: UNIX `0963404963405` gave the @timestamp
        // `+32499-02-01T09:50:05.000Z`, which is not RFC 3339 (templates and Elasticsearch
        // cannot read it).
        let mut date = filter(r#"match = ["t", "UNIX"]"#);
        assert_eq!(timestamp_after(&mut date, json!("0963404963405")), None);
        assert_eq!(timestamp_after(&mut date, json!(-99_999_999_999i64)), None);
        let mut date = filter(r#"match = ["t", "dd/MMM/yyyy:HH:mm:ss Z"]"#);
        assert_eq!(
            timestamp_after(&mut date, json!("01/Jan/0000:00:30:00 +0100")),
            None
        );
        assert_eq!(
            timestamp_after(&mut date, json!("01/Jan/0000:00:30:00 +0000")).as_deref(),
            Some("0000-01-01T00:30:00.000Z")
        );
        let mut date = filter(r#"match = ["t", "UNIX", "UNIX_MS"]"#);
        assert_eq!(
            timestamp_after(&mut date, json!("1709634030250")).as_deref(),
            Some("2024-03-05T10:20:30.250Z")
        );
    }

    #[test]
    fn iso8601_variants_parse() {
        let mut date = filter(r#"match = ["t", "ISO8601"]"#);
        for (text, expected) in [
            ("2024-03-05T10:00:00Z", "2024-03-05T10:00:00.000Z"),
            ("2024-03-05T10:00:00.123Z", "2024-03-05T10:00:00.123Z"),
            ("2024-03-05T10:00:00.123+01:00", "2024-03-05T09:00:00.123Z"),
            ("2024-03-05 10:00:00", "2024-03-05T10:00:00.000Z"),
        ] {
            assert_eq!(
                timestamp_after(&mut date, json!(text)).as_deref(),
                Some(expected),
                "{text}"
            );
        }
    }

    #[test]
    fn timezone_applies_to_zone_less_times_only() {
        let mut date = filter(
            r#"match = ["t", "ISO8601"]
               timezone = "Europe/Berlin""#,
        );
        assert_eq!(
            timestamp_after(&mut date, json!("2024-03-05 10:00:00")).as_deref(),
            Some("2024-03-05T09:00:00.000Z")
        );
        assert_eq!(
            timestamp_after(&mut date, json!("2024-03-05T10:00:00Z")).as_deref(),
            Some("2024-03-05T10:00:00.000Z")
        );
    }

    #[test]
    fn unix_seconds_parse_from_text_and_numbers_with_fractions() {
        let mut date = filter(r#"match = ["t", "UNIX"]"#);
        for (value, expected) in [
            (json!("1709633130"), "2024-03-05T10:05:30.000Z"),
            (json!("1709633130.123"), "2024-03-05T10:05:30.123Z"),
            (json!(1709633130), "2024-03-05T10:05:30.000Z"),
            (json!(1709633130.123), "2024-03-05T10:05:30.123Z"),
            (json!("-1.5"), "1969-12-31T23:59:58.500Z"),
        ] {
            assert_eq!(
                timestamp_after(&mut date, value.clone()).as_deref(),
                Some(expected),
                "{value}"
            );
        }
        assert_eq!(timestamp_after(&mut date, json!("12a")), None);
        assert_eq!(timestamp_after(&mut date, json!("1e3")), None);
        assert_eq!(timestamp_after(&mut date, json!(true)), None);
    }

    #[test]
    fn unix_milliseconds_parse_from_text_and_numbers() {
        let mut date = filter(r#"match = ["t", "UNIX_MS"]"#);
        assert_eq!(
            timestamp_after(&mut date, json!(1709633130123i64)).as_deref(),
            Some("2024-03-05T10:05:30.123Z")
        );
        assert_eq!(
            timestamp_after(&mut date, json!("1709633130123")).as_deref(),
            Some("2024-03-05T10:05:30.123Z")
        );
        assert_eq!(
            timestamp_after(&mut date, json!(-1)).as_deref(),
            Some("1969-12-31T23:59:59.999Z")
        );
    }

    #[test]
    fn formats_are_tried_in_order() {
        let mut date = filter(r#"match = ["t", "dd/MMM/yyyy:HH:mm:ss Z", "ISO8601", "UNIX_MS"]"#);
        assert_eq!(
            timestamp_after(&mut date, json!("2024-03-05T10:00:00Z")).as_deref(),
            Some("2024-03-05T10:00:00.000Z")
        );
        assert_eq!(
            timestamp_after(&mut date, json!(1000)).as_deref(),
            Some("1970-01-01T00:00:01.000Z")
        );
    }

    #[test]
    fn unparsable_value_is_tagged_and_left_unchanged() {
        let mut date = filter(r#"match = ["t", "ISO8601"]"#);
        let mut event = event_with("t", json!("yesterday"));
        assert_eq!(date.process(&mut event), FilterOutcome::Failure);
        assert_eq!(event.to_fields()["tags"], json!(["_dateparsefailure"]));
        assert_eq!(
            event.to_fields()["@timestamp"],
            json!("2000-01-01T00:00:00.000Z")
        );

        let mut date = filter(
            r#"match = ["t", "ISO8601"]
               tag_on_failure = ["bad_time", "x"]"#,
        );
        let mut event = event_with("t", json!("yesterday"));
        assert_eq!(date.process(&mut event), FilterOutcome::Failure);
        assert_eq!(event.to_fields()["tags"], json!(["bad_time", "x"]));
    }

    #[test]
    fn absent_field_fails_without_tagging() {
        let mut date = filter(r#"match = ["t", "ISO8601"]"#);
        let mut event = event_with("other", json!("2024-03-05T10:00:00Z"));
        let before = event.clone();
        assert_eq!(date.process(&mut event), FilterOutcome::Failure);
        assert_eq!(event, before);
    }

    #[test]
    fn target_receives_the_time_and_timestamp_stays() {
        let mut date = filter(
            r#"match = ["t", "ISO8601"]
               target = "event.created""#,
        );
        let mut event = event_with("t", json!("2024-03-05T10:00:00Z"));
        assert_eq!(date.process(&mut event), FilterOutcome::Success);
        assert_eq!(
            event.to_fields()["event"]["created"],
            json!("2024-03-05T10:00:00.000Z")
        );
        assert_eq!(
            event.to_fields()["@timestamp"],
            json!("2000-01-01T00:00:00.000Z")
        );
    }

    #[test]
    fn bad_configs_are_errors_that_name_the_problem() {
        let error = |text: &str| {
            let config: DateConfig = toml::from_str(text).unwrap();
            DateFilter::new(&config).err().unwrap().to_string()
        };
        assert_eq!(
            error(
                r#"match = ["t", "ISO8601"]
                     timezone = "Europe/Nowhere""#
            ),
            "`timezone`: unknown time zone `Europe/Nowhere`: use an IANA name such as `UTC` or `Europe/Berlin`"
        );
        assert_eq!(
            error(r#"match = ["t", "yyyy-MM-ddTHH"]"#),
            "`match`: date pattern `yyyy-MM-ddTHH`: unsupported letter `T`: use y M d H h m s S a Z E, and quote literal text ('T')"
        );
        assert!(
            error(r#"match = ["t"]"#)
                .starts_with("`match` needs the field and at least one format")
        );
    }
}
