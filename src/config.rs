//! The pipeline file (TOML): `[pipeline]` settings and `[[input]]`, `[[filter]]`, `[[output]]`
//! tables. Loading interpolates `${VAR}`, checks every key, and reports every problem with
//! the file, line, column and component, so `logpipe check` can list them all at once.

pub mod duration;
pub mod interpolate;
pub mod secret;
pub mod string_list;

pub use secret::Secret;
pub use string_list::StringList;

use crate::codec::CodecConfig;
use crate::filters::{CommonFilterOptions, FilterConfig};
use crate::inputs::InputConfig;
use crate::outputs::OutputConfig;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Value;
use toml::de::{DeTable, DeValue};

/// A whole pipeline, as loaded from its file.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// The file it was loaded from.
    pub file: PathBuf,
    /// `[pipeline]` settings, defaults filled in.
    pub settings: PipelineSettings,
    /// `[[input]]` tables in order.
    pub inputs: Vec<InputSpec>,
    /// `[[filter]]` tables in the order they run.
    pub filters: Vec<FilterSpec>,
    /// `[[output]]` tables in order.
    pub outputs: Vec<OutputSpec>,
    /// `[api]`: the monitoring API and live view.
    pub api: ApiSettings,
    /// Secret options whose value is written in the file itself rather than taken from the
    /// environment (`output[0].password`, line 12), for [`PipelineConfig::security_warnings`].
    pub literal_secrets: Vec<String>,
}

/// Options whose values are secrets: written literally in a file others can read, they warn.
const SECRET_KEYS: &[&str] = &[
    "password",
    "api_key",
    "bearer_token",
    "auth_token",
    "access_key_id",
    "secret_access_key",
    "session_token",
];

/// `[api]`: the monitoring HTTP API (`/`, `/stats`, `/metrics`, `/health`) and the live
/// view (`/live`), served while `run` runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// Serve the API (default true).
    #[serde(default = "default_api_enabled")]
    pub enabled: bool,
    /// The address to listen on. Default (also for an empty value): `127.0.0.1:9600`, or the
    /// next free port up to 9700 when it is taken (as Logstash does); an address given here
    /// must be free.
    #[serde(default, deserialize_with = "socket_address")]
    pub listen: Option<std::net::SocketAddr>,
    /// When set, every request must carry it, as `Authorization: Bearer TOKEN` or `?token=`.
    #[serde(default)]
    pub auth_token: Option<Secret>,
    /// `/health` answers 503 when an output has had events waiting this long without
    /// delivering any (default 60 s).
    #[serde(default = "default_health_timeout", with = "duration")]
    pub health_timeout: Duration,
}

/// `IP:PORT`, with the fix in the error.
fn socket_address<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<std::net::SocketAddr>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "`{text}` is not an address: write IP:PORT, e.g. \"127.0.0.1:9600\" (this machine only) or \"0.0.0.0:9600\" (every interface)"
        ))
    })
}

fn default_api_enabled() -> bool {
    true
}
fn default_health_timeout() -> Duration {
    Duration::from_secs(60)
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            enabled: default_api_enabled(),
            listen: None,
            auth_token: None,
            health_timeout: default_health_timeout(),
        }
    }
}

/// `[pipeline]`: how the pipeline runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSettings {
    /// Filter worker threads (default: the number of cores, as Logstash). They also decode
    /// the file input's lines and build its events. Batches reach the outputs in input order
    /// whatever the number (see `batch_order`).
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Largest number of events moved as one batch (default 128: a batch's events stay in
    /// the CPU caches between the filters and the encoder; 512 measured 1.1-1.5x slower on 2 vCPUs).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Batches each channel between stages holds before senders wait (default 4).
    #[serde(default = "default_channel_capacity")]
    pub channel_capacity: usize,
    /// Where checkpoints (and later dead letters) live. Default: `$LOGPIPE_DATA_DIR`, else
    /// `data` next to the pipeline file. Relative paths are relative to the pipeline file.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// How long shutdown may take to drain in-flight batches before exiting anyway (default 10 s).
    #[serde(default = "default_shutdown_timeout", with = "duration")]
    pub shutdown_timeout: Duration,
    /// When another `logpipe run` holds this data_dir: `skip` (default: say so and exit 0,
    /// as overlapping cron runs want) or `wait` until it ends.
    #[serde(default)]
    pub when_locked: crate::run_lock::WhenLocked,
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}
fn default_batch_size() -> usize {
    128
}
fn default_channel_capacity() -> usize {
    4
}
fn default_shutdown_timeout() -> Duration {
    Duration::from_secs(10)
}

