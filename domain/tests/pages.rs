#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The built-in pages as people see them (spec §13): every page in every theme, with and
//! without branding, each error code, each sign-in message — under insta, so any change
//! to what users see is reviewed. Plus the checks a snapshot cannot make: escaping, the
//! policy's hash matching the stylesheet, labels tied to inputs, no external resources.
//!
//! Page snapshots show the stylesheet as `/* stylesheet */`; the stylesheets have their
//! own snapshots (`stylesheet-*`).

use base64::Engine as _;
use bytes::Bytes;
use portcullis_domain::config::{Branding, Theme};
use portcullis_domain::error::ErrorCode;
use portcullis_domain::oauth::OAuthProvider;
use portcullis_domain::pages::{render, Page, RenderedPage};
use portcullis_domain::{Config, CredentialField, Engine, Env, Provider, Step};
use rand_chacha::rand_core::SeedableRng;
use sha2::{Digest, Sha256};

const SECRET: &str = "pages-test-secret-0123456789abcdef0123456789";
const CSRF: &str = "5f4dcc3b5aa765d61d8327deb882cf995f4dcc3b5aa765d61d8327deb882cf99";
const CALLBACK: &str = "https://example.com/dashboard";
const HOSTILE: &str = r#"<script>"'&"#;

fn github() -> Provider {
    let mut oauth = OAuthProvider::oauth2("id", "secret");
    oauth.endpoints.authorization = Some("https://github.com/login/oauth/authorize".into());
    oauth.endpoints.token = Some("https://github.com/login/oauth/access_token".into());
    oauth.endpoints.userinfo = Some("https://api.github.com/user".into());
    Provider::oauth("github", "GitHub", oauth)
}

/// One provider of each kind, in this order.
fn all_kinds() -> Vec<Provider> {
    vec![
        github(),
        Provider::email("email", "Email", 600),
        Provider::credentials(
            "credentials",
            "Credentials",
            vec![
                CredentialField::new("username", "Username", "text"),
                CredentialField::new("password", "Password", "password"),
            ],
        ),
    ]
}

fn acme() -> Branding {
    Branding {
        name: Some("Acme".into()),
        logo_url: Some("https://cdn.acme.example/logo.svg".into()),
        accent_color: Some("#0a7f3c".into()),
    }
}

fn config(theme: Theme, branding: Branding, providers: Vec<Provider>) -> Config {
    providers
        .into_iter()
        .fold(Config::builder(), |c, p| c.provider(p))
        .url("https://example.com/api/auth")
        .secret(SECRET)
        .store(true)
        .theme(theme)
        .branding(branding)
        .build()
        .unwrap()
}

fn sign_in<'a>(
    config: &'a Config,
    email: Option<&'a str>,
    error: Option<&'a ErrorCode>,
) -> Page<'a> {
    Page::SignIn {
        providers: &config.providers,
        callback_url: CALLBACK,
        email,
        error,
    }
}

/// The `<style>` element's text.
fn stylesheet_of(html: &str) -> &str {
    let start = html.find("<style>").unwrap() + "<style>".len();
    let end = html.find("</style>").unwrap();
    &html[start..end]
}

/// Status, policy and HTML, with the stylesheet and its hash elided after checking that
/// the policy allows exactly the stylesheet the page carries.
fn show(page: &RenderedPage) -> String {
    let css = stylesheet_of(&page.html);
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(css.as_bytes()));
    let source = format!("style-src 'sha256-{hash}';");
    assert!(
        page.content_security_policy.contains(&source),
        "the policy does not allow the page's stylesheet: {}",
        page.content_security_policy
    );
    format!(
        "status: {}\ncontent-security-policy: {}\n\n{}",
        page.status.as_u16(),
        page.content_security_policy
            .replace(&source, "style-src 'sha256-<stylesheet>';"),
        page.html.replace(css, "/* stylesheet */")
    )
}

fn theme_name(theme: Theme) -> &'static str {
    match theme {
        Theme::Auto => "auto",
        Theme::Light => "light",
        Theme::Dark => "dark",
    }
}

