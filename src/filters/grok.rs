//! The `grok` filter: extracts fields from text with named, composable regex patterns, as
//! Logstash's grok does, plus the pattern library it compiles from (bundled Logstash and
//! nginx patterns, pattern files, inline definitions) and the `logpipe grok` debugger.

use super::{BuildContext, BuildError, Filter, FilterOutcome};
use crate::config::StringList;
use crate::event::{Event, FieldPath, FieldPathError, PlaceMemo};
use grok::parser::{GrokComponent, grok_split};
use pcre2::bytes::{CaptureLocations, Regex, RegexBuilder};
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::{Number, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod nginx;

#[doc(hidden)]
pub use nginx::ParserCheck as NginxParserCheck;
use nginx::{GroupSpans, NginxFormat};

/// Pattern files compiled into the binary (`patterns/` in the repository), loaded after the
/// grok crate's Logstash core patterns and before `patterns_dir`.
const EMBEDDED_PATTERN_FILES: &[(&str, &str)] =
    &[("patterns/nginx", include_str!("../../patterns/nginx"))];

/// The work one regex match may do before PCRE2 abandons it (PCRE2's match limit, set with
/// `(*LIMIT_MATCH=…)`; it counts backtracking steps, also under the JIT). Under the JIT
/// that is a few milliseconds of pathological backtracking (measured here: the whole
/// `logpipe grok` process takes 5 ms on such a line); a real log line needs a few hundred steps.
const MATCH_LIMIT: u32 = 1_000_000;

/// The JIT stack one pattern may use while matching (PCRE2's default is 32 KiB, which
/// long lines with many alternatives can exhaust).
const MAX_JIT_STACK_BYTES: usize = 1 << 20;

/// Prefix of the regex group names this module generates for `%{NAME:field}` captures.
const CAPTURE_GROUP_PREFIX: &str = "_grok";

/// Options of the `grok` filter.
///
/// Example: `{ type = "grok", match = { message = ["%{NGINX_COMBINED}", "%{NGINX_MAIN}"] } }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrokConfig {
    /// Field → grok pattern, or list of patterns tried in order (the first that matches
    /// wins unless `break_on_match = false`). Patterns are regexes (PCRE2 syntax) in which
    /// `%{NAME}` inserts a named pattern, `%{NAME:field}` also stores what it matched in
    /// `field` (dotted `source.address` or bracket `[source][address]` path), and
    /// `%{NAME:field:int}` / `:float` stores it as a number. Raw named groups
    /// `(?<field>…)` are stored too. Patterns are not anchored: add `^`/`$` to match the
    /// whole value. Available names: the Logstash core patterns (`COMBINEDAPACHELOG`,
    /// `HTTPD_COMBINEDLOG`, `SYSLOGLINE`, `IP`, `URIPATHPARAM`, …), the bundled
    /// `NGINX_COMBINED` and `NGINX_MAIN` (see `patterns/nginx` for their fields), and those
    /// of `patterns_dir` and `pattern_definitions`. A field that is missing, or an object,
    /// is not matched; numbers are matched as text; each element of an array is matched.
    #[serde(rename = "match")]
    pub match_fields: MatchFields,
    /// Directories (one path or a list) whose files define more patterns, one `NAME regex`
    /// per line, `#` starting a comment line: the Logstash pattern file format. Every file
    /// not starting with `.` is read, in name order; relative paths are resolved against
    /// the pipeline file's directory. A name defined again overrides the earlier one.
    pub patterns_dir: StringList,
    /// Patterns defined inline, `NAME = "regex"`; they override every other definition.
    pub pattern_definitions: BTreeMap<String, String>,
    /// Fields a capture replaces. Any other capture into a field that already holds a
    /// string makes it an array `[old, captured]` (appends if it is already an array, and
    /// leaves any other existing value alone), as Logstash does. To replace the line with
    /// a part of it: `match = { message = "… %{GREEDYDATA:message}" }`,
    /// `overwrite = ["message"]`.
    pub overwrite: Vec<FieldPath>,
    /// Store captures that matched the empty string (as `""`). By default they are left
    /// out. Optional values written as `-` (nginx's missing user, referrer, bytes) are left
    /// out by the patterns themselves, whatever this says.
    pub keep_empty_captures: bool,
    /// Stop at the first pattern that matches (across all fields of `match`). With
    /// `false`, every pattern is tried and all their captures are stored.
    pub break_on_match: bool,
    /// Tags added when no pattern matches; the event is otherwise left untouched.
    pub tag_on_failure: Vec<String>,
    /// Tag added when matching is abandoned for taking too long (see `timeout_ms`).
    pub tag_on_timeout: String,
    /// Time budget, in milliseconds, for matching one event; 0 disables the clock check.
    /// The clock is checked before each pattern after the first: once the budget is spent,
    /// the remaining patterns are skipped and the event gets `tag_on_timeout`. A single
    /// regex match cannot be interrupted by a clock, so each match is also bounded by work:
    /// PCRE2's match limit (1,000,000 backtracking steps, a few milliseconds under the
    /// JIT), always on, even with `timeout_ms = 0`; a match that hits it is abandoned and
    /// the event gets `tag_on_timeout`. So one event costs at most about `timeout_ms` plus
    /// one bounded match.
    pub timeout_ms: u64,
}

impl Default for GrokConfig {
    fn default() -> Self {
        GrokConfig {
            match_fields: MatchFields::default(),
            patterns_dir: StringList::default(),
            pattern_definitions: BTreeMap::new(),
            overwrite: Vec::new(),
            keep_empty_captures: false,
            break_on_match: true,
            tag_on_failure: vec!["_grokparsefailure".to_string()],
            tag_on_timeout: "_groktimeout".to_string(),
            timeout_ms: 30_000,
        }
    }
}

/// The `match` table: fields with their patterns, in the order written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatchFields(pub Vec<(FieldPath, Vec<String>)>);

impl<'de> Deserialize<'de> for MatchFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MatchVisitor;
        impl<'de> Visitor<'de> for MatchVisitor {
            type Value = MatchFields;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of field = \"pattern\" or field = [\"pattern\", …]")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MatchFields, A::Error> {
                let mut fields = Vec::new();
                while let Some((field, patterns)) = map.next_entry::<FieldPath, StringList>()? {
                    fields.push((field, patterns.0));
                }
                Ok(MatchFields(fields))
            }
        }
        deserializer.deserialize_map(MatchVisitor)
    }
}

