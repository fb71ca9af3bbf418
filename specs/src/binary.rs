//! The real `portcullis` binary, run from a configuration file: what an operator runs. The
//! HTTP target's server-configured scenarios speak to it over loopback.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use crate::world::REQUEST_TIMEOUT;

/// `portcullis serve` (or `dev`) on a free loopback port; killed when dropped.
pub(crate) struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
}

/// Where `cargo test --workspace` built the binary: beside the test's own `deps/`
/// directory, or `PORTCULLIS_BIN`.
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PORTCULLIS_BIN") {
        return PathBuf::from(path);
    }
    built("portcullis")
}

/// A binary of the workspace where `cargo test --workspace` built it: beside the test's own
/// `deps/` directory.
pub(crate) fn built(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps");
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build --workspace --bins` (cargo test \
         --workspace does)",
        path.display()
    );
    path
}

impl ServerProcess {
    /// `portcullis serve [--dev]` of `dir/portcullis.toml` (written from `toml`), run from
    /// `dir` with nothing of this process's environment that configures it.
    fn command(dir: &Path, toml: &str, dev: bool) -> Command {
        let file = dir.join("portcullis.toml");
        std::fs::write(&file, toml).expect("writing the configuration file");
        let mut command = Command::new(binary());
        // The scenario's file is the whole configuration: nothing from this environment.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if name.starts_with("PORTCULLIS_")
                || name.starts_with("NEXTAUTH_")
                || name == "RUST_LOG"
                || name == "PORT"
                || name == "HOST"
            {
                command.env_remove(name);
            }
        }
        // Without a `url`, the site's URL follows the listen port, which is 0 here: the
        // scenario's site is where a developer's app would be.
        if !toml.lines().any(|l| l.trim_start().starts_with("url")) {
            command.env("NEXTAUTH_URL", "http://localhost:3000");
        }
        command
            .current_dir(dir)
            .arg("serve")
            .args(dev.then_some("--dev"))
            .args(["--listen", "127.0.0.1:0", "--config"])
            .arg(&file)
            .env("PORTCULLIS_LOG_FORMAT", "json")
            .env("PORTCULLIS_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Runs `toml` as [`ServerProcess::start`] would, expecting the server to refuse it:
    /// its exit status and standard error. Panics as soon as it listens instead.
    pub(crate) async fn refused(dir: &Path, toml: &str, dev: bool) -> (Option<i32>, String) {
        let mut child = Self::command(dir, toml, dev)
            .spawn()
            .expect("the portcullis binary starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut lines = BufReader::new(stderr).lines();
        let mut output = Vec::new();
        let read = async {
            while let Ok(Some(line)) = lines.next_line().await {
                let event: serde_json::Value =
                    serde_json::from_str(&line).unwrap_or(serde_json::Value::Null);
                let listening = event["message"] == "listening";
                output.push(line);
                if listening {
                    return false;
                }
            }
            true
        };
        let exited = tokio::time::timeout(REQUEST_TIMEOUT, read).await;
        if exited != Ok(true) {
            let _ = child.start_kill();
            panic!(
                "`portcullis serve` started instead of refusing; its log:\n{}\nits configuration:\n{toml}",
                output.join("\n")
            );
        }
        let status = tokio::time::timeout(REQUEST_TIMEOUT, child.wait())
            .await
            .expect("the server exits once its standard error is closed")
            .expect("the server's exit status");
        (status.code(), output.join("\n"))
    }

    /// Writes `toml` to `dir/portcullis.toml` and serves it from `dir`; returns once the
    /// server logs that it listens (or panics with its output if it exits first).
    pub(crate) async fn start(dir: &Path, toml: &str, dev: bool) -> Self {
        let mut command = Self::command(dir, toml, dev);
        let mut child = command.spawn().expect("the portcullis binary starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut lines = BufReader::new(stderr).lines();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let listening = async {
            while let Ok(Some(line)) = lines.next_line().await {
                logs.lock().expect("logs").push(line.clone());
                let event: serde_json::Value =
                    serde_json::from_str(&line).unwrap_or(serde_json::Value::Null);
                if event["message"] == "listening" {
                    return event["addr"].as_str().and_then(|a| a.parse().ok());
                }
            }
            None
        };
        let addr = match tokio::time::timeout(REQUEST_TIMEOUT, listening).await {
            Ok(Some(addr)) => addr,
            outcome => {
                let _ = child.start_kill();
                let why = if outcome.is_err() {
                    "did not listen in time"
                } else {
                    "exited"
                };
                panic!(
                    "`portcullis serve` {why}; its log:\n{}\nits configuration:\n{toml}",
                    logs.lock().expect("logs").join("\n")
                );
            }
        };
        let sink = logs.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().expect("logs").push(line);
            }
        });
        Self { child, addr }
    }

    /// Stops it as an orchestrator would (SIGTERM), and waits for it to exit.
    pub(crate) async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        if tokio::time::timeout(REQUEST_TIMEOUT, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

impl ServerProcess {
    /// The axum example (`examples/axum`) serving `dir/portcullis.toml` (`toml`): the same
    /// configuration file, read by the server's code, mounted in an axum app.
    pub(crate) async fn start_axum(dir: &Path, toml: &str) -> Self {
        let file = dir.join("portcullis.toml");
        std::fs::write(&file, toml).expect("writing the configuration file");
        let mut command = Command::new(built("portcullis-example-axum"));
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if name.starts_with("PORTCULLIS_") || name.starts_with("NEXTAUTH_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .current_dir(dir)
            .env("PORTCULLIS_CONFIG", &file)
            .env("LISTEN", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the axum example starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut lines = BufReader::new(stderr).lines();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let listening = async {
            while let Ok(Some(line)) = lines.next_line().await {
                logs.lock().expect("logs").push(line.clone());
                if let Some(addr) = line.strip_prefix("listening on http://") {
                    return addr.trim().parse().ok();
                }
            }
            None
        };
        let Ok(Some(addr)) = tokio::time::timeout(REQUEST_TIMEOUT, listening).await else {
            let _ = child.start_kill();
            panic!(
                "the axum example did not listen; it said:\n{}\nits configuration:\n{toml}",
                logs.lock().expect("logs").join("\n")
            );
        };
        let sink = logs.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().expect("logs").push(line);
            }
        });
        Self { child, addr }
    }
}
