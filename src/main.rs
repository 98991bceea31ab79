//! The `scopegate` binary: parse the command line, set up logging, run.
//! Exit status: 0 success, 1 invalid config or runtime failure, 64 usage error.

use std::process::ExitCode;

use clap::Parser;
use scopegate::internals::cli::{Cli, Command, LogFormat};
use tracing_subscriber::EnvFilter;

/// Per-thread free lists: a cached request allocates a few dozen small blocks, and
/// glibc's (or, in the static image, musl's) malloc was a measurable share of it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// EX_USAGE from sysexits.h.
const EXIT_USAGE: u8 = 64;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let usage = e.use_stderr();
            let _ = e.print();
            return if usage {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // Held until exit: dropping it flushes the log lines still queued.
    let _log_guard = init_logging(cli.log_format);
    let path = cli.config_path();
    match cli.command {
        Command::Check => match scopegate::internals::run::check(&path) {
            Ok(table) => {
                out(&table);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Serve => runtime_then(|| async move {
            scopegate::internals::run::serve(&path)
                .await
                .map_err(|e| report(&e))
        }),
        Command::Demo { port } => runtime_then(|| async move {
            scopegate::internals::demo::run(port, out)
                .await
                .map_err(|e| report(&*e))
        }),
    }
}

fn runtime_then<F, Fut>(f: F) -> ExitCode
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    // The control runtime (accept, admin, signals, reload); requests run on the worker
    // threads that `run` starts (src/worker.rs).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("scopegate: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(f()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("scopegate: {message}");
            ExitCode::FAILURE
        }
    }
}

/// An error and its `source()` chain on one line (the crate's one chain printer).
fn report(e: &(dyn std::error::Error + 'static)) -> String {
    scopegate::internals::error::Chain(e).to_string()
}

/// The one place the CLI writes to stdout.
#[allow(clippy::print_stdout)]
fn out(text: &str) {
    print!("{text}");
    if !text.ends_with('\n') {
        println!();
    }
}

/// Logs go to stderr; level from `RUST_LOG` (default `info`).
///
/// Lines are formatted on the thread that logs and written by a background thread
/// through a buffer flushed whenever the queue is empty: a worker serving requests
/// never blocks in `write(2)` for its access log. The queue is bounded and not lossy:
/// under a log flood, workers wait rather than drop lines.
fn init_logging(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(64 * 1024)
        .thread_name("scopegate-log")
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Json => builder.json().with_current_span(false).init(),
        LogFormat::Text => builder.with_ansi(false).init(),
    }
    guard
}
