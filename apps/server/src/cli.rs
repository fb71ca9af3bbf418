//! The `portcullis` command line.

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::config::{process_env, ServerConfig};
use crate::error::StartupError;
use crate::users::hash_password;

/// How long in-flight requests get to finish after SIGINT/SIGTERM.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Exit code for a configuration the server refuses.
pub const EXIT_CONFIG: u8 = 2;
/// Exit code for any other failure.
pub const EXIT_FAILURE: u8 = 1;

/// Portcullis: an authentication server speaking NextAuth.js v3's wire.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Create or complete the database schema (`database` in the configuration):
    /// NextAuth v3's tables, plus Portcullis's additions. Safe on a database NextAuth v3
    /// created; does nothing when up to date.
    Migrate(ConfigArg),
    /// Print every sign-in flow as a diagram.
    Flows(FlowsArgs),
    /// Read a password (one line) from standard input and print its Argon2id hash for a
    /// users file.
    HashPassword,
    /// The hooks' wire format (docs/hooks.md).
    #[command(subcommand)]
    Hooks(HooksCommand),
    /// The sign-in e-mail.
    #[command(subcommand)]
    Mail(MailCommand),
}

/// The `hooks` subcommands.
#[derive(Debug, Subcommand)]
pub enum HooksCommand {
    /// Print the JSON Schema of every hook's request and answer, as one JSON object
    /// `{"<hook>": {"request": …, "answer": …}}`.
    Schema,
}

/// The `mail` subcommands.
#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Render an e-mail provider's sign-in message (its template files, or the built-in
    /// template) with sample data, and print the subject, text and HTML.
    Preview(MailPreviewArgs),
}

/// The arguments of `mail preview`.
#[derive(Debug, Args)]
pub struct MailPreviewArgs {
    /// Where the configuration is.
    #[command(flatten)]
    pub config: ConfigArg,
    /// The e-mail provider's id (default: the first e-mail provider).
    #[arg(long, value_name = "ID")]
    pub provider: Option<String>,
}

/// The configuration file argument, shared by the subcommands that read one.
#[derive(Debug, Args)]
pub struct ConfigArg {
    /// Configuration file (TOML).
    #[arg(long, value_name = "FILE", env = "PORTCULLIS_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where the configuration is.
    #[command(flatten)]
    pub config: ConfigArg,
    /// Address to listen on (overrides `listen` and PORTCULLIS_LISTEN).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Development mode: no configuration needed, a generated secret kept in the data
    /// directory, e-mail sign-in whose links go to the terminal and the page /dev/mailbox
    /// (no SMTP), a demo user `demo` / `demo`. Not for production.
    #[arg(long)]
    pub dev: bool,
    /// Do not apply pending database migrations at startup (run `portcullis migrate`
    /// separately, e.g. with a more privileged database user).
    #[arg(long)]
    pub no_migrate: bool,
}

/// The `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the JSON Schema of the configuration file.
    Schema,
    /// Validate the configuration (file and environment); print OK or the error.
    Check(ConfigArg),
}

/// The arguments of `flows`.
#[derive(Debug, Args)]
pub struct FlowsArgs {
    /// Mermaid state diagrams (the default).
    #[arg(long, conflicts_with = "markdown")]
    pub mermaid: bool,
    /// A Markdown page of the diagrams (what `docs/flows.md` holds).
    #[arg(long)]
    pub markdown: bool,
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Config(ConfigCommand::Schema) => {
            println!("{}", ServerConfig::json_schema());
            ExitCode::SUCCESS
        }
        Command::Config(ConfigCommand::Check(args)) => check(args),
        Command::Migrate(args) => migrate(args),
        Command::Flows(args) => {
            if args.markdown {
                print!("{}", portcullis::flows_markdown());
            } else {
                print!("{}", portcullis::flows_mermaid());
            }
            ExitCode::SUCCESS
        }
        Command::HashPassword => hash(),
        Command::Hooks(HooksCommand::Schema) => {
            let schemas = portcullis_hooks_http::schemas();
            println!(
                "{}",
                serde_json::to_string_pretty(&schemas).unwrap_or_else(|_| String::from("{}"))
            );
            ExitCode::SUCCESS
        }
        Command::Mail(MailCommand::Preview(args)) => mail_preview(args),
    }
}

