//! `portcullis`: the authentication server. See `portcullis --help`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    portcullis_server::cli::run(portcullis_server::cli::Cli::parse())
}
