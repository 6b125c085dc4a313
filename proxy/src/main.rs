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

fn serve(args: dockbridge::config::ServeArgs) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DOCKBRIDGE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(args.log_level.as_str())),
        )
        .with_writer(std::io::stderr)
        .init();
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