impl Default for PipelineSettings {
    fn default() -> Self {
        PipelineSettings {
            workers: default_workers(),
            batch_size: default_batch_size(),
            channel_capacity: default_channel_capacity(),
            data_dir: None,
            shutdown_timeout: default_shutdown_timeout(),
            when_locked: crate::run_lock::WhenLocked::default(),
        }
    }
}

/// One `[[input]]`.
#[derive(Debug, Clone)]
pub struct InputSpec {
    /// `id`, default `<type>-<n>`.
    pub id: String,
    /// The kind-specific options.
    pub config: InputConfig,
    /// `codec`, `charset`, `max_line_bytes`.
    pub codec: CodecConfig,
}

/// One `[[filter]]`.
#[derive(Debug, Clone)]
pub struct FilterSpec {
    /// `id`, default `<type>-<n>`.
    pub id: String,
    /// The kind-specific options.
    pub config: FilterConfig,
    /// `add_field`, `add_tag`, `remove_field`, applied when the filter succeeds.
    pub common: CommonFilterOptions,
}

/// One `[[output]]`.
#[derive(Debug, Clone)]
pub struct OutputSpec {
    /// `id`, default `<type>-<n>`.
    pub id: String,
    /// The kind-specific options.
    pub config: OutputConfig,
}