/// An error building grok patterns.
#[derive(Debug, thiserror::Error)]
pub enum GrokError {
    /// `match` is empty, or lists no pattern for a field.
    #[error(
        "grok has no pattern{for_field}; write e.g. `match = {{ message = \"%{{NGINX_COMBINED}}\" }}`"
    )]
    NoPattern {
        /// ` for field `x`` or empty.
        for_field: String,
    },
    /// `%{NAME}` names a pattern nobody defined.
    #[error(
        "unknown grok pattern `{name}` in `{pattern}` ({origin}); check the spelling, or define it in patterns_dir or pattern_definitions"
    )]
    UnknownPattern {
        /// The undefined name.
        name: String,
        /// The pattern as written.
        pattern: String,
        /// Where the pattern comes from, e.g. `match.message`.
        origin: String,
    },
    /// A pattern refers to itself, directly or through others.
    #[error(
        "grok pattern `{name}` refers to itself (via {chain}) in `{pattern}` ({origin}); fix its definition"
    )]
    RecursivePattern {
        /// The pattern met twice.
        name: String,
        /// The names leading back to it.
        chain: String,
        /// The pattern as written.
        pattern: String,
        /// Where the pattern comes from.
        origin: String,
    },
    /// Malformed `%{…}`.
    #[error(
        "bad grok syntax in `{text}` (used by `{pattern}`, {origin}): {reason}; write %{{NAME}}, %{{NAME:field}} or %{{NAME:field:int}}"
    )]
    Syntax {
        /// The pattern or definition with the bad `%{…}`.
        text: String,
        /// What the parser said.
        reason: String,
        /// The pattern as written.
        pattern: String,
        /// Where the pattern comes from.
        origin: String,
    },
    /// The field name of a capture is not a valid path.
    #[error("bad capture field in `{pattern}` ({origin}): {source}")]
    CaptureField {
        /// The pattern as written.
        pattern: String,
        /// Where the pattern comes from.
        origin: String,
        /// The path error.
        source: FieldPathError,
    },
    /// `%{NAME:field:type}` with a type other than int or float.
    #[error(
        "unsupported capture type `{kind}` in `%{{…:{field}:{kind}}}` of `{pattern}` ({origin}); use int or float, or leave it out for text"
    )]
    CaptureType {
        /// The type as written.
        kind: String,
        /// The capture's field.
        field: String,
        /// The pattern as written.
        pattern: String,
        /// Where the pattern comes from.
        origin: String,
    },
    /// The expanded regex does not compile.
    #[error(
        "grok pattern `{pattern}` ({origin}) is not a valid regex once expanded: {reason}; fix the pattern or the definitions it uses"
    )]
    Regex {
        /// The pattern as written.
        pattern: String,
        /// Where the pattern comes from.
        origin: String,
        /// PCRE2's message.
        reason: String,
    },
    /// A patterns_dir cannot be listed.
    #[error("cannot read grok patterns_dir `{path}`: {source}; check the path", path = path.display())]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A pattern file cannot be read.
    #[error("cannot read grok pattern file `{path}`: {source}", path = path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line of a pattern file is not `NAME regex`.
    #[error(
        "grok pattern file `{file}` line {line_number}: expected `NAME regex` (NAME of letters, digits, `_`), got `{line}`"
    )]
    PatternFileLine {
        /// The file.
        file: String,
        /// 1-based line number.
        line_number: usize,
        /// The line.
        line: String,
    },
}

/// Named patterns available to grok expressions: `NAME → regex`.
#[derive(Debug, Clone)]
struct PatternLibrary {
    definitions: HashMap<String, String>,
}

impl PatternLibrary {
    /// The Logstash core patterns of the grok crate plus the embedded `patterns/` files.
    fn bundled() -> Result<PatternLibrary, GrokError> {
        let mut library = PatternLibrary {
            definitions: grok::patterns()
                .iter()
                .map(|(name, regex)| (name.to_string(), regex.to_string()))
                .collect(),
        };
        for (file, text) in EMBEDDED_PATTERN_FILES {
            library.load_text(file, text)?;
        }
        Ok(library)
    }

    /// Bundled patterns, then each directory's files, then the inline definitions.
    fn build(
        patterns_dirs: &[PathBuf],
        definitions: &BTreeMap<String, String>,
    ) -> Result<PatternLibrary, GrokError> {
        let mut library = PatternLibrary::bundled()?;
        for dir in patterns_dirs {
            library.load_dir(dir)?;
        }
        for (name, regex) in definitions {
            library.definitions.insert(name.clone(), regex.clone());
        }
        Ok(library)
    }

    fn load_dir(&mut self, dir: &Path) -> Result<(), GrokError> {
        let read_dir_error = |source| GrokError::ReadDir {
            path: dir.to_path_buf(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(read_dir_error)? {
            let path = entry.map_err(read_dir_error)?.path();
            let hidden = path
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with('.'));
            if !hidden && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|source| GrokError::ReadFile {
                path: path.clone(),
                source,
            })?;
            self.load_text(&path.display().to_string(), &text)?;
        }
        Ok(())
    }

    /// Loads a Logstash pattern file: `NAME regex` lines, blank lines and `#` comments.
    fn load_text(&mut self, file: &str, text: &str) -> Result<(), GrokError> {
        for (index, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (name, regex) = trimmed
                .split_once(|c: char| c.is_ascii_whitespace())
                .map(|(name, regex)| (name, regex.trim_start()))
                .filter(|(name, regex)| {
                    !regex.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
                .ok_or_else(|| GrokError::PatternFileLine {
                    file: file.to_string(),
                    line_number: index + 1,
                    line: line.to_string(),
                })?;
            self.definitions.insert(name.to_string(), regex.to_string());
        }
        Ok(())
    }

    /// Expands the `%{…}` references of `pattern` into a regex. `origin` says where the
    /// pattern comes from, for errors.
    fn expand<'a>(&'a self, pattern: &'a str, origin: &'a str) -> Result<Expansion<'a>, GrokError> {
        let mut expansion = Expansion {
            library: self,
            pattern,
            origin,
            regex: String::with_capacity(pattern.len() * 8),
            captures: Vec::new(),
            names: Vec::new(),
        };
        expansion.expand(pattern)?;
        Ok(expansion)
    }

