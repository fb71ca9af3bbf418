//! The configuration file, the environment over it, and startup validation.

use std::collections::HashMap;
use std::path::Path;

use portcullis_server::config::{LogFormat, Secrets};
use portcullis_server::{check, ProviderConfig, ServerConfig, StartupError};
use tempfile::TempDir;

use crate::support::{write_users, SECRET};

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

fn no_env(_: &str) -> Option<String> {
    None
}

const FULL: &str = r#"
url = "https://example.com/custom/api/auth"
secret = ["new-secret-7Hq2xWm9Rk4vTz8Lp3Nc6BjYd5", "old-secret-Xe4Wq8Nz2Tb6Hm3Kc9Rv5Jp7Ls"]
listen = "0.0.0.0:8080"
data_dir = "state"
use_secure_cookies = true
theme = "dark"

[session]
max_age = 3600

[jwt]
max_age = 7200
encryption = true

[cookies.sessionToken]
name = "__Secure-app.session"
secure = true
same_site = "strict"

[pages]
signIn = "/login"

[log]
filter = "debug"
format = "json"

[[providers]]
type = "credentials"
id = "staff"
name = "Staff login"
users_file = "users.toml"

[[providers.fields]]
name = "username"
label = "Login"
type = "text"

[[providers.fields]]
name = "password"
type = "password"
"#;