#[test]
fn every_page_in_every_theme() {
    for theme in [Theme::Auto, Theme::Light, Theme::Dark] {
        for (brand_name, branding) in [("plain", Branding::default()), ("branded", acme())] {
            let config = config(theme, branding, all_kinds());
            let pages = [
                ("signin", sign_in(&config, None, None)),
                (
                    "signout",
                    Page::SignOut {
                        callback_url: CALLBACK,
                    },
                ),
                ("verify-request", Page::VerifyRequest),
                ("error", Page::Error { code: None }),
            ];
            for (page_name, page) in pages {
                let rendered = render(&page, &config, CSRF).unwrap();
                let name = format!("{page_name}-{}-{brand_name}", theme_name(theme));
                insta::assert_snapshot!(name, show(&rendered));
            }
        }
    }
}

#[test]
fn stylesheets() {
    for (name, theme, branding) in [
        ("auto", Theme::Auto, Branding::default()),
        ("light", Theme::Light, Branding::default()),
        ("dark", Theme::Dark, Branding::default()),
        ("auto-accent", Theme::Auto, acme()),
    ] {
        let config = config(theme, branding, vec![]);
        let page = render(&Page::VerifyRequest, &config, CSRF).unwrap();
        insta::assert_snapshot!(
            format!("stylesheet-{name}"),
            stylesheet_of(&page.html).to_owned()
        );
    }
}

/// Every `error=` value of spec §13.6, plus free text and none.
const CODES: [&str; 13] = [
    "Configuration",
    "AccessDenied",
    "Verification",
    "OAuthSignin",
    "OAuthCallback",
    "OAuthCreateAccount",
    "EmailCreateAccount",
    "Callback",
    "OAuthAccountNotLinked",
    "EmailSignin",
    "CredentialsSignin",
    "Signin",
    "EmailInvalid",
];

#[test]
fn the_error_page_for_each_code() {
    let config = config(Theme::Light, Branding::default(), all_kinds());
    let codes = CODES
        .iter()
        .map(|c| Some(ErrorCode::parse(c)))
        .chain([Some(ErrorCode::parse("Something odd")), None]);
    for code in codes {
        let page = render(
            &Page::Error {
                code: code.as_ref(),
            },
            &config,
            CSRF,
        )
        .unwrap();
        let name = match &code {
            None => "absent",
            Some(ErrorCode::Other(_)) => "unknown",
            Some(code) => code.as_str(),
        };
        insta::assert_snapshot!(format!("error-code-{name}"), show(&page));
    }
}

#[test]
fn the_error_page_statuses_follow_the_spec() {
    let config = config(Theme::Auto, Branding::default(), vec![]);
    for (code, status, heading) in [
        ("Configuration", 500, "Server error"),
        ("configuration", 500, "Server error"),
        ("AccessDenied", 403, "Access Denied"),
        ("accessdenied", 403, "Access Denied"),
        ("Verification", 403, "Unable to sign in"),
        ("VERIFICATION", 403, "Unable to sign in"),
        ("CredentialsSignin", 200, "Error"),
        ("<b>Pay here</b>", 200, "Error"),
    ] {
        let code = ErrorCode::parse(code);
        let page = render(&Page::Error { code: Some(&code) }, &config, CSRF).unwrap();
        assert_eq!(page.status.as_u16(), status, "{code}");
        assert!(page.html.contains(&format!("<h1>{heading}</h1>")), "{code}");
        // A code is never echoed: free text in a URL must not become page content.
        assert!(!page.html.contains("Pay here"));
    }
}

#[test]
fn the_sign_in_page_with_each_error_message() {
    let config = config(Theme::Light, Branding::default(), all_kinds());
    let codes = CODES.iter().map(|c| ErrorCode::parse(c));
    for code in codes.filter(ErrorCode::shown_on_signin_page) {
        let page = render(&sign_in(&config, None, Some(&code)), &config, CSRF).unwrap();
        insta::assert_snapshot!(format!("signin-error-{code}"), show(&page));
    }
    let unknown = ErrorCode::parse("Something odd");
    let page = render(&sign_in(&config, None, Some(&unknown)), &config, CSRF).unwrap();
    insta::assert_snapshot!("signin-error-unknown", show(&page));
}