    /// Expands `pattern` and compiles it (JIT, match limit), resolving its captures.
    fn compile(
        &self,
        pattern: &str,
        origin: &str,
        overwrite: &[FieldPath],
    ) -> Result<CompiledPattern, GrokError> {
        let expansion = self.expand(pattern, origin)?;
        let regex =
            compile_regex(&expansion.regex, true, true).map_err(|error| GrokError::Regex {
                pattern: pattern.to_string(),
                origin: origin.to_string(),
                reason: error.to_string(),
            })?;
        // For ASCII subjects (most log lines: nginx escapes other bytes as \xHH) UTF mode
        // changes nothing but costs a UTF-8 check per match; a byte-mode twin skips it.
        let ascii_regex = compile_regex(&expansion.regex, true, false).ok();
        let mut captures = Vec::new();
        for (group, name) in regex.capture_names().iter().enumerate() {
            let Some(name) = name else { continue };
            let (field, kind) = match name
                .strip_prefix(CAPTURE_GROUP_PREFIX)
                .and_then(|index| index.parse::<usize>().ok())
                .and_then(|index| expansion.captures.get(index))
            {
                Some((field, kind)) => (field.clone(), *kind),
                None => (
                    // A raw `(?<name>…)` group; PCRE2 names are word characters only.
                    FieldPath::parse(name).map_err(|source| GrokError::CaptureField {
                        pattern: pattern.to_string(),
                        origin: origin.to_string(),
                        source,
                    })?,
                    CaptureKind::Text,
                ),
            };
            let overwrite = overwrite.contains(&field);
            captures.push(Capture {
                group,
                field,
                kind,
                overwrite,
            });
        }
        // In field order, so that storing them walks the event once (a stable sort: two
        // captures into one field keep their order, which decides `[first, second]`).
        captures.sort_by(|a, b| a.field.cmp(&b.field));
        Ok(CompiledPattern {
            source: pattern.to_string(),
            regex,
            ascii_regex,
            captures,
            nginx: NginxFormat::recognize(&expansion.regex),
        })
    }

    /// The definition `%{name=definition}` stands for.
    fn body<'a>(&'a self, name: &str, definition: &'a str) -> Option<&'a str> {
        if definition.is_empty() {
            self.definitions.get(name).map(String::as_str)
        } else {
            Some(definition)
        }
    }
}

/// Compiles an expanded regex under the match limit; `jit` for regexes matched many times,
/// `utf` for subjects that may hold non-ASCII text.
fn compile_regex(regex: &str, jit: bool, utf: bool) -> Result<Regex, pcre2::Error> {
    RegexBuilder::new()
        .utf(utf)
        .jit_if_available(jit)
        .max_jit_stack_size(Some(MAX_JIT_STACK_BYTES))
        .build(&format!("(*LIMIT_MATCH={MATCH_LIMIT}){regex}"))
}
/// The state of expanding one grok pattern into a regex.
struct Expansion<'a> {
    library: &'a PatternLibrary,
    /// The pattern as written (for errors).
    pattern: &'a str,
    /// Where the pattern comes from (for errors).
    origin: &'a str,
    /// The regex built so far.
    regex: String,
    /// `%{NAME:field:type}` captures, in order; group `_grok<index>` holds capture `index`.
    captures: Vec<(FieldPath, CaptureKind)>,
    /// The names being expanded, outermost first (to detect cycles).
    names: Vec<String>,
}

impl Expansion<'_> {
    fn expand(&mut self, text: &str) -> Result<(), GrokError> {
        for component in grok_split(text) {
            match component {
                GrokComponent::RegularExpression { string, .. } => self.regex.push_str(string),
                GrokComponent::PatternError(error) => {
                    return Err(GrokError::Syntax {
                        text: text.to_string(),
                        reason: format!("{error:?}"),
                        pattern: self.pattern.to_string(),
                        origin: self.origin.to_string(),
                    });
                }
                GrokComponent::GrokPattern {
                    name,
                    alias,
                    extract,
                    definition,
                    ..
                } => self.expand_reference(name, alias, extract, definition)?,
            }
        }
        Ok(())
    }

    /// Expands `%{name:alias:extract=definition}`.
    fn expand_reference(
        &mut self,
        name: &str,
        alias: &str,
        extract: &str,
        definition: &str,
    ) -> Result<(), GrokError> {
        let library = self.library;
        let body = library
            .body(name, definition)
            .ok_or_else(|| GrokError::UnknownPattern {
                name: name.to_string(),
                pattern: self.pattern.to_string(),
                origin: self.origin.to_string(),
            })?;
        if self.names.iter().any(|outer| outer == name) {
            return Err(GrokError::RecursivePattern {
                name: name.to_string(),
                chain: self.names.join(" → "),
                pattern: self.pattern.to_string(),
                origin: self.origin.to_string(),
            });
        }
        if alias.is_empty() {
            self.regex.push_str("(?:");
        } else {
            let field = FieldPath::parse(alias).map_err(|source| GrokError::CaptureField {
                pattern: self.pattern.to_string(),
                origin: self.origin.to_string(),
                source,
            })?;
            let kind = match extract {
                "" => CaptureKind::Text,
                "int" => CaptureKind::Int,
                "float" => CaptureKind::Float,
                other => {
                    return Err(GrokError::CaptureType {
                        kind: other.to_string(),
                        field: alias.to_string(),
                        pattern: self.pattern.to_string(),
                        origin: self.origin.to_string(),
                    });
                }
            };
            self.regex.push_str(&format!(
                "(?<{CAPTURE_GROUP_PREFIX}{}>",
                self.captures.len()
            ));
            self.captures.push((field, kind));
        }
        self.names.push(name.to_string());
        self.expand(body)?;
        self.names.pop();
        self.regex.push(')');
        Ok(())
    }
}

/// How a captured text is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CaptureKind {
    Text,
    Int,
    Float,
}

impl CaptureKind {
    /// The JSON value for `text`: a number for int/float when it parses (an int capture of
    /// `12.7` stores 12), the text otherwise.
    fn value(self, text: &str) -> Value {
        let number = match self {
            CaptureKind::Text => None,
            CaptureKind::Int => text.parse::<i64>().ok().map(Number::from).or_else(|| {
                text.parse::<f64>()
                    .ok()
                    .map(f64::trunc)
                    .filter(|whole| whole.abs() < i64::MAX as f64)
                    .map(|whole| Number::from(whole as i64))
            }),
            CaptureKind::Float => text.parse::<f64>().ok().and_then(Number::from_f64),
        };
        number.map_or_else(|| Value::String(text.to_string()), Value::Number)
    }
}

/// One named group of a compiled pattern and the field it fills.
#[derive(Debug, Clone)]
struct Capture {
    group: usize,
    field: FieldPath,
    kind: CaptureKind,
    /// The field is listed in `overwrite`.
    overwrite: bool,
}

/// The result of matching one pattern against one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    Matched,
    NoMatch,
    /// PCRE2 gave up (match limit or another resource limit).
    Abandoned,
}