fn mail_preview(args: MailPreviewArgs) -> ExitCode {
    let config = match ServerConfig::load(args.config.config.as_deref(), &process_env) {
        Ok(config) => config,
        Err(e) => return fail(EXIT_CONFIG, &e),
    };
    match crate::mail_template::preview(&config, args.provider.as_deref()) {
        Ok(message) => {
            println!("Subject: {}", message.subject);
            println!("\n--- text ---\n{}", message.text);
            println!("--- html ---\n{}", message.html);
            ExitCode::SUCCESS
        }
        Err(message) => fail(EXIT_CONFIG, &message),
    }
}

fn fail(code: u8, error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(code)
}

fn check(args: ConfigArg) -> ExitCode {
    let result = ServerConfig::load(args.config.as_deref(), &process_env).and_then(|config| {
        crate::logging::subscriber(
            config.log_filter(),
            config.log_format(),
            std::io::sink,
            false,
        )?;
        crate::app::check(&config)
    });
    match result {
        Ok(_) => {
            println!("OK");
            ExitCode::SUCCESS
        }
        Err(e) => fail(EXIT_CONFIG, &e),
    }
}

fn migrate(args: ConfigArg) -> ExitCode {
    let config = match ServerConfig::load(args.config.as_deref(), &process_env) {
        Ok(config) => config,
        Err(e) => return fail(EXIT_CONFIG, &e),
    };
    if let Err(e) = crate::logging::subscriber(
        config.log_filter(),
        config.log_format(),
        std::io::sink,
        false,
    ) {
        return fail(EXIT_CONFIG, &e);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(EXIT_FAILURE, &e),
    };
    match runtime.block_on(crate::app::migrate(&config)) {
        Ok(None) => {
            println!("no `database` configured: the embedded sled store needs no migration");
            ExitCode::SUCCESS
        }
        Ok(Some(applied)) if applied.is_empty() => {
            println!("database is up to date");
            ExitCode::SUCCESS
        }
        Ok(Some(applied)) => {
            for m in applied {
                println!("applied migration {} {}", m.version, m.name);
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(EXIT_FAILURE, &e),
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let mut config = match ServerConfig::load(args.config.config.as_deref(), &process_env) {
        Ok(config) => config,
        Err(e) => return fail(EXIT_CONFIG, &e),
    };
    if let Some(listen) = args.listen {
        config.listen = Some(listen);
    }
    if let Err(e) = crate::logging::init(config.log_filter(), config.log_format()) {
        return fail(EXIT_CONFIG, &e);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(EXIT_FAILURE, &e),
    };
    runtime.block_on(serve_until_signal(config, args.dev, !args.no_migrate))
}

async fn serve_until_signal(config: ServerConfig, dev: bool, migrate: bool) -> ExitCode {
    let app = match crate::app::open(&config, dev, migrate).await {
        Ok(app) => app,
        Err(e @ StartupError::Database(_)) => return fail(EXIT_FAILURE, &e),
        Err(e) => return fail(EXIT_CONFIG, &e),
    };
    let base = app.portcullis.config().site.base();
    let events = app.start_events();
    let stop = crate::http::os_signal();
    let (addr, handle) = match listen(
        &app,
        config.listen_addr(),
        dev,
        config.health.enabled,
        &config,
    )
    .await
    {
        Ok(running) => running,
        Err(e @ StartupError::Bind { .. }) => return fail(EXIT_FAILURE, &e),
        Err(e) => return fail(EXIT_CONFIG, &e),
    };
    let metrics_server = match listen_metrics(&app, &config).await {
        Ok(server) => server,
        Err(e) => return fail(EXIT_FAILURE, &e),
    };
    tracing::info!(target: "portcullis", %addr, %base, dev, "listening");
    if dev {
        let page = format!("{}/", app.portcullis.config().site.base_url());
        tracing::info!(target: "portcullis", %page, "dev mode: the demo page shows who is signed in");
        if app.dev_mailbox.is_some() {
            let mailbox = format!(
                "{}{}",
                app.portcullis.config().site.base_url(),
                crate::dev_mailbox::PATH
            );
            tracing::info!(target: "portcullis", %mailbox, "dev mode: sign-in links are listed on the dev mailbox page");
        }
    }
    stop.await;
    let code = match tokio::time::timeout(SHUTDOWN_GRACE, handle.shutdown()).await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => fail(EXIT_FAILURE, &e),
        Err(_) => {
            tracing::warn!(target: "portcullis", "requests still in flight after the grace period; stopping");
            ExitCode::SUCCESS
        }
    };
    if let Some(server) = metrics_server {
        if let Err(e) = server.shutdown().await {
            tracing::warn!(target: "portcullis", error = %e, "the metrics listener did not stop cleanly");
        }
    }
    if let Some(events) = events {
        // The batch in flight finishes; undelivered events wait in the store.
        if tokio::time::timeout(SHUTDOWN_GRACE, events.stop())
            .await
            .is_err()
        {
            tracing::warn!(target: "portcullis", "event delivery still busy after the grace period; stopping");
        }
    }
    if let Err(e) = app.store.close().await {
        tracing::error!(target: "portcullis", error = %e, "closing the store failed");
        return ExitCode::from(EXIT_FAILURE);
    }
    tracing::info!(target: "portcullis", "stopped");
    code
}

/// Binds `addr` and serves `app`; in dev mode with the demo page at `/` beside it; with
/// `health`, `/healthz` and `/readyz` (crate::health) before both.
async fn listen(
    app: &crate::app::App,
    addr: SocketAddr,
    dev: bool,
    health: bool,
    config: &ServerConfig,
) -> Result<(SocketAddr, crate::http::ShutdownHandle), StartupError> {
    use warp::Filter;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Bind { addr, source })?;
    let never = futures::future::pending();
    let engine = app.portcullis.clone();
    let health = crate::health::routes(
        health.then(|| crate::health::Readiness::new(config, app.store.shared())),
    );
    // `/metrics` on the main listener only behind a token, and only when it has no
    // listener of its own.
    let metrics = crate::metrics::routes(
        app.metrics
            .clone()
            .filter(|_| config.metrics.listen.is_none()),
        config.metrics.token.clone(),
    );
    let health = health.or(metrics).unify();
    if let (true, Some(mailbox)) = (dev, app.dev_mailbox.clone()) {
        let routes = health
            .or(crate::dev_mailbox::routes(mailbox))
            .unify()
            .or(crate::demo::routes_with_demo(engine))
            .unify();
        crate::http::serve_on(listener, routes, never)
    } else if dev {
        let routes = health.or(crate::demo::routes_with_demo(engine)).unify();
        crate::http::serve_on(listener, routes, never)
    } else {
        let routes = health.or(crate::http::routes(engine)).unify();
        crate::http::serve_on(listener, routes, never)
    }
}

/// `[metrics] listen`: `/metrics` on a listener of its own (nothing else is served there).
async fn listen_metrics(
    app: &crate::app::App,
    config: &ServerConfig,
) -> Result<Option<crate::http::ShutdownHandle>, StartupError> {
    let (Some(addr), Some(metrics)) = (config.metrics.listen, app.metrics.clone()) else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Bind { addr, source })?;
    let routes = crate::metrics::routes(Some(metrics), config.metrics.token.clone());
    let (bound, handle) = crate::http::serve_on(listener, routes, futures::future::pending())?;
    tracing::info!(target: "portcullis", addr = %bound, "metrics listening");
    Ok(Some(handle))
}

/// Reads one line from standard input; prints the hash.
fn hash() -> ExitCode {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password (shown as typed): ");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    if let Err(e) = stdin.lock().read_line(&mut line) {
        return fail(EXIT_FAILURE, &format!("cannot read the password: {e}"));
    }
    let password = strip_newline(&line);
    match hash_password(password) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(EXIT_CONFIG, &e),
    }
}

/// Drops one trailing `\n` (or `\r\n`); nothing else.
pub fn strip_newline(line: &str) -> &str {
    line.strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(line)
}
