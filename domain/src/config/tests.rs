use super::*;
use crate::cookies::CookiePrefix;

const SECRET: &str = "q3Jx0pV9c2mZ7rT1yB6nW4kH8sD5fL0a";

#[test]
fn the_session_cookie_may_opt_into_host_and_linking_has_a_window() {
    let build = |b: ConfigBuilder| b.secret(SECRET).build().unwrap();
    let https = || Config::builder().url("https://app.example/api/auth");
    let c = build(https());
    assert_eq!(
        c.cookies.session_token.name,
        "__Secure-next-auth.session-token"
    );
    assert_eq!(c.link_max_auth_age, DEFAULT_LINK_MAX_AUTH_AGE);
    let c = build(https().session_cookie_prefix(CookiePrefix::Host));
    assert_eq!(
        c.cookies.session_token.name,
        "__Host-next-auth.session-token"
    );
    assert!(c.cookies.validate().is_ok());
    // On http there is no prefix to choose.
    let c = build(
        Config::builder()
            .url("http://localhost:3000/api/auth")
            .session_cookie_prefix(CookiePrefix::Host),
    );
    assert_eq!(c.cookies.session_token.name, "next-auth.session-token");
    assert_eq!(build(https().link_max_auth_age(30)).link_max_auth_age, 30);
    assert_eq!(
        https()
            .secret(SECRET)
            .link_max_auth_age(-1)
            .build()
            .unwrap_err(),
        ConfigError::NonPositive("session.link_max_auth_age")
    );
}

#[test]
fn refuses_long_but_guessable_secrets_naming_the_key() {
    for weak in [
        "a".repeat(32),
        format!("password{}", "!".repeat(24)),
        "abc1".repeat(8),
        "0123456789abcdef0123456789abcdef".to_owned(),
    ] {
        let err = Config::builder().secret(weak.as_str()).build().unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::GuessableSecret {
                    key: "secret",
                    index: 1,
                    ..
                }
            ),
            "{weak}: {err:?}"
        );
        assert!(!err.to_string().contains(&weak), "{err}");
        let err = Config::builder()
            .secret(SECRET)
            .jwt_secret(weak.as_str())
            .build()
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("jwt.secret number 1 is easy to guess"),
            "{err}"
        );
        // A v3 site keeps its sessions: allowed, and counted for a warning.
        let c = Config::builder()
            .secret(weak.as_str())
            .jwt_secret(weak.as_str())
            .allow_short_secret(true)
            .build()
            .unwrap();
        assert_eq!(c.weak_secrets, 2);
    }
    assert_eq!(
        Config::builder()
            .secret(SECRET)
            .build()
            .unwrap()
            .weak_secrets,
        0
    );
}

#[test]
fn refuses_missing_and_short_secrets() {
    assert_eq!(
        Config::builder().build().unwrap_err(),
        ConfigError::NoSecret
    );
    assert_eq!(
        Config::builder().secret("short").build().unwrap_err(),
        ConfigError::WeakSecret { index: 1, len: 5 }
    );
    assert!(Config::builder()
        .secret("short")
        .allow_short_secret(true)
        .build()
        .is_ok());
    assert!(Config::builder()
        .secret("")
        .allow_short_secret(true)
        .build()
        .is_err());
}

#[test]
fn https_selects_secure_cookies() {
    let c = Config::builder()
        .url("https://example.com")
        .secret(SECRET)
        .build()
        .unwrap();
    assert_eq!(c.cookies.csrf_token.name, "__Host-next-auth.csrf-token");
    let c = Config::builder().secret(SECRET).build().unwrap();
    assert_eq!(c.cookies.csrf_token.name, "next-auth.csrf-token");
    let c = Config::builder()
        .secret(SECRET)
        .use_secure_cookies(true)
        .build()
        .unwrap();
    assert!(c.cookies.session_token.secure);
}

#[test]
fn debug_redacts_secrets() {
    let c = Config::builder().secret(SECRET).build().unwrap();
    let text = format!("{c:?}");
    assert!(!text.contains(SECRET));
    assert!(text.contains("redacted"));
}

