//! Shared helpers for the end-to-end tests: temp dirs, running the real `logpipe` binary,
//! polling for conditions with a deadline, reading JSON output.

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `logpipe` binary built for these tests.
pub fn logpipe() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_logpipe"));
    // No AWS instance-metadata lookups (169.254.169.254): tests talk to 127.0.0.1 only.
    command
        .env_remove("LOGPIPE_DATA_DIR")
        .env("LOGPIPE_LOG", "warn")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A temporary directory removed at drop.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("create temp dir")
}

/// Writes `text` as the pipeline file `name` in `dir` and returns its path.
pub fn write_pipeline(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write pipeline");
    path
}

/// Runs `logpipe run PIPELINE` to completion (read mode) and returns its output.
pub fn run_to_end(pipeline: &Path) -> Output {
    run_to_end_with(&[], pipeline)
}

/// Runs `logpipe run OPTIONS… PIPELINE` (e.g. `--once`) to completion; asserts it exits 0.
pub fn run_to_end_with(options: &[&str], pipeline: &Path) -> Output {
    succeeded(logpipe().arg("run").args(options).arg(pipeline))
}

/// Runs `command` to completion and asserts it exits 0, showing its stderr if not.
pub fn succeeded(command: &mut Command) -> Output {
    let output = command.output().expect("run logpipe");
    assert!(
        output.status.success(),
        "logpipe failed: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Parses JSON lines.
pub fn json_lines(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON {line:?}: {e}")))
        .collect()
}

/// The JSON lines of every file under `dir` whose name ends in `.ndjson`, in file-name order.
pub fn ndjson_in(dir: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .filter(|path| path.extension().is_some_and(|e| e == "ndjson"))
        .flat_map(|path| json_lines(&std::fs::read(path).unwrap_or_default()))
        .collect()
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes; panics with `what`.
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until something listens on 127.0.0.1:`port` (a server that just started).
pub fn wait_for_port(port: u16, timeout: Duration) {
    wait_until(
        &format!("127.0.0.1:{port} to accept connections"),
        timeout,
        || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
    );
}

/// Appends `text` to `path`, creating it.
pub fn append(path: &Path, text: &[u8]) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append");
    file.write_all(text).expect("append");
}

/// A running `logpipe run` (tail mode); killed at drop.
pub struct Running {
    pub child: Child,
}

impl Running {
    /// Starts `logpipe run PIPELINE` with stdout and stderr to files in the pipeline's directory.
    pub fn start(pipeline: &Path) -> Running {
        let dir = pipeline.parent().expect("pipeline dir");
        let stdout = std::fs::File::create(dir.join("stdout.log")).expect("stdout file");
        let stderr = std::fs::File::create(dir.join("stderr.log")).expect("stderr file");
        let child = logpipe()
            .arg("run")
            .arg(pipeline)
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("start logpipe");
        Running { child }
    }

    /// Sends SIGTERM and waits for exit; returns the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().expect("wait logpipe")
    }

    /// Waits up to `timeout` for the process to exit by itself; returns its status.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let mut status = None;
        wait_until("logpipe to exit", timeout, || {
            status = self.child.try_wait().expect("poll logpipe");
            status.is_some()
        });
        status.expect("exited")
    }

    /// Kills with SIGKILL (a crash) and waits.
    pub fn kill(self) {
        // Drop kills and reaps the process.
        drop(self);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value at a dotted path in a JSON document.
pub fn field<'a>(document: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(document, |value, key| value.get(key))
}
