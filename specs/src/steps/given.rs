//! Setting up the site, its ports and the browser.

use cucumber::gherkin::Step;
use cucumber::{given, when};
use portcullis::{CookieKey, CookiePolicy, Pages};
use serde_json::Value;

use super::{docstring, require_embedded};
use crate::doubles::{Backend, JwtScript, RedirectScript, SessionScript, SignInScript};
use crate::jose::{self, Alg};
use crate::world::{AuthWorld, Setup, StoreMode, Target};

#[given(expr = "a site at {string}")]
async fn a_site_at(w: &mut AuthWorld, url: String) {
    w.setup = Some(Setup::new(&url));
}

#[given(expr = "the secret is {string}")]
async fn the_secret_is(w: &mut AuthWorld, secret: String) {
    w.setup_mut().secrets = vec![secret];
}

#[given(expr = "the secrets are {string} then {string}")]
async fn the_secrets_are(w: &mut AuthWorld, first: String, second: String) {
    w.setup_mut().secrets = vec![first, second];
}

#[when(expr = "the site restarts with the secret {string}")]
async fn restarts_with_secret(w: &mut AuthWorld, secret: String) {
    w.stop().await;
    w.setup_mut().secrets = vec![secret];
}

#[when(expr = "the site restarts with the secrets {string} then {string}")]
async fn restarts_with_secrets(w: &mut AuthWorld, first: String, second: String) {
    w.stop().await;
    w.setup_mut().secrets = vec![first, second];
}

#[given("short secrets are allowed")]
async fn short_secrets(w: &mut AuthWorld) {
    w.setup_mut().allow_short_secret = true;
}

#[given("JWT encryption is on")]
async fn encryption_on(w: &mut AuthWorld) {
    w.setup_mut().encryption = true;
}

#[given(expr = "sessions last {int} seconds")]
async fn sessions_last(w: &mut AuthWorld, seconds: i64) {
    w.setup_mut().session_max_age = Some(seconds);
}

#[given(expr = "JWT tokens last {int} seconds")]
async fn tokens_last(w: &mut AuthWorld, seconds: i64) {
    w.setup_mut().jwt_max_age = Some(seconds);
}

#[given("secure cookies are forced")]
async fn secure_cookies(w: &mut AuthWorld) {
    w.setup_mut().use_secure_cookies = Some(true);
}

#[given(expr = "the {word} cookie policy is:")]
async fn cookie_policy(w: &mut AuthWorld, key: String, step: &Step) {
    let key = match key.as_str() {
        "session-token" => CookieKey::SessionToken,
        "callback-url" => CookieKey::CallbackUrl,
        "csrf-token" => CookieKey::CsrfToken,
        "pkce-code-verifier" => CookieKey::PkceCodeVerifier,
        other => panic!("no cookie {other:?}"),
    };
    let policy: CookiePolicy =
        serde_json::from_str(&docstring(step)).expect("a cookie policy as JSON");
    w.setup_mut().cookies.push((key, policy));
}

#[given("these custom pages:")]
async fn custom_pages(w: &mut AuthWorld, step: &Step) {
    let pages: Pages = serde_json::from_str(&docstring(step)).expect("pages as JSON");
    w.setup_mut().pages = pages;
}

#[given(expr = "the credentials backend fails with {string}")]
async fn backend_fails(w: &mut AuthWorld, message: String) {
    w.setup_mut().backend = Backend::Fails(message);
}

#[given(expr = "the credentials backend sends the user to {string}")]
async fn backend_redirects(w: &mut AuthWorld, url: String) {
    w.setup_mut().backend = Backend::Redirects(url);
}

#[given(expr = "a credentials provider {string} with no backend")]
async fn unbacked_provider(w: &mut AuthWorld, id: String) {
    w.setup_mut().unbacked.push(id);
}

#[given("the signIn callback denies")]
async fn sign_in_denies(w: &mut AuthWorld) {
    w.setup_mut().hooks.sign_in = Some(SignInScript::Deny);
}

#[given(expr = "the signIn callback redirects to {string}")]
async fn sign_in_redirects(w: &mut AuthWorld, url: String) {
    w.setup_mut().hooks.sign_in = Some(SignInScript::RedirectTo(url));
}

