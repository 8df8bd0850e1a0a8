//! The `mutate` filter: renames, sets, converts, rewrites and copies fields, and removes tags,
//! in Logstash's order: rename, update, replace, convert, gsub, uppercase, lowercase, strip,
//! remove_tag, copy. (`add_field`, `add_tag`, `remove_field` are the common filter options.)

use super::{BuildContext, BuildError, Filter, FilterOutcome};
use crate::event::{Event, FieldPath, FieldPathError};
use crate::template::Template;
use regex::Regex;
use serde::Deserialize;
use serde_json::{Number, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Options of the `mutate` filter. Maps are applied in the order of their keys (TOML tables are
/// read sorted); when one operation must see another's result, use two `mutate` filters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MutateConfig {
    /// Fields to move, `from = "to"`; the destination is overwritten, a missing source is skipped.
    pub rename: BTreeMap<FieldPath, FieldPath>,
    /// Fields to set only when they already exist, `path = "template"` (`%{field}` references).
    pub update: BTreeMap<FieldPath, Template>,
    /// Fields to set, created when missing, `path = "template"` (`%{field}` references).
    pub replace: BTreeMap<FieldPath, Template>,
    /// Types to convert fields to, `path = "integer" | "float" | "boolean" | "string"`.
    /// Arrays are converted element by element. A value that cannot be converted (`"abc"` to
    /// integer, `"maybe"` to boolean) is left as it is and the event gets `tag_on_failure`.
    /// Integers accept `"12"` and truncate `"12.7"` / `12.7`; booleans accept `true t yes y 1`
    /// and `false f no n 0` (any case) and the numbers 1 and 0; `true`/`false` become 1/0.
    pub convert: BTreeMap<FieldPath, ConvertTarget>,
    /// Regex replacements as a flat list of triples, `["field", "regex", "replacement", ...]`.
    /// Applies to string fields and to the strings of array fields. The replacement refers to
    /// groups as Logstash does, `\1` … `\9`; other characters (including `$`) are literal.
    pub gsub: Vec<String>,
    /// Fields whose string values are upper-cased.
    pub uppercase: Vec<FieldPath>,
    /// Fields whose string values are lower-cased.
    pub lowercase: Vec<FieldPath>,
    /// Fields whose string values lose leading and trailing whitespace.
    pub strip: Vec<FieldPath>,
    /// Tags to remove (templates). Runs before the common `add_tag`.
    pub remove_tag: Vec<Template>,
    /// Fields to copy, `from = "to"` (applied last); the destination is overwritten, a missing
    /// source is skipped.
    pub copy: BTreeMap<FieldPath, FieldPath>,
    /// Tag added when a `convert` fails; `""` adds none. Default `_mutate_error`.
    pub tag_on_failure: String,
}

impl Default for MutateConfig {
    fn default() -> Self {
        MutateConfig {
            rename: BTreeMap::new(),
            update: BTreeMap::new(),
            replace: BTreeMap::new(),
            convert: BTreeMap::new(),
            gsub: Vec::new(),
            uppercase: Vec::new(),
            lowercase: Vec::new(),
            strip: Vec::new(),
            remove_tag: Vec::new(),
            copy: BTreeMap::new(),
            tag_on_failure: "_mutate_error".to_string(),
        }
    }
}

/// The type a `convert` entry turns a value into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConvertTarget {
    /// A JSON integer.
    Integer,
    /// A JSON float.
    Float,
    /// `true` or `false`.
    Boolean,
    /// A JSON string.
    String,
}

/// A `mutate` option that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MutateError {
    /// `gsub` is not made of triples.
    #[error(
        "mutate `gsub` has {count} values; write triples: [\"field\", \"regex\", \"replacement\", ...]"
    )]
    GsubNotTriples {
        /// How many values were given.
        count: usize,
    },
    /// A `gsub` field path is invalid.
    #[error("mutate `gsub`: {0}")]
    GsubField(#[from] FieldPathError),
    /// A `gsub` regex does not compile.
    #[error("mutate `gsub` regex `{pattern}` for field `{field}` does not compile: {source}")]
    GsubRegex {
        /// The field the regex applies to.
        field: String,
        /// The regex as written.
        pattern: String,
        /// Why it does not compile.
        source: regex::Error,
    },
}

