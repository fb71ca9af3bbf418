//! `serve --dev`: a kept secret, a demo user, the store under the data directory.

use std::sync::Arc;

use portcullis_server::config::Secrets;
use portcullis_server::{build_app, ServerConfig};
use tempfile::TempDir;

use crate::support::SECRET;

fn dev_config(dir: &TempDir) -> ServerConfig {
    ServerConfig {
        data_dir: Some(dir.path().join("nested").join(".portcullis")),
        ..ServerConfig::default()
    }
}

#[test]
fn the_secret_is_generated_private_and_reused() {
    let dir = TempDir::new().unwrap();
    let config = dev_config(&dir);
    let secret_file = config.data_dir().join("secret");

    let first = build_app(&config, true).unwrap();
    let written = std::fs::read_to_string(&secret_file).unwrap();
    assert_eq!(written.len(), 64);
    assert!(written.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(first.config().secrets[0].expose(), written);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(config.data_dir().join("store").is_dir());
    assert!(first.config().provider("credentials").is_some());
    drop(first);

    let second = build_app(&config, true).unwrap();
    assert_eq!(second.config().secrets[0].expose(), written);
    assert_eq!(std::fs::read_to_string(&secret_file).unwrap(), written);
}

#[test]
fn nextauth_secret_means_no_secret_file() {
    let dir = TempDir::new().unwrap();
    let config = ServerConfig {
        secret: Some(Secrets::One(SECRET.into())),
        ..dev_config(&dir)
    };
    let app = build_app(&config, true).unwrap();
    assert_eq!(app.config().secrets[0].expose(), SECRET);
    assert!(!config.data_dir().join("secret").exists());
}

#[test]
fn a_short_secret_file_is_refused() {
    let dir = TempDir::new().unwrap();
    let config = dev_config(&dir);
    std::fs::create_dir_all(config.data_dir()).unwrap();
    std::fs::write(config.data_dir().join("secret"), "short\n").unwrap();
    let err = build_app(&config, true).unwrap_err().to_string();
    assert!(err.contains("secret") && err.contains("32"), "{err}");
}

#[test]
fn without_dev_there_is_no_generated_secret() {
    let dir = TempDir::new().unwrap();
    let config = dev_config(&dir);
    let err = build_app(&config, false).unwrap_err().to_string();
    assert!(err.contains("NEXTAUTH_SECRET"), "{err}");
    assert!(!config.data_dir().join("secret").exists());
}

#[tokio::test]
async fn the_demo_user_signs_in() {
    let dir = TempDir::new().unwrap();
    let app = build_app(&dev_config(&dir), true).unwrap();
    let app = Arc::new(app);
    // Through the engine: csrf, then the credentials callback.
    let csrf = app.handle(get("/api/auth/csrf", None)).await;
    let cookie = set_cookie(&csrf, "next-auth.csrf-token");
    let token: serde_json::Value = serde_json::from_str(csrf.body()).unwrap();
    let token = token["csrfToken"].as_str().unwrap();
    let body = format!("csrfToken={token}&username=demo&password=demo&json=true");
    let mut request = http::Request::new(bytes::Bytes::from(body));
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = "/api/auth/callback/credentials".parse().unwrap();
    request.headers_mut().insert(
        http::header::CONTENT_TYPE,
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    request.headers_mut().insert(
        http::header::COOKIE,
        format!("next-auth.csrf-token={cookie}").parse().unwrap(),
    );
    let response = app.handle(request).await;
    assert_eq!(response.status(), 200, "{}", response.body());
    let session = set_cookie(&response, "next-auth.session-token");
    let response = app
        .handle(get(
            "/api/auth/session",
            Some(&format!("next-auth.session-token={session}")),
        ))
        .await;
    let session: serde_json::Value = serde_json::from_str(response.body()).unwrap();
    assert_eq!(session["user"]["name"], "Demo User");
}

fn get(path: &str, cookie: Option<&str>) -> http::Request<bytes::Bytes> {
    let mut request = http::Request::new(bytes::Bytes::new());
    *request.uri_mut() = path.parse().unwrap();
    if let Some(cookie) = cookie {
        request
            .headers_mut()
            .insert(http::header::COOKIE, cookie.parse().unwrap());
    }
    request
}

fn set_cookie(response: &http::Response<String>, name: &str) -> String {
    response
        .headers()
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|line| line.split(';').next())
        .filter_map(|pair| pair.split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
        .unwrap()
}