#[given(expr = "the signIn callback fails with {string}")]
async fn sign_in_fails(w: &mut AuthWorld, message: String) {
    w.setup_mut().hooks.sign_in = Some(SignInScript::Fail(message));
}

#[given(expr = "the jwt callback adds the claim {string} = {string}")]
async fn jwt_adds_claim(w: &mut AuthWorld, name: String, value: String) {
    w.setup_mut().hooks.jwt = Some(JwtScript::AddClaim(name, value));
}

#[given("the jwt callback fails")]
async fn jwt_fails(w: &mut AuthWorld) {
    w.setup_mut().hooks.jwt = Some(JwtScript::Fail);
}

#[given("the jwt callback fails when the session is read")]
async fn jwt_fails_on_read(w: &mut AuthWorld) {
    w.setup_mut().hooks.jwt = Some(JwtScript::FailOnRead);
}

#[given(expr = "the session callback copies the claim {string}")]
async fn session_copies(w: &mut AuthWorld, name: String) {
    w.setup_mut().hooks.session = Some(SessionScript::CopyClaim(name));
}

#[given("the session callback fails")]
async fn session_fails(w: &mut AuthWorld) {
    w.setup_mut().hooks.session = Some(SessionScript::Fail);
}

#[given(expr = "the redirect callback answers {string}")]
async fn redirect_answers(w: &mut AuthWorld, url: String) {
    w.setup_mut().hooks.redirect = Some(RedirectScript::Answer(url));
}

#[given("the redirect callback fails")]
async fn redirect_fails(w: &mut AuthWorld) {
    w.setup_mut().hooks.redirect = Some(RedirectScript::Fail);
}

#[given("events are recorded")]
async fn events_recorded(w: &mut AuthWorld) {
    w.setup_mut().hooks.events = true;
}

#[given("a custom session codec")]
async fn custom_codec(w: &mut AuthWorld) {
    w.setup_mut().plain_codec = true;
}

#[given("a store that records every call")]
async fn recording_store(w: &mut AuthWorld) {
    w.setup_mut().store = StoreMode::Refusing;
}

#[given("database sessions are on")]
async fn database_sessions(w: &mut AuthWorld) {
    let setup = w.setup_mut();
    setup.database_sessions = true;
    // Credentials sign-in needs JWT sessions (spec §9): a database site has none.
    setup.credentials = false;
    setup.store = StoreMode::Backed;
}

#[given(expr = "database sessions are extended at most once every {int} seconds")]
async fn update_age(w: &mut AuthWorld, seconds: i64) {
    w.setup_mut().session_update_age = Some(seconds);
}

#[given("JWT sessions are revocable")]
async fn revocable_jwt(w: &mut AuthWorld) {
    let setup = w.setup_mut();
    setup.jwt_revocable = true;
    if matches!(setup.store, StoreMode::None) {
        setup.store = StoreMode::Backed;
    }
}

#[given(expr = "sessions last at most {int} days from sign-in")]
async fn absolute_max_age(w: &mut AuthWorld, days: i64) {
    w.setup_mut().session_absolute_max_age = Some(days * 86_400);
}

#[given(expr = "the store fails to {word}")]
async fn store_fails(w: &mut AuthWorld, op: String) {
    w.store().await.fail(&op);
}

/// Jane in the store (made on first use); her id is `{saved:user-id}`.
pub(crate) async fn jane(w: &mut AuthWorld) -> String {
    if let Some(id) = w.saved.get("user-id") {
        return id.clone();
    }
    let id = super::store_user(w, Some("Jane Doe"), "jane@example.com").await;
    w.saved.insert("user-id".into(), id.clone());
    id
}

/// Stores a session of Jane's expiring at `now + offset` (whole seconds), signed in at
/// `now - age`, and returns its token.
async fn store_session(w: &mut AuthWorld, offset: time::Duration, age: time::Duration) -> String {
    use portcullis_domain::model::Session;
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0x5e55_1017);
    let user_id = jane(w).await;
    let store = w.store().await;
    let now = w.now();
    let whole = |t: time::OffsetDateTime| {
        time::OffsetDateTime::from_unix_timestamp(t.unix_timestamp()).expect("a time")
    };
    let expires = whole(now + offset);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let token = format!("{n:064x}");
    store
        .backend()
        .create_session(Session {
            session_token: token.clone().into(),
            user_id,
            expires,
            access_token: format!("{:064x}", n + (1 << 40)).into(),
            created: Some(whole(now - age)),
        })
        .await
        .expect("the session is stored");
    token
}