/// One compiled `gsub` triple.
struct Substitution {
    field: FieldPath,
    regex: Regex,
    /// The replacement in the `regex` crate's syntax (`${1}`, `$$`).
    replacement: String,
}

/// The `mutate` filter.
pub struct MutateFilter {
    rename: Vec<(FieldPath, FieldPath)>,
    update: Vec<(FieldPath, Template)>,
    replace: Vec<(FieldPath, Template)>,
    convert: Vec<(FieldPath, ConvertTarget)>,
    gsub: Vec<Substitution>,
    uppercase: Vec<FieldPath>,
    lowercase: Vec<FieldPath>,
    strip: Vec<FieldPath>,
    remove_tag: Vec<Template>,
    copy: Vec<(FieldPath, FieldPath)>,
    tag_on_failure: Option<String>,
}

impl MutateFilter {
    /// Builds the filter, compiling the `gsub` regexes.
    pub fn build(
        config: &MutateConfig,
        _context: &BuildContext,
    ) -> Result<MutateFilter, BuildError> {
        Ok(MutateFilter {
            rename: pairs(&config.rename),
            update: pairs(&config.update),
            replace: pairs(&config.replace),
            convert: pairs(&config.convert),
            gsub: compile_gsub(&config.gsub)?,
            uppercase: config.uppercase.clone(),
            lowercase: config.lowercase.clone(),
            strip: config.strip.clone(),
            remove_tag: config.remove_tag.clone(),
            copy: pairs(&config.copy),
            tag_on_failure: Some(config.tag_on_failure.clone()).filter(|tag| !tag.is_empty()),
        })
    }
}

fn pairs<K: Clone, V: Clone>(map: &BTreeMap<K, V>) -> Vec<(K, V)> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn compile_gsub(flat: &[String]) -> Result<Vec<Substitution>, MutateError> {
    if !flat.len().is_multiple_of(3) {
        return Err(MutateError::GsubNotTriples { count: flat.len() });
    }
    let mut values = flat.iter();
    let mut substitutions = Vec::with_capacity(flat.len() / 3);
    while let (Some(field), Some(pattern), Some(replacement)) =
        (values.next(), values.next(), values.next())
    {
        let regex = Regex::new(pattern).map_err(|source| MutateError::GsubRegex {
            field: field.clone(),
            pattern: pattern.clone(),
            source,
        })?;
        substitutions.push(Substitution {
            field: FieldPath::parse(field)?,
            regex,
            replacement: regex_replacement(replacement),
        });
    }
    Ok(substitutions)
}

/// Translates a Logstash (Ruby) replacement, where `\1` is a group and `\\` a backslash,
/// into the `regex` crate's syntax, where groups are `${1}` and `$` must be doubled.
fn regex_replacement(ruby: &str) -> String {
    let mut out = String::with_capacity(ruby.len());
    let mut chars = ruby.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(digit @ '0'..='9') => {
                    out.push_str("${");
                    out.push(*digit);
                    out.push('}');
                    chars.next();
                }
                Some('\\') => {
                    out.push('\\');
                    chars.next();
                }
                _ => out.push('\\'),
            },
            '$' => out.push_str("$$"),
            other => out.push(other),
        }
    }
    out
}

