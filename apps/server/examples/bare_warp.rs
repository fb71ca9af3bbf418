//! The ceiling for `bench/session.sh`: warp on a multi-threaded tokio runtime answering
//! `GET /api/auth/session` with a constant `{}` — the same HTTP stack as the Portcullis
//! server with no engine behind it.
//!
//! `cargo run --release -p portcullis-server --example bare_warp -- 127.0.0.1:3990`

use std::net::SocketAddr;
use std::process::ExitCode;

use warp::Filter;

fn main() -> ExitCode {
    let Some(addr) = std::env::args()
        .nth(1)
        .and_then(|a| a.parse::<SocketAddr>().ok())
    else {
        eprintln!("usage: bare_warp <ip:port>");
        return ExitCode::FAILURE;
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("bare_warp: {e}");
            return ExitCode::FAILURE;
        }
    };
    let session = warp::get()
        .and(warp::path!("api" / "auth" / "session"))
        .map(|| warp::reply::with_header("{}", "content-type", "application/json"));
    runtime.block_on(warp::serve(session).run(addr));
    ExitCode::SUCCESS
}
