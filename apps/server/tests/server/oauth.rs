//! OAuth sign-in end to end against real providers on loopback, started by
//! `bash .ci/providers`: the npm `oidc-provider` (OpenID Connect, PKCE, nonce, RFC 9207 `iss`)
//! and an OAuth 1.0a server on Python's oauthlib, used through the Twitter preset.
//!
//! A small cookie-keeping "browser" follows every redirect by hand and fills the provider's
//! login and consent forms, as a person would.

use std::collections::HashMap;

use portcullis::SessionStrategy;
use portcullis_server::http::serve_on;
use portcullis_server::oauth_config::OAuthProviderConfig;
use portcullis_server::{build_app, routes, ProviderConfig, ServerConfig};
use serde_json::Value;
use tempfile::TempDir;

use crate::support::{client, config_in};

const RUN_CI_PROVIDERS: &str = "start the test providers with `bash .ci/providers`";

fn oidc_issuer() -> String {
    std::env::var("OIDC_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:9410".into())
}

fn oauth1_base() -> String {
    std::env::var("OAUTH1_BASE").unwrap_or_else(|_| "http://127.0.0.1:9420".into())
}

fn oidc_provider(extra: &str) -> ProviderConfig {
    let text = format!(
        r#"
        id = "oidc"
        name = "Local OpenID"
        issuer = "{}"
        client_id = "portcullis"
        client_secret = "portcullis-test-secret-0123456789abcdef"
        scope = "openid profile email offline_access"
        {extra}
        "#,
        oidc_issuer()
    );
    ProviderConfig::Oauth(Box::new(toml::from_str(&text).unwrap()))
}

fn twitter_provider() -> ProviderConfig {
    let base = oauth1_base();
    let text = format!(
        r#"
        preset = "twitter"
        client_id = "portcullis-consumer"
        client_secret = "portcullis-consumer-secret"
        request_token_url = "{base}/oauth/request_token"
        authorization_url = "{base}/oauth/authorize"
        token_url = "{base}/oauth/access_token"
        userinfo_url = "{base}/1.1/account/verify_credentials.json?include_email=true"
        "#
    );
    let config: OAuthProviderConfig = toml::from_str(&text).unwrap();
    ProviderConfig::Oauth(Box::new(config))
}

struct Site {
    base: String,
    handle: portcullis_server::ShutdownHandle,
    _dir: TempDir,
}

async fn start(providers: Vec<ProviderConfig>, strategy: SessionStrategy) -> Site {
    start_configured(providers, |config| config.session.strategy = Some(strategy)).await
}

/// The server with `providers`, after `adjust` had its say on the configuration.
async fn start_configured(
    providers: Vec<ProviderConfig>,
    adjust: impl FnOnce(&mut ServerConfig),
) -> Site {
    let dir = TempDir::new().unwrap();
    // The site URL names the port (it is the provider's redirect URI): listen first.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut config: ServerConfig = config_in(dir.path());
    config.url = Some(format!("http://127.0.0.1:{port}/api/auth"));
    config.providers = providers;
    adjust(&mut config);
    let app = build_app(&config, false).unwrap();
    let (addr, handle) = serve_on(listener, routes(app), futures::future::pending::<()>()).unwrap();
    Site {
        base: format!("http://{addr}"),
        handle,
        _dir: dir,
    }
}

/// Cookies by name, for loopback hosts (browsers scope cookies by host, not port).
#[derive(Default)]
struct Browser {
    cookies: HashMap<String, String>,
    http: Option<reqwest::Client>,
}

struct Page {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Browser {
    fn new() -> Self {
        Self {
            cookies: HashMap::new(),
            http: Some(client()),
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let response = request
            .header("cookie", cookie)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}: {RUN_CI_PROVIDERS}"));
        for line in response.headers().get_all("set-cookie") {
            let line = line.to_str().unwrap();
            let pair = line.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            let deleted = line.contains("Max-Age=0") || value.is_empty();
            if deleted {
                self.cookies.remove(name.trim());
            } else {
                self.cookies.insert(name.trim().into(), value.trim().into());
            }
        }
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        let body = response.text().await.unwrap();
        Page {
            status,
            location,
            body,
        }
    }

