//! `NEXTAUTH_SECRET=$(openssl rand -base64 32) cargo run -p portcullis-example-axum`,
//! then open http://localhost:3000/api/auth/signin (user `ali`, password `open sesame`).
//!
//! With `PORTCULLIS_CONFIG=portcullis.toml`, the engine is built from the `portcullis`
//! server's configuration file instead (its providers, users file, database, hooks …):
//! one configuration for the server and for an axum app.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let env = |name: &str| std::env::var(name).ok();
    let built = match env("PORTCULLIS_CONFIG") {
        Some(file) => from_server_config(&file, &env).await,
        None => demo(&env),
    };
    let auth = match built {
        Ok(auth) => auth,
        Err(error) => {
            eprintln!("configuration: {error}");
            return ExitCode::from(2);
        }
    };
    let address = env("LISTEN").unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let listener = match tokio::net::TcpListener::bind(&address).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot listen on {address}: {error}");
            return ExitCode::from(1);
        }
    };
    // The bound address: `LISTEN=127.0.0.1:0` picks a free port.
    match listener.local_addr() {
        Ok(bound) => eprintln!("listening on http://{bound}"),
        Err(error) => eprintln!("listening on {address} ({error})"),
    }
    match portcullis_example_axum::serve(listener, portcullis_example_axum::app(auth)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("server: {error}");
            ExitCode::from(1)
        }
    }
}

/// The demo engine: one credentials user, configured in code.
fn demo(env: &dyn Fn(&str) -> Option<String>) -> Result<portcullis::Portcullis, String> {
    let url = env("NEXTAUTH_URL").unwrap_or_else(|| "http://localhost:3000/api/auth".to_owned());
    let secret = env("NEXTAUTH_SECRET")
        .ok_or("set NEXTAUTH_SECRET (at least 32 bytes, e.g. `openssl rand -base64 32`)")?;
    portcullis_example_axum::auth(&url, &secret).map_err(|e| e.to_string())
}

/// The engine the `portcullis` server would run from `file` (and the environment).
async fn from_server_config(
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<portcullis::Portcullis, String> {
    let config = portcullis_server::ServerConfig::load(Some(std::path::Path::new(file)), env)
        .map_err(|e| e.to_string())?;
    let app = portcullis_server::app::open(&config, false, true)
        .await
        .map_err(|e| e.to_string())?;
    Ok(app.portcullis)
}
