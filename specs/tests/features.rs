#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `cargo test -p portcullis-specs --test features`: every feature against the embedded
//! engine, then against the real server over HTTP, then the transition-coverage check.
//! Exits non-zero on any failed, skipped or undefined step, parsing error, or declared
//! transition no scenario took. `PORTCULLIS_FEATURES=path` runs another folder or file.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    // PORTCULLIS_FEATURES runs another folder or one file (the coverage check still runs).
    let features = std::env::var_os("PORTCULLIS_FEATURES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| portcullis_specs::fixtures::workspace().join("features"));
    let report = portcullis_specs::run(&features).await;
    println!("{}", report.summary());
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        eprintln!("{}", report.failures().join("\n"));
        ExitCode::FAILURE
    }
}
