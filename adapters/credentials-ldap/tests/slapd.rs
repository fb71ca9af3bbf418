//! Against the real OpenLDAP that `.ci/ldap` starts on loopback (its variables, or their
//! defaults): passwords, lookups, locks, injection, StartTLS, LDAPS, and a directory that
//! is down.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use portcullis_credentials_ldap::{
    BindPassword, LdapAuthorizer, LdapSettings, ServiceAccount, UserLookup, UNAVAILABLE,
};
use portcullis_domain::effect::HookFailure;
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse";
const BASE: &str = "ou=people,dc=example,dc=org";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn ldap_url() -> String {
    env_or("PORTCULLIS_TEST_LDAP_URL", "ldap://127.0.0.1:3389")
}

fn ldaps_url() -> String {
    env_or("PORTCULLIS_TEST_LDAPS_URL", "ldaps://127.0.0.1:3636")
}

fn ca_file() -> std::path::PathBuf {
    env_or("PORTCULLIS_TEST_LDAP_CA", "/tmp/portcullis-ldap/tls/ca.pem").into()
}

fn search() -> UserLookup {
    UserLookup::Search {
        service: Some(ServiceAccount {
            dn: "cn=portcullis,ou=services,dc=example,dc=org".into(),
            password: BindPassword::new("service-secret"),
        }),
        base_dn: BASE.into(),
        filter: "(&(objectClass=inetOrgPerson)(uid={username}))".into(),
    }
}

fn template() -> UserLookup {
    UserLookup::DnTemplate(format!("uid={{username}},{BASE}"))
}

fn backend(url: String, lookup: UserLookup) -> LdapAuthorizer {
    let mut settings = LdapSettings::new(url, lookup);
    settings.ca_file = Some(ca_file());
    LdapAuthorizer::new(settings).unwrap()
}

fn jane() -> Value {
    json!({"id": "jane", "name": "Jane Doe", "email": "jane@example.org", "image": null})
}

#[tokio::test]
async fn search_then_bind_signs_in_with_the_right_password_only() {
    let ldap = backend(ldap_url(), search());
    assert_eq!(ldap.check("jane", PASSWORD).await.unwrap(), Some(jane()));
    assert_eq!(ldap.check("jane", "wrong").await.unwrap(), None);
    assert_eq!(ldap.check("nobody", PASSWORD).await.unwrap(), None);
    // LDAP matches uid case-insensitively; the id is the directory's spelling.
    assert_eq!(ldap.check("JANE", PASSWORD).await.unwrap(), Some(jane()));
}

#[tokio::test]
async fn a_locked_account_is_refused_even_with_its_password() {
    for lookup in [search(), template()] {
        let ldap = backend(ldap_url(), lookup);
        assert_eq!(ldap.check("locked", PASSWORD).await.unwrap(), None);
    }
}

#[tokio::test]
async fn empty_passwords_are_refused_before_any_bind() {
    // An empty password would be an unauthenticated bind, which slapd accepts.
    for lookup in [search(), template()] {
        let ldap = backend(ldap_url(), lookup);
        assert_eq!(ldap.check("jane", "").await.unwrap(), None);
        assert_eq!(ldap.check("", PASSWORD).await.unwrap(), None);
    }
    // Refused without a connection: an unreachable directory is never asked.
    let down = backend("ldap://127.0.0.1:1".into(), search());
    assert_eq!(down.check("jane", "").await.unwrap(), None);
}

#[tokio::test]
async fn filter_and_dn_injection_find_nobody() {
    let ldap = backend(ldap_url(), search());
    for username in ["*", "*)(uid=*", "j*", "jane)(|(uid=*", "*)(objectClass=*"] {
        assert_eq!(
            ldap.check(username, PASSWORD).await.unwrap(),
            None,
            "{username}"
        );
    }
    let ldap = backend(ldap_url(), template());
    for username in ["jane,ou=people", "jane+cn=Jane Doe", "*"] {
        assert_eq!(
            ldap.check(username, PASSWORD).await.unwrap(),
            None,
            "{username}"
        );
    }
}

#[tokio::test]
async fn a_dn_template_escapes_the_username_and_reads_the_attributes() {
    let ldap = backend(ldap_url(), template());
    assert_eq!(ldap.check("jane", PASSWORD).await.unwrap(), Some(jane()));
    assert_eq!(ldap.check("jane", "wrong").await.unwrap(), None);
    assert_eq!(ldap.check("nobody", PASSWORD).await.unwrap(), None);
    // uid "smith, j": the comma must be escaped to name the entry.
    let smith = ldap.check("smith, j", PASSWORD).await.unwrap().unwrap();
    assert_eq!(smith["id"], "smith, j");
    assert_eq!(smith["email"], "smith@example.org");
}

