//! `portcullis-lambda`: the Lambda function's entry point. See the crate docs and
//! docs/deploy.md.

use std::process::ExitCode;

use lambda_http::service_fn;

fn main() -> ExitCode {
    let env = |name: &str| std::env::var(name).ok();
    // The runtime client panics without it; outside Lambda (or an emulator) say so instead.
    if env("AWS_LAMBDA_RUNTIME_API").is_none() {
        return fail(
            &"AWS_LAMBDA_RUNTIME_API is not set: this binary runs inside AWS Lambda \
            or an emulator (`cargo lambda watch`); for a server, run `portcullis serve`",
        );
    }
    let config = match portcullis_lambda::config_from_env(&env) {
        Ok(config) => config,
        Err(e) => return fail(&e),
    };
    if let Err(e) = portcullis_server::logging::init(config.log_filter(), config.log_format()) {
        return fail(&e);
    }
    // One event at a time per instance: a single-threaded runtime is enough and starts
    // faster.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&e),
    };
    runtime.block_on(async {
        let app = match portcullis_server::app::open(&config, false, true).await {
            Ok(app) => app,
            Err(e) => return fail(&e),
        };
        // Delivers stored events while the instance is warm; undelivered ones wait in the
        // store for a later invocation (docs/deploy.md).
        let _events = app.start_events();
        let engine = &app.portcullis;
        let served = lambda_http::run(service_fn(|request| async move {
            Ok::<_, lambda_http::Error>(portcullis_lambda::respond(engine, request).await)
        }))
        .await;
        match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        }
    })
}

fn fail(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("portcullis-lambda: {error}");
    ExitCode::FAILURE
}
