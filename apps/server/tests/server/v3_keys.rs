//! v3's keys and defaults from the server's configuration: `[jwt] signing_key`,
//! `encryption_key` and `secret` (tokens minted by next-auth@3.29.10 read back),
//! `allow_short_secret`, and the session strategy's default.

use std::collections::HashMap;
use std::path::Path;

use portcullis::{Claims, Portcullis, SessionStrategy};
use portcullis_domain::jwt::DecodeContext;
use portcullis_server::{check, ServerConfig};
use serde_json::Value;
use tempfile::TempDir;

use crate::support::SECRET;

fn vectors() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/nextauth-v3/explicit-keys/vectors.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn key(f: &Value, name: &str) -> String {
    f["keys"][name].as_str().unwrap().to_owned()
}

/// Decodes `case`'s token with the app's own codec and keys, at v3's minting time + 1 s.
fn decode(app: &Portcullis, f: &Value, case: &str) -> Result<Claims, String> {
    let config = app.config();
    config
        .codec
        .decode(
            f["cases"][case]["token"].as_str().unwrap(),
            &DecodeContext {
                keys: &config.jwt_keys,
                settings: &config.jwt,
                now_unix: f["iat"].as_i64().unwrap() + 1,
            },
        )
        .map_err(|e| e.to_string())
}

fn payload(f: &Value, case: &str) -> String {
    f["cases"][case]["payload"].as_str().unwrap().to_owned()
}

fn toml_with_jwt(jwt: &str) -> String {
    format!("url = \"http://localhost:3000/api/auth\"\nsecret = \"{SECRET}\"\n[jwt]\n{jwt}")
}

#[test]
fn v3_cookies_with_explicit_keys_read_back() {
    let f = vectors();
    let signing = key(&f, "signingKey");
    let encryption = key(&f, "encryptionKey");

    let config =
        ServerConfig::from_toml(&toml_with_jwt(&format!("signing_key = '{signing}'\n"))).unwrap();
    let app = check(&config).unwrap();
    let got = decode(&app, &f, "signing_key").unwrap();
    assert_eq!(
        serde_json::to_string(&got).unwrap(),
        payload(&f, "signing_key")
    );

    let config = ServerConfig::from_toml(&toml_with_jwt(&format!(
        "encryption = true\nsigning_key = '{signing}'\nencryption_key = '{encryption}'\n"
    )))
    .unwrap();
    let app = check(&config).unwrap();
    let got = decode(&app, &f, "signing_and_encryption_keys").unwrap();
    assert_eq!(
        serde_json::to_string(&got).unwrap(),
        payload(&f, "signing_and_encryption_keys")
    );
    // Without the explicit encryption key, the derived one cannot open it.
    let config = ServerConfig::from_toml(&toml_with_jwt(&format!(
        "encryption = true\nsigning_key = '{signing}'\n"
    )))
    .unwrap();
    assert!(decode(&check(&config).unwrap(), &f, "signing_and_encryption_keys").is_err());

    // Another key refuses the token.
    let other = key(&f, "otherSigningKey");
    let config =
        ServerConfig::from_toml(&toml_with_jwt(&format!("signing_key = '{other}'\n"))).unwrap();
    assert!(decode(&check(&config).unwrap(), &f, "signing_key").is_err());
}

#[test]
fn jwt_secret_is_honoured_apart_from_the_secret() {
    let f = vectors();
    let jwt_secret = f["cases"]["jwt_secret"]["secret"].as_str().unwrap();
    let config = ServerConfig::from_toml(&format!(
        "url = \"http://localhost:3000/api/auth\"\nsecret = \"{SECRET}\"\nallow_short_secret = true\n[jwt]\nsecret = \"{jwt_secret}\"\n"
    ))
    .unwrap();
    let app = check(&config).unwrap();
    assert_eq!(
        serde_json::to_string(&decode(&app, &f, "jwt_secret").unwrap()).unwrap(),
        payload(&f, "jwt_secret")
    );
    // The app secret still hashes CSRF tokens; the JWT secret alone is not enough to read.
    assert_eq!(app.config().signing_secret().expose(), SECRET);
    let plain = check(
        &ServerConfig::from_toml(&format!(
            "url = \"http://localhost:3000/api/auth\"\nsecret = \"{SECRET}\"\n"
        ))
        .unwrap(),
    )
    .unwrap();
    assert!(decode(&plain, &f, "jwt_secret").is_err());
    // Without allow_short_secret, a short jwt.secret is refused and named.
    let config = ServerConfig::from_toml(&format!(
        "url = \"http://localhost:3000/api/auth\"\nsecret = \"{SECRET}\"\n[jwt]\nsecret = \"{jwt_secret}\"\n"
    ))
    .unwrap();
    let err = check(&config).unwrap_err().to_string();
    assert!(err.contains("jwt.secret"), "{err}");
}

