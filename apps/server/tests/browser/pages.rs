//! The built-in pages and the dev-mode demo page, as a person meets them.

use std::path::PathBuf;

use fantoccini::key::Key;
use fantoccini::Locator;

use crate::server_support::PASSWORD;
use crate::support::{Harness, SiteOptions, WAIT};

/// No routes of the test's own: one nothing asks for.
fn no_extra(
) -> impl warp::Filter<Extract = (http::Response<String>,), Error = warp::Rejection> + Clone {
    portcullis_server::testing::test_file("unused", "text/plain", String::new())
}

/// Types into the input named `name` of the current page.
async fn fill(h: &Harness, name: &str, text: &str) {
    h.browser
        .find(Locator::Css(&format!("input[name=\"{name}\"]")))
        .await
        .unwrap_or_else(|e| panic!("no input {name}: {e}"))
        .send_keys(text)
        .await
        .unwrap();
}

async fn body_text(h: &Harness) -> String {
    h.browser
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn wait_for_url(h: &Harness, want: &str) {
    let url = url::Url::parse(want).unwrap();
    h.browser
        .wait()
        .at_most(WAIT)
        .for_url(&url)
        .await
        .unwrap_or_else(|e| panic!("never reached {want}: {e}"));
}

#[tokio::test]
async fn credentials_sign_in_on_the_built_in_page_lands_on_the_callback_url_signed_in() {
    let h = Harness::start(SiteOptions::default(), no_extra()).await;
    let landing = h.url("/test/client.html");
    let signin = format!(
        "/api/auth/signin?callbackUrl={}",
        url::form_urlencoded::byte_serialize(landing.as_bytes()).collect::<String>()
    );
    h.browser.goto(&h.url(&signin)).await.unwrap();
    fill(&h, "username", "jane").await;
    fill(&h, "password", PASSWORD).await;
    fill(&h, "password", &Key::Enter.to_string()).await;

    wait_for_url(&h, &landing).await;
    h.wait_text("status", "signed-in").await;
    assert_eq!(h.text("user").await, "Jane");
    assert!(h.session_cookie().await.is_some());
}

#[tokio::test]
async fn a_wrong_password_shows_the_sign_in_page_with_its_message() {
    let h = Harness::start(SiteOptions::default(), no_extra()).await;
    h.browser.goto(&h.url("/api/auth/signin")).await.unwrap();
    fill(&h, "username", "jane").await;
    fill(&h, "password", "not the password").await;
    fill(&h, "password", &Key::Enter.to_string()).await;

    // Through BASE/error, which sends this code back to the sign-in page (spec §1.4.6).
    wait_for_url(&h, &h.url("/api/auth/signin?error=CredentialsSignin")).await;
    let text = body_text(&h).await;
    assert!(
        text.contains("Sign in failed. Check the details you provided are correct."),
        "{text}"
    );
    assert!(h.session_cookie().await.is_none());
}

#[tokio::test]
async fn the_error_page_shows_the_message_of_each_code() {
    let h = Harness::start(SiteOptions::default(), no_extra()).await;
    for (code, message) in [
        ("Verification", "The sign in link is no longer valid."),
        ("AccessDenied", "You do not have permission to sign in."),
        (
            "Configuration",
            "There is a problem with the server configuration.",
        ),
    ] {
        h.browser
            .goto(&h.url(&format!("/api/auth/error?error={code}")))
            .await
            .unwrap();
        let text = body_text(&h).await;
        assert!(text.contains(message), "{code}: {text}");
    }
}

#[tokio::test]
async fn the_dev_demo_page_signs_the_demo_user_in_and_out() {
    let options = SiteOptions {
        demo: true,
        dev: true,
        ..SiteOptions::default()
    };
    let h = Harness::start(options, no_extra()).await;
    h.browser.goto(&h.url("/")).await.unwrap();
    h.wait_text("status", "Signed out").await;

    h.browser
        .find(Locator::Id("sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The built-in sign-in page, then back to the demo page.
    h.browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("input[name=\"username\"]"))
        .await
        .unwrap();
    fill(&h, "username", "demo").await;
    fill(&h, "password", "demo").await;
    fill(&h, "password", &Key::Enter.to_string()).await;
    wait_for_url(&h, &h.url("/")).await;
    h.wait_text("status", "Signed in").await;
    assert_eq!(h.text("user-name").await, "Demo User");

    h.run("window.stayedOnThePage = true").await;
    h.browser
        .find(Locator::Id("sign-out"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    h.wait_text("status", "Signed out").await;
    assert_eq!(
        h.run("return window.stayedOnThePage === true").await,
        serde_json::Value::Bool(true),
        "signing out reloaded the page"
    );
}

fn screenshot_path(theme: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/screenshots")
        .join(format!("signin-{theme}.png"))
}

/// The sign-in page in light and dark, as the README shows it. `UPDATE_SCREENSHOTS=1`
/// writes `docs/screenshots/signin-{light,dark}.png`; otherwise the files must exist.
#[tokio::test]
async fn sign_in_page_screenshots_in_light_and_dark() {
    let update = std::env::var_os("UPDATE_SCREENSHOTS").is_some_and(|v| v == "1");
    let mut backgrounds = Vec::new();
    for theme in ["light", "dark"] {
        let options = SiteOptions {
            toml: format!("theme = \"{theme}\""),
            email: true,
            oauth: true,
            ..SiteOptions::default()
        };
        let h = Harness::start(options, no_extra()).await;
        h.browser.set_window_size(900, 1000).await.unwrap();
        h.browser.goto(&h.url("/api/auth/signin")).await.unwrap();
        h.browser
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css("input[name=\"password\"]"))
            .await
            .unwrap();
        let background = h
            .run("return getComputedStyle(document.body).backgroundColor")
            .await;
        backgrounds.push(luminance(background.as_str().unwrap()));

        let path = screenshot_path(theme);
        if update {
            let png = h.browser.screenshot().await.unwrap();
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, png).unwrap();
        }
        let png = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (UPDATE_SCREENSHOTS=1 cargo test -p portcullis-server --test browser screenshots)",
                path.display()
            )
        });
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{} is not a PNG",
            path.display()
        );
    }
    assert!(
        backgrounds[0] > backgrounds[1],
        "the dark theme's background is not darker than the light one's: {backgrounds:?}"
    );
}

/// Relative luminance (0–1) of a CSS `rgb(r, g, b)` / `rgba(…)` colour.
fn luminance(css: &str) -> f64 {
    let inner = css
        .trim_start_matches("rgba(")
        .trim_start_matches("rgb(")
        .trim_end_matches(')');
    let channels: Vec<f64> = inner
        .split(',')
        .take(3)
        .map(|c| c.trim().parse::<f64>().unwrap() / 255.0)
        .collect();
    0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]
}
