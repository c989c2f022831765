//! The `tickflow` command: parses the command line, sets up logging, runs a subcommand.

use std::process::ExitCode;

use clap::Parser;
use tickflow::cli::{Cli, Command};

mod cmd;

fn main() -> ExitCode {
    cmd::cluster::install_cluster_panic_hook();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if tickflow::cli::is_hostfile_without_value(&e) => {
            eprintln!("tickflow: error: {}", tickflow::cli::HOSTFILE_NOT_HELP);
            return ExitCode::from(2);
        }
        Err(e) => e.exit(),
    };
    cmd::logging::init(cli.log_format);
    let result = match cli.command {
        Command::Run(args) => cmd::run::run_command(*args),
        Command::Bench(args) => cmd::bench::run_bench(&args),
        Command::Produce(args) => cmd::produce::produce_command(args),
        Command::Check(args) => cmd::check::check_command(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tickflow: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
