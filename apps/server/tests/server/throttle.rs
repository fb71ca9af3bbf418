//! `[throttle]` from the configuration file: the limits the engine applies, unset ones at
//! their defaults, bad ones refused by `config check` with the key named.

use std::path::Path;

use portcullis_server::{build, ServerConfig};
use tempfile::TempDir;

use crate::binary::config_check;
use crate::database::sign_in;
use crate::support::{write_users, PASSWORD, SECRET};

fn config_text(dir: &Path, throttle: &str) -> String {
    format!(
        r#"url = "http://localhost:3000/api/auth"
secret = "{SECRET}"
data_dir = "{data}"

[throttle]
{throttle}

[[providers]]
type = "credentials"
id = "credentials"
name = "Credentials"
users_file = "{users}"
"#,
        data = dir.join("data").display(),
        users = write_users(dir).display(),
    )
}

#[tokio::test]
async fn credentials_attempts_are_limited_as_the_file_says() {
    let dir = TempDir::new().unwrap();
    let text = config_text(
        dir.path(),
        "credentials_per_identifier = { limit = 2, window_seconds = 60 }",
    );
    let app = build(&ServerConfig::from_toml(&text).unwrap(), false).unwrap();
    assert_eq!(sign_in(&app, "wrong").await, 401);
    assert_eq!(
        sign_in(&app, PASSWORD).await,
        200,
        "the second attempt is allowed"
    );
    assert_eq!(
        sign_in(&app, PASSWORD).await,
        401,
        "the third is refused: 2 per minute, not the default 10 in 5 minutes"
    );
    app.store.close().await.unwrap();
}

#[test]
fn unset_limits_keep_their_defaults() {
    let config =
        ServerConfig::from_toml("[throttle]\nemail_per_ip = { limit = 100, window_seconds = 60 }")
            .unwrap();
    let settings = config.throttle.settings().unwrap();
    let defaults = portcullis_domain::config::ThrottleSettings::default();
    assert_eq!(settings.email_per_ip.limit, 100);
    assert_eq!(
        settings.credentials_per_identifier,
        defaults.credentials_per_identifier
    );
    assert_eq!(settings.email_per_address, defaults.email_per_address);
}

#[test]
fn config_check_names_the_bad_throttle_key() {
    let dir = TempDir::new().unwrap();
    let cases = [
        (
            "credentials_per_ip = { limit = 0, window_seconds = 60 }",
            "throttle.credentials_per_ip",
        ),
        (
            "email_per_address = { limit = 3, window_seconds = -1 }",
            "throttle.email_per_address",
        ),
        (
            "email_per_addres = { limit = 3, window_seconds = 60 }",
            "email_per_addres",
        ),
        ("credentials_per_ip = { limit = 3 }", "window_seconds"),
    ];
    for (throttle, key) in cases {
        let (code, stderr) = config_check(dir.path(), &config_text(dir.path(), throttle));
        assert_eq!(code, Some(2), "{throttle}: {stderr}");
        assert!(stderr.contains(key), "{throttle}: {stderr}");
    }
}