#[test]
fn every_value_is_escaped() {
    let mut oauth = github();
    oauth.name = HOSTILE.into();
    let hostile_field = CredentialField {
        name: "username".into(),
        label: Some(HOSTILE.into()),
        input_type: Some("text".into()),
        placeholder: Some(HOSTILE.into()),
        value: Some(HOSTILE.into()),
    };
    let providers = vec![
        oauth,
        Provider::email("email", HOSTILE, 600),
        Provider::credentials("credentials", HOSTILE, vec![hostile_field]),
    ];
    let branding = Branding {
        name: Some(HOSTILE.into()),
        ..acme()
    };
    let config = config(Theme::Auto, branding, providers);
    let email = format!("{HOSTILE}@example.com");
    let callback = format!("https://example.com/?q={HOSTILE}");
    let page = Page::SignIn {
        providers: &config.providers,
        callback_url: &callback,
        email: Some(&email),
        error: None,
    };
    let html = render(&page, &config, HOSTILE).unwrap().html;
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains(HOSTILE), "{html}");
    // Each of them is there, escaped: provider names (3), label, placeholder, value,
    // brand, e-mail, callback URL, CSRF token (3 forms).
    let escaped = "&#60;script&#62;&#34;&#39;&#38;";
    assert_eq!(
        html.matches(escaped).count(),
        3 + 3 + 1 + 1 + 1 + 3,
        "{html}"
    );
    // Nothing but the template's own quotes: every attribute value stays closed.
    let body = &html[html.find("<body").unwrap()..];
    assert_eq!(body.matches('\'').count(), 0, "{body}");
}

#[test]
fn labels_are_tied_to_inputs_and_nothing_loads_from_elsewhere() {
    for branding in [Branding::default(), acme()] {
        let config = config(Theme::Auto, branding.clone(), all_kinds());
        let html = render(&sign_in(&config, Some("a@b.example"), None), &config, CSRF)
            .unwrap()
            .html;
        let visible_inputs: Vec<&str> = html
            .split("<input ")
            .skip(1)
            .filter(|input| !input.starts_with("type=\"hidden\""))
            .collect();
        assert_eq!(visible_inputs.len(), 3, "e-mail, username, password");
        for input in visible_inputs {
            let id = input
                .split("id=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            assert!(
                html.contains(&format!("<label for=\"{id}\">")),
                "{id} unlabelled"
            );
        }
        assert!(html.contains("<html lang=\"en\">"));
        assert!(html.contains("<meta name=\"viewport\""));
        for external in ["<link", "<script", "@import", "url(", "//fonts."] {
            assert!(!html.contains(external), "{external}");
        }
        let sources: Vec<&str> = html.split(" src=\"").skip(1).collect();
        match branding.logo_url {
            Some(logo) => assert!(sources.len() == 1 && sources[0].starts_with(&logo)),
            None => assert!(sources.is_empty()),
        }
    }
}

#[test]
fn forms_carry_what_their_flows_need() {
    let config = config(Theme::Auto, Branding::default(), all_kinds());
    let html = render(&sign_in(&config, None, None), &config, CSRF)
        .unwrap()
        .html;
    let form = |action: &str| {
        let start = html
            .find(&format!(
                "<form action=\"https://example.com/api/auth/{action}\""
            ))
            .unwrap_or_else(|| panic!("no form to {action}"));
        &html[start..start + html[start..].find("</form>").unwrap()]
    };
    let csrf = format!("<input type=\"hidden\" name=\"csrfToken\" value=\"{CSRF}\">");
    let callback = format!("<input type=\"hidden\" name=\"callbackUrl\" value=\"{CALLBACK}\">");
    let oauth = form("signin/github");
    assert!(
        oauth.contains(&csrf) && oauth.contains(&callback),
        "{oauth}"
    );
    assert!(oauth.contains("<button type=\"submit\">Sign in with GitHub</button>"));
    // E-mail and credentials: the callback-url cookie decides, as in v3.
    for action in ["signin/email", "callback/credentials"] {
        let f = form(action);
        assert!(f.contains(&csrf) && !f.contains("callbackUrl"), "{f}");
    }
    // v3's dividers: between blocks unless both are OAuth buttons.
    assert_eq!(html.matches("<div class=\"divider\">or</div>").count(), 2);
    let two_oauth = config_with(vec![github(), {
        let mut p = github();
        p.id = "github2".into();
        p
    }]);
    let html = render(&sign_in(&two_oauth, None, None), &two_oauth, CSRF)
        .unwrap()
        .html;
    assert!(!html.contains("class=\"divider\""));
}

