//! The Docker Compose stack (docker-compose.yml, Dockerfile) and the setup assets logpipe
//! installs into Elasticsearch and Kibana (setup/). CI has no Docker engine, so the stack is
//! not run here: these tests check its structure, the wiring between its services, and that
//! the assets are well-formed and agree with each other.

use crate::support::*;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

fn read(path: &str) -> String {
    let path = repo().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn compose() -> Value {
    serde_yaml_ng::from_str::<Value>(&read("docker-compose.yml"))
        .unwrap_or_else(|e| panic!("docker-compose.yml is not valid YAML: {e}"))
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    compose["services"]
        .get(name)
        .unwrap_or_else(|| panic!("docker-compose.yml has no service `{name}`"))
}

/// A service's `environment`, from either the mapping or the `KEY=value` list form.
fn environment(service: &Value) -> BTreeMap<String, String> {
    match &service["environment"] {
        Value::Object(map) => map
            .iter()
            .map(|(key, value)| {
                let value = match value {
                    Value::String(text) => text.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                (key.clone(), value)
            })
            .collect(),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                let item = item
                    .as_str()
                    .unwrap_or_else(|| panic!("environment item {item}"));
                match item.split_once('=') {
                    Some((key, value)) => (key.to_string(), value.to_string()),
                    None => (item.to_string(), String::new()),
                }
            })
            .collect(),
        Value::Null => BTreeMap::new(),
        other => panic!("unexpected environment {other}"),
    }
}

/// The condition `service` waits for on `dependency`, if it depends on it at all (the short
/// list form means `service_started`).
fn depends_on_condition(service: &Value, dependency: &str) -> Option<String> {
    match &service["depends_on"] {
        Value::Array(names) => names
            .iter()
            .any(|name| name.as_str() == Some(dependency))
            .then(|| "service_started".to_string()),
        Value::Object(map) => map.get(dependency).map(|entry| {
            entry["condition"]
                .as_str()
                .unwrap_or("service_started")
                .to_string()
        }),
        _ => None,
    }
}

/// The container ports a service publishes, from short (`"127.0.0.1:9200:9200"`) or long
/// (`{target: 9200, published: 9200}`) port entries.
fn published_container_ports(service: &Value) -> Vec<u64> {
    let Some(ports) = service["ports"].as_array() else {
        return Vec::new();
    };
    ports
        .iter()
        .filter_map(|port| match port {
            Value::Object(long) => long["target"].as_u64(),
            Value::String(short) if short.contains(':') => short
                .trim_end_matches("/tcp")
                .rsplit(':')
                .next()
                .and_then(|target| target.parse().ok()),
            _ => None,
        })
        .collect()
}

