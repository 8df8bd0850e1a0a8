//! SECURITY.md, enforced: secrets never appear in logs (even at trace level), `check`
//! output or the dead-letter queue; data_dir is 0700 and its files 0600; a world-readable
//! pipeline file holding a secret and `tls_verify = false` warn; the API listens on
//! 127.0.0.1 unless told otherwise.

use crate::servers::*;
use crate::support::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const PASSWORD: &str = "pw-Zq7-never-printed";
const API_KEY: &str = "key-Hq2-never-printed";
const TOKEN: &str = "tok-Wm5-never-printed";
const AWS_KEY_ID: &str = "AKIANEVERPRINTED0001";
const AWS_SECRET: &str = "aws-Jx9-never-printed";
/// Taken from the environment, not the file.
const ENV_TOKEN: &str = "env-Rb4-never-printed";

/// Every secret, and the forms they travel in (basic auth is base64 of `user:password`).
fn secret_forms() -> Vec<String> {
    let basic = base64_encode(format!("elastic:{PASSWORD}").as_bytes());
    [PASSWORD, API_KEY, TOKEN, AWS_KEY_ID, AWS_SECRET, ENV_TOKEN]
        .iter()
        .map(|secret| secret.to_string())
        .chain([basic])
        .collect()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in secret_forms() {
        assert!(!text.contains(&secret), "{what} shows a secret:\n{text}");
    }
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A read-mode pipeline of JSON lines into two elasticsearch outputs at `hosts` (basic auth
/// and an API key), an s3 input with literal AWS keys that never runs (`check` only), and
/// the API with a token from the environment.
fn pipeline_with_secrets(dir: &Path, hosts: &str, with_s3: bool) -> PathBuf {
    let s3 = if with_s3 {
        format!(
            "[[input]]\ntype = \"s3\"\nbucket = \"logs\"\nregion = \"us-east-1\"\n\
             endpoint = \"http://127.0.0.1:9\"\naccess_key_id = \"{AWS_KEY_ID}\"\n\
             secret_access_key = \"{AWS_SECRET}\"\n"
        )
    } else {
        String::new()
    };
    write_pipeline(
        dir,
        "p.toml",
        &format!(
            "[api]\nlisten = \"127.0.0.1:0\"\nauth_token = \"${{API_TOKEN}}\"\n\
             [[input]]\ntype = \"file\"\npath = \"in.ndjson\"\nmode = \"read\"\ncodec = \"json\"\n{s3}\
             [[output]]\ntype = \"elasticsearch\"\nhosts = \"{hosts}\"\nindex = \"conflict\"\n\
             user = \"elastic\"\npassword = \"{PASSWORD}\"\nretry_initial = \"50ms\"\n\
             [[output]]\ntype = \"elasticsearch\"\nhosts = \"{hosts}\"\nindex = \"other\"\n\
             api_key = \"{API_KEY}\"\nbearer_token = \"{TOKEN}\"\nretry_initial = \"50ms\"\n"
        ),
    )
}

#[test]
fn secrets_never_reach_logs_check_output_or_the_dead_letter_queue_and_data_dir_is_private() {
    let osmem = Osmem::with_conflicting_mapping();
    let dir = temp_dir();
    std::fs::write(dir.path().join("in.ndjson"), "{\"n\":1}\n{\"n\":\"abc\"}\n").unwrap();

    // `check`, with an s3 input holding AWS keys, at trace level.
    let pipeline = pipeline_with_secrets(dir.path(), &osmem.url, true);
    let check = logpipe()
        .args(["--log-level", "trace", "check"])
        .arg(&pipeline)
        .env("API_TOKEN", ENV_TOKEN)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(said.contains("is valid"), "{said}");
    assert_no_secret("check", &said);

    // `run` at trace level: one event indexed, one refused into the dead-letter queue.
    let pipeline = pipeline_with_secrets(dir.path(), &osmem.url, false);
    let run = logpipe()
        .args(["--log-level", "trace", "run"])
        .arg(&pipeline)
        .env("API_TOKEN", ENV_TOKEN)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("TRACE"), "trace logs were on");
    assert_no_secret("run's logs", &stderr);
    assert_eq!(osmem.count("conflict"), 1);
    let data = dir.path().join("data");
    let dlq = data.join("dlq/elasticsearch-1");
    assert_eq!(
        ndjson_in(&dlq).len(),
        1,
        "the refused event was dead-lettered"
    );
    let files = files_under(&data);
    assert!(files.iter().any(|file| file.starts_with(&dlq)));
    assert!(
        files
            .iter()
            .any(|file| file.starts_with(data.join("checkpoints")))
    );
    for file in &files {
        assert_no_secret(
            &file.display().to_string(),
            &std::fs::read_to_string(file).unwrap(),
        );
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    for private in [&data, &data.join("checkpoints"), &data.join("dlq"), &dlq] {
        assert_eq!(mode(private), 0o700, "{}", private.display());
    }

    // Refused credentials: the error names the options, never their values.
    let refusing = RecordingServer::start(401, r#"{"error":"unauthorized"}"#);
    let pipeline = pipeline_with_secrets(dir.path(), &refusing.url, false);
    let refused = logpipe()
        .args(["--log-level", "trace", "run"])
        .arg(&pipeline)
        .env("API_TOKEN", ENV_TOKEN)
        .env("LOGPIPE_DATA_DIR", dir.path().join("data2"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("refused the credentials"), "{stderr}");
    assert_no_secret("the refused run's logs", &stderr);
}

/// `logpipe check` on `text` written with `mode`; its stderr.
fn check_stderr(dir: &Path, text: &str, mode: u32, env: &[(&str, &str)]) -> String {
    let pipeline = write_pipeline(dir, "p.toml", text);
    std::fs::set_permissions(&pipeline, std::fs::Permissions::from_mode(mode)).unwrap();
    let output = succeeded(
        logpipe()
            .arg("check")
            .arg(&pipeline)
            .envs(env.iter().copied()),
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_world_readable_pipeline_file_with_a_secret_and_tls_verify_off_warn() {
    let dir = temp_dir();
    std::fs::write(dir.path().join("in.log"), "x\n").unwrap();
    let with = |password: &str, tls: &str| {
        format!(
            "[api]\nenabled = false\n[[input]]\ntype = \"file\"\npath = \"in.log\"\n\
             [[output]]\ntype = \"elasticsearch\"\nhosts = \"http://127.0.0.1:9\"\n\
             user = \"elastic\"\npassword = \"{password}\"\n{tls}"
        )
    };
    let literal = with(PASSWORD, "");
    let stderr = check_stderr(dir.path(), &literal, 0o644, &[]);
    assert!(
        stderr.contains("readable by every user (mode 644)")
            && stderr.contains("`output[0].password` (line 10)")
            && stderr.contains("chmod 600"),
        "{stderr}"
    );
    assert_no_secret("the warning", &stderr);
    assert!(
        !stderr.contains('\x1b'),
        "no colours in logs to a pipe or the journal"
    );
    // Private file, or the secret taken from the environment: nothing to say.
    let stderr = check_stderr(dir.path(), &literal, 0o600, &[]);
    assert!(!stderr.contains("readable by every user"), "{stderr}");
    let from_env = with("${ES_PASSWORD}", "");
    let stderr = check_stderr(dir.path(), &from_env, 0o644, &[("ES_PASSWORD", PASSWORD)]);
    assert!(!stderr.contains("readable by every user"), "{stderr}");
    assert!(!stderr.contains("tls_verify"), "{stderr}");

    let insecure = with("${ES_PASSWORD}", "tls_verify = false\n");
    let stderr = check_stderr(dir.path(), &insecure, 0o600, &[("ES_PASSWORD", PASSWORD)]);
    assert!(
        stderr.contains("output `elasticsearch-1`: tls_verify = false")
            && stderr.contains("NOT checked"),
        "{stderr}"
    );
}

#[test]
fn the_api_listens_on_loopback_by_default() {
    let dir = temp_dir();
    let log = dir.path().join("in.log");
    std::fs::write(&log, "x\n").unwrap();
    let pipeline = write_pipeline(
        dir.path(),
        "p.toml",
        "[[input]]\ntype = \"file\"\npath = \"in.log\"\nmode = \"tail\"\n\
         [[output]]\ntype = \"stdout\"\n",
    );
    let running = Running::start(&pipeline);
    let announced = dir.path().join("data/api.url");
    wait_until(
        "the API address",
        std::time::Duration::from_secs(30),
        || std::fs::read_to_string(&announced).is_ok_and(|url| url.ends_with('\n')),
    );
    let url = std::fs::read_to_string(&announced).unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(running.terminate().success());
}
