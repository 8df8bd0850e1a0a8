//! Filters: per-event transformations run by the filter workers, in the order written.
//! Each filter is built once per worker from its config; the worker applies the chain to
//! whole batches and runs the common options (`add_field`, `add_tag`, `remove_field`) on success.

pub mod date;
pub mod drop;
pub mod grok;
pub mod mutate;
pub mod useragent;

use crate::event::{Event, FieldPath};
use crate::stats::FilterStats;
use crate::template::Template;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// What a filter did with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOutcome {
    /// The filter applied; the common options run.
    Success,
    /// The filter did not apply (it tagged the event itself); the event goes on unchanged otherwise.
    Failure,
    /// Remove the event from the batch.
    Drop,
}

/// One filter instance, owned by one worker.
pub trait Filter: Send {
    /// Processes one event in place.
    fn process(&mut self, event: &mut Event) -> FilterOutcome;
}

/// An error building a filter from its config; shown with the filter's id.
pub type BuildError = Box<dyn std::error::Error + Send + Sync>;

/// What a filter's `build` may need besides its own config.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// Directory of the pipeline file; relative paths in the config are resolved against it.
    pub config_dir: PathBuf,
}

impl BuildContext {
    /// `path` resolved against the pipeline file's directory.
    pub fn resolve(&self, path: &std::path::Path) -> PathBuf {
        self.config_dir.join(path)
    }
}

/// The filter kinds, selected by `type`.
/// Deserialized from `{ "<type>" = { options } }`, which the config loader builds from the
/// table (externally tagged, so errors inside the options keep their key path).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterConfig {
    /// Extract fields with grok patterns.
    Grok(grok::GrokConfig),
    /// Parse a time field into `@timestamp`.
    Date(date::DateConfig),
    /// Rename, copy, convert, remove fields and tags.
    Mutate(mutate::MutateConfig),
    /// Remove events that match a condition.
    Drop(drop::DropConfig),
    /// Parse `user_agent.original` into ECS user-agent fields.
    Useragent(useragent::UseragentConfig),
}

impl FilterConfig {
    /// The config's `type` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            FilterConfig::Grok(_) => "grok",
            FilterConfig::Date(_) => "date",
            FilterConfig::Mutate(_) => "mutate",
            FilterConfig::Drop(_) => "drop",
            FilterConfig::Useragent(_) => "useragent",
        }
    }

    /// Builds one instance (called once per worker).
    pub fn build(&self, context: &BuildContext) -> Result<Box<dyn Filter>, BuildError> {
        Ok(match self {
            FilterConfig::Grok(config) => Box::new(grok::GrokFilter::build(config, context)?),
            FilterConfig::Date(config) => Box::new(date::DateFilter::build(config, context)?),
            FilterConfig::Mutate(config) => Box::new(mutate::MutateFilter::build(config, context)?),
            FilterConfig::Drop(config) => Box::new(drop::DropFilter::build(config, context)?),
            FilterConfig::Useragent(config) => {
                Box::new(useragent::UseragentFilter::build(config, context)?)
            }
        })
    }
}

/// Options every filter takes, applied to an event when the filter succeeds (as in Logstash).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommonFilterOptions {
    /// Fields to set, `path = "template"`; a field that already exists gets the value
    /// appended (it becomes an array), as in Logstash.
    #[serde(default)]
    pub add_field: BTreeMap<FieldPath, Template>,
    /// Tags to add (templates).
    #[serde(default)]
    pub add_tag: Vec<Template>,
    /// Fields to remove.
    #[serde(default)]
    pub remove_field: Vec<FieldPath>,
}

impl CommonFilterOptions {
    /// The keys these options take in a filter's table.
    pub const KEYS: &'static [&'static str] = &["add_field", "add_tag", "remove_field"];

    /// Applies the options to one event.
    pub fn apply(&self, event: &mut Event) {
        for (path, template) in &self.add_field {
            let value = serde_json::Value::String(template.render(event));
            // As in Logstash: a field that already exists gets the value appended (an array).
            match event.get_mut(path) {
                None | Some(serde_json::Value::Null) => {
                    event.insert(path, value);
                }
                Some(serde_json::Value::Array(items)) => items.push(value),
                Some(existing) => {
                    let previous = std::mem::take(existing);
                    *existing = serde_json::Value::Array(vec![previous, value]);
                }
            }
        }
        for template in &self.add_tag {
            let tag = template.render(event);
            event.add_tag(&tag);
        }
        for path in &self.remove_field {
            event.remove(path);
        }
    }
}

/// A filter with its common options, as a worker runs it.
pub struct FilterStage {
    filter: Box<dyn Filter>,
    common: CommonFilterOptions,
    stats: Arc<FilterStats>,
}

impl FilterStage {
    /// Wraps a built filter with its common options and the counters it adds to.
    pub fn new(
        filter: Box<dyn Filter>,
        common: CommonFilterOptions,
        stats: Arc<FilterStats>,
    ) -> FilterStage {
        FilterStage {
            filter,
            common,
            stats,
        }
    }

    /// Runs the filter over a batch: drops events it drops, applies the common options on
    /// success, and counts what it did.
    pub fn apply(&mut self, events: &mut Vec<Event>) {
        let started = Instant::now();
        let events_in = events.len();
        let mut failures = 0;
        events.retain_mut(|event| match self.filter.process(event) {
            FilterOutcome::Success => {
                self.common.apply(event);
                true
            }
            FilterOutcome::Failure => {
                failures += 1;
                true
            }
            FilterOutcome::Drop => false,
        });
        let nanos = started.elapsed().as_nanos() as u64;
        self.stats.record(events_in, events.len(), failures, nanos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn common_options_add_fields_and_tags_then_remove_fields() {
        let options: CommonFilterOptions = toml::from_str(
            r#"add_field = { "event.dataset" = "nginx.%{kind}", seen = "yes" }
add_tag = ["parsed", "%{kind}"]
remove_field = ["kind"]"#,
        )
        .unwrap();
        let mut event = Event::from_line("x".into(), "2000-01-01T00:00:00.000Z");
        event.insert(&FieldPath::parse("kind").unwrap(), json!("access"));
        event.insert(&FieldPath::parse("seen").unwrap(), json!("before"));
        options.apply(&mut event);
        let fields = event.to_fields();
        assert_eq!(fields["event"]["dataset"], json!("nginx.access"));
        assert_eq!(fields["seen"], json!(["before", "yes"]));
        assert_eq!(fields["tags"], json!(["parsed", "access"]));
        assert!(fields.get("kind").is_none());
    }
}
