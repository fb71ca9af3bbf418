//! `NEXTAUTH_SECRET=$(openssl rand -base64 32) cargo run -p portcullis-example-axum`,
//! then open http://localhost:3000/api/auth/signin (user `ali`, password `open sesame`).

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let url = std::env::var("NEXTAUTH_URL")
        .unwrap_or_else(|_| "http://localhost:3000/api/auth".to_owned());
    let Ok(secret) = std::env::var("NEXTAUTH_SECRET") else {
        eprintln!("set NEXTAUTH_SECRET (at least 32 bytes, e.g. `openssl rand -base64 32`)");
        return ExitCode::from(2);
    };
    let auth = match portcullis_example_axum::auth(&url, &secret) {
        Ok(auth) => auth,
        Err(error) => {
            eprintln!("configuration: {error}");
            return ExitCode::from(2);
        }
    };
    let address = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = match tokio::net::TcpListener::bind(&address).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot listen on {address}: {error}");
            return ExitCode::from(1);
        }
    };
    eprintln!("listening on http://{address}");
    match portcullis_example_axum::serve(listener, portcullis_example_axum::app(auth)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("server: {error}");
            ExitCode::from(1)
        }
    }
}