/// A grok pattern expanded and compiled, with where its captures go.
#[derive(Debug)]
struct CompiledPattern {
    /// The pattern as written.
    source: String,
    /// UTF mode, for any subject.
    regex: Regex,
    /// The same regex in byte mode, for ASCII subjects (same groups, same matches).
    ascii_regex: Option<Regex>,
    captures: Vec<Capture>,
    /// The bundled nginx format the regex is exactly, if it is one: a hand-written parser
    /// then matches first and the regex runs only where the parser is not sure.
    nginx: Option<NginxFormat>,
}

/// Reusable match data of one pattern, for each way of matching it.
struct MatchSlots {
    utf: CaptureLocations,
    ascii: Option<CaptureLocations>,
    nginx: GroupSpans,
    /// Which of them holds the groups of the last successful attempt.
    last_matcher: Matcher,
}

/// A way of matching a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Matcher {
    /// The regex in UTF mode.
    Utf,
    /// The regex in byte mode.
    Ascii,
    /// The hand-written parser of a bundled nginx format.
    Nginx,
}

impl MatchSlots {
    fn new(pattern: &CompiledPattern) -> MatchSlots {
        MatchSlots {
            utf: pattern.regex.capture_locations(),
            ascii: pattern.ascii_regex.as_ref().map(Regex::capture_locations),
            nginx: GroupSpans::default(),
            last_matcher: Matcher::Utf,
        }
    }

    /// Where group `group` matched in the last successful attempt.
    fn get(&self, group: usize) -> Option<(usize, usize)> {
        match (self.last_matcher, &self.ascii) {
            (Matcher::Nginx, _) => self.nginx.get(group),
            (Matcher::Ascii, Some(ascii)) => ascii.get(group),
            _ => self.utf.get(group),
        }
    }
}

impl CompiledPattern {
    /// Matches `subject`; `ascii` says whether it is pure ASCII (checked once per subject
    /// by the caller, not once per pattern).
    fn attempt(&self, subject: &str, ascii: bool, slots: &mut MatchSlots) -> Attempt {
        if let Some(format) = self.nginx {
            match format.parse(subject, ascii, &mut slots.nginx) {
                nginx::Answer::Matched => {
                    slots.last_matcher = Matcher::Nginx;
                    return Attempt::Matched;
                }
                nginx::Answer::NoMatch => return Attempt::NoMatch,
                nginx::Answer::NotSure => {}
            }
        }
        self.attempt_regex(subject, ascii, slots)
    }

    /// Matches `subject` with the regex (the byte-mode one when `ascii`).
    fn attempt_regex(&self, subject: &str, ascii: bool, slots: &mut MatchSlots) -> Attempt {
        let found = match (&self.ascii_regex, &mut slots.ascii) {
            (Some(regex), Some(locations)) if ascii => {
                slots.last_matcher = Matcher::Ascii;
                regex.captures_read(locations, subject.as_bytes())
            }
            _ => {
                slots.last_matcher = Matcher::Utf;
                self.regex.captures_read(&mut slots.utf, subject.as_bytes())
            }
        };
        match found {
            Ok(Some(_)) => Attempt::Matched,
            Ok(None) => Attempt::NoMatch,
            Err(_) => Attempt::Abandoned,
        }
    }

    /// Stores the captures of the last successful `attempt` on `subject` into `event`, the
    /// way Logstash does: empty captures are skipped unless `keep_empty`; a field not in
    /// `overwrite` that already holds a string becomes `[old, new]`, an array gets `new`
    /// appended, any other existing value is kept.
    fn store_captures(
        &self,
        subject: &str,
        locations: &MatchSlots,
        places: &mut PlaceMemo,
        keep_empty: bool,
        event: &mut Event,
    ) {
        let mut fields = event.sorted_writer_with(places);
        for capture in &self.captures {
            let Some(text) = locations
                .get(capture.group)
                .and_then(|(start, end)| subject.get(start..end))
            else {
                continue;
            };
            if text.is_empty() && !keep_empty {
                continue;
            }
            let value = capture.kind.value(text);
            fields.merge(&capture.field, value, |existing, value| match existing {
                _ if capture.overwrite => *existing = value,
                Value::Null => *existing = value,
                Value::Array(items) => items.push(value),
                Value::String(_) => {
                    let previous = std::mem::take(existing);
                    *existing = Value::Array(vec![previous, value]);
                }
                _ => {}
            });
        }
    }
}

/// The patterns for one field of `match`, each with its reusable match data.
struct FieldMatcher {
    field: FieldPath,
    /// Each pattern with its match data and where its captures went in the last event.
    patterns: Vec<(CompiledPattern, MatchSlots, PlaceMemo)>,
}

/// The `grok` filter: one instance per worker, patterns compiled once in [`GrokFilter::build`].
pub struct GrokFilter {
    matchers: Vec<FieldMatcher>,
    keep_empty_captures: bool,
    break_on_match: bool,
    tag_on_failure: Vec<String>,
    tag_on_timeout: String,
    timeout: Option<Duration>,
    /// The texts to match for the current event, concatenated (reused between events).
    subjects: String,
    /// Where each text lies in `subjects`.
    subject_ranges: Vec<std::ops::Range<usize>>,
}

impl GrokFilter {
    /// Loads the patterns and compiles every pattern of `match`.
    pub fn build(config: &GrokConfig, context: &BuildContext) -> Result<GrokFilter, BuildError> {
        Ok(GrokFilter::new(config, context)?)
    }

    fn new(config: &GrokConfig, context: &BuildContext) -> Result<GrokFilter, GrokError> {
        if config.match_fields.0.is_empty() {
            return Err(GrokError::NoPattern {
                for_field: String::new(),
            });
        }
        let dirs: Vec<PathBuf> = config
            .patterns_dir
            .0
            .iter()
            .map(|dir| context.resolve(Path::new(dir)))
            .collect();
        let library = PatternLibrary::build(&dirs, &config.pattern_definitions)?;
        let mut matchers = Vec::new();
        for (field, patterns) in &config.match_fields.0 {
            if patterns.is_empty() {
                return Err(GrokError::NoPattern {
                    for_field: format!(" for field `{field}`"),
                });
            }
            let origin = format!("match.{field}");
            let patterns = patterns
                .iter()
                .map(|pattern| {
                    let compiled = library.compile(pattern, &origin, &config.overwrite)?;
                    let slots = MatchSlots::new(&compiled);
                    Ok((compiled, slots, PlaceMemo::default()))
                })
                .collect::<Result<_, GrokError>>()?;
            matchers.push(FieldMatcher {
                field: field.clone(),
                patterns,
            });
        }
        Ok(GrokFilter {
            matchers,
            keep_empty_captures: config.keep_empty_captures,
            break_on_match: config.break_on_match,
            tag_on_failure: config.tag_on_failure.clone(),
            tag_on_timeout: config.tag_on_timeout.clone(),
            timeout: (config.timeout_ms > 0).then(|| Duration::from_millis(config.timeout_ms)),
            subjects: String::new(),
            subject_ranges: Vec::new(),
        })
    }