fn write(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("portcullis.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_full_file_is_read_and_paths_are_taken_from_its_directory() {
    let dir = TempDir::new().unwrap();
    write_users(dir.path());
    let config = ServerConfig::load(Some(&write(dir.path(), FULL)), &no_env).unwrap();
    assert_eq!(
        config.url.as_deref(),
        Some("https://example.com/custom/api/auth")
    );
    assert_eq!(config.listen_addr().to_string(), "0.0.0.0:8080");
    assert_eq!(config.data_dir(), dir.path().join("state"));
    assert_eq!(config.session.max_age, Some(3600));
    assert_eq!(config.jwt.max_age, Some(7200));
    assert_eq!(config.jwt.encryption, Some(true));
    assert_eq!(config.log_filter(), "debug");
    assert_eq!(config.log_format(), LogFormat::Json);
    let ProviderConfig::Credentials(provider) = &config.providers[0] else {
        panic!("a credentials provider")
    };
    assert_eq!(provider.id, "staff");
    assert_eq!(provider.users_file, Some(dir.path().join("users.toml")));
    assert_eq!(
        provider.fields.as_ref().unwrap()[0].label.as_deref(),
        Some("Login")
    );

    let app = check(&config).unwrap();
    let engine = app.config();
    assert_eq!(engine.site.base_path(), "/custom/api/auth");
    assert_eq!(engine.secrets.len(), 2);
    assert!(engine.jwt.encryption);
    assert_eq!(engine.session.max_age, 3600);
    assert_eq!(engine.cookies.session_token.name, "__Secure-app.session");
    assert!(engine.provider("staff").is_some());
}

#[test]
fn the_session_cookie_prefix_and_the_linking_window_are_configurable() {
    let config = ServerConfig::from_toml(&format!(
        "url = \"https://example.com/api/auth\"\nsecret = \"{SECRET}\"\n[session]\nlink_max_auth_age = 120\n[cookies]\nprefix = \"host\"\n"
    ))
    .unwrap();
    let app = check(&config).unwrap();
    let engine = app.config();
    assert_eq!(
        engine.cookies.session_token.name,
        "__Host-next-auth.session-token"
    );
    assert_eq!(engine.cookies.state.name, "__Host-next-auth.state");
    assert_eq!(engine.link_max_auth_age, 120);
    let bad = ServerConfig::from_toml(&format!(
        "secret = \"{SECRET}\"\n[cookies]\nprefix = \"domain\"\n"
    ));
    assert!(bad.unwrap_err().to_string().contains("prefix"));
}

#[test]
fn defaults_need_only_a_secret_and_the_url() {
    let config = ServerConfig::from_toml(&format!(
        "secret = \"{SECRET}\"\nurl = \"https://app.example/api/auth\""
    ))
    .unwrap();
    assert_eq!(config.listen_addr().to_string(), "127.0.0.1:3000");
    assert_eq!(config.data_dir(), Path::new("./.portcullis"));
    assert_eq!(config.log_filter(), "info");
    assert_eq!(config.log_format(), LogFormat::Text);
    let app = check(&config).unwrap();
    assert_eq!(app.config().site.base(), "https://app.example/api/auth");
}

#[test]
fn a_missing_url_is_refused_outside_dev_mode() {
    let config = ServerConfig::from_toml(&format!("secret = \"{SECRET}\"")).unwrap();
    let err = check(&config).unwrap_err().to_string();
    assert!(
        err.contains("NEXTAUTH_URL") && err.contains("`url`"),
        "{err}"
    );
    // `--dev` still defaults it to the listen port.
    let dir = TempDir::new().unwrap();
    let mut config = config;
    config.data_dir = Some(dir.path().join("data"));
    assert_eq!(config.effective_url(), "http://localhost:3000/api/auth");
    let app = portcullis_server::build_app(&config, true).unwrap();
    assert_eq!(app.config().site.base(), "http://localhost:3000/api/auth");
}

#[test]
fn revocable_jwts_check_with_a_store_and_are_refused_stateless() {
    let base = format!("url = \"https://app.example/api/auth\"\nsecret = \"{SECRET}\"\n");
    let revocable = "[jwt]\nrevocable = true\n";
    let with_store = ServerConfig::from_toml(&format!("{base}{revocable}")).unwrap();
    assert!(with_store.jwt.revocable);
    assert!(check(&with_store).unwrap().config().jwt_revocable);
    let stateless = format!("{base}stateless = true\n{revocable}");
    let err = check(&ServerConfig::from_toml(&stateless).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("jwt.revocable") && err.contains("needs a store"),
        "{err}"
    );
}

#[test]
fn a_long_but_guessable_secret_is_refused_naming_the_key() {
    let url = "url = \"https://app.example/api/auth\"\n";
    let weak = "password".to_owned() + &"!".repeat(24);
    for (toml, key) in [
        (format!("{url}secret = \"{weak}\"\n"), "secret number 1"),
        (
            format!("{url}secret = \"{SECRET}\"\n[jwt]\nsecret = \"{weak}\"\n"),
            "jwt.secret number 1",
        ),
    ] {
        let err = check(&ServerConfig::from_toml(&toml).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains(key) && err.contains("easy to guess"), "{err}");
        assert!(!err.contains(&weak), "{err}");
        // A v3 site keeps its secret, and its sessions, with allow_short_secret.
        let allowed = format!("allow_short_secret = true\n{toml}");
        assert!(check(&ServerConfig::from_toml(&allowed).unwrap()).is_ok());
    }
}

#[test]
fn the_environment_wins_over_the_file() {
    let dir = TempDir::new().unwrap();
    write_users(dir.path());
    let env = env(&[
        ("NEXTAUTH_URL", "http://auth.test:4000/auth"),
        (
            "NEXTAUTH_SECRET",
            "env-secret-0123456789abcdef0123456789,with-comma",
        ),
        ("PORTCULLIS_LISTEN", "127.0.0.1:4000"),
        ("PORTCULLIS_DATA_DIR", "/var/lib/portcullis"),
        ("PORTCULLIS_JWT_ENCRYPTION", "false"),
        ("PORTCULLIS_LOG", "warn"),
        ("PORTCULLIS_LOG_FORMAT", "text"),
    ]);
    let config = ServerConfig::load(Some(&write(dir.path(), FULL)), &env).unwrap();
    assert_eq!(config.url.as_deref(), Some("http://auth.test:4000/auth"));
    // One secret, taken whole (commas and all); the file's list is replaced.
    assert_eq!(
        config.secret,
        Some(Secrets::One(
            "env-secret-0123456789abcdef0123456789,with-comma".into()
        ))
    );
    assert_eq!(config.listen_addr().to_string(), "127.0.0.1:4000");
    assert_eq!(config.data_dir(), Path::new("/var/lib/portcullis"));
    assert_eq!(config.jwt.encryption, Some(false));
    assert_eq!(config.log_filter(), "warn");
    assert_eq!(config.log_format(), LogFormat::Text);

    // Without a file, the environment alone configures the server.
    let config = ServerConfig::load(None, &env).unwrap();
    assert_eq!(check(&config).unwrap().config().site.base_path(), "/auth");
}

#[test]
fn bad_environment_values_name_the_variable() {
    for (var, value) in [
        ("PORTCULLIS_LISTEN", "localhost"),
        ("PORTCULLIS_JWT_ENCRYPTION", "yes"),
        ("PORTCULLIS_LOG_FORMAT", "xml"),
    ] {
        let err = ServerConfig::load(None, &env(&[(var, value)])).unwrap_err();
        assert!(err.to_string().contains(var), "{err}");
    }
}

#[test]
fn an_unknown_field_names_its_line() {
    let dir = TempDir::new().unwrap();
    let path = write(
        dir.path(),
        "url = \"http://localhost:3000\"\n\n[jwt]\nencrypt = true\n",
    );
    let err = ServerConfig::from_file(&path).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StartupError::ConfigFile { .. }));
    assert!(text.contains("portcullis.toml"), "{text}");
    assert!(text.contains("line 4"), "{text}");
    assert!(text.contains("encrypt"), "{text}");

    // A bad value, too.
    let err = ServerConfig::from_toml("listen = \"nowhere\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 1") && err.contains("listen"), "{err}");
    let err = ServerConfig::from_toml("[[providers]]\ntype = \"oauth\"\nid = \"x\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line"), "{err}");
}