fn config_with(providers: Vec<Provider>) -> Config {
    config(Theme::Auto, Branding::default(), providers)
}

#[test]
fn the_policy_lets_forms_reach_where_their_redirects_go() {
    let config = config(Theme::Auto, acme(), all_kinds());
    let csp = |page: &Page<'_>| render(page, &config, CSRF).unwrap().content_security_policy;
    let signin = csp(&sign_in(&config, None, None));
    // Chrome checks form-action against the 302 to the provider as well.
    assert!(
        signin.contains("; form-action 'self' https://github.com;"),
        "{signin}"
    );
    assert!(
        signin.contains("; img-src 'self' https://cdn.acme.example;"),
        "{signin}"
    );
    assert!(signin.starts_with("default-src 'none'; style-src 'sha256-"));
    assert!(signin.ends_with("; frame-ancestors 'none'; base-uri 'none'"));
    assert!(!signin.contains("unsafe"));
    let signout = csp(&Page::SignOut {
        callback_url: "https://app.example.org/after",
    });
    assert!(
        signout.contains("; form-action 'self' https://app.example.org;"),
        "{signout}"
    );
    for page in [Page::VerifyRequest, Page::Error { code: None }] {
        assert!(csp(&page).contains("; form-action 'none';"));
    }
    // A logo on the site itself needs nothing beyond 'self'.
    let local = Config::builder()
        .secret(SECRET)
        .branding(Branding {
            logo_url: Some("/logo.svg".into()),
            ..Branding::default()
        })
        .build()
        .unwrap();
    let policy = render(&Page::VerifyRequest, &local, CSRF)
        .unwrap()
        .content_security_policy;
    assert!(policy.contains("; img-src 'self';"), "{policy}");
}

fn get(engine: &Engine, uri: &str) -> http::Response<String> {
    let request = http::Request::get(uri).body(Bytes::new()).unwrap();
    let env = Env {
        now: time::macros::datetime!(2023-11-14 22:13:20 UTC),
        rng: Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(1)),
        client_ip: None,
    };
    let mut run = engine.begin(&request, env);
    match run.step() {
        Step::Done(response) => response,
        Step::Effect(effect) => panic!("unexpected {effect:?}"),
    }
}

#[test]
fn every_page_is_sent_with_its_security_headers() {
    let engine = Engine::new(config(Theme::Dark, acme(), all_kinds()));
    for path in [
        "signin",
        "signout",
        "verify-request",
        "error?error=AccessDenied",
    ] {
        let response = get(&engine, &format!("/api/auth/{path}"));
        let headers = response.headers();
        assert_eq!(
            headers["content-type"], "text/html; charset=utf-8",
            "{path}"
        );
        let csp = headers["content-security-policy"].to_str().unwrap();
        let css = stylesheet_of(response.body());
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(css));
        assert!(
            csp.contains(&format!("style-src 'sha256-{hash}';")),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["cache-control"], "no-store", "{path}");
    }
    // Redirects (here: a sign-in error forwarded to the sign-in page) leak no referrer.
    let redirect = get(&engine, "/api/auth/error?error=CredentialsSignin");
    assert_eq!(redirect.status(), 302);
    assert_eq!(redirect.headers()["referrer-policy"], "no-referrer");
    assert_eq!(redirect.headers()["x-content-type-options"], "nosniff");
}

#[test]
fn custom_pages_get_url_encoded_parameters() {
    let config = Config::builder()
        .secret(SECRET)
        .pages(portcullis_domain::Pages {
            sign_in: Some("/login?from=auth".into()),
            error: Some("https://app.example.com/oops".into()),
            ..Default::default()
        })
        .build()
        .unwrap();
    let engine = Engine::new(config);
    let signin = get(&engine, "/api/auth/signin?error=a%26b%3Dc%20d");
    assert_eq!(signin.status(), 302);
    assert_eq!(
        signin.headers()["location"],
        "/login?from=auth&callbackUrl=http%3A%2F%2Flocalhost%3A3000&error=a%26b%3Dc%20d"
    );
    let error = get(&engine, "/api/auth/error?error=%3Cb%3E%23x");
    assert_eq!(
        error.headers()["location"],
        "https://app.example.com/oops?error=%3Cb%3E%23x"
    );
}