#[test]
fn branding_cannot_inject_css_or_load_from_anywhere() {
    let build = |branding: Branding| Config::builder().secret(SECRET).branding(branding).build();
    let colour = |c: &str| Branding {
        accent_color: Some(c.into()),
        ..Branding::default()
    };
    let logo = |l: &str| Branding {
        logo_url: Some(l.into()),
        ..Branding::default()
    };
    assert!(build(colour("#0a7")).is_ok());
    assert!(build(colour("#00AA77")).is_ok());
    for bad in ["red", "#0a7;}body{display:none", "#00aa7", "rgb(0,0,0)", ""] {
        assert!(
            matches!(build(colour(bad)), Err(ConfigError::Branding(_))),
            "{bad:?}"
        );
    }
    assert!(build(logo("https://cdn.example.com/logo.svg")).is_ok());
    assert!(build(logo("/static/logo.png")).is_ok());
    for bad in [
        "http://cdn.example.com/logo.svg",
        "//evil.example/logo.png",
        "/\\evil.example/logo.png",
        "javascript:alert(1)",
        "data:image/svg+xml,<svg/>",
        "logo.png",
        "/logo .png",
    ] {
        assert!(
            matches!(build(logo(bad)), Err(ConfigError::Branding(_))),
            "{bad:?}"
        );
    }
    let empty_name = Branding {
        name: Some(" ".into()),
        ..Branding::default()
    };
    assert!(build(empty_name).is_err());
}

#[test]
fn explicit_jwt_keys_are_checked_and_named() {
    let f: serde_json::Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/nextauth-v3/explicit-keys/vectors.json"
    )))
    .unwrap();
    let signing = f["keys"]["signingKey"].as_str().unwrap();
    let encryption = f["keys"]["encryptionKey"].as_str().unwrap();
    assert!(Config::builder()
        .secret(SECRET)
        .jwt_signing_key(signing)
        .jwt_encryption_key(encryption)
        .build()
        .is_ok());
    let err = Config::builder()
        .secret(SECRET)
        .jwt_signing_key("{\"kty\":\"oct\",")
        .build()
        .unwrap_err();
    assert!(err.to_string().starts_with("jwt.signing_key: "), "{err}");
    // The encryption key as a signing key: too short for HS512, and named.
    let err = Config::builder()
        .secret(SECRET)
        .jwt_signing_key(encryption)
        .build()
        .unwrap_err();
    assert!(err.to_string().starts_with("jwt.signing_key: "), "{err}");
    assert!(!err.to_string().contains(&encryption[40..60]), "{err}");
    let err = Config::builder()
        .secret(SECRET)
        .jwt_encryption_key(signing)
        .build()
        .unwrap_err();
    assert!(err.to_string().starts_with("jwt.encryption_key: "), "{err}");
    let c = Config::builder()
        .secret(SECRET)
        .jwt_signing_key(signing)
        .build()
        .unwrap();
    assert!(!format!("{c:?}").contains(&signing[40..60]));
}

#[test]
fn jwt_secret_is_checked_like_the_secret() {
    assert_eq!(
        Config::builder()
            .secret(SECRET)
            .jwt_secret("short")
            .build()
            .unwrap_err(),
        ConfigError::WeakJwtSecret { index: 1, len: 5 }
    );
    assert!(Config::builder()
        .secret(SECRET)
        .jwt_secret("short")
        .allow_short_secret(true)
        .build()
        .is_ok());
}

#[test]
fn refuses_duplicate_providers() {
    let p = Provider::credentials("login", "Login", vec![]);
    let err = Config::builder()
        .secret(SECRET)
        .provider(p.clone())
        .provider(p)
        .build();
    assert!(matches!(err, Err(ConfigError::Provider(..))));
}

/// Issue 11 §5: e-mail tokens must stay unguessable.
#[test]
fn refuses_a_token_generator_below_128_bits() {
    let six_digits =
        |rng: &mut dyn rand_core::RngCore| format!("{:06}", rng.next_u32() % 1_000_000);
    let err = Config::builder()
        .secret(SECRET)
        .token_generator(Arc::new(six_digits))
        .build()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("token_generator"), "{err:?}");
    let constant = |_: &mut dyn rand_core::RngCore| "x".repeat(64);
    assert!(Config::builder()
        .secret(SECRET)
        .token_generator(Arc::new(constant))
        .build()
        .is_err());
    let hex32 = |rng: &mut dyn rand_core::RngCore| {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        hex::encode(bytes)
    };
    assert!(Config::builder()
        .secret(SECRET)
        .token_generator(Arc::new(hex32))
        .build()
        .is_ok());
}
