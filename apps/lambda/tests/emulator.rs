//! The built `portcullis-lambda` binary under cargo-lambda's local Lambda emulator
//! (`cargo lambda watch --only-lambda-apis`): the emulator speaks the Lambda runtime API to
//! the function and turns plain HTTP requests into function URL events, as AWS does.
//! `.ci/lambda` installs cargo-lambda (PyPI) and exports `PORTCULLIS_TEST_CARGO_LAMBDA`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde_json::{json, Value};

const SECRET: &str = "lambda-test-secret-5Kq8Rz2Wm7Tv4Xn9Pb3Hd6Js";
const PASSWORD: &str = "correct horse battery staple";
/// How long the emulator may take to say it listens (it runs `cargo metadata` first).
const EMULATOR_START: Duration = Duration::from_secs(120);

fn cargo_lambda() -> PathBuf {
    std::env::var_os("PORTCULLIS_TEST_CARGO_LAMBDA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").expect("HOME is set");
            PathBuf::from(home).join(".cache/portcullis/lambda-venv/bin/cargo-lambda")
        })
}

/// A child process killed when the test ends, passing or not.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the emulator's runtime and invoke APIs on a free loopback port; returns the
/// process and the variables it says the function must run with.
fn start_emulator() -> (Killed, u16, Vec<(String, String)>) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let program = cargo_lambda();
    let mut child = Command::new(&program)
        .args([
            "lambda",
            "watch",
            "--only-lambda-apis",
            "-A",
            "127.0.0.1",
            "-P",
        ])
        .arg(port.to_string())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): run `bash .ci/lambda` or set PORTCULLIS_TEST_CARGO_LAMBDA",
                program.display()
            )
        });
    let (lines, receive) = mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().expect("piped")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("piped")),
    ] {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
    }
    let child = Killed(child);
    let mut env = Vec::new();
    let mut seen = Vec::new();
    loop {
        let line = receive.recv_timeout(EMULATOR_START).unwrap_or_else(|_| {
            panic!("the emulator did not start; it said:\n{}", seen.join("\n"))
        });
        // `INFO AWS_LAMBDA_RUNTIME_API=http://127.0.0.1:9000/.rt` and its siblings.
        if let Some((name, value)) = line
            .split_whitespace()
            .last()
            .and_then(|word| word.split_once('='))
            .filter(|(name, _)| name.starts_with("AWS_LAMBDA_"))
        {
            env.push((name.to_owned(), value.to_owned()));
        }
        if line.contains("starting Runtime server") {
            break;
        }
        seen.push(line);
    }
    assert!(
        env.iter().any(|(name, _)| name == "AWS_LAMBDA_RUNTIME_API"),
        "the emulator names its runtime API: {seen:?}"
    );
    (child, port, env)
}

fn users_file(dir: &std::path::Path) -> PathBuf {
    let params = Params::new(Params::MIN_M_COST, 1, 1, None).unwrap();
    let hash = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
    let path = dir.join("users.toml");
    std::fs::write(
        &path,
        format!("[[users]]\nusername = \"jane\"\npassword_hash = \"{hash}\"\nname = \"Jane\"\n"),
    )
    .unwrap();
    path
}

/// A browser, by hand: cookies kept from `Set-Cookie`, sent back as one `Cookie` header.
struct Browser {
    http: reqwest::Client,
    base: String,
    jar: BTreeMap<String, String>,
}

impl Browser {
    async fn send(
        &mut self,
        method: reqwest::Method,
        route: &str,
        form: Option<&[(&str, &str)]>,
    ) -> (u16, String) {
        let cookie: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut request = self
            .http
            .request(method, format!("{}{route}", self.base))
            .header("cookie", cookie.join("; "));
        if let Some(form) = form {
            let body = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .finish();
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        }
        let response = request.send().await.unwrap();
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || attributes.to_ascii_lowercase().contains("max-age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    async fn json(
        &mut self,
        method: reqwest::Method,
        route: &str,
        form: Option<&[(&str, &str)]>,
    ) -> Value {
        let (status, body) = self.send(method, route, form).await;
        assert_eq!(status, 200, "{route}: {body}");
        serde_json::from_str(&body).unwrap()
    }
}

#[tokio::test]
async fn the_function_signs_in_and_out_under_the_lambda_emulator() {
    let (_emulator, port, lambda_env) = start_emulator();
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path());
    let site = format!("http://127.0.0.1:{port}");
    // With `--only-lambda-apis` the emulator names the function `_`; its function URL
    // answers under `/lambda-url/<name>/`.
    let name = lambda_env
        .iter()
        .find(|(variable, _)| variable == "AWS_LAMBDA_FUNCTION_NAME")
        .map_or("_".to_owned(), |(_, name)| name.clone());
    let _function = Killed(
        Command::new(env!("CARGO_BIN_EXE_portcullis-lambda"))
            .envs(lambda_env)
            .env(
                "PORTCULLIS_CONFIG_TOML",
                format!(
                    "[[providers]]\ntype = \"credentials\"\nid = \"credentials\"\nname = \"Credentials\"\nusers_file = \"{}\"\n",
                    users.display()
                ),
            )
            .env("NEXTAUTH_URL", format!("{site}/api/auth"))
            .env("NEXTAUTH_SECRET", SECRET)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The emulator holds each request until the function asks for its next event, so the
    // first request also waits out the function's start.
    let mut browser = Browser {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
        base: format!("{site}/lambda-url/{name}/api/auth"),
        jar: BTreeMap::new(),
    };
    use reqwest::Method;

    let csrf = browser.json(Method::GET, "/csrf", None).await["csrfToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let signed_in = browser
        .json(
            Method::POST,
            "/callback/credentials",
            Some(&[
                ("csrfToken", &csrf),
                ("username", "jane"),
                ("password", PASSWORD),
                ("json", "true"),
            ]),
        )
        .await;
    assert_eq!(signed_in["url"], json!(site));
    assert!(
        browser.jar.contains_key("next-auth.session-token"),
        "{:?}",
        browser.jar.keys()
    );

    let session = browser.json(Method::GET, "/session", None).await;
    assert_eq!(session["user"]["name"], json!("Jane"));

    browser
        .json(
            Method::POST,
            "/signout",
            Some(&[("csrfToken", &csrf), ("json", "true")]),
        )
        .await;
    assert!(!browser.jar.contains_key("next-auth.session-token"));
    assert_eq!(browser.json(Method::GET, "/session", None).await, json!({}));

    let (status, page) = browser
        .send(Method::GET, "/error?error=Verification", None)
        .await;
    assert_eq!(status, 403);
    assert!(page.contains("Unable to sign in"), "{page}");
}
