//! The date filter (`src/filters/date.rs`) and its Joda / ISO 8601 parser (`src/joda.rs`) on
//! arbitrary text, with the formats pipelines use, in several time zones.
//!
//! Input: one selector byte (low 4 bits: the format, bits 4-6: the time zone; bit 7: the
//! rest is `PATTERN\nTEXT`, an arbitrary Joda pattern to compile and apply), then the text.
//!
//! Checks: no panic; a time the filter writes is RFC 3339 that the rest of logpipe reads back
//! (`Event::timestamp`, used by `%{+yyyy.MM.dd}` templates) as the same instant; formatting
//! a parsed time with the same full-precision pattern and parsing it again gives it back.

#![no_main]

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use libfuzzer_sys::fuzz_target;
use logpipe::event::{Event, FieldPath};
use logpipe::filters::date::{DateConfig, DateFilter};
use logpipe::filters::{BuildContext, Filter, FilterOutcome};
use logpipe::joda::{JodaFormat, parse_iso8601};
use serde_json::Value;

const FORMATS: &[&str] = &[
    "dd/MMM/yyyy:HH:mm:ss Z",
    "ISO8601",
    "UNIX",
    "UNIX_MS",
    "yyyy-MM-dd HH:mm:ss,SSS",
    "MMM dd HH:mm:ss",
    "MMM  d HH:mm:ss",
    "EEE, dd MMM yyyy HH:mm:ss ZZ",
    "yyyy-MM-dd'T'HH:mm:ss.SSSZZ",
    "dd/MM/yy hh:mm:ss a ZZZ",
    "yyyyMMddHHmmss",
    "EEEE, MMMM d, yyyy h:mm a",
];

/// Formats whose text holds every field down to the millisecond and an offset, so that
/// `parse(format(time)) == time` (to the millisecond).
const ROUND_TRIP_FORMATS: &[&str] = &["dd/MMM/yyyy:HH:mm:ss Z", "yyyy-MM-dd'T'HH:mm:ss.SSSZZ"];

const ZONES: &[&str] = &[
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Pacific/Apia",
    "Asia/Kolkata",
    "America/St_Johns",
    "Etc/GMT+12",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let zone_name = ZONES[usize::from((selector >> 4) & 0x07) % ZONES.len()];
    let zone: Tz = zone_name.parse().expect("a known zone");
    let text = String::from_utf8_lossy(rest);
    if selector & 0x80 != 0 {
        arbitrary_pattern(&text, zone);
        return;
    }
    let format = FORMATS[usize::from(selector & 0x0f) % FORMATS.len()];
    let Some(parsed) = filter(format, zone_name, Value::String(text.to_string())) else {
        return;
    };
    // The same text as a JSON number, for the epoch formats.
    if let Ok(number) = serde_json::from_str::<serde_json::Number>(text.trim()) {
        filter(format, zone_name, Value::Number(number));
    }
    if format == "ISO8601" {
        let again = parse_iso8601(&parsed.to_rfc3339(), zone);
        assert_eq!(again, Some(parsed), "ISO8601 round trip of {text:?}");
    }
    if ROUND_TRIP_FORMATS.contains(&format) {
        let pattern = JodaFormat::parse(format).expect("a valid pattern");
        let mut formatted = String::new();
        pattern.format(&parsed, &mut formatted);
        let again = pattern.parse_time(&formatted, zone);
        let millis = parsed.timestamp_millis();
        assert_eq!(
            again.map(|time| time.timestamp_millis()),
            Some(millis),
            "{format}: {text:?} → {parsed} → {formatted:?}"
        );
    }
});

/// Runs a date filter with one format on `value`; the time it wrote, if it parsed.
fn filter(format: &str, zone: &str, value: Value) -> Option<DateTime<Utc>> {
    let config = DateConfig {
        matches: vec!["t".to_string(), format.to_string()],
        target: "@timestamp".to_string(),
        timezone: zone.to_string(),
        tag_on_failure: vec!["_dateparsefailure".to_string()],
    };
    let context = BuildContext {
        config_dir: std::env::temp_dir(),
    };
    let mut date = DateFilter::build(&config, &context).expect("the date filter builds");
    let mut event = Event::from_line("x".to_string(), "2000-01-01T00:00:00.000Z");
    let field = FieldPath::parse("t").expect("a field path");
    event.insert(&field, value.clone());
    match date.process(&mut event) {
        FilterOutcome::Success => {
            let written = event.to_fields().get("@timestamp").cloned();
            let time = event.timestamp();
            assert!(
                time.is_some(),
                "{format} in {zone}: {value} gave @timestamp {written:?}, which is not RFC 3339"
            );
            assert!(!event.has_tag("_dateparsefailure"));
            time
        }
        FilterOutcome::Failure => {
            assert!(event.has_tag("_dateparsefailure"), "{format}: {value}");
            assert_eq!(
                event.to_fields().get("@timestamp"),
                Some(&Value::String("2000-01-01T00:00:00.000Z".to_string()))
            );
            None
        }
        FilterOutcome::Drop => panic!("the date filter dropped an event"),
    }
}

/// `PATTERN\nTEXT`: compiles the pattern; when it compiles, parses the text and formats a
/// few times with it (none of which may panic).
fn arbitrary_pattern(input: &str, zone: Tz) {
    let (pattern, text) = input.split_once('\n').unwrap_or((input, ""));
    let Ok(format) = JodaFormat::parse(pattern) else {
        return;
    };
    if let Some(time) = format.parse_time(text, zone) {
        let mut out = String::new();
        format.format(&time, &mut out);
    }
    for time in [
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MAX_UTC,
        DateTime::<Utc>::UNIX_EPOCH,
    ] {
        let mut out = String::new();
        format.format(&time, &mut out);
    }
}