impl Filter for MutateFilter {
    fn process(&mut self, event: &mut Event) -> FilterOutcome {
        for (from, to) in &self.rename {
            if let Some(value) = event.remove(from) {
                event.insert(to, value);
            }
        }
        for (path, template) in &self.update {
            if event.get(path).is_some() {
                let value = template.render(event);
                event.insert(path, Value::String(value));
            }
        }
        for (path, template) in &self.replace {
            let value = template.render(event);
            event.insert(path, Value::String(value));
        }
        let mut convert_failed = false;
        for (path, target) in &self.convert {
            if let Some(value) = event.get_mut(path) {
                convert_failed |= !convert_value(value, *target);
            }
        }
        if convert_failed && let Some(tag) = &self.tag_on_failure {
            event.add_tag(tag);
        }
        for substitution in &self.gsub {
            for_each_string(event, &substitution.field, |text| {
                let replaced = substitution
                    .regex
                    .replace_all(text, substitution.replacement.as_str());
                if let std::borrow::Cow::Owned(replaced) = replaced {
                    *text = replaced;
                }
            });
        }
        for path in &self.uppercase {
            for_each_string(event, path, |text| {
                if text.is_ascii() {
                    text.make_ascii_uppercase();
                } else {
                    *text = text.to_uppercase();
                }
            });
        }
        for path in &self.lowercase {
            for_each_string(event, path, |text| {
                if text.is_ascii() {
                    text.make_ascii_lowercase();
                } else {
                    *text = text.to_lowercase();
                }
            });
        }
        for path in &self.strip {
            for_each_string(event, path, |text| {
                let start = text.len() - text.trim_start().len();
                text.truncate(text.trim_end().len());
                text.drain(..start);
            });
        }
        for template in &self.remove_tag {
            match template.as_constant() {
                Some(tag) => event.remove_tag(tag),
                None => {
                    let tag = template.render(event);
                    event.remove_tag(&tag);
                }
            }
        }
        for (from, to) in &self.copy {
            if let Some(value) = event.get(from).map(Cow::into_owned) {
                event.insert(to, value);
            }
        }
        FilterOutcome::Success
    }
}

/// Applies `change` to the string at `path`, or to each string of the array at `path`;
/// other values are left alone.
fn for_each_string(event: &mut Event, path: &FieldPath, mut change: impl FnMut(&mut String)) {
    match event.get_mut(path) {
        Some(Value::String(text)) => change(text),
        Some(Value::Array(values)) => {
            for value in values {
                if let Value::String(text) = value {
                    change(text);
                }
            }
        }
        _ => {}
    }
}

/// Converts `value` (element by element for arrays) in place; `false` when some value could
/// not be converted (it is left unchanged).
fn convert_value(value: &mut Value, target: ConvertTarget) -> bool {
    if let Value::Array(values) = value {
        let mut all_converted = true;
        for value in values {
            all_converted &= convert_value(value, target);
        }
        return all_converted;
    }
    let converted = match target {
        ConvertTarget::Integer => to_integer(value),
        ConvertTarget::Float => to_float(value),
        ConvertTarget::Boolean => to_boolean(value),
        ConvertTarget::String => to_string(value),
    };
    match converted {
        Some(new_value) => {
            *value = new_value;
            true
        }
        None => false,
    }
}

fn to_integer(value: &Value) -> Option<Value> {
    let truncated = |float: f64| {
        let whole = float.trunc();
        // i64 bounds as f64: the lower one is exact, the upper one rounds up to 2^63.
        (whole >= i64::MIN as f64 && whole < i64::MAX as f64).then(|| Value::from(whole as i64))
    };
    match value {
        Value::Number(number) if number.is_i64() || number.is_u64() => Some(value.clone()),
        Value::Number(number) => number.as_f64().and_then(truncated),
        Value::Bool(flag) => Some(Value::from(i64::from(*flag))),
        Value::String(text) => {
            let text = text.trim();
            match text.parse::<i64>() {
                Ok(integer) => Some(Value::from(integer)),
                Err(_) => text
                    .parse::<f64>()
                    .ok()
                    .filter(|float| float.is_finite())
                    .and_then(truncated),
            }
        }
        _ => None,
    }
}

fn to_float(value: &Value) -> Option<Value> {
    let float = match value {
        Value::Number(number) => number.as_f64()?,
        Value::Bool(flag) => f64::from(u8::from(*flag)),
        Value::String(text) => text.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    Number::from_f64(float).map(Value::Number)
}

fn to_boolean(value: &Value) -> Option<Value> {
    let flag = match value {
        Value::Bool(flag) => *flag,
        Value::Number(number) => match number.as_f64() {
            Some(1.0) => true,
            Some(0.0) => false,
            _ => return None,
        },
        Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "1" | "1.0" => true,
            "false" | "f" | "no" | "n" | "0" | "0.0" => false,
            _ => return None,
        },
        _ => return None,
    };
    Some(Value::Bool(flag))
}

