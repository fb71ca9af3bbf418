//! The `portcullis` binary itself.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};

use portcullis_server::verify_password;
use tempfile::TempDir;

use crate::binary::portcullis;
use crate::support::{write_users, SECRET};

fn run_with_stdin(mut command: Command, stdin: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn config_schema_prints_json_schema() {
    let dir = TempDir::new().unwrap();
    let out = portcullis(dir.path())
        .args(["config", "schema"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schema["title"], "ServerConfig");
}

#[test]
fn hooks_schema_prints_every_hooks_request_and_answer() {
    let dir = TempDir::new().unwrap();
    let out = portcullis(dir.path())
        .args(["hooks", "schema"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let schemas: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for hook in ["sign_in", "jwt", "session", "redirect", "send_email"] {
        assert_eq!(
            schemas[hook]["request"]["properties"]["type"]["const"],
            hook
        );
        assert!(schemas[hook]["answer"]["$schema"].is_string(), "{hook}");
    }
}

#[test]
fn flows_prints_mermaid() {
    let dir = TempDir::new().unwrap();
    for args in [&["flows"][..], &["flows", "--mermaid"][..]] {
        let out = portcullis(dir.path()).args(args).output().unwrap();
        assert!(out.status.success());
        let stdout = text(&out.stdout);
        assert_eq!(stdout, portcullis::flows_mermaid());
        assert!(stdout.contains("stateDiagram"));
    }
}

#[test]
fn hash_password_reads_one_line() {
    let dir = TempDir::new().unwrap();
    for (input, password) in [
        (&b"p\xc3\xa4ss w\xc3\xb6rd \n"[..], "päss wörd "),
        (b"crlf\r\n", "crlf"),
        (b"no newline", "no newline"),
        (b"first\nsecond\n", "first"),
    ] {
        let mut command = portcullis(dir.path());
        command.arg("hash-password");
        let out = run_with_stdin(command, input);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let hash = text(&out.stdout);
        let hash = hash.trim_end();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password(password, hash), "{password:?}");
    }
    for empty in [&b""[..], b"\n"] {
        let mut command = portcullis(dir.path());
        command.arg("hash-password");
        let out = run_with_stdin(command, empty);
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stdout.is_empty());
        assert!(text(&out.stderr).contains("empty"));
    }
}

#[test]
fn config_check_says_ok_or_why_not() {
    let dir = TempDir::new().unwrap();
    write_users(dir.path());
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        format!(
            "url = \"http://localhost:3000/api/auth\"\nsecret = \"{SECRET}\"\n[[providers]]\ntype = \"credentials\"\nid = \"credentials\"\nname = \"Credentials\"\nusers_file = \"users.toml\"\n"
        ),
    )
    .unwrap();
    let out = portcullis(dir.path())
        .args(["config", "check", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "OK");

    // The same file through PORTCULLIS_CONFIG, with a bad override from the environment.
    let out = portcullis(dir.path())
        .args(["config", "check"])
        .env("PORTCULLIS_CONFIG", &good)
        .env("PORTCULLIS_JWT_ENCRYPTION", "maybe")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("PORTCULLIS_JWT_ENCRYPTION"));

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, format!("secret = \"{SECRET}\"\nlisten_on = \"x\"\n")).unwrap();
    let out = portcullis(dir.path())
        .args(["config", "check", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("line 2") && stderr.contains("listen_on"),
        "{stderr}"
    );
}

#[test]
fn serve_without_a_secret_refuses_to_start() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("portcullis.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\n").unwrap();
    let out = portcullis(dir.path())
        .args(["serve", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("NEXTAUTH_SECRET"));
    // Nothing was written.
    assert!(!dir.path().join(".portcullis").exists());

    let out = portcullis(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[cfg(unix)]
#[test]
fn serve_dev_runs_and_stops_on_sigterm() {
    let dir = TempDir::new().unwrap();
    let mut child = portcullis(dir.path())
        .args(["serve", "--dev", "--listen", "127.0.0.1:0"])
        .env("PORTCULLIS_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    // Wait for the "listening" line (a real signal, not a delay).
    let addr = loop {
        let line = lines.next().expect("the server exited early").unwrap();
        seen.push(line.clone());
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        if event["message"] == "listening" {
            break event["addr"].as_str().unwrap().to_owned();
        }
    };
    assert!(
        seen.iter()
            .any(|l| l.contains("WARN") && l.contains("NOT FOR PRODUCTION")),
        "{seen:?}"
    );
    assert!(dir.path().join(".portcullis/secret").is_file());

    let response = std::net::TcpStream::connect(&addr).map(|mut stream| {
        stream
            .write_all(b"GET /api/auth/providers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut body = String::new();
        std::io::Read::read_to_string(&mut stream, &mut body).unwrap();
        body
    });
    let response = response.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"credentials\""), "{response}");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(child.wait().unwrap().success(), "{rest:?}");
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
}