    async fn get(&mut self, url: &str) -> Page {
        let request = self.http.as_ref().unwrap().get(url);
        self.send(request).await
    }

    async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        let request = self.http.as_ref().unwrap().post(url).form(form);
        self.send(request).await
    }

    async fn csrf(&mut self, site: &Site) -> String {
        let page = self.get(&format!("{}/api/auth/csrf", site.base)).await;
        let json: Value = serde_json::from_str(&page.body).unwrap();
        json["csrfToken"].as_str().unwrap().to_owned()
    }

    /// `POST /signin/<id>`: returns where Portcullis sends the browser.
    async fn start_sign_in(&mut self, site: &Site, provider: &str) -> String {
        let csrf = self.csrf(site).await;
        let page = self
            .post(
                &format!("{}/api/auth/signin/{provider}", site.base),
                &[
                    ("csrfToken", csrf.as_str()),
                    ("callbackUrl", &format!("{}/dashboard", site.base)),
                ],
            )
            .await;
        assert_eq!(page.status, 302, "{}", page.body);
        page.location.unwrap()
    }

    /// Follows redirects from `url`, answering the provider's login and consent forms with
    /// `form`, until the provider sends the browser back to Portcullis's callback. Returns
    /// that callback URL (not yet visited).
    async fn through_provider(
        &mut self,
        url: String,
        site: &Site,
        form: &[(&str, &str)],
    ) -> String {
        let mut next = url;
        for _ in 0..12 {
            if next.starts_with(&site.base) {
                return next;
            }
            let page = self.get(&next).await;
            if let Some(location) = page.location {
                next = absolute(&next, &location);
                continue;
            }
            assert_eq!(page.status, 200, "{next}: {}", page.body);
            let action = form_action(&page.body, &["/login", "/confirm", "/oauth/authorize"])
                .unwrap_or_else(|| panic!("no form on {next}: {}", page.body));
            let mut fields: Vec<(&str, &str)> = form.to_vec();
            let hidden = hidden_inputs(&page.body);
            fields.extend(hidden.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let target = absolute(&next, &action);
            let page = self.post(&target, &fields).await;
            next = absolute(
                &target,
                &page.location.unwrap_or_else(|| {
                    panic!(
                        "form {target} did not redirect: {} {}",
                        page.status, page.body
                    )
                }),
            );
        }
        panic!("the provider never redirected back to Portcullis");
    }

    async fn session(&mut self, site: &Site) -> Value {
        let page = self.get(&format!("{}/api/auth/session", site.base)).await;
        serde_json::from_str(&page.body).unwrap()
    }
}

fn absolute(base: &str, location: &str) -> String {
    url::Url::parse(base)
        .unwrap()
        .join(location)
        .unwrap()
        .into()
}

/// The `action` of the first form whose action contains one of `needles`.
fn form_action(html: &str, needles: &[&str]) -> Option<String> {
    html.split("<form").skip(1).find_map(|form| {
        let action = form.split("action=\"").nth(1)?.split('"').next()?;
        needles
            .iter()
            .any(|n| action.contains(n))
            .then(|| action.replace("&amp;", "&"))
    })
}

fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    html.split("<input")
        .skip(1)
        .filter(|i| i.contains("type=\"hidden\""))
        .filter_map(|i| {
            let name = i.split("name=\"").nth(1)?.split('"').next()?;
            let value = i.split("value=\"").nth(1)?.split('"').next()?;
            Some((name.to_owned(), value.to_owned()))
        })
        .collect()
}