#[test]
fn a_missing_secret_is_refused_with_what_to_do() {
    let err = check(&ServerConfig::default()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("NEXTAUTH_SECRET"), "{text}");
    let err = check(&ServerConfig::from_toml("secret = \"short\"").unwrap()).unwrap_err();
    assert!(err.to_string().contains("32"), "{err}");
}

#[test]
fn domain_validation_names_the_field() {
    let base = format!("secret = \"{SECRET}\"\n");
    let cases = [
        ("[session]\nmax_age = 0\n", "session.max_age"),
        ("[jwt]\nmax_age = -1\n", "jwt.max_age"),
        (
            "[cookies.csrfToken]\nname = \"__Host-x\"\nsecure = false\n",
            "__Host-x",
        ),
        ("url = \"https://user@example.com\"\n", "NEXTAUTH_URL"),
        (
            "[redirects]\nallowed_origins = [\"https://app.example.org/welcome\"]\n",
            "redirects.allowed_origins: \"https://app.example.org/welcome\" is not an origin",
        ),
    ];
    for (text, needle) in cases {
        let config = ServerConfig::from_toml(&format!("{base}{text}")).unwrap();
        let err = check(&config).unwrap_err().to_string();
        assert!(err.contains(needle), "{needle}: {err}");
    }
}

#[test]
fn users_file_problems_name_the_file() {
    let dir = TempDir::new().unwrap();
    let text = format!(
        "url = \"http://localhost:3000/api/auth\"\nsecret = \"{SECRET}\"\n[[providers]]\ntype = \"credentials\"\nid = \"c\"\nname = \"C\"\nusers_file = \"missing.toml\"\n"
    );
    let config = ServerConfig::from_file(&write(dir.path(), &text)).unwrap();
    let err = check(&config).unwrap_err().to_string();
    assert!(err.contains("missing.toml"), "{err}");
}

#[test]
fn a_secret_list_signs_with_the_first_and_verifies_with_all() {
    use portcullis::Portcullis;

    let old = "old-secret-Xe4Wq8Nz2Tb6Hm3Kc9Rv5Jp7Ls";
    let new = "new-secret-7Hq2xWm9Rk4vTz8Lp3Nc6BjYd5";
    let with = |secrets: Secrets| {
        let config = ServerConfig {
            url: Some("http://localhost:3000/api/auth".into()),
            secret: Some(secrets),
            ..ServerConfig::default()
        };
        check(&config).unwrap()
    };
    let token_of = |app: &Portcullis| {
        let mut claims = portcullis::Claims::new();
        claims.insert("sub".into(), "1".into());
        let config = app.config();
        let mut rng = rand_core::OsRng;
        config
            .codec
            .encode(
                &claims,
                &mut portcullis_domain::jwt::EncodeContext {
                    keys: &config.jwt_keys,
                    settings: &config.jwt,
                    now_unix: time::OffsetDateTime::now_utc().unix_timestamp(),
                    rng: &mut rng,
                },
            )
            .unwrap()
    };
    let headers = |token: &str| {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            format!("next-auth.session-token={token}").parse().unwrap(),
        );
        headers
    };

    let before = with(Secrets::One(old.into()));
    let rotated = with(Secrets::Many(vec![new.into(), old.into()]));
    let only_new = with(Secrets::One(new.into()));

    // A token signed before the rotation still verifies.
    let old_token = token_of(&before);
    assert!(rotated.decode_token(&headers(&old_token)).is_some());
    assert!(only_new.decode_token(&headers(&old_token)).is_none());
    // After it, the first secret signs.
    let new_token = token_of(&rotated);
    assert!(only_new.decode_token(&headers(&new_token)).is_some());
    assert!(before.decode_token(&headers(&new_token)).is_none());
}

