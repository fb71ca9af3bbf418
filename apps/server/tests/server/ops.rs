//! Operations (issue 12 §3): the platform's `PORT`/`HOST`, `/healthz` and `/readyz`, and a
//! graceful stop on SIGTERM with a request in flight — on the real binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use portcullis_server::config::ServerConfig;
use portcullis_server::error::StartupError;
use tempfile::TempDir;

use crate::support::SECRET;

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn listen_with(file: Option<&str>, vars: &[(&str, &str)]) -> Result<String, StartupError> {
    let dir = TempDir::new().unwrap();
    let path = file.map(|text| {
        let path = dir.path().join("portcullis.toml");
        std::fs::write(&path, text).unwrap();
        path
    });
    ServerConfig::load(path.as_deref(), &env_of(vars)).map(|c| c.listen_addr().to_string())
}

#[test]
fn port_and_host_follow_the_platform_convention_under_the_file() {
    assert_eq!(listen_with(None, &[]).unwrap(), "127.0.0.1:3000");
    // PORT alone: every interface, where the platform's router reaches the container.
    assert_eq!(
        listen_with(None, &[("PORT", "8080")]).unwrap(),
        "0.0.0.0:8080"
    );
    assert_eq!(
        listen_with(None, &[("PORT", "8080"), ("HOST", "127.0.0.1")]).unwrap(),
        "127.0.0.1:8080"
    );
    assert_eq!(listen_with(None, &[("HOST", "::1")]).unwrap(), "[::1]:3000");
    assert_eq!(
        listen_with(None, &[("HOST", "localhost")]).unwrap(),
        "127.0.0.1:3000"
    );
    // The file, then PORTCULLIS_LISTEN, come first.
    let file = "listen = \"127.0.0.1:4000\"\n";
    assert_eq!(
        listen_with(Some(file), &[("PORT", "8080")]).unwrap(),
        "127.0.0.1:4000"
    );
    assert_eq!(
        listen_with(
            None,
            &[("PORT", "8080"), ("PORTCULLIS_LISTEN", "127.0.0.1:5000")]
        )
        .unwrap(),
        "127.0.0.1:5000"
    );
}

#[test]
fn a_bad_port_or_host_is_refused_naming_the_variable() {
    for (vars, name) in [
        (&[("PORT", "http")][..], "PORT"),
        (&[("PORT", "70000")][..], "PORT"),
        (&[("HOST", "example.com")][..], "HOST"),
    ] {
        match listen_with(None, vars) {
            Err(StartupError::Env { var, .. }) => assert_eq!(var, name),
            other => panic!("{vars:?}: {other:?}"),
        }
    }
}

/// The binary, serving `config` from `dir` with the given environment; returns it and
/// the address it logged (a real signal: the "listening" line).
pub(crate) fn serve(dir: &Path, config: &str, vars: &[(&str, &str)]) -> (Child, String) {
    let (child, mut addrs) = serve_logged(dir, config, vars);
    let addr = addrs.remove("listening").expect("logged");
    (child, addr)
}

/// As [`serve`], with every address the server logged before it listened, by message
/// (`listening`, `metrics listening`).
pub(crate) fn serve_logged(
    dir: &Path,
    config: &str,
    vars: &[(&str, &str)],
) -> (Child, std::collections::HashMap<String, String>) {
    let file = dir.join("portcullis.toml");
    std::fs::write(&file, config).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command.current_dir(dir);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("PORTCULLIS_")
            || name.starts_with("NEXTAUTH_")
            || name == "PORT"
            || name == "HOST"
        {
            command.env_remove(name);
        }
    }
    let mut child = command
        .args(["serve", "--config"])
        .arg(&file)
        .envs(vars.iter().copied())
        .env("PORTCULLIS_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut addrs = std::collections::HashMap::new();
    loop {
        let line = lines.next().expect("the server exited early").unwrap();
        let event: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("the server said: {line}"));
        if let (Some(message), Some(addr)) = (event["message"].as_str(), event["addr"].as_str()) {
            addrs.insert(message.to_owned(), addr.to_owned());
        }
        if event["message"] == "listening" {
            break;
        }
    }
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    (child, addrs)
}

