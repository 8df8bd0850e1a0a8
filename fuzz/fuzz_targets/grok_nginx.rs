//! The grok filter with the bundled nginx patterns on arbitrary lines.
//!
//! `src/filters/grok/nginx.rs` is a hand-written parser standing in for the PCRE2 regexes of
//! `%{NGINX_COMBINED}` and `%{NGINX_MAIN}`: on every input it must give the same verdict and
//! the same capture groups as the regex (in UTF and in byte mode), or leave the line to the
//! regex. Then the filter as the bundled pipeline configures it (`["%{NGINX_MAIN}",
//! "%{NGINX_COMBINED}"]`) runs on the line, followed by the date filter on the captured
//! time: no panic, the event is valid JSON, a line is tagged exactly when no pattern matched.
//!
//! Input: the line's bytes, decoded as UTF-8 (lossily, so invalid bytes become U+FFFD), and
//! also as Latin-1 (every byte one character) when that differs.

#![no_main]

use libfuzzer_sys::fuzz_target;
use logpipe::event::{Event, FieldPath};
use logpipe::filters::date::{DateConfig, DateFilter};
use logpipe::filters::grok::{GrokConfig, GrokFilter, MatchFields, NginxParserCheck};
use logpipe::filters::{BuildContext, Filter, FilterOutcome};
use std::sync::{Mutex, OnceLock};

struct Filters {
    check: NginxParserCheck,
    grok: GrokFilter,
    date: DateFilter,
}

fn filters() -> &'static Mutex<Filters> {
    static FILTERS: OnceLock<Mutex<Filters>> = OnceLock::new();
    FILTERS.get_or_init(|| {
        let context = BuildContext {
            config_dir: std::env::temp_dir(),
        };
        let message = FieldPath::parse("message").expect("a field path");
        let grok = GrokConfig {
            match_fields: MatchFields(vec![(
                message,
                vec!["%{NGINX_MAIN}".to_string(), "%{NGINX_COMBINED}".to_string()],
            )]),
            ..GrokConfig::default()
        };
        let date = DateConfig {
            matches: vec![
                "nginx.access.time".to_string(),
                "dd/MMM/yyyy:HH:mm:ss Z".to_string(),
            ],
            target: "@timestamp".to_string(),
            timezone: "UTC".to_string(),
            tag_on_failure: vec!["_dateparsefailure".to_string()],
        };
        Mutex::new(Filters {
            check: NginxParserCheck::new().expect("the bundled patterns compile"),
            grok: GrokFilter::build(&grok, &context).expect("the grok filter builds"),
            date: DateFilter::build(&date, &context).expect("the date filter builds"),
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let mut filters = filters()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let utf8 = String::from_utf8_lossy(data);
    run(&mut filters, &utf8);
    if !data.is_ascii() {
        let latin1: String = data.iter().map(|&byte| char::from(byte)).collect();
        run(&mut filters, &latin1);
    }
});

fn run(filters: &mut Filters, line: &str) {
    if let Err(difference) = filters.check.check(line) {
        panic!("{difference}");
    }
    let mut event = Event::from_line(line.to_string(), "2024-03-05T10:20:30.000Z");
    let outcome = filters.grok.process(&mut event);
    let tagged = event.has_tag("_grokparsefailure") || event.has_tag("_groktimeout");
    assert_eq!(outcome == FilterOutcome::Success, !tagged, "{line:?}");
    if outcome == FilterOutcome::Success {
        filters.date.process(&mut event);
        let fields = event.to_fields();
        let timestamp = fields
            .get("@timestamp")
            .and_then(|value| value.as_str())
            .expect("@timestamp stays a string");
        assert!(
            chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(),
            "@timestamp {timestamp:?} from {line:?}"
        );
    }
    logpipe_fuzz::assert_valid_json(&event);
}