/// One problem in a pipeline file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The pipeline file.
    pub file: PathBuf,
    /// 1-based line and column, when the problem has a place.
    pub location: Option<(usize, usize)>,
    /// The component, e.g. `filter #2 (grok)`, when the problem is inside one.
    pub component: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, column)) = self.location {
            write!(f, ":{line}:{column}")?;
        }
        if let Some(component) = &self.component {
            write!(f, ": {component}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in a pipeline file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

const TOP_LEVEL_KEYS: &[&str] = &["pipeline", "api", "input", "filter", "output"];

impl PipelineConfig {
    /// Loads and checks `file`, with `${VAR}` taken from the process environment.
    pub fn load(file: &Path) -> Result<PipelineConfig, ConfigErrors> {
        let text = std::fs::read_to_string(file).map_err(|error| {
            ConfigErrors(vec![ConfigError {
                file: file.to_path_buf(),
                location: None,
                component: None,
                message: format!("cannot read the pipeline file: {error}"),
            }])
        })?;
        PipelineConfig::parse(file, &text, |name| std::env::var(name).ok())
    }

    /// Parses `text` (the content of `file`), looking `${VAR}` up with `env`.
    pub fn parse(
        file: &Path,
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<PipelineConfig, ConfigErrors> {
        let mut loader = Loader::new(file, text);
        let mut document: toml::Table = match toml::from_str(text) {
            Ok(table) => table,
            Err(error) => return Err(ConfigErrors(vec![loader.syntax_error(&error)])),
        };
        loader.interpolate_table(&mut document, &mut Vec::new(), &env);

        for name in document.keys() {
            if !TOP_LEVEL_KEYS.contains(&name.as_str()) {
                loader.error(
                    &[key(name)],
                    None,
                    format!(
                        "unknown table `{name}`; allowed: {}",
                        TOP_LEVEL_KEYS.join(", ")
                    ),
                );
            }
        }

        let settings = match document.remove("pipeline") {
            Some(value) => loader
                .deserialize::<PipelineSettings>(value, &[key("pipeline")], None)
                .unwrap_or_default(),
            None => PipelineSettings::default(),
        };
        loader.check_settings(&settings);
        let api = match document.remove("api") {
            Some(value) => loader
                .deserialize::<ApiSettings>(value, &[key("api")], None)
                .unwrap_or_default(),
            None => ApiSettings::default(),
        };
        let data_dir = resolve_data_dir(file, settings.data_dir.as_deref(), &env);
        let settings = PipelineSettings {
            data_dir: Some(data_dir),
            ..settings
        };

        let inputs = loader.components(&mut document, "input", |loader, at, table| {
            let codec = loader.deserialize::<CodecConfig>(
                Value::Table(take_keys(table, CodecConfig::KEYS)),
                at,
                Some(&at_component(at, "input")),
            )?;
            let config = loader.deserialize::<InputConfig>(
                tagged(table),
                at,
                Some(&at_component(at, "input")),
            )?;
            Some((config, codec))
        });
        let filters = loader.components(&mut document, "filter", |loader, at, table| {
            let common = loader.deserialize::<CommonFilterOptions>(
                Value::Table(take_keys(table, CommonFilterOptions::KEYS)),
                at,
                Some(&at_component(at, "filter")),
            )?;
            let config = loader.deserialize::<FilterConfig>(
                tagged(table),
                at,
                Some(&at_component(at, "filter")),
            )?;
            Some((config, common))
        });
        let outputs = loader.components(&mut document, "output", |loader, at, table| {
            let config = loader.deserialize::<OutputConfig>(
                tagged(table),
                at,
                Some(&at_component(at, "output")),
            )?;
            Some((config, ()))
        });

        if inputs.is_empty() && loader.errors.is_empty() {
            loader.error(&[], None, "no [[input]]: add at least one input".into());
        }
        if outputs.is_empty() && loader.errors.is_empty() {
            loader.error(
                &[],
                None,
                "no [[output]]: add at least one output, e.g. [[output]] type = \"stdout\"".into(),
            );
        }
        if !loader.errors.is_empty() {
            return Err(ConfigErrors(loader.errors));
        }
        Ok(PipelineConfig {
            file: file.to_path_buf(),
            settings,
            api,
            literal_secrets: loader.literal_secrets,
            inputs: inputs
                .into_iter()
                .map(|(id, (config, codec))| InputSpec { id, config, codec })
                .collect(),
            filters: filters
                .into_iter()
                .map(|(id, (config, common))| FilterSpec { id, config, common })
                .collect(),
            outputs: outputs
                .into_iter()
                .map(|(id, (config, ()))| OutputSpec { id, config })
                .collect(),
        })
    }

    /// Directory of the pipeline file; relative paths in it are resolved against this.
    pub fn config_dir(&self) -> PathBuf {
        config_dir(&self.file)
    }

    /// The data directory (checkpoints, dead letters).
    pub fn data_dir(&self) -> PathBuf {
        self.settings
            .data_dir
            .clone()
            .unwrap_or_else(|| self.config_dir().join("data"))
    }

    /// What in this pipeline weakens its security, one sentence each with the fix: a secret
    /// written in a file every user can read, and certificates not checked.
    pub fn security_warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        let mode = std::fs::metadata(&self.file).map_or(0, |metadata| {
            std::os::unix::fs::PermissionsExt::mode(&metadata.permissions())
        });
        if mode & 0o004 != 0 && !self.literal_secrets.is_empty() {
            warnings.push(format!(
                "{} is readable by every user (mode {:o}) and holds secrets in {}: `chmod 600` it, or take them from the environment (`password = \"${{ES_PASSWORD}}\"`)",
                self.file.display(),
                mode & 0o777,
                self.literal_secrets.join(", ")
            ));
        }
        if let Some(listen) = self.api.listen
            && self.api.enabled
            && !listen.ip().is_loopback()
            && self.api.auth_token.is_none()
        {
            warnings.push(format!(
                "[api] listen = \"{listen}\" without auth_token: everyone who can reach this address sees the live traffic (client addresses, URLs); set auth_token = \"${{LOGPIPE_API_TOKEN}}\" or listen on 127.0.0.1"
            ));
        }
        for output in &self.outputs {
            if let OutputConfig::Elasticsearch(settings) = &output.config
                && !settings.tls_verify
            {
                warnings.push(format!(
                    "output `{}`: tls_verify = false: the certificate of elasticsearch is NOT checked; anyone on the network path can read and change this traffic",
                    output.id
                ));
            }
        }
        warnings
    }

    /// Whether every input finishes by itself, so `run` exits when all is delivered.
    pub fn is_finite(&self) -> bool {
        self.inputs.iter().all(|input| input.config.is_finite())
    }
}

fn config_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn resolve_data_dir(
    file: &Path,
    configured: Option<&Path>,
    env: &impl Fn(&str) -> Option<String>,
) -> PathBuf {
    let base = config_dir(file);
    match configured {
        Some(dir) => base.join(dir),
        None => match env("LOGPIPE_DATA_DIR") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => base.join("data"),
        },
    }
}

fn at_component(at: &[Step], section: &str) -> String {
    match at {
        [_, Step::Index(index), ..] => format!("{section} #{}", index + 1),
        _ => section.to_string(),
    }
}

/// `{ "<type>" = { the other keys } }`: the externally tagged form the component enums read.
fn tagged(table: &toml::Table) -> Value {
    let mut options = table.clone();
    let kind = match options.remove("type") {
        Some(Value::String(kind)) => kind,
        _ => String::new(),
    };
    Value::Table(toml::Table::from_iter([(kind, Value::Table(options))]))
}

/// Removes `keys` from `table` and returns them as a table of their own.
fn take_keys(table: &mut toml::Table, keys: &[&str]) -> toml::Table {
    keys.iter()
        .filter_map(|key| table.remove(*key).map(|value| (key.to_string(), value)))
        .collect()
}

/// One step of a path into the document, to locate a problem.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn key(name: &str) -> Step {
    Step::Key(name.to_string())
}

