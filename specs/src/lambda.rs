//! The `portcullis-lambda` binary under cargo-lambda's local Lambda emulator, configured from
//! the scenario's file (`PORTCULLIS_CONFIG`): what an operator deploys to AWS Lambda. The
//! emulator turns each HTTP request under `/lambda-url/<function>/` into a function URL
//! event and hands it to the function over the Lambda runtime API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use crate::world::REQUEST_TIMEOUT;

/// How long the emulator may take to start (it runs `cargo metadata` first).
const EMULATOR_START: std::time::Duration = std::time::Duration::from_secs(120);

/// The emulator and the function; both killed when dropped.
pub(crate) struct LambdaProcess {
    emulator: Child,
    function: Child,
    /// The emulator's address.
    pub addr: SocketAddr,
    /// The function URL's path under the emulator: `/lambda-url/<function>`.
    pub prefix: String,
}

/// cargo-lambda, as `.ci/lambda` installs it, or `PORTCULLIS_TEST_CARGO_LAMBDA`.
fn cargo_lambda() -> PathBuf {
    std::env::var_os("PORTCULLIS_TEST_CARGO_LAMBDA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/portcullis/lambda-venv/bin/cargo-lambda")
        })
}

/// Copies each line of `stream` into `logs`, and into `seen` until it is dropped.
fn drain(
    stream: impl AsyncRead + Unpin + Send + 'static,
    logs: Arc<Mutex<Vec<String>>>,
    seen: Option<tokio::sync::mpsc::UnboundedSender<String>>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            logs.lock().expect("logs").push(line.clone());
            if let Some(seen) = &seen {
                let _ = seen.send(line);
            }
        }
    });
}

impl LambdaProcess {
    /// Starts the emulator on a free loopback port, then the function with `dir/portcullis.toml`
    /// (`toml`) as its configuration. Returns once the emulator listens; the emulator holds
    /// the first request until the function asks for it, so no wait for the function is needed.
    pub(crate) async fn start(dir: &Path, toml: &str) -> Self {
        let file = dir.join("portcullis.toml");
        std::fs::write(&file, toml).expect("writing the configuration file");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let program = cargo_lambda();
        let mut emulator = Command::new(&program)
            .args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P"])
            .arg(port.to_string())
            // It reads the function's crate (for defaults) with `cargo metadata`.
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../apps/lambda"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} ({e}): run `bash .ci/lambda` or set PORTCULLIS_TEST_CARGO_LAMBDA",
                    program.display()
                )
            });
        let (seen, mut said) = tokio::sync::mpsc::unbounded_channel();
        drain(
            emulator.stdout.take().expect("piped"),
            logs.clone(),
            Some(seen.clone()),
        );
        drain(
            emulator.stderr.take().expect("piped"),
            logs.clone(),
            Some(seen),
        );
        // `INFO AWS_LAMBDA_RUNTIME_API=http://127.0.0.1:PORT/.rt` and its siblings.
        let mut env = Vec::new();
        let started = tokio::time::timeout(EMULATOR_START, async {
            while let Some(line) = said.recv().await {
                if let Some((name, value)) = line
                    .split_whitespace()
                    .last()
                    .and_then(|word| word.split_once('='))
                    .filter(|(name, _)| name.starts_with("AWS_LAMBDA_"))
                {
                    env.push((name.to_owned(), value.to_owned()));
                }
                if line.contains("starting Runtime server") {
                    return true;
                }
            }
            false
        })
        .await;
        if started != Ok(true) {
            panic!(
                "the Lambda emulator did not start; it said:\n{}",
                logs.lock().expect("logs").join("\n")
            );
        }
        let name = env
            .iter()
            .find(|(variable, _)| variable == "AWS_LAMBDA_FUNCTION_NAME")
            .map_or("_".to_owned(), |(_, name)| name.clone());
        let mut command = Command::new(crate::binary::built("portcullis-lambda"));
        for (variable, _) in std::env::vars_os() {
            let variable = variable.to_string_lossy().into_owned();
            if variable.starts_with("PORTCULLIS_")
                || variable.starts_with("NEXTAUTH_")
                || variable.starts_with("AWS_")
            {
                command.env_remove(variable);
            }
        }
        let mut function = command
            .current_dir(dir)
            .envs(env)
            .env("PORTCULLIS_CONFIG", &file)
            .env("PORTCULLIS_LOG_FORMAT", "json")
            .env("PORTCULLIS_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the portcullis-lambda binary starts");
        drain(function.stdout.take().expect("piped"), logs.clone(), None);
        drain(function.stderr.take().expect("piped"), logs.clone(), None);
        Self {
            emulator,
            function,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            prefix: format!("/lambda-url/{name}"),
        }
    }

    /// Stops the function, then the emulator.
    pub(crate) async fn stop(mut self) {
        for child in [&mut self.function, &mut self.emulator] {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, child.wait()).await;
        }
    }
}
