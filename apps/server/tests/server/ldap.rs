//! `[providers.ldap]`: the real `portcullis` binary, configured from a TOML file, signing
//! in against the real OpenLDAP that `.ci/ldap` starts on loopback; and the checks
//! `portcullis config check` makes.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::support::{client, cookie_header, set_cookies, SECRET};

const PASSWORD: &str = "correct horse";
const SERVICE_PASSWORD: &str = "service-secret";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn ldap_url() -> String {
    env_or("PORTCULLIS_TEST_LDAP_URL", "ldap://127.0.0.1:3389")
}

fn ca_file() -> String {
    env_or("PORTCULLIS_TEST_LDAP_CA", "/tmp/portcullis-ldap/tls/ca.pem")
}

/// `[[providers]]` tables: `corp` (StartTLS, search as the service account), `direct`
/// (DN template), `throttled` (same directory, its own rate-limit counters) and `down`
/// (nothing listens there).
fn config(dir: &Path) -> String {
    let url = ldap_url();
    let ca = ca_file();
    let search = format!(
        "url = \"{url}\"\nstarttls = true\nca_file = \"{ca}\"\n\
         bind_dn = \"cn=portcullis,ou=services,dc=example,dc=org\"\n\
         base_dn = \"ou=people,dc=example,dc=org\"\n\
         user_filter = \"(&(objectClass=inetOrgPerson)(uid={{username}}))\"\n"
    );
    format!(
        "url = \"http://localhost:3000/api/auth\"\nsecret = \"{SECRET}\"\nlisten = \"127.0.0.1:0\"\n\
         data_dir = \"{data}\"\n[log]\nformat = \"json\"\n\
         [[providers]]\ntype = \"credentials\"\nid = \"corp\"\nname = \"Corporate\"\n[providers.ldap]\n{search}\
         [[providers]]\ntype = \"credentials\"\nid = \"direct\"\nname = \"Direct\"\n[providers.ldap]\n\
         url = \"{url}\"\nuser_dn = \"uid={{username}},ou=people,dc=example,dc=org\"\n\
         [[providers]]\ntype = \"credentials\"\nid = \"throttled\"\nname = \"Throttled\"\n[providers.ldap]\n{search}\
         [[providers]]\ntype = \"credentials\"\nid = \"down\"\nname = \"Down\"\n[providers.ldap]\n\
         url = \"ldap://127.0.0.1:1\"\nbase_dn = \"dc=example,dc=org\"\ntimeout_seconds = 2\n",
        data = dir.join("data").display(),
    )
}

