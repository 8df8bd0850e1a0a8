//! `logpipe setup` (and `setup = true`): installs the ECS component template and an index
//! template for the output's indices (or data stream), and, with `kibana_url`, imports the
//! data view and the nginx dashboard. Idempotent: what is already installed is left alone.

use super::ElasticsearchOutputConfig;
use super::client::{Client, RequestError};
use crate::fingerprint::fnv1a;
use reqwest::Method;
use serde_json::{Value, json};

/// The component template with the ECS mappings of the nginx fields (shipped in `setup/`).
const COMPONENT_TEMPLATE: &str =
    include_str!("../../../setup/elasticsearch/component-template-nginx-ecs.json");
/// Kibana saved objects: data view and dashboard; `@@INDEX_PATTERN@@` is the index pattern.
const KIBANA_OBJECTS: &str = include_str!("../../../setup/kibana/nginx-dashboard.ndjson");
/// Name of the component template.
pub const COMPONENT_TEMPLATE_NAME: &str = "logpipe-nginx-ecs";
/// Priority of the index template: above Elasticsearch's built-in `logs-*-*` (100).
const TEMPLATE_PRIORITY: u64 = 200;

/// Why setup failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A request failed.
    #[error("setup: {what} failed: {error}")]
    Request { what: String, error: RequestError },
    /// A shipped asset is not valid JSON (a bug in the build).
    #[error("setup: the bundled {0} is not valid JSON")]
    Asset(&'static str),
}

/// What setup installs for one output.
#[derive(Debug, Clone)]
pub struct Setup {
    template_name: String,
    index_patterns: Vec<String>,
    data_stream: bool,
    kibana_url: Option<String>,
}

impl Setup {
    /// The templates for `config`'s indices.
    pub fn new(config: &ElasticsearchOutputConfig, output_id: &str) -> Setup {
        let pattern = if config.data_stream {
            format!(
                "{}-{}-*",
                config.data_stream_type, config.data_stream_dataset
            )
        } else {
            index_pattern(config.index.source())
        };
        Setup {
            template_name: config
                .template_name
                .clone()
                .unwrap_or_else(|| format!("logpipe-{output_id}")),
            index_patterns: vec![pattern],
            data_stream: config.data_stream,
            kibana_url: config
                .kibana_url
                .clone()
                .filter(|url| !url.is_empty())
                .map(|url| url.trim_end_matches('/').to_string()),
        }
    }

    /// The index pattern the templates and the data view cover.
    pub fn index_pattern(&self) -> &str {
        self.index_patterns.first().map_or("*", String::as_str)
    }

    /// Installs what is missing or different; returns one line per step.
    pub async fn run(&self, client: &Client) -> Result<Vec<String>, SetupError> {
        let mut done = Vec::new();
        let component: Value = serde_json::from_str(COMPONENT_TEMPLATE)
            .map_err(|_| SetupError::Asset("component template"))?;
        done.push(
            put_if_changed(
                client,
                TemplateKind::Component,
                COMPONENT_TEMPLATE_NAME,
                component,
            )
            .await?,
        );
        let mut template = json!({
            "index_patterns": self.index_patterns,
            "composed_of": [COMPONENT_TEMPLATE_NAME],
            "priority": TEMPLATE_PRIORITY,
            "_meta": { "managed_by": "logpipe" },
        });
        if self.data_stream
            && let Some(fields) = template.as_object_mut()
        {
            fields.insert("data_stream".to_string(), json!({}));
        }
        done.push(
            put_if_changed(client, TemplateKind::Index, &self.template_name, template).await?,
        );
        if let Some(kibana) = &self.kibana_url {
            done.push(self.import_kibana_objects(client, kibana).await?);
        }
        Ok(done)
    }

    async fn import_kibana_objects(
        &self,
        client: &Client,
        kibana: &str,
    ) -> Result<String, SetupError> {
        // The pattern goes into JSON strings: escape it as JSON (without the quotes).
        let escaped = serde_json::to_string(self.index_pattern())
            .unwrap_or_default()
            .trim_matches('"')
            .to_string();
        let objects = KIBANA_OBJECTS.replace("@@INDEX_PATTERN@@", &escaped);
        let count = objects
            .lines()
            .filter(|line| !line.trim().is_empty())
            .count();
        let part = reqwest::multipart::Part::bytes(objects.into_bytes())
            .file_name("logpipe-nginx.ndjson")
            .mime_str("application/ndjson")
            .map_err(|_| SetupError::Asset("kibana objects"))?;
        let form = reqwest::multipart::Form::new().part("file", part);
        let url = format!("{kibana}/api/saved_objects/_import?overwrite=true");
        let response = client
            .send_form(&url, form)
            .await
            .map_err(|error| SetupError::Request {
                what: "importing the Kibana dashboard".to_string(),
                error,
            })?;
        let answer: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        if answer.get("success") == Some(&Value::Bool(false)) {
            return Err(SetupError::Request {
                what: "importing the Kibana dashboard".to_string(),
                error: RequestError::Status {
                    url,
                    status: response.status,
                    body: answer.get("errors").unwrap_or(&Value::Null).to_string(),
                },
            });
        }
        Ok(format!(
            "Kibana: imported {count} saved objects (data view `{}`, dashboard \"logpipe — nginx access logs\")",
            self.index_pattern()
        ))
    }
}

