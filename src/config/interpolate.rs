//! `${VAR}` and `${VAR:-default}` in string values of the pipeline file, replaced from the
//! environment before the values are interpreted. `$${` writes a literal `${`.

/// A reference that cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolateError {
    /// `${VAR}` with VAR unset and no default.
    #[error("environment variable `{name}` is not set; set it or write `${{{name}:-default}}`")]
    Unset { name: String },
    /// `${` without `}`, or an empty name.
    #[error("malformed reference in `{text}`; write `${{VAR}}` or `${{VAR:-default}}`")]
    Malformed { text: String },
}

/// Replaces every reference in `text`, looking names up with `lookup`.
pub fn interpolate(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, InterpolateError> {
    if !text.contains("${") {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        if rest[..start].ends_with('$') {
            out.push_str(&rest[..start - 1]);
            out.push_str("${");
            rest = &rest[start + 2..];
            continue;
        }
        out.push_str(&rest[..start]);
        let inner = &rest[start + 2..];
        let end = inner.find('}').ok_or_else(|| InterpolateError::Malformed {
            text: text.to_string(),
        })?;
        let reference = &inner[..end];
        let (name, default) = match reference.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (reference, None),
        };
        if name.is_empty() {
            return Err(InterpolateError::Malformed {
                text: text.to_string(),
            });
        }
        match (lookup(name), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => {
                return Err(InterpolateError::Unset {
                    name: name.to_string(),
                });
            }
        }
        rest = &inner[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "HOST").then(|| "es1".to_string())
    }

    #[test]
    fn set_variables_and_defaults_are_substituted() {
        assert_eq!(
            interpolate("http://${HOST}:${PORT:-9200}/", env).unwrap(),
            "http://es1:9200/"
        );
    }

    #[test]
    fn unset_variable_without_default_is_an_error_naming_it() {
        assert_eq!(
            interpolate("${NOPE}", env).unwrap_err().to_string(),
            "environment variable `NOPE` is not set; set it or write `${NOPE:-default}`"
        );
    }

    #[test]
    fn doubled_dollar_escapes_a_reference() {
        assert_eq!(interpolate("$${HOST}", env).unwrap(), "${HOST}");
    }

    #[test]
    fn unclosed_reference_is_malformed() {
        assert!(matches!(
            interpolate("${HOST", env),
            Err(InterpolateError::Malformed { .. })
        ));
    }
}
