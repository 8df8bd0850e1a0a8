//! The bundled pipeline on the bundled sample: every line comes out once, parsed.

use crate::support::*;
use serde_json::json;

fn sample_lines() -> usize {
    let bytes = std::fs::read(repo().join("examples/access.log")).unwrap();
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count()
}

#[test]
fn bundled_pipeline_emits_one_parsed_event_per_sample_line_and_resumes_from_checkpoint() {
    let data = temp_dir();
    let run = || {
        succeeded(
            logpipe()
                .args(["run", "pipelines/nginx-file.toml"])
                .current_dir(repo())
                .env("LOGPIPE_DATA_DIR", data.path()),
        )
    };
    let output = run();
    let events = json_lines(&output.stdout);
    assert_eq!(events.len(), sample_lines());

    let parsed: Vec<_> = events
        .iter()
        .filter(|e| field(e, "http.response.status_code").is_some())
        .collect();
    let failed: Vec<_> = events
        .iter()
        .filter(|e| {
            e["tags"]
                .as_array()
                .is_some_and(|t| t.contains(&json!("_grokparsefailure")))
        })
        .collect();
    assert_eq!(parsed.len() + failed.len(), events.len());
    assert!(failed.len() <= 5, "{} lines failed grok", failed.len());
    for event in &parsed {
        assert!(field(event, "source.address").is_some(), "{event}");
        assert!(
            field(event, "nginx.access.time").is_none(),
            "time field removed: {event}"
        );
        let timestamp = event["@timestamp"].as_str().unwrap();
        assert!(
            timestamp.ends_with('Z') && timestamp.len() == 24,
            "{timestamp}"
        );
        assert!(field(event, "log.file.path").is_some() && field(event, "log.offset").is_some());
        assert!(field(event, "event.original").is_some());
    }
    assert!(parsed.iter().any(|e| field(e, "user_agent.name").is_some()));
    // Latin-1 bytes in the sample are decoded, not mangled.
    assert!(
        events
            .iter()
            .any(|e| e["message"].as_str().unwrap().contains('é'))
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("events in {}", events.len())),
        "{stderr}"
    );

    // The checkpoint says the file is done: a second run emits nothing.
    let again = run();
    assert_eq!(json_lines(&again.stdout).len(), 0);
}

#[test]
fn several_workers_keep_the_input_order() {
    // Many small batches over four workers: batches finish out of order, the output must not.
    let dir = temp_dir();
    let sample = std::fs::read(repo().join("examples/access.log")).unwrap();
    let mut log = Vec::new();
    for _ in 0..20 {
        log.extend_from_slice(&sample);
    }
    std::fs::write(dir.path().join("access.log"), &log).unwrap();
    let pipeline = write_pipeline(
        dir.path(),
        "p.toml",
        "[pipeline]\nworkers = 4\nbatch_size = 7\n\n\
         [[input]]\ntype = \"file\"\npath = \"access.log\"\nmode = \"read\"\n\n\
         [[filter]]\ntype = \"grok\"\nmatch = { message = \"%{NGINX_COMBINED}\" }\n\n\
         [[filter]]\ntype = \"date\"\nmatch = [\"nginx.access.time\", \"dd/MMM/yyyy:HH:mm:ss Z\"]\n\n\
         [[output]]\ntype = \"stdout\"\n",
    );
    let output = run_to_end(&pipeline);
    assert!(output.status.success());
    let offsets: Vec<u64> = json_lines(&output.stdout)
        .iter()
        .map(|event| event["log"]["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets.len(), sample_lines() * 20);
    assert!(
        offsets.windows(2).all(|pair| pair[0] < pair[1]),
        "offsets out of order"
    );
}