#[test]
fn the_schema_describes_every_field() {
    let schema: serde_json::Value = serde_json::from_str(&ServerConfig::json_schema()).unwrap();
    let properties = schema["properties"].as_object().unwrap();
    for field in [
        "url",
        "secret",
        "listen",
        "data_dir",
        "session",
        "jwt",
        "use_secure_cookies",
        "cookies",
        "pages",
        "theme",
        "providers",
        "log",
    ] {
        let property = &properties[field];
        assert!(
            property["description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{field} has no description"
        );
    }
    assert_eq!(schema["additionalProperties"], false);
    let text = schema.to_string();
    assert!(text.contains("credentials") && text.contains("users_file"));
}

#[tokio::test]
async fn the_example_configuration_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let config = ServerConfig::load(Some(&dir.join("portcullis.example.toml")), &no_env).unwrap();
    let app = check(&config).unwrap();
    assert_eq!(app.config().secrets.len(), 2);
    let ProviderConfig::Credentials(provider) = &config.providers[0] else {
        panic!("a credentials provider")
    };
    let users =
        portcullis_server::UserDirectory::load(provider.users_file.as_ref().unwrap()).unwrap();
    let user = users.check("jane", "change-me").await.unwrap();
    assert_eq!(user.unwrap()["name"], "Jane Doe");
}

#[test]
fn session_absolute_max_age_comes_from_the_file() {
    let engine = |toml: &str| {
        let config = ServerConfig::from_toml(&format!(
            "url = \"http://localhost:3000/api/auth\"\nsecret = \"{}\"\nstateless = true\n{toml}",
            crate::support::SECRET
        ))
        .unwrap();
        portcullis_server::check(&config)
    };
    let absolute = |toml: &str| engine(toml).unwrap().config().session.absolute_max_age;
    assert_eq!(absolute(""), Some(90 * 24 * 60 * 60), "on by default");
    assert_eq!(absolute("[session]\nabsolute_max_age = 3600"), Some(3600));
    assert_eq!(
        absolute("[session]\nabsolute_max_age = 0"),
        None,
        "0 turns it off"
    );
    let error = engine("[session]\nabsolute_max_age = -5")
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("session.absolute_max_age"), "{error}");
}

/// A provider whose issuer is on 127.0.0.1: the sign-in fetches its discovery document,
/// which the server refuses (the listener sees no connection) unless
/// `allow_private_network = true`.
#[tokio::test]
async fn a_provider_on_loopback_is_refused_unless_private_networks_are_allowed() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = connections.clone();
    tokio::spawn(async move {
        // Counts and drops: the engine then answers with an error page either way.
        while let Ok((socket, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    let sign_in = |allow: bool| {
        let toml =
            format!(
            "url = \"http://localhost:3000/api/auth\"\nsecret = \"{SECRET}\"\nstateless = true\n\
             {allow}\n[[providers]]\ntype = \"oauth\"\nid = \"corp\"\nname = \"Corp\"\n\
             issuer = \"http://127.0.0.1:{port}\"\nclient_id = \"c\"\nclient_secret = \"s\"\n",
            allow = if allow { "allow_private_network = true" } else { "" },
        );
        let app = check(&ServerConfig::from_toml(&toml).unwrap()).unwrap();
        async move {
            let csrf = app
                .handle(
                    http::Request::get("http://localhost:3000/api/auth/csrf")
                        .body(bytes::Bytes::new())
                        .unwrap(),
                )
                .await;
            let cookie = csrf
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
                .collect::<Vec<_>>()
                .join("; ");
            let body: serde_json::Value = serde_json::from_str(csrf.body()).unwrap();
            let token = body["csrfToken"].as_str().unwrap().to_owned();
            app.handle(
                http::Request::post("http://localhost:3000/api/auth/signin/corp")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("cookie", cookie)
                    .body(bytes::Bytes::from(format!("csrfToken={token}")))
                    .unwrap(),
            )
            .await
        }
    };
    let refused = sign_in(false).await;
    assert_eq!(connections.load(Ordering::SeqCst), 0, "{refused:?}");
    let location = refused.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        !location.contains(&format!("127.0.0.1:{port}")),
        "{location}"
    );
    sign_in(true).await;
    assert!(connections.load(Ordering::SeqCst) > 0);
}