/// A preset's provider, as the server's configuration builds it.
fn preset(id: &str) -> Provider {
    let options = portcullis_domain::oauth::PresetOptions {
        client_id: "id".into(),
        client_secret: portcullis_domain::oauth::provider::ClientSecret::Secret(
            portcullis_domain::secret::SecretString::new("secret"),
        ),
        domain: Some("tenant.example.com".into()),
        tenant: Some("tenant".into()),
        region: Some("eu".into()),
        // Foursquare's API version and Bungie's API key, which those presets require.
        api_version: Some("20231114".into()),
        headers: vec![("X-API-Key".into(), "key".into())],
    };
    let built = portcullis_domain::oauth::preset(id, &options).unwrap();
    Provider::oauth(&format!("my-{id}"), built.name, built.provider)
}

#[test]
fn passwordless_first_then_oauth_then_credentials_in_configuration_order() {
    let credentials = |id: &str| {
        Provider::credentials(
            id,
            id,
            vec![CredentialField::new("username", "Username", "text")],
        )
    };
    let providers = vec![
        credentials("staff"),
        github(),
        Provider::email("email", "Email", 600),
        credentials("partners"),
        preset("google"),
        Provider::email("work-email", "Work e-mail", 600),
    ];
    let config = config(Theme::Auto, Branding::default(), providers);
    let html = render(&sign_in(&config, None, None), &config, CSRF)
        .unwrap()
        .html;
    let order: Vec<&str> = html
        .split("<form action=\"https://example.com/api/auth/")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "signin/email",
            "signin/work-email",
            "signin/github",
            "signin/my-google",
            "callback/staff",
            "callback/partners"
        ]
    );
    // v3's dividers: between kinds, not between two OAuth buttons.
    assert_eq!(html.matches("<div class=\"divider\">or</div>").count(), 4);
}

/// Every preset's button in its brand's colours and mark, and a provider of the site's own
/// (`github()`, no preset) with the neutral button, as people see them.
#[test]
fn preset_buttons_carry_their_brand() {
    let ids = portcullis_domain::oauth::PRESET_IDS;
    let mut providers: Vec<Provider> = ids.iter().map(|id| preset(id)).collect();
    providers.push(github());
    let config = config(Theme::Auto, Branding::default(), providers);
    let page = render(&sign_in(&config, None, None), &config, CSRF).unwrap();
    let buttons: Vec<&str> = page
        .html
        .lines()
        .filter(|line| line.starts_with("<button"))
        .collect();
    assert_eq!(buttons.len(), ids.len() + 1);
    assert_eq!(
        buttons.last(),
        Some(&"<button type=\"submit\">Sign in with GitHub</button>")
    );
    insta::assert_snapshot!("signin-preset-buttons", buttons.join("\n"));
    // Each brand shown has its rule in the page's stylesheet, once.
    let css = stylesheet_of(&page.html);
    for id in ids {
        let brand = portcullis_domain::pages::brands::of_preset(id).unwrap();
        let rule = format!(".{} {{", brand.class);
        assert_eq!(css.matches(&rule).count(), 1, "{id}");
    }
    // The policy still allows nothing inline but the hashed stylesheet.
    show(&page);
    assert!(!page.html.contains(" style="));
    assert!(!page.content_security_policy.contains("unsafe"));
}

/// Every file in `templates/logos/` is some preset's mark (the domain reads no files:
/// the directory is listed here, outside it).
#[test]
fn every_mark_file_belongs_to_a_brand() {
    let classes: Vec<&str> = portcullis_domain::oauth::PRESET_IDS
        .iter()
        .filter_map(|id| portcullis_domain::pages::brands::of_preset(id))
        .map(|brand| brand.class)
        .collect();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates/logos");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let mark = name.strip_suffix(".svg").unwrap_or(&name);
        let class = format!("brand-{mark}");
        assert!(classes.contains(&class.as_str()), "unused: {name}");
    }
}