    /// Copies the texts of `value` to match into `subjects`, their places into `subject_ranges`.
    fn collect_subjects(
        value: &Value,
        subjects: &mut String,
        subject_ranges: &mut Vec<std::ops::Range<usize>>,
    ) {
        subjects.clear();
        subject_ranges.clear();
        let items = match value {
            Value::Array(items) => items.as_slice(),
            single => std::slice::from_ref(single),
        };
        for item in items {
            let start = subjects.len();
            match item {
                Value::String(text) => subjects.push_str(text),
                Value::Number(number) => subjects.push_str(&number.to_string()),
                Value::Bool(flag) => subjects.push_str(if *flag { "true" } else { "false" }),
                Value::Null | Value::Array(_) | Value::Object(_) => continue,
            }
            subject_ranges.push(start..subjects.len());
        }
    }
}

impl Filter for GrokFilter {
    fn process(&mut self, event: &mut Event) -> FilterOutcome {
        let started = self.timeout.map(|timeout| (Instant::now(), timeout));
        let mut matched = false;
        let mut attempts = 0usize;
        let mut timed_out = false;
        let GrokFilter {
            matchers,
            keep_empty_captures,
            break_on_match,
            subjects,
            subject_ranges,
            ..
        } = self;
        'fields: for matcher in matchers.iter_mut() {
            match event.get(&matcher.field) {
                Some(value) => Self::collect_subjects(&value, subjects, subject_ranges),
                None => continue,
            }
            for range in subject_ranges.iter() {
                let subject = subjects.get(range.clone()).unwrap_or_default();
                let ascii = subject.is_ascii();
                for (pattern, locations, places) in &mut matcher.patterns {
                    if attempts > 0
                        && started.is_some_and(|(start, timeout)| start.elapsed() >= timeout)
                    {
                        timed_out = true;
                        break 'fields;
                    }
                    attempts += 1;
                    match pattern.attempt(subject, ascii, locations) {
                        Attempt::Matched => {
                            matched = true;
                            pattern.store_captures(
                                subject,
                                locations,
                                places,
                                *keep_empty_captures,
                                event,
                            );
                            if *break_on_match {
                                break;
                            }
                        }
                        Attempt::NoMatch => {}
                        Attempt::Abandoned => {
                            timed_out = true;
                            break 'fields;
                        }
                    }
                }
            }
            if matched && *break_on_match {
                break;
            }
        }
        if timed_out {
            event.add_tag(&self.tag_on_timeout);
            FilterOutcome::Failure
        } else if matched {
            FilterOutcome::Success
        } else {
            for tag in &self.tag_on_failure {
                event.add_tag(tag);
            }
            FilterOutcome::Failure
        }
    }
}

/// The `logpipe grok PATTERN` debugger: shows what one pattern extracts from lines, or
/// where it stops matching.
pub struct GrokDebugger {
    library: PatternLibrary,
    pattern: CompiledPattern,
}

/// How many references the debugger follows into definitions to find where a line stops
/// matching.
const DEBUGGER_MAX_DEPTH: usize = 32;

impl GrokDebugger {
    /// Compiles `pattern` with the bundled patterns plus the files of `patterns_dirs`.
    pub fn new(pattern: &str, patterns_dirs: &[PathBuf]) -> Result<GrokDebugger, GrokError> {
        let library = PatternLibrary::build(patterns_dirs, &BTreeMap::new())?;
        let pattern = library.compile(pattern, "the command line", &[])?;
        Ok(GrokDebugger { library, pattern })
    }

    /// One line of text: the captures as a JSON object, nested and typed as the filter
    /// stores them; or, when the pattern does not match, `no match; longest matching
    /// prefix: …` with how far it got.
    pub fn explain(&self, line: &str) -> String {
        let mut locations = MatchSlots::new(&self.pattern);
        match self.pattern.attempt(line, line.is_ascii(), &mut locations) {
            Attempt::Matched => {
                let mut event = Event::default();
                self.pattern.store_captures(
                    line,
                    &locations,
                    &mut PlaceMemo::default(),
                    false,
                    &mut event,
                );
                let mut json = Vec::new();
                event.write_json(&mut json);
                String::from_utf8_lossy(&json).into_owned()
            }
            Attempt::Abandoned => format!(
                "no match: abandoned after {MATCH_LIMIT} backtracking steps (PCRE2 match limit); the filter tags such lines _groktimeout"
            ),
            Attempt::NoMatch => self.explain_no_match(line),
        }
    }

    /// Finds the longest prefix of the pattern that matches the start of `line`: cut
    /// points are the ends of `%{…}` elements and every character of the regex between
    /// them (groups left open by a cut are closed); when the element after the best cut
    /// is a `%{NAME}`, its definition is put in its place and the search goes on inside it.
    fn explain_no_match(&self, line: &str) -> String {
        let mut text = self.pattern.source.clone();
        let mut best = (0, 0);
        for _ in 0..DEBUGGER_MAX_DEPTH {
            best = self.longest_matching_cut(&text, line);
            let next = grok_split(&text).find_map(|component| match component {
                GrokComponent::GrokPattern {
                    range,
                    name,
                    definition,
                    ..
                } if range.start == best.0 => self
                    .library
                    .body(name, definition)
                    .map(|body| (range, body.to_string())),
                _ => None,
            });
            let Some((range, body)) = next else { break };
            text = format!("{}(?:{body}){}", &text[..range.start], &text[range.end..]);
        }
        let (cut, matched) = best;
        let prefix = text.get(..cut).unwrap_or_default();
        let next: String = text
            .get(cut..)
            .unwrap_or_default()
            .chars()
            .take(40)
            .collect();
        let rest: String = line
            .get(matched..)
            .unwrap_or_default()
            .chars()
            .take(40)
            .collect();
        if prefix.is_empty() || matched == 0 {
            // A prefix that matches only the empty string (one ending in `|`, say) says nothing.
            let start: String = self.pattern.source.chars().take(40).collect();
            format!(
                "no match; longest matching prefix: none (`{start}` fails at the start of the line)"
            )
        } else {
            format!(
                "no match; longest matching prefix: `{prefix}` matches `{}`; then `{next}` fails at `{rest}`",
                line.get(..matched).unwrap_or_default()
            )
        }
    }

