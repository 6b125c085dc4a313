//! The `dockbridge` binary: `serve` runs the daemon; `cmdline` and `translate` are the
//! offline tools for debugging Windows quoting and auditing the specs dockbridge would send.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "dockbridge",
    version,
    about = "Docker Engine API on containerd and HCS"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Docker Engine API.
    // Boxed: the serve flags are much larger than the other commands' arguments.
    Serve(Box<dockbridge::config::ServeArgs>),
    /// Join or split Windows command lines.
    #[command(subcommand)]
    Cmdline(dockbridge::tools::CmdlineCommand),
    /// Print the OCI runtime spec dockbridge would send for a create request.
    Translate(dockbridge::tools::TranslateArgs),
    /// Internal: one `docker cp`/`export` operation chrooted into a container (the daemon
    /// runs this as a child process).
    #[command(hide = true)]
    ArchiveHelper { request: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Cmdline(cmd) => dockbridge::tools::run_cmdline(cmd),
        Command::Translate(args) => dockbridge::tools::run_translate(args),
        Command::ArchiveHelper { request } => dockbridge::archive::helper::main(&request),
    }
}

/// On Windows the service flags come first: register, unregister, or run under the SCM.
#[cfg(windows)]
fn serve(args: dockbridge::config::ServeArgs) -> ExitCode {
    use dockbridge::winservice::{self, Action};
    let result = match args.service.action() {
        Action::Register => winservice::register(&args.service),
        Action::Unregister => winservice::unregister(&args.service),
        Action::RunService => run_service(args),
        Action::Console => return console(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dockbridge: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(not(windows))]
fn serve(args: dockbridge::config::ServeArgs) -> ExitCode {
    console(args)
}

/// The daemon in the foreground, logging to stderr, until a signal (console event).
fn console(args: dockbridge::config::ServeArgs) -> ExitCode {
    init_tracing(&args.log_level, std::io::stderr, true);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dockbridge: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dockbridge::serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dockbridge: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing<W>(level: &str, writer: W, ansi: bool)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DOCKBRIDGE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(writer)
        .with_ansi(ansi)
        .init();
}

/// Under the SCM there is no console: the log goes to a file under the data root.
#[cfg(windows)]
fn run_service(args: dockbridge::config::ServeArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::create_dir_all(&args.data_root)
        .with_context(|| format!("creating {}", args.data_root.display()))?;
    let path = dockbridge::winservice::log_path(&args.data_root);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    init_tracing(&args.log_level, std::sync::Mutex::new(log), false);
    dockbridge::winservice::run(args)
}