fn healthcheck_test(service: &Value) -> String {
    match &service["healthcheck"]["test"] {
        Value::String(command) => command.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// The variables docker-compose.yml interpolates without a default (`${VAR}`, `${VAR:?…}`;
/// not `${VAR:-default}` nor the escaped `$${…}`).
fn required_compose_variables(text: &str) -> HashSet<String> {
    let mut names = HashSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let escaped = rest[..start].ends_with('$');
        let after = &rest[start + 2..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let operator = &after[name.len()..];
        let has_default = operator.starts_with(":-") || operator.starts_with('-');
        if !escaped && !name.is_empty() && !has_default {
            names.insert(name);
        }
        rest = after;
    }
    names
}

/// A compose value as `docker compose` resolves it with an empty `.env`: `${VAR:-default}` and
/// `${VAR-default}` give the default, `${VAR}` and `${VAR:?…}` give `required(VAR)`, `$$`
/// gives `$`.
fn compose_value(text: &str, required: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        if let Some(escaped) = after.strip_prefix('$') {
            out.push('$');
            rest = escaped;
            continue;
        }
        let Some(reference) = after.strip_prefix('{') else {
            out.push('$');
            rest = after;
            continue;
        };
        let end = reference.find('}').expect("closing } in a compose value");
        let inner = &reference[..end];
        let name: String = inner
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let operator = &inner[name.len()..];
        match operator
            .strip_prefix(":-")
            .or_else(|| operator.strip_prefix('-'))
        {
            Some(default) => out.push_str(default),
            None => out.push_str(&required(&name)),
        }
        rest = &reference[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The services of the default `docker compose up` (those without `profiles`), by name.
fn default_services(compose: &Value) -> Vec<String> {
    compose["services"]
        .as_object()
        .expect("services")
        .iter()
        .filter(|(_, service)| service.get("profiles").is_none())
        .map(|(name, _)| name.clone())
        .collect()
}

/// Dockerfile instructions as (KEYWORD, arguments), comments and continuations resolved.
fn dockerfile_instructions() -> Vec<(String, String)> {
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in read("Dockerfile").lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(continued) => {
                current.push_str(continued);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                let (keyword, arguments) =
                    current.split_once(' ').unwrap_or((current.as_str(), ""));
                instructions.push((keyword.to_uppercase(), arguments.trim().to_string()));
                current.clear();
            }
        }
    }
    instructions
}

/// The mapping of a dotted field path in `properties`, following objects and multi-fields.
fn mapping<'a>(properties: &'a Value, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.').peekable();
    let mut fields = properties;
    while let Some(part) = parts.next() {
        let field = fields.get(part)?;
        if parts.peek().is_none() {
            return Some(field);
        }
        fields = if field.get("properties").is_some() {
            &field["properties"]
        } else {
            &field["fields"]
        };
    }
    None
}

fn component_template_properties() -> Value {
    let template: Value = serde_json::from_str(&read(
        "setup/elasticsearch/component-template-nginx-ecs.json",
    ))
    .unwrap_or_else(|e| panic!("the component template is not valid JSON: {e}"));
    template["template"]["mappings"]["properties"].clone()
}

fn saved_objects() -> Vec<Value> {
    read("setup/kibana/nginx-dashboard.ndjson")
        .lines()
        .enumerate()
        .map(|(index, line)| {
            serde_json::from_str::<Value>(line).unwrap_or_else(|e| {
                panic!("nginx-dashboard.ndjson line {}: {e}: {line:?}", index + 1)
            })
        })
        .collect()
}

/// An attribute that Kibana stores as a JSON string, parsed.
fn json_attribute(object: &Value, path: &[&str]) -> Value {
    let mut value = &object["attributes"];
    for key in path {
        value = &value[*key];
    }
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{} has no string {}", object["id"], path.join(".")));
    serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{} {} is not JSON: {e}", object["id"], path.join(".")))
}

#[test]
fn compose_stack_has_healthchecked_services_in_dependency_order() {
    let compose = compose();
    for name in ["elasticsearch", "kibana-setup", "kibana", "logpipe"] {
        service(&compose, name);
    }
    for name in ["elasticsearch", "kibana"] {
        assert!(
            !healthcheck_test(service(&compose, name)).is_empty(),
            "`{name}` has no healthcheck"
        );
    }
    assert!(
        healthcheck_test(service(&compose, "elasticsearch")).contains("_cluster/health"),
        "the elasticsearch healthcheck asks the cluster health"
    );
    let order = [
        ("kibana-setup", "elasticsearch", "service_healthy"),
        ("kibana", "kibana-setup", "service_completed_successfully"),
        ("logpipe", "elasticsearch", "service_healthy"),
        ("logpipe", "kibana", "service_healthy"),
    ];
    for (dependent, dependency, condition) in order {
        assert_eq!(
            depends_on_condition(service(&compose, dependent), dependency).as_deref(),
            Some(condition),
            "`{dependent}` waits for `{dependency}` to be {condition}"
        );
    }
}

#[test]
fn compose_stack_publishes_its_ports_and_points_logpipe_at_elasticsearch_and_kibana() {
    let compose = compose();
    for (name, port) in [("elasticsearch", 9200), ("kibana", 5601)] {
        assert!(
            published_container_ports(service(&compose, name)).contains(&port),
            "`{name}` publishes port {port}"
        );
    }

    let elasticsearch = environment(service(&compose, "elasticsearch"));
    assert_eq!(
        elasticsearch
            .get("xpack.security.enabled")
            .map(String::as_str),
        Some("true")
    );
    assert!(elasticsearch.contains_key("ELASTIC_PASSWORD"));
    let kibana = environment(service(&compose, "kibana"));
    assert_eq!(
        kibana.get("ELASTICSEARCH_USERNAME").map(String::as_str),
        Some("kibana_system")
    );

    let logpipe = service(&compose, "logpipe");
    let logpipe_environment = environment(logpipe);
    assert_eq!(
        logpipe_environment
            .get("ELASTICSEARCH_URL")
            .map(String::as_str),
        Some("http://elasticsearch:9200")
    );
    assert_eq!(
        logpipe_environment.get("KIBANA_URL").map(String::as_str),
        Some("http://kibana:5601")
    );
    for key in ["ELASTICSEARCH_USER", "ELASTICSEARCH_PASSWORD"] {
        assert!(logpipe_environment.contains_key(key), "logpipe gets {key}");
    }
    // The live view: the API listens on the container's interfaces, its port is published,
    // /health is the container's health check, and the pipeline has a live output.
    assert_eq!(
        logpipe_environment
            .get("LOGPIPE_API_LISTEN")
            .map(String::as_str),
        Some("0.0.0.0:9600")
    );
    assert!(published_container_ports(logpipe).contains(&9600));
    let health = logpipe["healthcheck"]["test"].to_string();
    assert!(health.contains("http://127.0.0.1:9600/health"), "{health}");
    let pipeline = read("pipelines/nginx-elasticsearch.toml");
    assert!(
        pipeline.contains("listen = \"${LOGPIPE_API_LISTEN:-}\"")
            && pipeline.contains("type = \"live\""),
        "the compose pipeline serves the live view"
    );
    let build_context = logpipe["build"]
        .as_str()
        .or_else(|| logpipe["build"]["context"].as_str());
    assert_eq!(
        build_context,
        Some("."),
        "logpipe is built from this repository"
    );
    let volumes: Vec<&str> = logpipe["volumes"]
        .as_array()
        .map(|volumes| volumes.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        volumes.iter().any(|v| v.ends_with(":/var/lib/logpipe")),
        "the data dir is a volume: {volumes:?}"
    );

    let image_tag = |name: &str| {
        let image = service(&compose, name)["image"]
            .as_str()
            .unwrap_or_default();
        image.rsplit_once(':').map(|(_, tag)| tag.to_string())
    };
    let stack_version = image_tag("elasticsearch");
    assert!(
        stack_version
            .as_deref()
            .is_some_and(|v| v.starts_with("8.")),
        "elasticsearch is pinned to an 8.x version: {stack_version:?}"
    );
    assert_eq!(
        image_tag("kibana"),
        stack_version,
        "kibana matches elasticsearch"
    );

    let required = required_compose_variables(&read("docker-compose.yml"));
    let example = read(".env.example");
    let defined: HashSet<&str> = example
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| line.split_once('=').map(|(key, _)| key.trim()))
        .collect();
    for name in &required {
        assert!(
            defined.contains(name.as_str()),
            ".env.example defines {name}"
        );
    }
    assert!(required.contains("ELASTIC_PASSWORD") && required.contains("KIBANA_PASSWORD"));
}