    /// The longest cut of `text` whose prefix matches at the start of `line`, and where in
    /// `line` that match ends.
    fn longest_matching_cut(&self, text: &str, line: &str) -> (usize, usize) {
        let mut cuts = Vec::new();
        for component in grok_split(text) {
            match component {
                GrokComponent::RegularExpression { range, string } => cuts.extend(
                    string
                        .char_indices()
                        .map(|(offset, c)| range.start + offset + c.len_utf8()),
                ),
                GrokComponent::GrokPattern { range, .. } => cuts.push(range.end),
                GrokComponent::PatternError(_) => break,
            }
        }
        cuts.iter()
            .rev()
            .find_map(|&cut| {
                let prefix = close_open_groups(text.get(..cut)?)?;
                let expansion = self.library.expand(&prefix, "the command line").ok()?;
                let regex =
                    compile_regex(&format!("\\A(?:{})", expansion.regex), false, true).ok()?;
                let found = regex.find(line.as_bytes()).ok()??;
                Some((cut, found.end()))
            })
            .unwrap_or((0, 0))
    }
}

/// `prefix` of a regex with the groups it leaves open closed; `None` when it ends inside a
/// character class or an escape (or closes more groups than it opens).
fn close_open_groups(prefix: &str) -> Option<String> {
    let mut open = 0usize;
    let mut in_class = false;
    let mut chars = prefix.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next()?;
            }
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '(' if !in_class => open += 1,
            ')' if !in_class => open = open.checked_sub(1)?,
            _ => {}
        }
    }
    if in_class {
        return None;
    }
    let mut closed = String::with_capacity(prefix.len() + open);
    closed.push_str(prefix);
    closed.extend(std::iter::repeat_n(')', open));
    Some(closed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const COMBINED: &str = r#"203.0.113.7 - alice [05/Mar/2024:10:20:30 +0100] "GET /search?q=caf%C3%A9&page=2 HTTP/1.1" 200 5120 "https://example.test/" "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0""#;

    fn context() -> BuildContext {
        BuildContext {
            config_dir: PathBuf::from("/nonexistent"),
        }
    }

    fn grok(toml_text: &str) -> GrokFilter {
        let config: GrokConfig = toml::from_str(toml_text).unwrap();
        GrokFilter::new(&config, &context()).unwrap()
    }

    fn build_error(toml_text: &str) -> String {
        let config: GrokConfig = toml::from_str(toml_text).unwrap();
        match GrokFilter::new(&config, &context()) {
            Ok(_) => panic!("expected an error for {toml_text}"),
            Err(error) => error.to_string(),
        }
    }

    fn line(text: &str) -> Event {
        Event::from_line(text.to_string(), "2000-01-01T00:00:00.000Z")
    }

    fn field<'a>(event: &'a Event, path: &str) -> Option<&'a Value> {
        event.get_stored(&FieldPath::parse(path).unwrap())
    }

    #[test]
    fn grok_nginx_combined_extracts_typed_ecs_fields() {
        let mut filter = grok(r#"match = { message = "%{NGINX_COMBINED}" }"#);
        let mut event = line(COMBINED);
        assert_eq!(filter.process(&mut event), FilterOutcome::Success);
        let fields = event.to_fields();
        assert_eq!(fields["source"], json!({"address": "203.0.113.7"}));
        assert_eq!(fields["user"], json!({"name": "alice"}));
        assert_eq!(
            fields["http"],
            json!({
                "request": {"method": "GET", "referrer": "https://example.test/"},
                "version": "1.1",
                "response": {"status_code": 200, "body": {"bytes": 5120}},
            })
        );
        assert_eq!(
            fields["url"],
            json!({"original": "/search?q=caf%C3%A9&page=2"})
        );
        assert_eq!(
            fields["user_agent"],
            json!({"original": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"})
        );
        assert_eq!(
            fields["nginx"],
            json!({"access": {"time": "05/Mar/2024:10:20:30 +0100"}})
        );
        assert_eq!(fields["message"], json!(COMBINED));
        assert!(fields.get("tags").is_none());
    }

    #[test]
    fn grok_leaves_out_dash_fields_whatever_keep_empty_captures_says() {
        let text = r#"::1 - - [05/Mar/2024:10:20:30 +0000] "HEAD / HTTP/1.0" 304 - "-" "-""#;
        for keep in ["false", "true"] {
            let mut filter = grok(&format!(
                "match = {{ message = \"%{{NGINX_COMBINED}}\" }}\nkeep_empty_captures = {keep}"
            ));
            let mut event = line(text);
            assert_eq!(filter.process(&mut event), FilterOutcome::Success);
            assert_eq!(field(&event, "source.address"), Some(&json!("::1")));
            assert_eq!(
                field(&event, "http.response.status_code"),
                Some(&json!(304))
            );
            for absent in [
                "user.name",
                "http.response.body.bytes",
                "http.request.referrer",
                "user_agent.original",
            ] {
                assert_eq!(field(&event, absent), None, "{absent} with keep {keep}");
            }
        }
    }

    #[test]
    fn grok_matches_bad_requests_without_a_url() {
        let mut filter = grok(r#"match = { message = "%{NGINX_COMBINED}" }"#);
        let mut dash = line(r#"10.0.0.1 - - [05/Mar/2024:10:20:30 +0000] "-" 400 0 "-" "-""#);
        assert_eq!(filter.process(&mut dash), FilterOutcome::Success);
        assert_eq!(field(&dash, "url.original"), None);
        assert_eq!(field(&dash, "nginx.access.info"), None);
        assert_eq!(field(&dash, "http.response.status_code"), Some(&json!(400)));

        let mut binary = line(
            r#"10.0.0.1 - - [05/Mar/2024:10:20:30 +0000] "\x16\x03\x01\x00\xA5\x01\x00" 400 157 "-" "-""#,
        );
        assert_eq!(filter.process(&mut binary), FilterOutcome::Success);
        assert_eq!(field(&binary, "url.original"), None);
        assert_eq!(
            field(&binary, "nginx.access.info"),
            Some(&json!(r"\x16\x03\x01\x00\xA5\x01\x00"))
        );
    }

    #[test]
    fn grok_nginx_main_adds_x_forwarded_for_and_the_first_matching_pattern_wins() {
        let main_line = format!("{COMBINED} \"198.51.100.1, 10.0.0.2\"");
        let mut filter = grok(r#"match = { message = ["%{NGINX_COMBINED}", "%{NGINX_MAIN}"] }"#);
        let mut event = line(&main_line);
        assert_eq!(filter.process(&mut event), FilterOutcome::Success);
        assert_eq!(
            field(&event, "nginx.access.x_forwarded_for"),
            Some(&json!("198.51.100.1, 10.0.0.2"))
        );
        // Both patterns would match an anchored prefix of nothing else: the first one that
        // matches is the one whose captures are stored, and only once.
        let mut filter = grok(r#"match = { message = ["^%{IP:first}", "^%{IP:second}"] }"#);
        let mut event = line("192.0.2.1 rest");
        assert_eq!(filter.process(&mut event), FilterOutcome::Success);
        assert_eq!(field(&event, "first"), Some(&json!("192.0.2.1")));
        assert_eq!(field(&event, "second"), None);
    }

    #[test]
    fn grok_break_on_match_false_stores_the_captures_of_every_matching_pattern() {
        let mut filter = grok(
            "match = { message = [\"^%{IP:first}\", \"%{INT:second:int}$\"] }\nbreak_on_match = false",
        );
        let mut event = line("192.0.2.1 took 42");
        assert_eq!(filter.process(&mut event), FilterOutcome::Success);
        assert_eq!(field(&event, "first"), Some(&json!("192.0.2.1")));
        assert_eq!(field(&event, "second"), Some(&json!(42)));
    }

    #[test]
    fn grok_legacy_logstash_patterns_are_bundled() {
        let mut filter = grok(r#"match = { message = "%{COMBINEDAPACHELOG}" }"#);
        let mut event = line(COMBINED);
        assert_eq!(filter.process(&mut event), FilterOutcome::Success);
        assert_eq!(field(&event, "clientip"), Some(&json!("203.0.113.7")));
        assert_eq!(field(&event, "verb"), Some(&json!("GET")));
        assert_eq!(field(&event, "response"), Some(&json!("200")));
        for pattern in [
            "HTTPD_COMBINEDLOG",
            "COMMONAPACHELOG",
            "SYSLOGLINE",
            "URIPATHPARAM",
            "IPV6",
        ] {
            grok(&format!("match = {{ message = \"%{{{pattern}}}\" }}"));
        }
    }

    #[test]
    fn grok_captures_accept_dotted_and_bracket_paths_and_types() {
        let mut filter = grok(
            r#"match = { message = "%{IP:[source][address]} %{NUMBER:took:float}s %{NUMBER:size:int} %{WORD:a.b.c}" }"#,
        );
        let mut event = line("192.0.2.1 0.25s 12.7 word");
        assert_eq!(filter.process(&mut event), FilterOutcome::Success);
        assert_eq!(field(&event, "source.address"), Some(&json!("192.0.2.1")));
        assert_eq!(field(&event, "took"), Some(&json!(0.25)));
        assert_eq!(field(&event, "size"), Some(&json!(12)));
        assert_eq!(event.to_fields()["a"], json!({"b": {"c": "word"}}));
    }

    #[test]
    fn grok_matches_non_ascii_text_by_characters_and_ascii_text_the_same_way() {
        let mut filter =
            grok(r#"match = { message = "^(?<first>.)(?<rest>\\w+) %{NOTSPACE:agent}$" }"#);
        let mut ascii = line("cafe curl/8");
        assert_eq!(filter.process(&mut ascii), FilterOutcome::Success);
        assert_eq!(field(&ascii, "first"), Some(&json!("c")));
        assert_eq!(field(&ascii, "rest"), Some(&json!("afe")));
        let mut text = line("éclair Téléphone/1");
        assert_eq!(filter.process(&mut text), FilterOutcome::Success);
        assert_eq!(field(&text, "first"), Some(&json!("é")));
        assert_eq!(field(&text, "rest"), Some(&json!("clair")));
        assert_eq!(field(&text, "agent"), Some(&json!("Téléphone/1")));
    }

    #[test]
    fn grok_raw_named_groups_are_stored_too() {
        let mut filter = grok(r#"match = { message = "id=(?<request_id>[0-9a-f]+)" }"#);
        let mut event = line("x id=beef y");
        assert_eq!(filter.process(&mut event), FilterOutcome::Success);
        assert_eq!(field(&event, "request_id"), Some(&json!("beef")));
    }

    #[test]
    fn grok_keep_empty_captures_stores_empty_strings() {
        let toml_text = r#"match = { message = "^(?<a>x*):%{DATA:b}$" }"#;
        let mut without = grok(toml_text);
        let mut event = line(":");
        assert_eq!(without.process(&mut event), FilterOutcome::Success);
        assert_eq!(field(&event, "a"), None);
        assert_eq!(field(&event, "b"), None);

        let mut with = grok(&format!("{toml_text}\nkeep_empty_captures = true"));
        let mut event = line(":");
        assert_eq!(with.process(&mut event), FilterOutcome::Success);
        assert_eq!(field(&event, "a"), Some(&json!("")));
        assert_eq!(field(&event, "b"), Some(&json!("")));
    }

    #[test]
    fn grok_appends_to_existing_fields_unless_they_are_overwritten() {
        let toml_text =
            r#"match = { message = "^%{WORD:message} %{WORD:kind} %{GREEDYDATA:rest}$" }"#;
        let mut appending = grok(toml_text);
        let mut event = line("hello world and more");
        event.insert(&FieldPath::parse("kind").unwrap(), json!(["a"]));
        event.insert(&FieldPath::parse("rest").unwrap(), json!({"kept": true}));
        assert_eq!(appending.process(&mut event), FilterOutcome::Success);
        assert_eq!(
            field(&event, "message"),
            Some(&json!(["hello world and more", "hello"]))
        );
        assert_eq!(field(&event, "kind"), Some(&json!(["a", "world"])));
        assert_eq!(field(&event, "rest"), Some(&json!({"kept": true})));

        let mut overwriting = grok(&format!("{toml_text}\noverwrite = [\"message\"]"));
        let mut event = line("hello world and more");
        assert_eq!(overwriting.process(&mut event), FilterOutcome::Success);
        assert_eq!(field(&event, "message"), Some(&json!("hello")));
    }

    #[test]
    fn grok_keeps_event_and_tags_on_no_match() {
        let mut filter = grok(r#"match = { message = "%{NGINX_COMBINED}" }"#);
        let mut event = line("not an access log line");
        let before = event.to_fields();
        assert_eq!(filter.process(&mut event), FilterOutcome::Failure);
        let mut after = event.to_fields();
        assert_eq!(after.remove("tags"), Some(json!(["_grokparsefailure"])));
        assert_eq!(after, before);

        let mut custom = grok(
            "match = { message = \"%{NGINX_COMBINED}\" }\ntag_on_failure = [\"_nginx\", \"_unparsed\"]",
        );
        let mut event = line("junk");
        assert_eq!(custom.process(&mut event), FilterOutcome::Failure);
        assert_eq!(event.to_fields()["tags"], json!(["_nginx", "_unparsed"]));
    }

    #[test]
    fn grok_missing_or_object_fields_do_not_match_and_array_elements_do() {
        let mut filter = grok(r#"match = { "[log][line]" = "^%{INT:n:int}$" }"#);
        let mut missing = line("1");
        assert_eq!(filter.process(&mut missing), FilterOutcome::Failure);
        assert!(missing.has_tag("_grokparsefailure"));

        let mut object = line("1");
        object.insert(&FieldPath::parse("log.line").unwrap(), json!({"n": 1}));
        assert_eq!(filter.process(&mut object), FilterOutcome::Failure);

        let mut array = line("x");
        array.insert(&FieldPath::parse("log.line").unwrap(), json!(["a", 7]));
        assert_eq!(filter.process(&mut array), FilterOutcome::Success);
        assert_eq!(field(&array, "n"), Some(&json!(7)));
    }

    #[test]
    fn grok_pathological_backtracking_is_abandoned_and_tagged_groktimeout() {
        let mut filter = grok(r#"match = { message = ['^(\w+\s?)+$'] }"#);
        let mut event = line(&format!("{}!", "a".repeat(5000)));
        let started = Instant::now();
        assert_eq!(filter.process(&mut event), FilterOutcome::Failure);
        assert!(event.has_tag("_groktimeout"));
        assert!(!event.has_tag("_grokparsefailure"));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn grok_timeout_skips_the_remaining_patterns_once_the_budget_is_spent() {
        // Each slow pattern backtracks some 65,000 steps (under the match limit) and fails;
        // fifty of them take well over the 1 ms budget, so the last pattern, which would
        // match, is never tried.
        let mut patterns = vec![r"'^(\w+\s?)+$'".to_string(); 50];
        patterns.push("'^%{GREEDYDATA:all}$'".to_string());
        let mut filter = grok(&format!(
            "match = {{ message = [{}] }}\ntimeout_ms = 1\ntag_on_timeout = \"_slow\"",
            patterns.join(", ")
        ));
        let mut event = line(&format!("{}!", "a".repeat(16)));
        assert_eq!(filter.process(&mut event), FilterOutcome::Failure);
        assert!(event.has_tag("_slow"), "{:?}", event.to_fields());
        assert_eq!(field(&event, "all"), None);

        // Without the clock (timeout_ms = 0) every pattern is tried and the last one matches.
        let mut filter = grok(&format!(
            "match = {{ message = [{}] }}\ntimeout_ms = 0",
            patterns.join(", ")
        ));
        let mut event = line(&format!("{}!", "a".repeat(16)));
        assert_eq!(filter.process(&mut event), FilterOutcome::Success);
        assert!(field(&event, "all").is_some());
    }

    #[test]
    fn grok_loads_pattern_files_and_inline_definitions_override_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("app"),
            "# my application\nAPP_ID [A-Z]{3}-%{INT}\n\nAPP_LINE id=%{APP_ID:app.id}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join(".hidden"), "not a pattern file at all\n").unwrap();
        let context = BuildContext {
            config_dir: dir.path().to_path_buf(),
        };
        let config: GrokConfig =
            toml::from_str("match = { message = \"%{APP_LINE}\" }\npatterns_dir = \".\"").unwrap();
        let mut filter = GrokFilter::new(&config, &context).unwrap();
        let mut event = line("id=ABC-12");
        assert_eq!(filter.process(&mut event), FilterOutcome::Success);
        assert_eq!(field(&event, "app.id"), Some(&json!("ABC-12")));

        let config: GrokConfig = toml::from_str(
            "match = { message = \"%{APP_LINE}\" }\npatterns_dir = [\".\"]\npattern_definitions = { APP_ID = \"[0-9]+\" }",
        )
        .unwrap();
        let mut filter = GrokFilter::new(&config, &context).unwrap();
        let mut event = line("id=42");
        assert_eq!(filter.process(&mut event), FilterOutcome::Success);
        assert_eq!(field(&event, "app.id"), Some(&json!("42")));
    }

    #[test]
    fn grok_rejects_bad_patterns_with_what_to_do() {
        assert_eq!(
            build_error(r#"match = { message = "%{NOT_A_PATTERN:x}" }"#),
            "unknown grok pattern `NOT_A_PATTERN` in `%{NOT_A_PATTERN:x}` (match.message); check the spelling, or define it in patterns_dir or pattern_definitions"
        );
        assert_eq!(
            build_error(r#"match = { message = "%{INT:n:long}" }"#),
            "unsupported capture type `long` in `%{…:n:long}` of `%{INT:n:long}` (match.message); use int or float, or leave it out for text"
        );
        assert!(
            build_error("match = { message = \"%{A}\" }\npattern_definitions = { A = \"x%{B}\", B = \"%{A}\" }")
                .starts_with("grok pattern `A` refers to itself (via A → B)"),
        );
        assert!(
            build_error(r#"match = { message = "(unclosed" }"#).starts_with(
                "grok pattern `(unclosed` (match.message) is not a valid regex once expanded:"
            ),
        );
        assert!(build_error("match = {}").starts_with("grok has no pattern;"));
        assert!(
            build_error("match = { message = [] }")
                .starts_with("grok has no pattern for field `message`;")
        );
        let config: GrokConfig =
            toml::from_str("match = { message = \"x\" }\npatterns_dir = \"missing\"").unwrap();
        let error = GrokFilter::new(&config, &context())
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.starts_with("cannot read grok patterns_dir `/nonexistent/missing`:"),
            "{error}"
        );
    }

    #[test]
    fn grok_pattern_file_lines_must_be_name_and_regex() {
        let mut library = PatternLibrary::bundled().unwrap();
        let error = library
            .load_text("mine", "GOOD x\nbad-name y\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "grok pattern file `mine` line 2: expected `NAME regex` (NAME of letters, digits, `_`), got `bad-name y`"
        );
    }

    #[test]
    fn grok_debugger_prints_captures_or_where_the_pattern_stops_matching() {
        let debugger =
            GrokDebugger::new("%{IP:client} %{WORD:verb} %{INT:status:int}", &[]).unwrap();
        assert_eq!(
            debugger.explain("192.0.2.1 GET 200"),
            r#"{"client":"192.0.2.1","status":200,"verb":"GET"}"#
        );
        // It descends into INT's definition to show which part of it fails.
        let explained = debugger.explain("192.0.2.1 GET abc");
        assert!(
            explained
                .starts_with("no match; longest matching prefix: `%{IP:client} %{WORD:verb} (?:")
                && explained.ends_with("matches `192.0.2.1 GET `; then `[0-9]+)))` fails at `abc`"),
            "{explained}"
        );
        assert_eq!(
            debugger.explain("!nothing"),
            "no match; longest matching prefix: none (`%{IP:client} %{WORD:verb} %{INT:status:i` fails at the start of the line)"
        );
    }
}