fn to_string(value: &Value) -> Option<Value> {
    match value {
        Value::String(_) => Some(value.clone()),
        Value::Number(number) => Some(Value::String(number.to_string())),
        Value::Bool(flag) => Some(Value::String(flag.to_string())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn build(toml_text: &str) -> Result<MutateFilter, BuildError> {
        let config: MutateConfig = toml::from_str(toml_text).unwrap();
        MutateFilter::build(
            &config,
            &BuildContext {
                config_dir: ".".into(),
            },
        )
    }

    /// Runs a filter built from `toml_text` over an event made of `fields`; returns its fields.
    fn mutate(toml_text: &str, fields: Value) -> Value {
        let mut filter = build(toml_text).unwrap();
        let Value::Object(fields) = fields else {
            panic!("fields must be an object")
        };
        let mut event = Event::from_fields(fields, "t");
        assert_eq!(filter.process(&mut event), FilterOutcome::Success);
        let mut out = event.to_fields();
        out.remove("@timestamp");
        Value::Object(out)
    }

    #[test]
    fn mutate_renames_nested_fields_and_skips_missing_ones() {
        assert_eq!(
            mutate(
                r#"rename = { "clientip" = "source.address", "[a][b]" = "c", "missing" = "x" }"#,
                json!({"clientip": "1.2.3.4", "a": {"b": 1}, "c": 0})
            ),
            json!({"source": {"address": "1.2.3.4"}, "c": 1})
        );
    }

    #[test]
    fn mutate_copies_after_all_other_operations() {
        assert_eq!(
            mutate(
                r#"
                uppercase = ["method"]
                copy = { "method" = "http.request.method", "missing" = "y" }
                "#,
                json!({"method": "get"})
            ),
            json!({"method": "GET", "http": {"request": {"method": "GET"}}})
        );
    }

    #[test]
    fn mutate_update_sets_only_existing_fields_and_replace_creates_them() {
        assert_eq!(
            mutate(
                r#"
                update = { "a" = "new-%{b}", "missing" = "x" }
                replace = { "c" = "from %{b}" }
                "#,
                json!({"a": "old", "b": 7})
            ),
            json!({"a": "new-7", "b": 7, "c": "from 7"})
        );
    }

    #[test]
    fn mutate_converts_strings_to_integers_floats_and_booleans() {
        assert_eq!(
            mutate(
                r#"convert = { "status" = "integer", "bytes" = "integer", "ratio" = "float", "cached" = "boolean", "off" = "boolean", "port" = "string", "flag" = "string" }"#,
                json!({"status": "200", "bytes": " 12.9 ", "ratio": "0.25", "cached": "Yes", "off": "0", "port": 8080, "flag": true})
            ),
            json!({"status": 200, "bytes": 12, "ratio": 0.25, "cached": true, "off": false, "port": "8080", "flag": "true"})
        );
    }

    #[test]
    fn mutate_converts_numbers_and_booleans_between_types() {
        assert_eq!(
            mutate(
                r#"convert = { "a" = "integer", "b" = "integer", "c" = "float", "d" = "boolean", "e" = "float" }"#,
                json!({"a": 3.99, "b": true, "c": 2, "d": 1, "e": false})
            ),
            json!({"a": 3, "b": 1, "c": 2.0, "d": true, "e": 0.0})
        );
    }

    #[test]
    fn mutate_converts_arrays_element_by_element() {
        assert_eq!(
            mutate(
                r#"convert = { "codes" = "integer" }"#,
                json!({"codes": ["1", "2", 3]})
            ),
            json!({"codes": [1, 2, 3]})
        );
    }

    #[test]
    fn mutate_leaves_unconvertible_values_and_tags_the_event() {
        assert_eq!(
            mutate(
                r#"convert = { "a" = "integer", "b" = "boolean", "c" = "float", "d" = "string", "e" = "integer" }"#,
                json!({"a": "abc", "b": "maybe", "c": "1e999", "d": {"x": 1}, "e": ["1", "x"]})
            ),
            json!({"a": "abc", "b": "maybe", "c": "1e999", "d": {"x": 1}, "e": [1, "x"], "tags": ["_mutate_error"]})
        );
    }

    #[test]
    fn mutate_tag_on_failure_can_be_renamed_or_disabled() {
        assert_eq!(
            mutate(
                r#"
                convert = { "a" = "integer" }
                tag_on_failure = "_bad_number"
                "#,
                json!({"a": "x"})
            ),
            json!({"a": "x", "tags": ["_bad_number"]})
        );
        assert_eq!(
            mutate(
                r#"
                convert = { "a" = "integer" }
                tag_on_failure = ""
                "#,
                json!({"a": "x"})
            ),
            json!({"a": "x"})
        );
    }

    #[test]
    fn mutate_skips_converting_missing_fields_without_tagging() {
        assert_eq!(
            mutate(r#"convert = { "a" = "integer" }"#, json!({"b": "x"})),
            json!({"b": "x"})
        );
    }

    #[test]
    fn mutate_gsub_replaces_every_match_with_logstash_backreferences() {
        assert_eq!(
            mutate(
                r#"gsub = ["path", "/+", "/", "user", "(\\w+)@(\\w+)", "\\2 at \\1 costs $5", "tags", "^x", "y", "n", "1", "2"]"#,
                json!({"path": "//a///b", "user": "bob@example", "tags": ["xa", "b"], "n": 1})
            ),
            json!({"path": "/a/b", "user": "example at bob costs $5", "tags": ["ya", "b"], "n": 1})
        );
    }

    #[test]
    fn mutate_changes_case_and_strips_strings_and_arrays() {
        assert_eq!(
            mutate(
                r#"
                uppercase = ["m", "list"]
                lowercase = ["h", "u"]
                strip = ["s", "list"]
                "#,
                json!({"m": "get", "list": [" a ", 1], "h": "WEB.Example", "u": "ÉCOLE", "s": "\t x y \n"})
            ),
            json!({"m": "GET", "list": ["A", 1], "h": "web.example", "u": "école", "s": "x y"})
        );
    }

    #[test]
    fn mutate_removes_tags_including_templated_ones() {
        assert_eq!(
            mutate(
                r#"remove_tag = ["_grokparsefailure", "from_%{src}"]"#,
                json!({"src": "s3", "tags": ["_grokparsefailure", "from_s3", "keep"]})
            ),
            json!({"src": "s3", "tags": ["keep"]})
        );
    }

    #[test]
    fn mutate_applies_operations_in_logstash_order() {
        // rename runs before convert and gsub, which run before uppercase, strip and copy.
        assert_eq!(
            mutate(
                r#"
                rename = { "raw" = "value" }
                convert = { "value" = "string" }
                gsub = ["value", "2", " two "]
                uppercase = ["value"]
                strip = ["value"]
                copy = { "value" = "copy" }
                "#,
                json!({"raw": 12})
            ),
            json!({"value": "1 TWO", "copy": "1 TWO"})
        );
    }

    #[test]
    fn mutate_with_no_options_succeeds_and_changes_nothing() {
        assert_eq!(mutate("", json!({"a": 1})), json!({"a": 1}));
    }

    #[test]
    fn mutate_rejects_a_bad_gsub_regex_naming_it() {
        let error = build(r#"gsub = ["url.original", "([a-z", ""]"#)
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.starts_with(
                "mutate `gsub` regex `([a-z` for field `url.original` does not compile:"
            ),
            "{error}"
        );
    }

    #[test]
    fn mutate_rejects_gsub_that_is_not_triples() {
        let error = build(r#"gsub = ["a", "b"]"#).err().unwrap().to_string();
        assert_eq!(
            error,
            "mutate `gsub` has 2 values; write triples: [\"field\", \"regex\", \"replacement\", ...]"
        );
    }

    #[test]
    fn mutate_rejects_a_bad_gsub_field() {
        let error = build(r#"gsub = ["a..b", "x", "y"]"#)
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.starts_with("mutate `gsub`: invalid field path `a..b`"),
            "{error}"
        );
    }

    #[test]
    fn mutate_rejects_an_unknown_convert_type() {
        let error = toml::from_str::<MutateConfig>(r#"convert = { "a" = "int" }"#)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(
                "unknown variant `int`, expected one of `integer`, `float`, `boolean`, `string`"
            ),
            "{error}"
        );
    }

    #[test]
    fn mutate_rejects_unknown_options() {
        let error = toml::from_str::<MutateConfig>(r#"split = { "a" = "," }"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field `split`"), "{error}");
    }

    #[test]
    fn mutate_regex_replacement_translates_ruby_syntax() {
        assert_eq!(regex_replacement(r"\1-\\-$x\q"), r"${1}-\-$$x\q");
    }
}
