//! The pipeline file loader (`src/config.rs`) and `${VAR}` interpolation
//! (`src/config/interpolate.rs`) on arbitrary text.
//!
//! Checks: loading gives a config or a list of errors, never a panic; every error names the
//! file and says something, and its line and column lie inside the text; interpolation
//! leaves text without `${` alone and names only unset variables that the text refers to.
//! Filters of a config that loads are built (those that read no files) and run on an nginx
//! line, and the event stays valid JSON. (logpipe is built here without its `s3` feature:
//! an `s3` input is an unknown type.)

#![no_main]

use libfuzzer_sys::fuzz_target;
use logpipe::config::PipelineConfig;
use logpipe::config::interpolate::{InterpolateError, interpolate};
use logpipe::event::Event;
use logpipe::filters::{BuildContext, FilterConfig};
use std::path::Path;

/// The environment the loader sees: a few variables, the rest unset.
fn env(name: &str) -> Option<String> {
    match name {
        "HOME" => Some("/home/logpipe".to_string()),
        "NGINX_LOGS" => Some("/var/log/nginx/access.log*".to_string()),
        "ES_URL" => Some("http://127.0.0.1:9200".to_string()),
        "EMPTY" => Some(String::new()),
        "DOLLAR" => Some("${HOME}".to_string()),
        _ => None,
    }
}

const LINE: &str = r#"203.0.113.7 - alice [05/Mar/2024:10:20:30 +0100] "GET /search?q=caf%C3%A9 HTTP/1.1" 200 5120 "https://example.test/" "Mozilla/5.0 (X11) Firefox/120.0""#;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check_interpolation(&text);

    let file = Path::new("/nonexistent/logpipe-fuzz/pipeline.toml");
    match PipelineConfig::parse(file, &text, env) {
        Ok(config) => {
            assert!(!config.inputs.is_empty() && !config.outputs.is_empty());
            run_filters(&config);
        }
        Err(errors) => {
            assert!(!errors.0.is_empty(), "an Err without errors");
            let lines = text.split('\n').count();
            for error in &errors.0 {
                assert_eq!(error.file, file);
                assert!(!error.message.trim().is_empty(), "{error:?}");
                if let Some((line, column)) = error.location {
                    assert!(line >= 1 && line <= lines, "{error:?} in {lines} lines");
                    assert!(column >= 1, "{error:?}");
                }
            }
            let shown = errors.to_string();
            assert!(shown.starts_with(&file.display().to_string()));
        }
    }
});

fn check_interpolation(text: &str) {
    let result = interpolate(text, env);
    if !text.contains("${") {
        assert_eq!(result.as_deref(), Ok(text));
        return;
    }
    match result {
        Ok(_) => {}
        Err(InterpolateError::Unset { name }) => {
            assert!(env(&name).is_none());
            assert!(
                text.contains(&format!("${{{name}")),
                "{name:?} not in {text:?}"
            );
        }
        Err(InterpolateError::Malformed { text: shown }) => assert_eq!(shown, text),
    }
}

/// Builds the filters of `config` that read no files and runs them on one event.
fn run_filters(config: &PipelineConfig) {
    let context = BuildContext {
        config_dir: config.config_dir(),
    };
    let mut event = Event::from_line(LINE.to_string(), "2024-03-05T10:20:30.000Z");
    for spec in &config.filters {
        match &spec.config {
            // Loads the uap-core regexes: too slow to do per input.
            FilterConfig::Useragent(_) => continue,
            // Reads pattern files from anywhere the text names.
            FilterConfig::Grok(grok) if !grok.patterns_dir.0.is_empty() => continue,
            _ => {}
        }
        let Ok(mut filter) = spec.config.build(&context) else {
            continue;
        };
        match filter.process(&mut event) {
            logpipe::filters::FilterOutcome::Success => spec.common.apply(&mut event),
            logpipe::filters::FilterOutcome::Failure => {}
            logpipe::filters::FilterOutcome::Drop => return,
        }
    }
    logpipe_fuzz::assert_valid_json(&event);
}