#[tokio::test]
async fn starttls_and_ldaps_trust_the_configured_ca() {
    let mut settings = LdapSettings::new(ldap_url(), search());
    settings.starttls = true;
    settings.ca_file = Some(ca_file());
    let starttls = LdapAuthorizer::new(settings.clone()).unwrap();
    assert_eq!(
        starttls.check("jane", PASSWORD).await.unwrap(),
        Some(jane())
    );
    assert_eq!(starttls.check("jane", "wrong").await.unwrap(), None);

    let ldaps = backend(ldaps_url(), template());
    assert_eq!(ldaps.check("jane", PASSWORD).await.unwrap(), Some(jane()));

    // Without the test CA the certificate is not trusted: no password is sent.
    settings.ca_file = None;
    let untrusted = LdapAuthorizer::new(settings).unwrap();
    assert_eq!(
        untrusted.check("jane", PASSWORD).await,
        Err(HookFailure::Error(UNAVAILABLE.into()))
    );
}

#[tokio::test]
async fn attributes_are_mapped_as_configured() {
    let mut settings = LdapSettings::new(ldap_url(), search());
    settings.attributes.id = "mail".into();
    settings.attributes.name = "sn".into();
    let ldap = LdapAuthorizer::new(settings.clone()).unwrap();
    let user = ldap.check("jane", PASSWORD).await.unwrap().unwrap();
    assert_eq!(user["id"], "jane@example.org");
    assert_eq!(user["name"], "Doe");
    // An id attribute the entry lacks is a configuration error, not a sign-in.
    settings.attributes.id = "employeeNumber".into();
    let ldap = LdapAuthorizer::new(settings).unwrap();
    assert_eq!(
        ldap.check("jane", PASSWORD).await,
        Err(HookFailure::Error("Configuration".into()))
    );
}

#[tokio::test]
async fn a_refused_service_account_is_an_error_not_a_refusal() {
    let lookup = UserLookup::Search {
        service: Some(ServiceAccount {
            dn: "cn=portcullis,ou=services,dc=example,dc=org".into(),
            password: BindPassword::new("not-the-service-secret"),
        }),
        base_dn: BASE.into(),
        filter: "(uid={username})".into(),
    };
    let ldap = backend(ldap_url(), lookup);
    assert_eq!(
        ldap.check("jane", PASSWORD).await,
        Err(HookFailure::Error(UNAVAILABLE.into()))
    );
}

#[tokio::test]
async fn a_directory_that_is_down_answers_an_error_fast() {
    // Nothing listens on port 1: refused at once.
    let down = backend("ldap://127.0.0.1:1".into(), search());
    let started = Instant::now();
    assert_eq!(
        down.check("jane", PASSWORD).await,
        Err(HookFailure::Error(UNAVAILABLE.into()))
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    // A server that accepts connections and never answers: the timeout ends the wait.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ldap://{}", silent.local_addr().unwrap());
    let mut settings = LdapSettings::new(url, search());
    settings.timeout = Duration::from_secs(1);
    let hung = LdapAuthorizer::new(settings).unwrap();
    let started = Instant::now();
    assert_eq!(
        hung.check("jane", PASSWORD).await,
        Err(HookFailure::Error(UNAVAILABLE.into()))
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    drop(silent);
}

#[tokio::test]
async fn unknown_users_cost_the_round_trips_of_known_ones() {
    // Each search-then-bind attempt: connect, service bind, search, one user bind. The
    // unknown user's bind goes to an entry that does not exist. Compare medians of many
    // attempts, generously: the point is that no step is skipped (a skipped bind makes
    // the unknown path clearly cheaper), not a micro-benchmark.
    // Known and unknown attempts alternate, so load from other tests hits both alike.
    let ldap = backend(ldap_url(), search());
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..40 {
        for (username, times) in [("jane", &mut known), ("nobody", &mut unknown)] {
            let started = Instant::now();
            assert_eq!(ldap.check(username, "wrong").await.unwrap(), None);
            times.push(started.elapsed());
        }
    }
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let (known, unknown) = (median(&mut known), median(&mut unknown));
    let ratio = unknown.as_secs_f64() / known.as_secs_f64();
    assert!(
        (0.5..2.0).contains(&ratio),
        "known {known:?}, unknown {unknown:?}"
    );
}

#[test]
fn bad_settings_name_the_key() {
    let error = LdapAuthorizer::new(LdapSettings::new("127.0.0.1:3389", search())).unwrap_err();
    assert_eq!(error.key, "url");
    let mut settings = LdapSettings::new(ldap_url(), search());
    settings.ca_file = Some("/nonexistent/ca.pem".into());
    assert_eq!(LdapAuthorizer::new(settings).unwrap_err().key, "ca_file");
}