/// Stores Jane and a session of hers expiring at `now + offset`; the browser gets its cookie.
async fn database_session(w: &mut AuthWorld, offset: time::Duration, age: time::Duration) {
    let token = store_session(w, offset, age).await;
    let store = w.store().await;
    let (session, _) = store
        .backend()
        .get_session_and_user(&crate::cookie_keys(&token).exposed())
        .await
        .expect("the store reads")
        .expect("the session was just stored");
    w.saved.insert("db-token".into(), token.clone());
    // With an absolute lifetime: where it ends (`created` is whole seconds, so this is
    // the exact instant, which `{iso:…}` relative to the request would not be).
    if let (Some(created), Some(limit)) = (session.created, w.setup().session_absolute_max_age) {
        let end = created + time::Duration::seconds(limit);
        w.saved
            .insert("absolute-end-iso".into(), crate::matching::iso(end));
    }
    w.saved.insert(
        "access-token".into(),
        session.access_token.expose().to_owned(),
    );
    w.saved
        .insert("expires-iso".into(), crate::matching::iso(session.expires));
    w.saved.insert(
        "expires-http".into(),
        crate::matching::http_date(session.expires),
    );
    w.set_session_cookie(&token).await;
}

#[given(expr = "Jane has a database session that expires in {int} days")]
async fn database_session_expiring(w: &mut AuthWorld, days: i64) {
    // Signed in when it was last extended (a 30-day session).
    let offset = time::Duration::days(days);
    database_session(w, offset, time::Duration::days(30) - offset).await;
}

#[given(expr = "Jane has a database session signed in {int} days ago that expires in {int} days")]
async fn database_session_signed_in(w: &mut AuthWorld, age: i64, days: i64) {
    database_session(w, time::Duration::days(days), time::Duration::days(age)).await;
}

#[given(expr = "Jane has a database session that expired {int} seconds ago")]
async fn database_session_expired(w: &mut AuthWorld, seconds: i64) {
    let offset = time::Duration::seconds(-seconds);
    database_session(w, offset, time::Duration::days(30) - offset).await;
}

#[given(expr = "Jane also has a database session in another browser, remembered as {string}")]
async fn other_database_session(w: &mut AuthWorld, name: String) {
    let token = store_session(w, time::Duration::days(30), time::Duration::ZERO).await;
    w.saved.insert(name, token);
}

#[given("the site runs the server with the configuration:")]
async fn server_configuration(w: &mut AuthWorld, step: &Step) {
    let config = w.expand(&docstring(step));
    // The server's own code runs on the system clock: so does the test provider then.
    if let Some(provider) = &w.provider {
        provider.state().set_now(super::oauth::system_now());
    }
    let setup = w.setup_mut();
    setup.server_config = Some(config);
    setup.server_dev_mode = false;
}

#[given("the site runs the Lambda function with the configuration:")]
async fn lambda_configuration(w: &mut AuthWorld, step: &Step) {
    server_configuration(w, step).await;
    w.setup_mut().frontend = crate::world::Frontend::Lambda;
}

#[given("the site runs the axum example with the configuration:")]
async fn axum_configuration(w: &mut AuthWorld, step: &Step) {
    server_configuration(w, step).await;
    w.setup_mut().frontend = crate::world::Frontend::Axum;
}

#[given("the site runs the server in dev mode with the configuration:")]
async fn server_dev_configuration(w: &mut AuthWorld, step: &Step) {
    let setup = w.setup_mut();
    setup.server_config = Some(docstring(step));
    setup.server_dev_mode = true;
}

#[when("the server is started with the configuration:")]
async fn server_started(w: &mut AuthWorld, step: &Step) {
    assert_eq!(
        w.target,
        Target::Http,
        "starting the binary needs the HTTP target: tag the scenario @http"
    );
    let config = w.expand(&docstring(step));
    w.refused = Some(crate::world::refused_binary(&config, false).await);
}

#[given(expr = "the clock is at {int}")]
async fn clock_at(w: &mut AuthWorld, unix: i64) {
    require_embedded(w, "setting the clock");
    w.clock.set(unix);
}