#[test]
fn dockerfile_has_two_stages_runs_as_a_non_root_user_and_ships_setup_and_pipelines() {
    let instructions = dockerfile_instructions();
    let of = |keyword: &str| -> Vec<&str> {
        instructions
            .iter()
            .filter(|(k, _)| k == keyword)
            .map(|(_, arguments)| arguments.as_str())
            .collect()
    };
    assert_eq!(of("FROM").len(), 2, "a build stage and a runtime stage");

    let user = of("USER")
        .last()
        .copied()
        .expect("the Dockerfile sets a USER");
    let user_name = user.split(':').next().unwrap_or(user);
    assert!(
        !["root", "0"].contains(&user_name),
        "the image runs as a non-root user, not {user:?}"
    );

    let copies = of("COPY");
    assert!(
        copies
            .iter()
            .any(|c| c.starts_with("--from=") && c.contains("logpipe")),
        "the runtime stage copies the binary from the build stage: {copies:?}"
    );
    for directory in ["setup/", "pipelines/", "patterns/"] {
        assert!(
            copies.iter().any(|c| c.starts_with(directory)),
            "the image ships {directory}: {copies:?}"
        );
    }
    assert_eq!(of("ENTRYPOINT"), [r#"["logpipe"]"#]);

    // The pipeline the image runs by default, and the one compose runs, are in the repository.
    let cmd: Vec<String> = serde_json::from_str(of("CMD").last().copied().unwrap_or("[]"))
        .expect("CMD is in exec form");
    let compose = compose();
    let compose_command: Vec<String> =
        serde_json::from_value(service(&compose, "logpipe")["command"].clone())
            .expect("logpipe's command is a list");
    for command in [&cmd, &compose_command] {
        assert_eq!(command.first().map(String::as_str), Some("run"));
        let pipeline = command.get(1).expect("run names a pipeline file");
        assert!(
            repo().join(pipeline).is_file(),
            "{pipeline} exists in the repository"
        );
    }
}

#[test]
fn compose_s3_profile_adds_minio_and_a_second_logpipe_that_the_default_stack_does_not_start() {
    let compose = compose();
    let s3_services = ["minio", "minio-setup", "logpipe-s3"];
    for name in s3_services {
        assert_eq!(
            service(&compose, name)["profiles"],
            serde_json::json!(["s3"]),
            "`{name}` is only in the s3 profile"
        );
    }
    let default = default_services(&compose);
    assert_eq!(
        default,
        ["elasticsearch", "kibana", "kibana-setup", "logpipe"],
        "a plain `docker compose up` starts the Elasticsearch stack only"
    );
    for name in &default {
        for dependency in s3_services {
            assert_eq!(
                depends_on_condition(service(&compose, name), dependency),
                None,
                "`{name}` (default profile) must not depend on `{dependency}` (s3 profile)"
            );
        }
    }

    for name in ["minio", "minio-setup"] {
        let image = service(&compose, name)["image"]
            .as_str()
            .unwrap_or_default();
        let tag = image
            .rsplit_once(':')
            .map(|(_, tag)| tag)
            .unwrap_or_default();
        assert!(
            tag.starts_with("RELEASE."),
            "`{name}` is pinned to a MinIO release: {image:?}"
        );
    }
    assert!(!healthcheck_test(service(&compose, "minio")).is_empty());
    let order = [
        ("minio-setup", "minio", "service_healthy"),
        (
            "logpipe-s3",
            "minio-setup",
            "service_completed_successfully",
        ),
        ("logpipe-s3", "elasticsearch", "service_healthy"),
    ];
    for (dependent, dependency, condition) in order {
        assert_eq!(
            depends_on_condition(service(&compose, dependent), dependency).as_deref(),
            Some(condition),
            "`{dependent}` waits for `{dependency}` to be {condition}"
        );
    }

    // logpipe-s3 reads the bucket minio-setup creates, with MinIO's root credentials.
    let resolve = |env: BTreeMap<String, String>| -> BTreeMap<String, String> {
        env.into_iter()
            .map(|(key, value)| (key, compose_value(&value, |name| format!("<{name}>"))))
            .collect()
    };
    let minio = resolve(environment(service(&compose, "minio")));
    let setup = resolve(environment(service(&compose, "minio-setup")));
    let reader = resolve(environment(service(&compose, "logpipe-s3")));
    assert_eq!(reader["S3_ENDPOINT"], "http://minio:9000");
    assert_eq!(reader["S3_BUCKET"], setup["S3_BUCKET"]);
    assert_eq!(reader["AWS_ACCESS_KEY_ID"], minio["MINIO_ROOT_USER"]);
    assert_eq!(
        reader["AWS_SECRET_ACCESS_KEY"],
        minio["MINIO_ROOT_PASSWORD"]
    );
    assert!(
        minio["MINIO_ROOT_PASSWORD"].len() >= 8,
        "MinIO refuses root passwords under 8 characters"
    );
    let script = service(&compose, "minio-setup")["entrypoint"]
        .as_array()
        .and_then(|parts| parts.last())
        .and_then(Value::as_str)
        .unwrap_or_default();
    assert!(
        script.contains("mc mb --ignore-existing \"local/$$S3_BUCKET\""),
        "minio-setup creates the bucket: {script}"
    );
    assert!(
        script.contains(&format!("/$$S3_BUCKET/{}", reader["S3_PREFIX"])),
        "minio-setup uploads the sample under the prefix logpipe-s3 reads: {script}"
    );

    let logpipe_s3 = service(&compose, "logpipe-s3");
    let command: Vec<String> = serde_json::from_value(logpipe_s3["command"].clone())
        .expect("logpipe-s3's command is a list");
    assert_eq!(command, ["run", "pipelines/nginx-s3.toml"]);
    let volumes: Vec<&str> = logpipe_s3["volumes"]
        .as_array()
        .map(|volumes| volumes.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        volumes.iter().any(|v| v.ends_with(":/var/lib/logpipe")),
        "logpipe-s3 keeps its checkpoints in a volume: {volumes:?}"
    );

    // The pipeline is valid with the service's environment (the hosts made local, so that
    // `check` looks nothing up in DNS; it does not contact S3).
    let mut check = logpipe();
    check.arg("check").arg(repo().join(&command[1]));
    for (key, value) in &reader {
        let value = match key.as_str() {
            "ELASTICSEARCH_URL" | "KIBANA_URL" => "http://127.0.0.1:9".to_string(),
            _ => value.clone(),
        };
        check.env(key, value);
    }
    let output = check.output().expect("run logpipe check");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "logpipe check pipelines/nginx-s3.toml with logpipe-s3's environment: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("s3://nginx-logs/nginx/") && stdout.contains("http://minio:9000"),
        "{stdout}"
    );
}

#[test]
fn kibana_saved_objects_are_one_object_per_line_with_resolvable_references() {
    let objects = saved_objects();
    let mut ids = HashSet::new();
    for object in &objects {
        let (Some(kind), Some(id)) = (object["type"].as_str(), object["id"].as_str()) else {
            panic!("every saved object has a string `type` and `id`: {object}");
        };
        assert!(object["attributes"].is_object(), "{id} has attributes");
        assert!(ids.insert((kind, id)), "{kind} {id} appears once");
    }

    for object in &objects {
        for reference in object["references"].as_array().into_iter().flatten() {
            let target = (
                reference["type"].as_str().unwrap_or_default(),
                reference["id"].as_str().unwrap_or_default(),
            );
            assert!(
                ids.contains(&target),
                "{} refers to {target:?}, which is not in the file",
                object["id"]
            );
        }
    }

    let data_view = objects
        .iter()
        .find(|o| o["type"] == "index-pattern")
        .expect("a data view");
    assert_eq!(data_view["attributes"]["title"], "@@INDEX_PATTERN@@");
    assert_eq!(data_view["attributes"]["timeFieldName"], "@timestamp");

    let dashboard = objects
        .iter()
        .find(|o| o["type"] == "dashboard" && o["id"] == "logpipe-nginx-dashboard")
        .expect("the logpipe-nginx-dashboard dashboard");
    let reference_names: HashSet<&str> = dashboard["references"]
        .as_array()
        .expect("the dashboard has references")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    let panels = json_attribute(dashboard, &["panelsJSON"]);
    for panel in panels.as_array().expect("panelsJSON is a list") {
        let name = panel["panelRefName"]
            .as_str()
            .expect("panels are by reference");
        assert!(
            reference_names.contains(name),
            "panel reference {name} exists"
        );
    }
    let on_dashboard: HashSet<&str> = dashboard["references"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_str())
        .collect();
    for object in &objects {
        if matches!(object["type"].as_str(), Some("visualization" | "search")) {
            let id = object["id"].as_str().unwrap_or_default();
            assert!(on_dashboard.contains(id), "{id} is on the dashboard");
        }
    }

    // Every field a panel aggregates on or shows is mapped by the component template.
    let properties = component_template_properties();
    let mut fields = Vec::new();
    for object in &objects {
        match object["type"].as_str() {
            Some("visualization") => {
                let state = json_attribute(object, &["visState"]);
                let aggs = state["aggs"].as_array().expect("visState has aggs");
                fields.extend(
                    aggs.iter()
                        .filter_map(|a| a["params"]["field"].as_str().map(String::from)),
                );
                json_attribute(object, &["kibanaSavedObjectMeta", "searchSourceJSON"]);
            }
            Some("search") => {
                let columns = object["attributes"]["columns"].as_array().expect("columns");
                fields.extend(columns.iter().filter_map(|c| c.as_str().map(String::from)));
                json_attribute(object, &["kibanaSavedObjectMeta", "searchSourceJSON"]);
            }
            _ => {}
        }
    }
    assert!(!fields.is_empty());
    for field in &fields {
        assert!(
            mapping(&properties, field).is_some(),
            "{field} is mapped by the component template"
        );
    }
}

#[test]
fn component_template_maps_the_ecs_fields_logpipe_writes() {
    let template: Value = serde_json::from_str(&read(
        "setup/elasticsearch/component-template-nginx-ecs.json",
    ))
    .expect("the component template is valid JSON");
    assert_eq!(template["_meta"]["managed_by"], "logpipe");
    let properties = &template["template"]["mappings"]["properties"];
    assert!(
        properties.is_object(),
        "template.mappings.properties is an object"
    );
    let expected = [
        ("@timestamp", "date"),
        ("message", "text"),
        ("event.original", "keyword"),
        ("source.address", "keyword"),
        ("source.address.ip", "ip"),
        ("http.request.method", "keyword"),
        ("http.response.status_code", "long"),
        ("http.response.body.bytes", "long"),
        ("url.original", "wildcard"),
        ("url.original.text", "text"),
        ("user_agent.original", "keyword"),
        ("user_agent.name", "keyword"),
        ("log.file.path", "keyword"),
        ("log.offset", "long"),
    ];
    for (field, kind) in expected {
        let mapped = mapping(properties, field).unwrap_or_else(|| panic!("{field} is mapped"));
        assert_eq!(mapped["type"], kind, "{field} is a {kind}");
    }
    let dynamic = template["template"]["mappings"]["dynamic_templates"]
        .as_array()
        .expect("dynamic templates");
    assert!(
        dynamic.iter().any(
            |t| t.as_object().and_then(|t| t.values().next()).is_some_and(
                |t| t["match_mapping_type"] == "string" && t["mapping"]["type"] == "keyword"
            )
        ),
        "other strings are mapped as keyword"
    );
}