/// The binary serving `file`, the bind password from the environment; its log lines
/// collected as they come.
struct Server {
    child: Child,
    addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(dir: &Path, file: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .current_dir(dir)
            .args(["serve", "--config"])
            .arg(file)
            .env_remove("PORTCULLIS_LOG")
            .env_remove("NEXTAUTH_URL")
            .env_remove("NEXTAUTH_SECRET")
            .env("PORTCULLIS_LDAP_BIND_PASSWORD", SERVICE_PASSWORD)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str::<Value>(&line) {
                    if event["message"] == "listening" {
                        let _ = tx.send(event["addr"].as_str().unwrap_or_default().to_owned());
                    }
                }
                lines.lock().unwrap().push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no `listening` line: {:?}", log.lock().unwrap()));
        Self { child, addr, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// POSTs the credentials form (`json=true`) to `provider` after fetching a CSRF token;
/// returns the status, the JSON and the cookies set.
async fn sign_in(
    server: &Server,
    provider: &str,
    username: &str,
    password: &str,
) -> (u16, Value, std::collections::HashMap<String, String>) {
    let client = client();
    let csrf = client
        .get(server.url("/api/auth/csrf"))
        .send()
        .await
        .unwrap();
    let cookies = set_cookies(&csrf);
    let token = csrf.json::<Value>().await.unwrap()["csrfToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = client
        .post(server.url(&format!("/api/auth/callback/{provider}")))
        .header("cookie", cookie_header(&cookies))
        .form(&[
            ("csrfToken", token.as_str()),
            ("username", username),
            ("password", password),
            ("json", "true"),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let cookies = set_cookies(&response);
    (status, response.json().await.unwrap(), cookies)
}

fn wrong_credentials(provider: &str) -> Value {
    serde_json::json!({
        "url": format!("http://localhost:3000/api/auth/error?error=CredentialsSignin&provider={provider}")
    })
}

#[tokio::test]
async fn the_binary_signs_in_against_ldap_from_its_toml_file() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("portcullis.toml");
    std::fs::write(&file, config(dir.path())).unwrap();
    let server = Server::start(dir.path(), &file);

    // csrf → credentials callback → session.
    let (status, body, cookies) = sign_in(&server, "corp", "jane", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, serde_json::json!({"url": "http://localhost:3000"}));
    let token = cookies
        .get("next-auth.session-token")
        .expect("a session cookie");
    let session: Value = client()
        .get(server.url("/api/auth/session"))
        .header("cookie", format!("next-auth.session-token={token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["user"]["name"], "Jane Doe");
    assert_eq!(session["user"]["email"], "jane@example.org");

    // The DN template provider, a comma in the uid.
    let (status, _, cookies) = sign_in(&server, "direct", "smith, j", PASSWORD).await;
    assert_eq!(status, 200);
    assert!(cookies.contains_key("next-auth.session-token"));

    // Wrong password, unknown user, locked account, empty password, an injected filter:
    // one answer, no cookie.
    for (username, password) in [
        ("jane", "wrong"),
        ("nobody", PASSWORD),
        ("locked", PASSWORD),
        ("jane", ""),
        ("*)(uid=*", PASSWORD),
    ] {
        let (status, body, cookies) = sign_in(&server, "corp", username, password).await;
        assert_eq!(status, 401, "{username}");
        assert_eq!(body, wrong_credentials("corp"), "{username}");
        assert!(!cookies.contains_key("next-auth.session-token"));
    }

    // Throttling applies: after 10 wrong attempts even the right password is refused.
    for _ in 0..10 {
        assert_eq!(sign_in(&server, "throttled", "jane", "wrong").await.0, 401);
    }
    let (status, body, _) = sign_in(&server, "throttled", "jane", PASSWORD).await;
    assert_eq!((status, body), (401, wrong_credentials("throttled")));

    // A directory that is down: a clear error code, its page not a 500, and fast.
    let started = std::time::Instant::now();
    let (status, body, cookies) = sign_in(&server, "down", "jane", PASSWORD).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(status, 200);
    let error_url = body["url"].as_str().unwrap();
    assert_eq!(
        error_url,
        "http://localhost:3000/api/auth/error?error=CredentialsUnavailable"
    );
    assert!(!cookies.contains_key("next-auth.session-token"));
    let page = client()
        .get(server.url("/api/auth/error?error=CredentialsUnavailable"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);

    let log = server.log();
    assert!(log.contains("account locked"), "{log}");
    assert!(
        log.contains("the LDAP directory cannot check credentials"),
        "{log}"
    );
    for secret in [PASSWORD, SERVICE_PASSWORD] {
        assert!(!log.contains(secret), "{secret} in the log: {log}");
    }
}

#[test]
fn config_check_names_the_ldap_key_at_fault() {
    let dir = TempDir::new().unwrap();
    let check = |ldap: &str| {
        let file = dir.path().join("check.toml");
        std::fs::write(
            &file,
            format!(
                "url = \"http://localhost:3000/api/auth\"\nsecret = \"{SECRET}\"\n[[providers]]\ntype = \"credentials\"\nid = \"corp\"\nname = \"Corporate\"\n{ldap}"
            ),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .current_dir(dir.path())
            .args(["config", "check", "--config"])
            .arg(&file)
            .env_remove("PORTCULLIS_LDAP_BIND_PASSWORD")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let ok = format!(
        "[providers.ldap]\nurl = \"ldaps://ldap.example.org\"\nca_file = \"{}\"\nbase_dn = \"dc=example,dc=org\"\n",
        ca_file()
    );
    assert_eq!(check(&ok), (Some(0), String::new()));
    for (ldap, wanted) in [
        (
            "[providers.ldap]\nurl = \"127.0.0.1:3389\"\nbase_dn = \"dc=example,dc=org\"\n",
            "providers[corp].ldap.url",
        ),
        (
            "[providers.ldap]\nurl = \"http://ldap.example.org\"\nbase_dn = \"dc=example,dc=org\"\n",
            "providers[corp].ldap.url",
        ),
        (
            "[providers.ldap]\nurl = \"ldap://ldap.example.org\"\nbase_dn = \"dc=org\"\nuser_filter = \"(uid=jane)\"\n",
            "providers[corp].ldap.user_filter",
        ),
        (
            "[providers.ldap]\nurl = \"ldap://ldap.example.org\"\nbase_dn = \"dc=org\"\nbind_dn = \"cn=svc\"\n",
            "PORTCULLIS_LDAP_BIND_PASSWORD",
        ),
        (
            "[providers.ldap]\nurl = \"ldap://ldap.example.org\"\n",
            "providers[corp].ldap: set `base_dn`",
        ),
        (
            "[providers.ldap]\nurl = \"ldap://h\"\nbase_dn = \"dc=org\"\nca_file = \"missing.pem\"\n",
            "providers[corp].ldap.ca_file",
        ),
        ("", "provider \"corp\": set one credentials backend"),
        (
            "users_file = \"users.toml\"\n[providers.ldap]\nurl = \"ldap://h\"\nbase_dn = \"dc=org\"\n",
            "set only one credentials backend, not users_file and ldap",
        ),
    ] {
        let (code, stderr) = check(ldap);
        assert_eq!(code, Some(2), "{ldap}: {stderr}");
        assert!(stderr.contains(wanted), "{ldap}: {stderr}");
    }
}