#[test]
fn keys_come_from_the_environment_and_stay_out_of_debug() {
    let f = vectors();
    let signing = key(&f, "signingKey");
    let encryption = key(&f, "encryptionKey");
    let k_of = |jwk: &str| {
        let v: Value = serde_json::from_str(jwk).unwrap();
        v["k"].as_str().unwrap().to_owned()
    };
    let env: HashMap<&str, String> = [
        ("NEXTAUTH_URL", "http://localhost:3000/api/auth".to_owned()),
        ("NEXTAUTH_SECRET", SECRET.to_owned()),
        ("PORTCULLIS_JWT_SIGNING_KEY", signing.clone()),
        ("PORTCULLIS_JWT_ENCRYPTION_KEY", encryption.clone()),
        ("PORTCULLIS_JWT_ENCRYPTION", "true".to_owned()),
        (
            "PORTCULLIS_JWT_SECRET",
            "an-env-jwt-secret-that-is-long-enough-000".to_owned(),
        ),
    ]
    .into_iter()
    .collect();
    let config = ServerConfig::load(None, &|name| env.get(name).cloned()).unwrap();
    assert_eq!(config.jwt.signing_key.as_ref().unwrap().expose(), signing);
    let debug = format!("{config:?}");
    for material in [k_of(&signing), k_of(&encryption)] {
        assert!(!debug.contains(&material), "{debug}");
    }
    assert!(!debug.contains("an-env-jwt-secret"), "{debug}");
    let app = check(&config).unwrap();
    assert!(decode(&app, &f, "signing_and_encryption_keys").is_ok());
    assert!(!format!("{:?}", app.config()).contains(&k_of(&signing)));
}

#[test]
fn config_check_refuses_an_unparsable_jwk_naming_the_key() {
    let f = vectors();
    let signing = key(&f, "signingKey");
    let cases = [
        ("signing_key = '{\"kty\":\"oct\",'\n", "jwt.signing_key"),
        (
            "signing_key = '{\"kty\":\"RSA\",\"k\":\"AAAA\"}'\n",
            "jwt.signing_key",
        ),
        (
            &format!("encryption_key = '{signing}'\n") as &str,
            "jwt.encryption_key",
        ),
    ];
    for (jwt, name) in cases {
        let config = ServerConfig::from_toml(&toml_with_jwt(jwt)).unwrap();
        let err = check(&config).unwrap_err().to_string();
        assert!(err.contains(name), "{jwt}: {err}");
        assert!(!err.contains(&signing[30..60]), "{err}");
    }

    // The same through `portcullis config check`: exit 2, the key named on stderr.
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("portcullis.toml");
    std::fs::write(&file, toml_with_jwt("signing_key = 'not json'\n")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .current_dir(dir.path())
        .env_clear()
        .args(["config", "check", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("jwt.signing_key") && stderr.contains("JSON"),
        "{stderr}"
    );
}

#[test]
fn the_session_strategy_defaults_to_database_with_a_database() {
    let strategy = |toml: &str| {
        ServerConfig::from_toml(&format!(
            "url = \"http://localhost:3000/api/auth\"\nsecret = \"{SECRET}\"\n{toml}"
        ))
        .unwrap()
        .session_strategy()
    };
    assert_eq!(strategy(""), SessionStrategy::Jwt);
    assert_eq!(strategy("stateless = true\n"), SessionStrategy::Jwt);
    assert_eq!(
        strategy("database = \"sqlite://auth.db\"\n"),
        SessionStrategy::Database
    );
    assert_eq!(
        strategy("database = \"sqlite://auth.db\"\n[session]\nstrategy = \"jwt\"\n"),
        SessionStrategy::Jwt
    );
    assert_eq!(
        strategy("[session]\nstrategy = \"database\"\n"),
        SessionStrategy::Database
    );
    // Credentials sign-in needs JWT sessions (v3 §9): with one, the default stays jwt.
    assert_eq!(
        strategy(
            "database = \"sqlite://auth.db\"\n[[providers]]\ntype = \"credentials\"\nid = \"c\"\nname = \"C\"\nusers_file = \"u.toml\"\n"
        ),
        SessionStrategy::Jwt
    );
    // What `config check` (and `serve`) builds.
    let config = ServerConfig::from_toml(&format!(
        "url = \"http://localhost:3000/api/auth\"\nsecret = \"{SECRET}\"\ndatabase = \"sqlite://auth.db\"\n"
    ))
    .unwrap();
    assert_eq!(
        check(&config).unwrap().config().session.strategy,
        SessionStrategy::Database
    );
}

#[test]
fn allow_short_secret_accepts_a_v3_secret_with_a_warning() {
    let short = "v3-short-secret";
    let refused = ServerConfig::from_toml(&format!(
        "url = \"http://localhost:3000/api/auth\"\nsecret = \"{short}\"\n"
    ))
    .unwrap();
    assert!(check(&refused).is_err());

    crate::logs::anchor_dispatchers();
    let capture = crate::logs::Capture::default();
    let _guard = tracing::subscriber::set_default(
        portcullis_server::logging::subscriber(
            "warn",
            portcullis_server::LogFormat::Text,
            capture.clone(),
            false,
        )
        .unwrap(),
    );
    let config = ServerConfig::from_toml(&format!(
        "url = \"http://localhost:3000/api/auth\"\nsecret = \"{short}\"\nallow_short_secret = true\n"
    ))
    .unwrap();
    let app = check(&config).unwrap();
    assert_eq!(app.config().signing_secret().expose(), short);
    let log = capture.text();
    assert!(
        log.contains("SHORT_SECRET") && log.contains("allow_short_secret"),
        "{log}"
    );
    assert!(!log.contains(short), "{log}");
}