async fn oidc_sign_in(strategy: SessionStrategy) {
    let site = start(vec![oidc_provider("")], strategy).await;
    let mut browser = Browser::new();
    let authorize = browser.start_sign_in(&site, "oidc").await;
    assert!(authorize.starts_with(&oidc_issuer()), "{authorize}");
    for check in [
        "state=",
        "code_challenge=",
        "code_challenge_method=S256",
        "nonce=",
    ] {
        assert!(authorize.contains(check), "{check} missing in {authorize}");
    }
    let before = browser.cookies.clone();
    let callback = browser
        .through_provider(
            authorize,
            &site,
            &[("login", "alice"), ("password", "alice-password")],
        )
        .await;
    assert!(
        callback.contains("iss="),
        "RFC 9207 iss expected: {callback}"
    );
    let landed = browser.get(&callback).await;
    assert_eq!(landed.status, 302, "{}", landed.body);
    assert_eq!(
        landed.location.as_deref(),
        Some(format!("{}/dashboard", site.base).as_str())
    );
    // The check cookies are gone, a new session cookie is set.
    for name in [
        "next-auth.state",
        "next-auth.nonce",
        "next-auth.pkce.code_verifier",
    ] {
        assert!(!browser.cookies.contains_key(name), "{name} not cleared");
    }
    let session_cookie = browser.cookies.get("next-auth.session-token").cloned();
    assert!(session_cookie.is_some());
    assert_ne!(
        session_cookie,
        before.get("next-auth.session-token").cloned()
    );
    let session = browser.session(&site).await;
    assert_eq!(session["user"]["email"], "alice@example.com", "{session}");
    assert_eq!(session["user"]["name"], "Alice Example", "{session}");

    // Replaying the callback (the code is used, the checks are gone) fails closed.
    let replay = browser.get(&callback).await;
    assert_eq!(
        replay.location.as_deref(),
        Some(format!("{}/api/auth/error?error=OAuthCallback", site.base).as_str())
    );

    // Signing in again from another browser finds the linked account: the same user.
    let mut second = Browser::new();
    let authorize = second.start_sign_in(&site, "oidc").await;
    let callback = second
        .through_provider(
            authorize,
            &site,
            &[("login", "alice"), ("password", "alice-password")],
        )
        .await;
    let landed = second.get(&callback).await;
    assert_eq!(landed.status, 302, "{}", landed.body);
    let again = second.session(&site).await;
    assert_eq!(again["user"], session["user"], "{again}");
    assert_ne!(
        second.cookies.get("next-auth.session-token"),
        browser.cookies.get("next-auth.session-token")
    );
    let _ = site.handle.shutdown().await;
}

#[tokio::test]
async fn openid_sign_in_with_jwt_sessions() {
    oidc_sign_in(SessionStrategy::Jwt).await;
}

#[tokio::test]
async fn openid_sign_in_with_database_sessions_on_sled() {
    oidc_sign_in(SessionStrategy::Database).await;
}

#[tokio::test]
async fn a_sign_in_refused_at_the_provider_ends_on_oauth_callback() {
    let site = start(vec![oidc_provider("")], SessionStrategy::Jwt).await;
    let mut browser = Browser::new();
    let authorize = browser.start_sign_in(&site, "oidc").await;
    // Follow to the login form, then press Cancel.
    let mut next = authorize;
    let page = loop {
        let page = browser.get(&next).await;
        match page.location {
            Some(location) => next = absolute(&next, &location),
            None => break page,
        }
    };
    let abort = form_action(&page.body, &["/abort"]).unwrap();
    let page = browser.post(&absolute(&next, &abort), &[]).await;
    let callback = browser
        .through_provider(absolute(&next, &page.location.unwrap()), &site, &[])
        .await;
    assert!(callback.contains("error=access_denied"), "{callback}");
    let landed = browser.get(&callback).await;
    assert_eq!(
        landed.location.as_deref(),
        Some(format!("{}/api/auth/error?error=OAuthCallback", site.base).as_str())
    );
    assert!(browser.session(&site).await.as_object().unwrap().is_empty());
    let _ = site.handle.shutdown().await;
}

