//! The real `portcullis` binary as a child process, and scratch databases for it: what the
//! tests that run the server from a configuration file share.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// The variables that would override a configuration file (or, `PORT` and `HOST`, a
/// listen address).
pub(crate) const SERVER_VARS: [&str; 13] = [
    "PORT",
    "HOST",
    "NEXTAUTH_URL",
    "NEXTAUTH_SECRET",
    "PORTCULLIS_CONFIG",
    "PORTCULLIS_LISTEN",
    "PORTCULLIS_DATA_DIR",
    "PORTCULLIS_DATABASE_URL",
    "PORTCULLIS_SMTP_URL",
    "PORTCULLIS_JWT_ENCRYPTION",
    "PORTCULLIS_LOG",
    "PORTCULLIS_LOG_FORMAT",
    "RUST_LOG",
];

/// `portcullis` run in `dir`, with none of the environment variables that would override
/// its configuration file.
pub(crate) fn portcullis(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command.current_dir(dir);
    for var in SERVER_VARS {
        command.env_remove(var);
    }
    command
}

/// `portcullis config check` on a file in `dir` holding `text`: its exit code and what it
/// wrote to standard error.
pub(crate) fn config_check(dir: &Path, text: &str) -> (Option<i32>, String) {
    let file = dir.join("checked.toml");
    std::fs::write(&file, text).unwrap();
    let out = portcullis(dir)
        .args(["config", "check", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `portcullis serve` on a configuration file, listening on a free loopback port, with its
/// JSON log lines kept. Killed when dropped.
pub(crate) struct Server {
    child: Child,
    addr: String,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl Server {
    /// Starts the server in `dir` on `config` and waits (60 s at most) for its `listening`
    /// line.
    pub(crate) fn start(dir: &Path, config: &Path) -> Server {
        let mut child = portcullis(dir)
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .env("PORTCULLIS_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read the log on a thread for the server's whole life (a full pipe would block
        // it); hand over the address from the `listening` line.
        let stderr = child.stderr.take().unwrap();
        let lines: Arc<Mutex<Vec<Value>>> = Arc::default();
        let (addr_tx, addr_rx) = mpsc::channel();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // A line that is not JSON (`error: …` at exit) is kept as a string.
                let event = serde_json::from_str::<Value>(&line).unwrap_or(Value::String(line));
                if event["message"] == "listening" {
                    let _ = addr_tx.send(event["addr"].as_str().unwrap_or("").to_owned());
                }
                sink.lock().unwrap().push(event);
            }
        });
        let outcome = addr_rx.recv_timeout(Duration::from_secs(60));
        if let Ok(addr) = outcome {
            return Server { child, addr, lines };
        }
        let _ = child.kill();
        let _ = child.wait();
        let why = match outcome {
            Err(mpsc::RecvTimeoutError::Disconnected) => "exited before listening",
            _ => "did not listen within 60 s",
        };
        panic!("the server {why}: {:#?}", lines.lock().unwrap())
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every line logged so far.
    pub(crate) fn lines(&self) -> Vec<Value> {
        self.lines.lock().unwrap().clone()
    }

    /// The lines logged so far with this target.
    pub(crate) fn logged(&self, target: &str) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|l| l["target"] == target)
            .collect()
    }

    /// SIGKILL: no shutdown, no flush, no destructor runs.
    pub(crate) fn kill_9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM (a graceful stop), then the exit status.
    pub(crate) fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A database of its own for one test on the machine's PostgreSQL or MariaDB (from
/// `bash .ci/services`), created on start and dropped with this value.
pub(crate) struct ScratchDatabase {
    engine: Engine,
    admin: url::Url,
    name: String,
}

#[derive(Clone, Copy)]
enum Engine {
    Postgres,
    MariaDb,
}

impl ScratchDatabase {
    /// On PostgreSQL (`PORTCULLIS_TEST_POSTGRES_URL`, default
    /// `postgres://postgres@127.0.0.1:5432/postgres`).
    pub(crate) fn postgres(label: &str) -> ScratchDatabase {
        Self::create(
            Engine::Postgres,
            "PORTCULLIS_TEST_POSTGRES_URL",
            "postgres://postgres@127.0.0.1:5432/postgres",
            label,
        )
    }

    /// On MariaDB (`PORTCULLIS_TEST_MYSQL_URL`, default `mysql://root@127.0.0.1:3306/test`).
    pub(crate) fn mariadb(label: &str) -> ScratchDatabase {
        Self::create(
            Engine::MariaDb,
            "PORTCULLIS_TEST_MYSQL_URL",
            "mysql://root@127.0.0.1:3306/test",
            label,
        )
    }

    fn create(engine: Engine, var: &str, default: &str, label: &str) -> ScratchDatabase {
        let admin = std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_owned());
        let db = ScratchDatabase {
            engine,
            admin: url::Url::parse(&admin).unwrap(),
            name: format!("portcullis_{label}_{}", std::process::id()),
        };
        db.run(&format!("DROP DATABASE IF EXISTS {}", db.name))
            .unwrap();
        db.run(&format!("CREATE DATABASE {}", db.name)).unwrap();
        db
    }

    /// The database's URL: the admin URL with this database's name as its path.
    pub(crate) fn url(&self) -> String {
        let mut url = self.admin.clone();
        url.set_path(&self.name);
        url.to_string()
    }

    /// One SQL statement in this database; its output as tab-separated text.
    pub(crate) fn query(&self, sql: &str) -> String {
        let mut url = self.admin.clone();
        url.set_path(&self.name);
        self.run_at(&url, sql).unwrap()
    }

    fn run(&self, sql: &str) -> Result<String, String> {
        self.run_at(&self.admin, sql)
    }

    fn run_at(&self, url: &url::Url, sql: &str) -> Result<String, String> {
        let mut command = match self.engine {
            Engine::Postgres => {
                let mut c = Command::new("psql");
                c.args(["-w", "-v", "ON_ERROR_STOP=1", "-Atqc", sql, url.as_str()]);
                c
            }
            Engine::MariaDb => {
                let mut c = Command::new("mariadb");
                c.args([
                    "-h",
                    url.host_str().unwrap_or("127.0.0.1"),
                    "-P",
                    &url.port().unwrap_or(3306).to_string(),
                    "-u",
                    url.username(),
                    "-N",
                    "-B",
                    "-e",
                    sql,
                    url.path().trim_start_matches('/'),
                ]);
                if let Some(password) = url.password() {
                    c.env("MYSQL_PWD", password);
                }
                c
            }
        };
        let out = command
            .output()
            .map_err(|e| format!("{sql}: {e}: run `bash .ci/services`"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(format!("{sql}: {}", String::from_utf8_lossy(&out.stderr)))
        }
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let drop = match self.engine {
            Engine::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            Engine::MariaDb => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        let _ = self.run(&drop);
    }
}
