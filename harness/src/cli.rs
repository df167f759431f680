//! Command-line interface: argument parsing and dispatch to the library.

use std::net::IpAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::{demo, exit};

#[derive(Debug, Parser)]
#[command(
    name = "deploycheck",
    version,
    about = "Deploys a web-app + MongoDB stack and proves that it really works",
    long_about = "Deploys a web-app + MongoDB stack and proves that it really works.\n\n\
                  Exit codes: 0 all checks passed, 1 a check failed, 2 usage, configuration \
                  or I/O error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the reference service against a local MongoDB-wire server and print its URL.
    ///
    /// The database is the one the tests use: MONGODB_URI if set, else `mongod` on PATH,
    /// else SecantusDB installed into target/devdb-venv on first use. Runs until Ctrl-C.
    Demo(DemoArgs),
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Port for the service (0 picks a free one).
    #[arg(long, default_value_t = 5000)]
    pub port: u16,
    /// Address to listen on; the default keeps the demo off the network.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
}

/// Parses `std::env::args` and runs the chosen command.
pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Demo(args) => match demo::run(&args).await {
            Ok(()) => exit::OK,
            Err(error) => {
                eprintln!("deploycheck demo: {error}");
                exit::USAGE
            }
        },
    };
    ExitCode::from(code)
}