/// The index pattern a template covers: each `%{…}` of the index template becomes `*`.
pub fn index_pattern(index: &str) -> String {
    let mut pattern = String::with_capacity(index.len());
    let mut rest = index;
    while let Some((before, reference)) = rest.split_once("%{") {
        pattern.push_str(before);
        match reference.split_once('}') {
            Some((_, after)) => {
                if !pattern.ends_with('*') {
                    pattern.push('*');
                }
                rest = after;
            }
            None => {
                pattern.push_str("%{");
                pattern.push_str(reference);
                rest = "";
            }
        }
    }
    pattern.push_str(rest);
    pattern
}

/// The two kinds of template setup installs, and how the API names them.
#[derive(Debug, Clone, Copy)]
enum TemplateKind {
    Component,
    Index,
}

impl TemplateKind {
    /// `_component_template` or `_index_template`: the API path, and (without the `_`)
    /// the key of each entry in a GET answer.
    fn api(self) -> &'static str {
        match self {
            TemplateKind::Component => "_component_template",
            TemplateKind::Index => "_index_template",
        }
    }

    /// For messages.
    fn label(self) -> &'static str {
        match self {
            TemplateKind::Component => "component template",
            TemplateKind::Index => "index template",
        }
    }
}

/// PUTs `body` as the template `name` unless the installed one carries the same content
/// hash in `_meta.logpipe_hash`.
async fn put_if_changed(
    client: &Client,
    kind: TemplateKind,
    name: &str,
    mut body: Value,
) -> Result<String, SetupError> {
    let hash = format!("{:016x}", fnv1a(body.to_string().as_bytes()));
    // The templates are JSON objects (the bundled one and the one `Setup::run` builds).
    if let Some(fields) = body.as_object_mut() {
        match fields.entry("_meta").or_insert_with(|| json!({})) {
            Value::Object(meta) => {
                meta.insert("logpipe_hash".to_string(), json!(hash));
            }
            other => *other = json!({ "logpipe_hash": hash }),
        }
    }
    let path = format!("/{}/{name}", kind.api());
    let path = path.as_str();
    let installed = match client
        .send(Method::GET, path, "application/json", None, false)
        .await
    {
        Ok(response) => serde_json::from_slice::<Value>(&response.body).unwrap_or(Value::Null),
        Err(RequestError::Status { status, .. }) if status.as_u16() == 404 => Value::Null,
        Err(error) => {
            return Err(SetupError::Request {
                what: format!("reading {path}"),
                error,
            });
        }
    };
    // The GET answer: `{"index_templates": [{"name": …, "index_template": {…}}]}`.
    let entry_key = kind.api().trim_start_matches('_');
    let same = installed
        .get(format!("{entry_key}s"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|entry| entry.get("name").and_then(Value::as_str) == Some(name))
        .any(|entry| {
            let installed_hash = entry
                .get(entry_key)
                .and_then(|template| template.pointer("/_meta/logpipe_hash"));
            installed_hash.and_then(Value::as_str) == Some(hash.as_str())
        });
    let kind = kind.label();
    if same {
        return Ok(format!("{kind} `{name}` is up to date"));
    }
    client
        .send(
            Method::PUT,
            path,
            "application/json",
            Some(body.to_string().into()),
            false,
        )
        .await
        .map_err(|error| SetupError::Request {
            what: format!("installing {kind} `{name}`"),
            error,
        })?;
    Ok(format!("{kind} `{name}` installed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_templates_become_wildcard_patterns() {
        assert_eq!(index_pattern("nginx-%{+yyyy.MM.dd}"), "nginx-*");
        assert_eq!(
            index_pattern("logs-%{[event][dataset]}-%{+yyyy}"),
            "logs-*-*"
        );
        assert_eq!(index_pattern("%{a}%{b}-x"), "*-x");
        assert_eq!(index_pattern("fixed"), "fixed");
    }

    #[test]
    fn bundled_assets_are_valid() {
        let component: Value = serde_json::from_str(COMPONENT_TEMPLATE).unwrap();
        assert!(component["template"]["mappings"]["properties"].is_object());
        for line in KIBANA_OBJECTS
            .lines()
            .filter(|line| !line.trim().is_empty())
        {
            let object: Value = serde_json::from_str(line).unwrap();
            assert!(object["id"].is_string() && object["type"].is_string());
        }
        assert!(KIBANA_OBJECTS.contains("@@INDEX_PATTERN@@"));
    }
}