fn get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

pub(crate) fn stop(mut child: Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait().unwrap()
}

pub(crate) fn base_config(dir: &Path) -> String {
    format!(
        "url = \"http://localhost:3000/api/auth\"\nsecret = \"{SECRET}\"\ndata_dir = \"{}\"\n",
        dir.join("data").display()
    )
}

/// A port nobody listens on now (the listener is closed before it is used).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[cfg(unix)]
#[test]
fn the_binary_listens_on_port_and_host_and_answers_health_and_readiness() {
    let dir = TempDir::new().unwrap();
    let port = free_port().to_string();
    let (child, addr) = serve(
        dir.path(),
        &base_config(dir.path()),
        &[("PORT", port.as_str()), ("HOST", "127.0.0.1")],
    );
    assert_eq!(addr, format!("127.0.0.1:{port}"));
    let live = get(&addr, "/healthz");
    assert!(live.starts_with("HTTP/1.1 200"), "{live}");
    assert!(live.ends_with("\r\n\r\nok"), "{live}");
    assert!(live.contains("cache-control: no-store"), "{live}");
    assert!(!live.to_lowercase().contains("set-cookie"), "{live}");
    let ready = get(&addr, "/readyz");
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    // The auth routes are where they were.
    assert!(get(&addr, "/api/auth/providers").starts_with("HTTP/1.1 200"));
    assert!(stop(child).success());
}

#[cfg(unix)]
#[test]
fn readiness_fails_naming_an_smtp_server_that_does_not_answer() {
    let dir = TempDir::new().unwrap();
    let closed = free_port();
    let config = format!(
        "{}\n[[providers]]\ntype = \"email\"\nid = \"email\"\nname = \"Email\"\n\
         smtp = \"smtp://127.0.0.1:{closed}\"\nfrom = \"auth@example.com\"\n",
        base_config(dir.path())
    );
    let (child, addr) = serve(dir.path(), &config, &[]);
    assert!(get(&addr, "/healthz").starts_with("HTTP/1.1 200"));
    let ready = get(&addr, "/readyz");
    assert!(ready.starts_with("HTTP/1.1 503"), "{ready}");
    assert!(
        ready.ends_with("not ready: smtp of provider email"),
        "{ready}"
    );
    assert!(
        !ready.contains(&closed.to_string()),
        "no address in the answer: {ready}"
    );
    assert!(stop(child).success());
}

#[cfg(unix)]
#[test]
fn health_endpoints_can_be_turned_off() {
    let dir = TempDir::new().unwrap();
    let config = format!("{}\n[health]\nenabled = false\n", base_config(dir.path()));
    let (child, addr) = serve(dir.path(), &config, &[("PORT", "0")]);
    assert!(get(&addr, "/healthz").starts_with("HTTP/1.1 404"));
    assert!(get(&addr, "/readyz").starts_with("HTTP/1.1 404"));
    assert!(stop(child).success());
}

/// SIGTERM while a request is in flight: the request is answered in full, then the
/// process exits successfully and the port is closed.
#[cfg(unix)]
#[test]
fn sigterm_drains_a_request_in_flight() {
    let dir = TempDir::new().unwrap();
    let (child, addr) = serve(
        dir.path(),
        &base_config(dir.path()),
        &[("PORT", "0"), ("HOST", "127.0.0.1")],
    );
    let mut stream = TcpStream::connect(&addr).unwrap();
    let body = "csrfToken=nope&json=true";
    write!(
        stream,
        "POST /api/auth/signout HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    // The server answers 100 Continue once the handler reads the body: in flight.
    let mut buffer = [0u8; 64];
    let n = stream.read(&mut buffer).unwrap();
    assert!(
        String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 100"),
        "{:?}",
        String::from_utf8_lossy(&buffer[..n])
    );
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    // The request cannot finish without its body, so neither can the process; the
    // answer below proves it waited.
    stream.write_all(body.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"url\""), "{response}");
    let mut child = child;
    assert!(child.wait().unwrap().success());
    assert!(TcpStream::connect(&addr).is_err());
}
