//! Shared fixtures: a users file with cheap hashes, a configuration, an HTTP client that
//! keeps cookies by hand.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use portcullis_server::config::{CredentialsProviderConfig, Secrets};
use portcullis_server::{build_app, spawn, ProviderConfig, ServerConfig, ShutdownHandle};
use tempfile::TempDir;

pub(crate) const SECRET: &str = "test-secret-7Hq2xWm9Rk4vTz8Lp3Nc6BjYd5Fs";
pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// Argon2id with the smallest parameters: the tests check behaviour, not cost.
pub(crate) fn cheap_hash(password: &str) -> String {
    let params = Params::new(Params::MIN_M_COST, 1, 1, None).unwrap();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string()
}

/// A users file with `jane` (password [`PASSWORD`]) and `bob` (`bob-password`, no name).
pub(crate) fn write_users(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("users.toml");
    let text = format!(
        r#"
[[users]]
username = "jane"
password_hash = "{jane}"
name = "Jane"
email = "jane@example.com"
id = "user-1"

[[users]]
username = "bob"
password_hash = "{bob}"
"#,
        jane = cheap_hash(PASSWORD),
        bob = cheap_hash("bob-password"),
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// A configuration with a URL, a secret, a data directory and a credentials provider, all
/// in `dir`; private networks allowed (the test providers are on loopback).
pub(crate) fn config_in(dir: &Path) -> ServerConfig {
    let users_file = write_users(dir);
    ServerConfig {
        // Required outside `--dev`; the default a dev site would get.
        url: Some("http://localhost:3000/api/auth".into()),
        secret: Some(Secrets::One(SECRET.into())),
        // The test providers and services run on 127.0.0.1 (issue 11 §9).
        allow_private_network: true,
        data_dir: Some(dir.join("data")),
        providers: vec![ProviderConfig::Credentials(CredentialsProviderConfig {
            id: "credentials".into(),
            name: "Credentials".into(),
            users_file: Some(users_file),
            ldap: None,
            sql: None,
            http: None,
            fields: None,
        })],
        ..ServerConfig::default()
    }
}

/// A running server on a free loopback port.
pub(crate) struct Running {
    pub addr: SocketAddr,
    pub handle: ShutdownHandle,
    pub _dir: TempDir,
}

impl Running {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

pub(crate) async fn start() -> Running {
    let dir = TempDir::new().unwrap();
    let config = config_in(dir.path());
    let app = build_app(&config, false).unwrap();
    let (addr, handle) = spawn(app, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    Running {
        addr,
        handle,
        _dir: dir,
    }
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Cookies set by a response: name → value.
pub(crate) fn set_cookies(response: &reqwest::Response) -> HashMap<String, String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|line| line.split(';').next())
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect()
}

/// A `Cookie` header from name/value pairs.
pub(crate) fn cookie_header(cookies: &HashMap<String, String>) -> String {
    cookies
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ")
}