/// `input[0].path`
fn display_path(steps: &[Step]) -> String {
    let mut text = String::new();
    for step in steps {
        match step {
            Step::Key(name) if text.is_empty() => text.push_str(name),
            Step::Key(name) => {
                text.push('.');
                text.push_str(name);
            }
            Step::Index(index) => text.push_str(&format!("[{index}]")),
        }
    }
    text
}

/// Loads one document, collecting errors with their locations.
struct Loader<'a> {
    file: &'a Path,
    text: &'a str,
    spans: Option<toml::Spanned<DeTable<'a>>>,
    errors: Vec<ConfigError>,
    literal_secrets: Vec<String>,
}

impl<'a> Loader<'a> {
    fn new(file: &'a Path, text: &'a str) -> Loader<'a> {
        Loader {
            file,
            text,
            spans: DeTable::parse(text).ok(),
            errors: Vec::new(),
            literal_secrets: Vec::new(),
        }
    }

    fn syntax_error(&self, error: &toml::de::Error) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            location: error.span().map(|span| self.line_column(span.start)),
            component: None,
            message: format!(
                "invalid TOML: {}",
                error.message().trim_end().replace('\n', "; ")
            ),
        }
    }

    fn line_column(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    /// The byte offset of the deepest part of `at` found in the document.
    fn locate(&self, at: &[Step]) -> Option<usize> {
        let root = self.spans.as_ref()?;
        let mut table: &DeTable<'_> = root.get_ref();
        let mut array: Option<&toml::de::DeArray<'_>> = None;
        let mut found = None;
        for part in at {
            let value: &toml::Spanned<DeValue<'_>> = match (part, array) {
                (Step::Index(index), Some(items)) => match items.get(*index) {
                    Some(item) => {
                        found = Some(item.span().start);
                        item
                    }
                    None => break,
                },
                (Step::Key(wanted), None) => {
                    match table.iter().find(|(name, _)| name.get_ref() == wanted) {
                        Some((name, value)) => {
                            found = Some(name.span().start);
                            value
                        }
                        None => break,
                    }
                }
                _ => break,
            };
            array = None;
            match value.get_ref() {
                DeValue::Table(inner) => table = inner,
                DeValue::Array(items) => array = Some(items),
                _ => break,
            }
        }
        found
    }

    fn error(&mut self, at: &[Step], component: Option<&str>, message: String) {
        let location = self.locate(at).map(|offset| self.line_column(offset));
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            location,
            component: component.map(str::to_string),
            message,
        });
    }

    fn interpolate_table(
        &mut self,
        table: &mut toml::Table,
        at: &mut Vec<Step>,
        env: &impl Fn(&str) -> Option<String>,
    ) {
        for (key, value) in table.iter_mut() {
            at.push(Step::Key(key.clone()));
            self.interpolate_value(value, at, env);
            at.pop();
        }
    }

    fn interpolate_value(
        &mut self,
        value: &mut Value,
        at: &mut Vec<Step>,
        env: &impl Fn(&str) -> Option<String>,
    ) {
        match value {
            Value::String(text) => {
                self.note_literal_secret(text, at);
                match interpolate::interpolate(text, env) {
                    Ok(replaced) => *text = replaced,
                    Err(error) => {
                        let message = format!("`{}`: {error}", display_path(at));
                        self.error(at, None, message);
                    }
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter_mut().enumerate() {
                    at.push(Step::Index(index));
                    self.interpolate_value(item, at, env);
                    at.pop();
                }
            }
            Value::Table(table) => self.interpolate_table(table, at, env),
            _ => {}
        }
    }

    /// Records `at` when it is a secret option whose value (before `${VAR}` is replaced) is
    /// not wholly taken from the environment: characters of its own, or a `:-` default.
    fn note_literal_secret(&mut self, text: &str, at: &[Step]) {
        let is_secret =
            matches!(at.last(), Some(Step::Key(name)) if SECRET_KEYS.contains(&name.as_str()));
        // Every variable empty leaves the characters of its own; every variable unset leaves
        // the `:-` defaults.
        let left = |lookup: fn(&str) -> Option<String>| {
            interpolate::interpolate(text, lookup).unwrap_or_default()
        };
        let in_file = !left(|_| Some(String::new())).is_empty() || !left(|_| None).is_empty();
        if is_secret && in_file {
            let line = self.locate(at).map(|offset| self.line_column(offset).0);
            let line = line.map_or_else(String::new, |line| format!(" (line {line})"));
            self.literal_secrets
                .push(format!("`{}`{line}", display_path(at)));
        }
    }

    fn check_settings(&mut self, settings: &PipelineSettings) {
        for (name, value) in [
            ("workers", settings.workers),
            ("batch_size", settings.batch_size),
            ("channel_capacity", settings.channel_capacity),
        ] {
            if value == 0 {
                self.error(
                    &[key("pipeline"), key(name)],
                    Some("pipeline"),
                    format!("`{name}` must be at least 1"),
                );
            }
        }
    }

    /// Deserializes `value` into `T`, recording an error located at the offending key.
    fn deserialize<T: DeserializeOwned>(
        &mut self,
        value: Value,
        at: &[Step],
        component: Option<&str>,
    ) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                let mut steps: Vec<Step> = error
                    .path()
                    .iter()
                    .filter_map(|segment| match segment {
                        serde_path_to_error::Segment::Map { key } => Some(Step::Key(key.clone())),
                        serde_path_to_error::Segment::Seq { index } => Some(Step::Index(*index)),
                        serde_path_to_error::Segment::Enum { .. }
                        | serde_path_to_error::Segment::Unknown => None,
                    })
                    .collect();
                let text = error.inner().to_string();
                // toml appends "\nin `key`"; the key path is added below from the full path.
                let message = text
                    .split("\nin `")
                    .next()
                    .unwrap_or(&text)
                    .trim_end()
                    .replace('\n', " ");
                // serde names an unknown key only in its message: "unknown field `x`, …".
                let unknown = message
                    .strip_prefix("unknown field `")
                    .and_then(|rest| rest.split('`').next());
                // The component enums are keyed by `type` (see `tagged`): an unknown variant
                // is a bad `type`.
                if steps.is_empty() && message.starts_with("unknown variant") {
                    steps.push(key("type"));
                }
                let named = display_path(&steps);
                if let Some(unknown) = unknown {
                    steps.push(Step::Key(unknown.to_string()));
                }
                let mut full: Vec<Step> = at.to_vec();
                full.extend(steps);
                let message = if named.is_empty() || unknown.is_some() {
                    message
                } else {
                    format!("`{named}`: {message}")
                };
                self.error(&full, component, message);
                None
            }
        }
    }

    /// Loads every table of `section`, assigning ids (unique within the section: an input
    /// and an output may both be `file-1`), with `parse` reading the kind-specific parts.
    fn components<T>(
        &mut self,
        document: &mut toml::Table,
        section: &'static str,
        parse: impl Fn(&mut Loader<'a>, &[Step], &mut toml::Table) -> Option<T>,
    ) -> Vec<(String, T)> {
        let items = match document.remove(section) {
            None => return Vec::new(),
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.error(
                    &[key(section)],
                    None,
                    format!("`{section}` must be an array of tables: write [[{section}]]"),
                );
                return Vec::new();
            }
        };
        let mut per_type: BTreeMap<String, usize> = BTreeMap::new();
        let mut ids = HashSet::new();
        let mut loaded = Vec::new();
        for (index, item) in items.into_iter().enumerate() {
            let at = [key(section), Step::Index(index)];
            let component = format!("{section} #{}", index + 1);
            let Value::Table(mut table) = item else {
                self.error(&at, Some(&component), "must be a table".into());
                continue;
            };
            let kind = match table.get("type") {
                Some(Value::String(kind)) => kind.clone(),
                Some(_) => {
                    let mut key_at = at.to_vec();
                    key_at.push(key("type"));
                    self.error(&key_at, Some(&component), "`type` must be a string".into());
                    continue;
                }
                None => {
                    self.error(
                        &at,
                        Some(&component),
                        format!("missing `type`; every [[{section}]] needs one"),
                    );
                    continue;
                }
            };
            let count = per_type.entry(kind.clone()).or_default();
            *count += 1;
            let id = match table.remove("id") {
                Some(Value::String(id)) if !id.is_empty() => id,
                Some(_) => {
                    let mut key_at = at.to_vec();
                    key_at.push(key("id"));
                    self.error(
                        &key_at,
                        Some(&component),
                        "`id` must be a non-empty string".into(),
                    );
                    continue;
                }
                None => format!("{kind}-{count}"),
            };
            if !ids.insert(id.clone()) {
                let mut key_at = at.to_vec();
                key_at.push(key("id"));
                self.error(
                    &key_at,
                    Some(&component),
                    format!("duplicate id `{id}`; the ids of a pipeline's [[{section}]] tables must be unique"),
                );
                continue;
            }
            if let Some(parsed) = parse(self, &at, &mut table) {
                loaded.push((id, parsed));
            }
        }
        loaded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PipelineConfig, ConfigErrors> {
        PipelineConfig::parse(Path::new("/etc/logpipe/p.toml"), text, |name| {
            (name == "LEVEL").then(|| "3".to_string())
        })
    }

    fn errors(text: &str) -> Vec<String> {
        parse(text)
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn pipeline_settings_have_defaults_and_data_dir_next_to_the_file() {
        let settings = PipelineSettings::default();
        assert_eq!(settings.batch_size, 128);
        assert_eq!(settings.shutdown_timeout, Duration::from_secs(10));
        assert!(settings.workers >= 1);
        assert_eq!(
            resolve_data_dir(Path::new("/etc/logpipe/p.toml"), None, &|_| None),
            PathBuf::from("/etc/logpipe/data")
        );
        assert_eq!(
            resolve_data_dir(Path::new("p.toml"), None, &|_| Some("/var/lib/lp".into())),
            PathBuf::from("/var/lib/lp")
        );
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let found = errors("[pipeline]\nworkers = = 2\n");
        assert_eq!(found.len(), 1);
        assert!(
            found[0].starts_with("/etc/logpipe/p.toml:2:"),
            "{}",
            found[0]
        );
        assert!(found[0].contains("invalid TOML"), "{}", found[0]);
    }

    #[test]
    fn unknown_pipeline_key_is_located_and_lists_what_is_allowed() {
        let found = errors("[pipeline]\nworkers = 2\nbatchsize = 3\n");
        assert_eq!(
            found[0],
            "/etc/logpipe/p.toml:3:1: unknown field `batchsize`, expected one of `workers`, `batch_size`, `channel_capacity`, `data_dir`, `shutdown_timeout`, `when_locked`"
        );
    }

    #[test]
    fn wrong_type_names_the_key() {
        let found = errors("[pipeline]\nbatch_size = \"big\"\n");
        assert_eq!(
            found[0],
            "/etc/logpipe/p.toml:2:1: `batch_size`: invalid type: string \"big\", expected usize"
        );
    }

    #[test]
    fn unknown_component_type_lists_the_allowed_types() {
        let found = errors("[[output]]\ntype = \"stdot\"\n");
        assert_eq!(
            found[0],
            "/etc/logpipe/p.toml:2:1: output #1: `type`: unknown variant `stdot`, expected one of `stdout`, `file`, `elasticsearch`, `live`"
        );
    }

    #[test]
    fn missing_type_and_duplicate_ids_are_reported_together() {
        let found = errors(
            "[[output]]\nid = \"a\"\ntype = \"stdout\"\n[[output]]\nid = \"a\"\ntype = \"stdout\"\n[[output]]\ncodec = \"x\"\n",
        );
        assert_eq!(
            found,
            [
                "/etc/logpipe/p.toml:5:1: output #2: duplicate id `a`; the ids of a pipeline's [[output]] tables must be unique",
                "/etc/logpipe/p.toml:7:1: output #3: missing `type`; every [[output]] needs one",
            ]
        );
    }

    #[test]
    fn unset_variable_is_an_error_naming_it_and_the_key() {
        let found = errors("[pipeline]\ndata_dir = \"${NOPE}\"\n");
        assert_eq!(
            found[0],
            "/etc/logpipe/p.toml:2:1: `pipeline.data_dir`: environment variable `NOPE` is not set; set it or write `${NOPE:-default}`"
        );
    }

    #[test]
    fn api_options_are_checked_and_errors_name_their_key_and_line() {
        let found = errors("[api]\nauth_tokn = \"x\"\n");
        assert!(
            found[0].starts_with("/etc/logpipe/p.toml:2:1: unknown field `auth_tokn`, expected one of `enabled`, `listen`, `auth_token`"),
            "{}",
            found[0]
        );
        let found = errors("[api]\nlisten = \"localhost\"\n");
        assert!(
            found[0].starts_with(
                "/etc/logpipe/p.toml:2:1: `listen`: `localhost` is not an address: write IP:PORT"
            ),
            "{}",
            found[0]
        );
        let text = "[api]\nlisten = \"0.0.0.0:9601\"\nauth_token = \"${TOKEN}\"\n\
                    [[input]]\ntype = \"file\"\npath = \"a.log\"\n[[output]]\ntype = \"stdout\"\n";
        let config = PipelineConfig::parse(Path::new("p.toml"), text, |name| {
            (name == "TOKEN").then(|| "t0k".to_string())
        })
        .unwrap();
        assert_eq!(config.api.listen, Some("0.0.0.0:9601".parse().unwrap()));
        assert_eq!(
            config.api.auth_token.map(|t| t.expose().to_string()),
            Some("t0k".into())
        );
        assert!(config.api.enabled);
    }

    #[test]
    fn unknown_top_level_table_is_an_error() {
        let found = errors("[pipelin]\n");
        assert_eq!(
            found[0],
            "/etc/logpipe/p.toml:1:2: unknown table `pipelin`; allowed: pipeline, api, input, filter, output"
        );
    }

    #[test]
    fn wrong_type_inside_a_component_names_its_key_and_line() {
        let found = errors("[[output]]\ntype = \"stdout\"\n\ncodec = 5\n");
        assert_eq!(
            found,
            [
                "/etc/logpipe/p.toml:4:1: output #1: `codec`: invalid type: integer `5`, expected `json_lines` or `pretty`"
            ]
        );
    }

    #[test]
    fn an_input_and_an_output_may_share_a_default_id() {
        let config = parse(
            "[[input]]\ntype = \"file\"\npath = \"a.log\"\n[[output]]\ntype = \"file\"\npath = \"out.ndjson\"\n",
        )
        .unwrap();
        assert_eq!(config.inputs[0].id, "file-1");
        assert_eq!(config.outputs[0].id, "file-1");
    }

    #[test]
    fn zero_workers_is_rejected() {
        let found = errors("[pipeline]\nworkers = 0\n");
        assert_eq!(
            found[0],
            "/etc/logpipe/p.toml:2:1: pipeline: `workers` must be at least 1"
        );
    }

    #[test]
    fn secrets_are_hidden_in_debug_and_the_literal_ones_are_located() {
        let text = "[api]\nauth_token = \"${TOKEN}\"\n\
            [[input]]\ntype = \"s3\"\nbucket = \"b\"\naccess_key_id = \"AKIA-SECRET\"\n\
            secret_access_key = \"${AWS_SECRET:-fallback-SECRET}\"\n\
            [[output]]\ntype = \"elasticsearch\"\nuser = \"elastic\"\npassword = \"pw-SECRET\"\n\
            api_key = \"${API_KEY}\"\nbearer_token = \"prefix-${TOKEN}\"\n";
        let config = PipelineConfig::parse(Path::new("/etc/logpipe/p.toml"), text, |name| {
            (name != "LOGPIPE_DATA_DIR").then(|| format!("{name}-SECRET-from-env"))
        })
        .unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains("SECRET"), "{printed}");
        assert_eq!(
            config.literal_secrets,
            [
                "`input[0].access_key_id` (line 6)",
                "`input[0].secret_access_key` (line 7)",
                "`output[0].bearer_token` (line 13)",
                "`output[0].password` (line 11)",
            ]
        );
    }
}
