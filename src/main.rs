//! The `logpipe` command line: parses arguments, calls into the library, maps errors to
//! exit codes (0 ok, 1 invalid pipeline or failed run, 2 usage).

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use logpipe::api::{self, ApiServer};
use logpipe::config::PipelineConfig;
use logpipe::filters::grok::GrokDebugger;
use logpipe::outputs::elasticsearch;
use logpipe::pipeline::Pipeline;
use logpipe::run_lock::{Locked, RunLock};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Events are built by one thread and freed by another (filter workers, outputs); glibc's
/// malloc spent 40% of the CPU on that (perf, file → grok → date → stdout), mimalloc a fraction.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A small, fast, dependable log pipeline: files or S3 → grok → JSON / Elasticsearch.
#[derive(Parser)]
#[command(name = "logpipe", version, about)]
struct Cli {
    /// Log level: error, warn, info, debug, trace (or a tracing filter such as `logpipe=debug`).
    #[arg(long, global = true, default_value = "info", env = "LOGPIPE_LOG")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline until its inputs are done (read mode) or SIGINT/SIGTERM.
    Run {
        /// The pipeline file (TOML).
        pipeline: PathBuf,
        /// One pass: s3 inputs in poll mode list the bucket once, read what is new, and the
        /// run exits when everything is delivered (for cron and systemd timers).
        #[arg(long)]
        once: bool,
    },
    /// Check a pipeline: load it, compile every pattern, check globs and paths; print a summary.
    Check {
        /// The pipeline file (TOML).
        pipeline: PathBuf,
        /// Also print what each input's checkpoint records (for s3: the watermark and every
        /// object that could not be read, with its error).
        #[arg(long)]
        state: bool,
    },
    /// Install the index templates (and, with `kibana_url`, the Kibana data view and dashboard)
    /// of the pipeline's Elasticsearch outputs. Safe to run again: what is installed is kept.
    Setup {
        /// The pipeline file (TOML).
        pipeline: PathBuf,
    },
    /// Show the live traffic view of a running pipeline in the terminal (its `live` output,
    /// through the monitoring API).
    Top {
        /// The pipeline file of the running pipeline (finds its API address and token).
        #[arg(required_unless_present = "url", conflicts_with = "url")]
        pipeline: Option<PathBuf>,
        /// The API's address instead, e.g. http://127.0.0.1:9600.
        #[arg(long)]
        url: Option<String>,
        /// The API's auth_token (default: the pipeline file's).
        #[arg(long, env = "LOGPIPE_API_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Print one frame and exit (for scripts).
        #[arg(long)]
        once: bool,
    },
    /// Work with the dead-letter queue of the Elasticsearch outputs.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Try a grok pattern on lines read from standard input; prints the captures of each line
    /// as JSON, or `no match` with the longest part of the pattern that matched.
    Grok {
        /// The pattern, e.g. '%{NGINX_COMBINED}'.
        pattern: String,
        /// Extra pattern directories (repeatable); the bundled patterns are always loaded.
        #[arg(long = "patterns-dir")]
        patterns_dir: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Send the dead-lettered events again (after fixing the mapping or the index); events
    /// refused again go back to the queue.
    Replay {
        /// The pipeline file (TOML).
        pipeline: PathBuf,
        /// Only this output's queue (default: every Elasticsearch output).
        #[arg(long)]
        output: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log_level);
    let result = match cli.command {
        Command::Run { pipeline, once } => run(pipeline, once),
        Command::Check { pipeline, state } => check(pipeline, state),
        Command::Setup { pipeline } => setup(pipeline),
        Command::Top {
            pipeline,
            url,
            token,
            once,
        } => top(pipeline, url, token, once),
        Command::Dlq {
            command: DlqCommand::Replay { pipeline, output },
        } => replay(pipeline, output.as_deref()),
        Command::Grok {
            pattern,
            patterns_dir,
        } => grok(&pattern, &patterns_dir),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// Loads and builds a pipeline, printing every problem; `None` when there were problems.
/// `once` makes every input that can do one pass do one pass (`run --once`).
fn load(
    file: &std::path::Path,
    once: bool,
) -> Option<(PipelineConfig, Result<Pipeline, Vec<String>>)> {
    match PipelineConfig::load(file) {
        Err(errors) => {
            for error in &errors.0 {
                eprintln!("error: {error}");
            }
            None
        }
        Ok(mut config) => {
            for warning in config.security_warnings() {
                tracing::warn!("{warning}");
            }
            if once {
                for input in &mut config.inputs {
                    input.config.set_once();
                }
            }
            let built = Pipeline::build(config.clone()).map_err(|errors| {
                errors
                    .iter()
                    .map(|error| format!("{}: {error}", file.display()))
                    .collect()
            });
            Some((config, built))
        }
    }
}

fn run(file: PathBuf, once: bool) -> Result<ExitCode> {
    let Some((config, built)) = load(&file, once) else {
        return Ok(ExitCode::FAILURE);
    };
    let pipeline = match built {
        Ok(pipeline) => pipeline,
        Err(errors) => {
            for error in errors {
                eprintln!("error: {error}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let data_dir = config.data_dir();
    let _lock = match RunLock::acquire(&data_dir, config.settings.when_locked)? {
        Locked::Acquired(lock) => lock,
        Locked::Busy(pid) => {
            let holder = pid.map_or_else(String::new, |pid| format!(" (pid {pid})"));
            eprintln!(
                "logpipe: another logpipe run{holder} is using data_dir {}; nothing to do (set [pipeline] when_locked = \"wait\" to wait for it instead)",
                data_dir.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
    };
    runtime()?.block_on(async move {
        let server = match ApiServer::bind(&config.api).await {
            Ok(server) => server,
            Err(error) => {
                eprintln!("error: {}: {error}", file.display());
                return Ok(ExitCode::FAILURE);
            }
        };
        let api_stopping = CancellationToken::new();
        let api_task = server.map(|server| {
            tokio::spawn(server.serve(
                config.api.clone(),
                data_dir.clone(),
                pipeline.stats(),
                pipeline.live_frames(),
                api_stopping.clone(),
            ))
        });
        let shutdown = CancellationToken::new();
        tokio::spawn(watch_signals(shutdown.clone()));
        let progress = (config.is_finite() && std::io::stderr().is_terminal())
            .then(|| show_progress(pipeline.stats()));
        tracing::info!(pipeline = %file.display(), workers = config.settings.workers, "starting");
        let result = pipeline.run(shutdown).await;
        if let Some(progress) = progress {
            progress.finish_and_clear();
        }
        if let Some(task) = api_task {
            api_stopping.cancel();
            let _ = task.await;
        }
        match result {
            Ok(summary) => {
                eprintln!("logpipe: {summary}");
                Ok(ExitCode::SUCCESS)
            }
            Err(error) => {
                eprintln!("error: {error}");
                Ok(ExitCode::FAILURE)
            }
        }
    })
}

/// Cancels `shutdown` on the first SIGINT/SIGTERM; exits at once on the second.
async fn watch_signals(shutdown: CancellationToken) {
    for count in 1.. {
        if wait_for_signal().await.is_err() {
            return;
        }
        if count == 1 {
            tracing::info!("shutting down: draining in-flight events (signal again to force)");
            shutdown.cancel();
        } else {
            tracing::warn!("forced exit; checkpoints hold what was acknowledged");
            std::process::exit(130);
        }
    }
}

async fn wait_for_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = terminate.recv() => Ok(()),
    }
}

fn show_progress(stats: std::sync::Arc<logpipe::stats::PipelineStats>) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let shown = bar.clone();
    std::thread::spawn(move || {
        while !shown.is_finished() {
            let events = stats.events_in.load(Ordering::Relaxed);
            let seconds = shown.elapsed().as_secs_f64().max(0.001);
            shown.set_message(format!(
                "{events} events, {:.0} events/s",
                events as f64 / seconds
            ));
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    bar
}

fn check(file: PathBuf, show_state: bool) -> Result<ExitCode> {
    let Some((config, built)) = load(&file, false) else {
        return Ok(ExitCode::FAILURE);
    };
    let pipeline = match built {
        Ok(pipeline) => pipeline,
        Err(errors) => {
            for error in errors {
                eprintln!("error: {error}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let descriptions = pipeline.describe_inputs();
    let settings = &config.settings;
    println!("pipeline {} is valid", file.display());
    println!(
        "  workers {}, batch_size {}, channel_capacity {}, shutdown_timeout {:?}, data_dir {}",
        settings.workers,
        settings.batch_size,
        settings.channel_capacity,
        settings.shutdown_timeout,
        config.data_dir().display()
    );
    let api = &config.api;
    if api.enabled {
        let listen = api.listen.map_or_else(
            || "127.0.0.1:9600 (or the next free port up to 9700)".to_string(),
            |address| address.to_string(),
        );
        let token = if api.auth_token.is_some() {
            "a token"
        } else {
            "no token"
        };
        let live = if pipeline.live_frames().is_some() {
            "/live"
        } else {
            "no live view"
        };
        println!("  api    http://{listen}, {token}, {live}");
    } else {
        println!("  api    off");
    }
    for (input, (_, description)) in config.inputs.iter().zip(&descriptions) {
        println!(
            "  input  {:<16} {:<12} codec {:?}, charset {}; {description}",
            input.id,
            input.config.type_name(),
            input.codec.codec,
            input.codec.charset
        );
    }
    if show_state {
        for (id, state) in pipeline.input_states() {
            match state {
                Ok(state) => println!("  state  {id:<16} {state}"),
                Err(error) => println!("  state  {id:<16} unreadable: {error}"),
            }
        }
    }
    for filter in &config.filters {
        println!("  filter {:<16} {}", filter.id, filter.config.type_name());
    }
    let checks = runtime()?.block_on(async {
        tokio::time::timeout(OUTPUT_CHECK_TIMEOUT, pipeline.check_outputs()).await
    });
    let checks = checks.unwrap_or_else(|_| {
        config
            .outputs
            .iter()
            .map(|output| {
                let timeout = format!("no answer within {OUTPUT_CHECK_TIMEOUT:?}");
                (output.id.clone(), Err(timeout))
            })
            .collect()
    });
    let mut warnings = Vec::new();
    for (output, (_, checked)) in config.outputs.iter().zip(checks) {
        let seen = match checked {
            Ok(seen) => seen,
            Err(warning) => {
                warnings.push(format!("warning: {}: {warning}", output.id));
                "not reachable now".to_string()
            }
        };
        println!(
            "  output {:<16} {:<12} {seen}",
            output.id,
            output.config.type_name()
        );
    }
    for warning in warnings {
        eprintln!("{warning}");
    }
    Ok(ExitCode::SUCCESS)
}

/// How long `check` waits for a network output to answer.
const OUTPUT_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn top(
    file: Option<PathBuf>,
    url: Option<String>,
    token: Option<String>,
    once: bool,
) -> Result<ExitCode> {
    let (url, token) = match (url, file) {
        (Some(url), _) => (url, token),
        (None, Some(file)) => {
            let Some((config, _)) = load(&file, false) else {
                return Ok(ExitCode::FAILURE);
            };
            if !config.api.enabled {
                eprintln!(
                    "error: {}: [api] enabled = false: the pipeline serves no live view",
                    file.display()
                );
                return Ok(ExitCode::FAILURE);
            }
            let url = api::running_address(&config);
            let token = token.or_else(|| {
                config
                    .api
                    .auth_token
                    .as_ref()
                    .map(|secret| secret.expose().to_string())
            });
            (url, token)
        }
        (None, None) => anyhow::bail!("give a pipeline file or --url"),
    };
    let options = logpipe::top::TopOptions { url, token, once };
    match runtime()?.block_on(logpipe::top::run(options)) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(error) => {
            eprintln!("error: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn setup(file: PathBuf) -> Result<ExitCode> {
    let Some((config, _)) = load(&file, false) else {
        return Ok(ExitCode::FAILURE);
    };
    match runtime()?.block_on(elasticsearch::setup_pipeline(&config)) {
        Ok(done) => {
            for line in done {
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("error: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn replay(file: PathBuf, output: Option<&str>) -> Result<ExitCode> {
    let Some((config, _)) = load(&file, false) else {
        return Ok(ExitCode::FAILURE);
    };
    match runtime()?.block_on(elasticsearch::replay_dead_letters(&config, output)) {
        Ok(summaries) => {
            for (id, summary) in summaries {
                println!(
                    "{id}: replayed {} events from {} files; {} refused again (back in the queue){}",
                    summary.replayed,
                    summary.files,
                    summary.refused_again,
                    if summary.unreadable > 0 {
                        format!(
                            "; {} unreadable lines kept in *.unreadable",
                            summary.unreadable
                        )
                    } else {
                        String::new()
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("error: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn grok(pattern: &str, patterns_dirs: &[PathBuf]) -> Result<ExitCode> {
    let debugger = match GrokDebugger::new(pattern, patterns_dirs) {
        Ok(debugger) => debugger,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    let mut line = Vec::new();
    let mut input = stdin.lock();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        writeln!(stdout, "{}", debugger.explain(text))?;
    }
    Ok(ExitCode::SUCCESS)
}