#[tokio::test]
async fn a_callback_without_the_check_cookies_fails_closed() {
    let site = start(vec![oidc_provider("")], SessionStrategy::Jwt).await;
    let mut victim = Browser::new();
    let authorize = victim.start_sign_in(&site, "oidc").await;
    let callback = victim
        .through_provider(
            authorize,
            &site,
            &[("login", "alice"), ("password", "alice-password")],
        )
        .await;
    // Another browser (login CSRF: the attacker's code in the victim's browser) has none
    // of the sealed checks.
    let mut other = Browser::new();
    let landed = other.get(&callback).await;
    assert_eq!(
        landed.location.as_deref(),
        Some(format!("{}/api/auth/error?error=OAuthCallback", site.base).as_str())
    );
    assert!(!other.cookies.contains_key("next-auth.session-token"));
    let _ = site.handle.shutdown().await;
}

#[tokio::test]
async fn oauth1_sign_in_through_the_twitter_preset() {
    for strategy in [SessionStrategy::Jwt, SessionStrategy::Database] {
        let site = start(vec![twitter_provider()], strategy).await;
        let mut browser = Browser::new();
        let authorize = browser.start_sign_in(&site, "twitter").await;
        assert!(authorize.starts_with(&oauth1_base()), "{authorize}");
        assert!(
            !authorize.contains("oauth_token_secret"),
            "the request-token secret must not travel in the URL: {authorize}"
        );
        let callback = browser
            .through_provider(authorize, &site, &[("login", "carol")])
            .await;
        assert!(callback.contains("oauth_verifier="), "{callback}");
        let landed = browser.get(&callback).await;
        assert_eq!(
            landed.location.as_deref(),
            Some(format!("{}/dashboard", site.base).as_str()),
            "{}",
            landed.body
        );
        let session = browser.session(&site).await;
        assert_eq!(session["user"]["name"], "Carol Example", "{session}");
        assert_eq!(session["user"]["email"], "carol@example.com", "{session}");
        assert_eq!(
            session["user"]["image"], "https://pbs.twimg.com/profile_images/1/carol.jpg",
            "{session}"
        );
        // The request token is single use: the same callback again fails.
        let replay = browser.get(&callback).await;
        assert_eq!(
            replay.location.as_deref(),
            Some(format!("{}/api/auth/error?error=OAuthCallback", site.base).as_str())
        );
        let _ = site.handle.shutdown().await;
    }
}

/// Every OAuth value that must stay out of logs, at the most verbose level: the client
/// secret, the code, state, PKCE verifier and nonce cookies, the provider's access token.
#[tokio::test(flavor = "current_thread")]
async fn no_oauth_secret_reaches_a_log_line() {
    use crate::logs::{anchor_dispatchers, Capture};
    anchor_dispatchers();
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(
        portcullis_server::logging::subscriber(
            "trace",
            portcullis_server::LogFormat::Json,
            capture.clone(),
            false,
        )
        .unwrap(),
    );
    let site = start_configured(vec![oidc_provider("")], |config| {
        config.jwt.encryption = Some(true);
        config.jwt.provider_tokens = Some(true);
    })
    .await;
    let mut browser = Browser::new();
    let authorize = browser.start_sign_in(&site, "oidc").await;
    let mut secrets: Vec<String> = browser
        .cookies
        .iter()
        .filter(|(name, _)| {
            name.contains("state") || name.contains("nonce") || name.contains("pkce")
        })
        .map(|(_, value)| value.clone())
        .collect();
    let callback = browser
        .through_provider(
            authorize,
            &site,
            &[("login", "alice"), ("password", "alice-password")],
        )
        .await;
    let query: HashMap<String, String> = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    secrets.push(query["code"].clone());
    secrets.push(query["state"].clone());
    browser.get(&callback).await;
    let session = browser.session(&site).await;
    let access_token = session["accessToken"].as_str().unwrap().to_owned();
    secrets.push(access_token);
    secrets.push(browser.cookies["next-auth.session-token"].clone());
    // A failing exchange too: the same code again.
    browser.get(&callback).await;
    secrets.push("portcullis-test-secret-0123456789abcdef".into());
    let _ = site.handle.shutdown().await;
    let log = capture.text();
    assert!(
        log.contains("provider answered"),
        "provider calls are logged: {log}"
    );
    for secret in &secrets {
        assert!(secret.len() >= 16, "{secret}");
        assert!(
            !log.contains(secret.as_str()),
            "a secret reached the log: {log}"
        );
    }
}