#[when(expr = "{int} days pass")]
async fn days_pass(w: &mut AuthWorld, days: i64) {
    require_embedded(w, "moving the clock");
    w.clock.advance(days * 86_400);
}

#[when(expr = "{int} seconds pass")]
async fn seconds_pass(w: &mut AuthWorld, seconds: i64) {
    require_embedded(w, "moving the clock");
    w.clock.advance(seconds);
}

#[given("I am signed in")]
async fn i_am_signed_in(w: &mut AuthWorld) {
    w.signed_in().await;
}

#[given(regex = r#"^my cookie "([^"]+)" is "(.*)"$"#)]
async fn my_cookie_is(w: &mut AuthWorld, name: String, value: String) {
    let value = w.expand(&value);
    w.jar.set(&name, &value);
}

#[given(expr = "my cookie {string} is {int} KB of {string}")]
async fn my_cookie_is_big(w: &mut AuthWorld, name: String, kb: usize, fill: String) {
    w.jar
        .set(&name, &fill.repeat(kb * 1024 / fill.len().max(1)));
}

#[given(expr = "my cookie {string} is the §19 CSRF cookie")]
async fn my_cookie_is_vector(w: &mut AuthWorld, name: String) {
    w.jar
        .set(&name, crate::fixtures::vector("/csrf/cookie_value"));
}

/// Claims as JSON, with `"{unix:OFFSET}"` strings replaced by numbers from the site's clock.
pub(crate) fn resolve_claims(w: &AuthWorld, text: &str) -> String {
    let mut claims: Value = serde_json::from_str(text).expect("claims as JSON");
    if let Some(map) = claims.as_object_mut() {
        for value in map.values_mut() {
            let Some(pattern) = value.as_str() else {
                continue;
            };
            if let Some(offset) = pattern
                .strip_prefix("{unix:")
                .and_then(|p| p.strip_suffix('}'))
            {
                let offset = crate::matching::parse_offset(offset).expect("an offset");
                *value = Value::from((w.now() + offset).unix_timestamp());
            }
        }
    }
    serde_json::to_string(&claims).expect("JSON")
}

#[given(
    expr = "my session cookie is a token with the header {string} signed {word} with the secret {string} and the claims:"
)]
async fn minted_jws(w: &mut AuthWorld, header: String, alg: String, secret: String, step: &Step) {
    let alg = match alg.as_str() {
        "HS512" => Alg::Hs512,
        "HS256" => Alg::Hs256,
        "none" => Alg::None,
        other => panic!("cannot sign with {other}"),
    };
    let payload = resolve_claims(w, &docstring(step));
    let token = jose::sign(alg, &jose::derive(&secret).signing, &header, &payload);
    w.set_session_cookie(&token).await;
}

#[given(
    expr = "my session cookie is a JWE with the header {string} around a token signed with the secret {string} and the claims:"
)]
async fn minted_jwe(w: &mut AuthWorld, header: String, secret: String, step: &Step) {
    let payload = resolve_claims(w, &docstring(step));
    let keys = jose::derive(&secret);
    let inner = jose::sign(Alg::Hs512, &keys.signing, r#"{"alg":"HS512"}"#, &payload);
    let token = jose::seal(&keys.encryption, &header, inner.as_bytes());
    w.set_session_cookie(&token).await;
}

/// The OpenLDAP that `.ci/ldap` runs on loopback: `{saved:ldap_url}` (StartTLS offered),
/// `{saved:ldaps_url}` and `{saved:ldap_ca}` (its test CA), from its variables or their
/// defaults.
#[given("the test LDAP directory")]
async fn test_ldap_directory(w: &mut AuthWorld) {
    for (name, var, default) in [
        (
            "ldap_url",
            "PORTCULLIS_TEST_LDAP_URL",
            "ldap://127.0.0.1:3389",
        ),
        (
            "ldaps_url",
            "PORTCULLIS_TEST_LDAPS_URL",
            "ldaps://127.0.0.1:3636",
        ),
        (
            "ldap_ca",
            "PORTCULLIS_TEST_LDAP_CA",
            "/tmp/portcullis-ldap/tls/ca.pem",
        ),
    ] {
        let value = std::env::var(var).unwrap_or_else(|_| default.to_owned());
        w.saved.insert(name.to_owned(), value);
    }
}
