//! `portcullis serve --dev` signs in by magic link with no SMTP server: the link is printed
//! to the terminal and listed on `/dev/mailbox`, which only `--dev` serves.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tempfile::TempDir;

use crate::support::{client, cookie_header, set_cookies};

/// Longest wait for the server's next log line ("never a hang", not a delay).
const LOG_TIMEOUT: Duration = Duration::from_secs(15);

/// The binary in `dir`, its log lines (JSON) arriving on a channel; killed when dropped.
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    port: u16,
    _dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// `serve` (with `--dev` or a configuration file), on a free loopback port; returns once
    /// it logs that it listens.
    fn start(args: &[&str], dir: TempDir) -> Self {
        // The site's URL in dev mode follows the listen port, so the port is chosen here.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if name.starts_with("PORTCULLIS_")
                || name.starts_with("NEXTAUTH_")
                || name == "RUST_LOG"
            {
                command.env_remove(name);
            }
        }
        let mut child = command
            .current_dir(dir.path())
            .arg("serve")
            .args(args)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("PORTCULLIS_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Self {
            child,
            lines,
            port,
            _dir: dir,
        };
        server.wait_for("listening");
        server
    }

    /// The next log line whose message is `message`, as JSON.
    fn wait_for(&mut self, message: &str) -> serde_json::Value {
        loop {
            let line = self
                .lines
                .recv_timeout(LOG_TIMEOUT)
                .unwrap_or_else(|e| panic!("no {message:?} log line ({e})"));
            let event: serde_json::Value = serde_json::from_str(&line).unwrap();
            if event["message"] == message {
                return event;
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// The links on the mailbox page, newest first (`href`s, HTML-unescaped).
fn links(page: &str) -> Vec<String> {
    page.split("<a class=\"link\" href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|href| href.replace("&amp;", "&"))
        .collect()
}

#[tokio::test]
async fn a_magic_link_from_the_dev_mailbox_signs_in() {
    let mut server = Server::start(&["--dev"], TempDir::new().unwrap());
    let site = format!("http://localhost:{}/api/auth", server.port);
    let http = client();
    let mut jar: HashMap<String, String> = HashMap::new();

    // The providers: e-mail (the dev mailbox) beside the demo user's credentials.
    let providers: serde_json::Value = http
        .get(server.url("/api/auth/providers"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(providers["email"]["type"], "email", "{providers}");
    assert_eq!(
        providers["credentials"]["type"], "credentials",
        "{providers}"
    );

    let mailbox = http.get(server.url("/dev/mailbox")).send().await.unwrap();
    assert_eq!(mailbox.status(), 200);
    assert_eq!(
        mailbox.headers()["content-security-policy"],
        portcullis_server::demo::CSP
    );
    assert!(links(&mailbox.text().await.unwrap()).is_empty());

    let csrf = http.get(server.url("/api/auth/csrf")).send().await.unwrap();
    jar.extend(set_cookies(&csrf));
    let token: serde_json::Value = csrf.json().await.unwrap();
    let token = token["csrfToken"].as_str().unwrap().to_owned();
    let asked = http
        .post(server.url("/api/auth/signin/email"))
        .header("cookie", cookie_header(&jar))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrfToken={token}&email=ada%40example.com&json=true"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 200);
    let asked: serde_json::Value = asked.json().await.unwrap();
    assert_eq!(
        asked["url"],
        format!("{site}/verify-request?provider=email&type=email")
    );

    // The terminal shows the link …
    let logged = server.wait_for("dev mailbox: a sign-in link");
    assert_eq!(logged["level"], "INFO");
    assert_eq!(logged["to"], "ada@example.com");
    let link = logged["link"].as_str().unwrap().to_owned();
    assert!(
        link.starts_with(&format!("{site}/callback/email?")),
        "{link}"
    );
    // … and so does the dev page, escaped for HTML.
    let page = http
        .get(server.url("/dev/mailbox"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(links(&page), vec![link.clone()], "{page}");
    assert!(page.contains("ada@example.com"), "{page}");

    let path = link
        .strip_prefix(&format!("http://localhost:{}", server.port))
        .unwrap();
    let followed = http
        .get(server.url(path))
        .header("cookie", cookie_header(&jar))
        .send()
        .await
        .unwrap();
    assert_eq!(followed.status(), 302);
    assert_eq!(
        followed.headers()["location"],
        format!("http://localhost:{}", server.port)
    );
    jar.extend(set_cookies(&followed));
    assert!(jar.contains_key("next-auth.session-token"), "{jar:?}");

    let session: serde_json::Value = http
        .get(server.url("/api/auth/session"))
        .header("cookie", cookie_header(&jar))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["user"]["email"], "ada@example.com", "{session}");

    // The link is single-use, as any magic link.
    let again = http.get(server.url(path)).send().await.unwrap();
    assert_eq!(
        again.headers()["location"],
        format!("{site}/error?error=Verification")
    );
}

#[tokio::test]
async fn without_dev_there_is_no_mailbox_page() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("portcullis.toml");
    std::fs::write(
        &file,
        "url = \"http://localhost:3000/api/auth\"\n\
         secret = \"a-test-secret-that-is-long-enough-0123456789\"\n\
         data_dir = \"data\"\n",
    )
    .unwrap();
    let config = file.to_str().unwrap().to_owned();
    let server = Server::start(&["--config", &config], dir);
    let page = client()
        .get(server.url("/dev/mailbox"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
    let providers: serde_json::Value = client()
        .get(server.url("/api/auth/providers"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(providers, serde_json::json!({}));
}
