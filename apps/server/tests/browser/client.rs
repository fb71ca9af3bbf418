//! The client script (`<base>/client.js`): served as a static file, usable as a classic
//! script and as an ES module, tabs kept in step, keep-alive, clientMaxAge.

use std::sync::atomic::Ordering;
use std::time::Instant;

use portcullis_server::testing::{count_requests, test_file};
use serde_json::{json, Value};
use warp::Filter;

use crate::support::{Harness, SiteOptions, WAIT};

const MODULE_PAGE: &str = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
    <title>client.mjs</title><script type=\"module\" src=\"/test/module.js\"></script></head>\
    <body><p id=\"status\">loading</p><p id=\"base\"></p></body></html>";

const MODULE_SCRIPT: &str = r#"
import { getSession, getProviders } from "/api/auth/client.mjs";
import Portcullis from "/api/auth/client.mjs";
const [session, providers] = await Promise.all([getSession(), getProviders()]);
document.getElementById("base").textContent = Portcullis.options.basePath;
document.getElementById("status").textContent =
  (session ? "signed-in" : "signed-out") + " " + Object.keys(providers).join(",");
"#;

fn module_pages(
) -> impl Filter<Extract = (http::Response<String>,), Error = warp::Rejection> + Clone {
    test_file(
        "module.html",
        "text/html; charset=utf-8",
        MODULE_PAGE.to_owned(),
    )
    .or(test_file(
        "module.js",
        "text/javascript; charset=utf-8",
        MODULE_SCRIPT.to_owned(),
    ))
    .unify()
}

#[tokio::test]
async fn the_client_script_is_a_cacheable_static_file_without_cookies() {
    let h = Harness::start(SiteOptions::default(), module_pages()).await;
    let http = reqwest::Client::new();
    for (file, content_type) in [
        ("client.js", "text/javascript; charset=utf-8"),
        ("client.mjs", "text/javascript; charset=utf-8"),
        ("client.d.ts", "text/plain; charset=utf-8"),
    ] {
        let response = http
            .get(h.url(&format!("/api/auth/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{file}");
        let headers = response.headers();
        assert_eq!(headers["content-type"], content_type, "{file}");
        assert_eq!(headers["cache-control"], "public, max-age=3600", "{file}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{file}");
        assert!(headers.get("set-cookie").is_none(), "{file} sets a cookie");
    }
    let nested = http
        .get(h.url("/api/auth/client.js/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(nested.status(), 400);

    // As an ES module: named and default exports, base path from the module's URL.
    h.browser.goto(&h.url("/test/module.html")).await.unwrap();
    h.wait_text("status", "signed-out credentials").await;
    assert_eq!(h.text("base").await, "/api/auth");
}

#[tokio::test]
async fn signing_out_in_one_window_signs_out_the_other_without_a_reload() {
    let h = Harness::start(SiteOptions::default(), module_pages()).await;
    h.browser.goto(&h.url("/test/client.html")).await.unwrap();
    let first = h.browser.window().await.unwrap();
    h.wait_text("status", "signed-out").await;
    let second = h.new_window("/test/client.html").await;
    h.wait_text("status", "signed-out").await;
    let loaded = h.text("loaded").await;

    h.switch_to(&first).await;
    let result = h.sign_in_with_client().await;
    assert_eq!(result["ok"], true, "{result}");
    h.wait_text("status", "signed-in").await;

    h.switch_to(&second).await;
    h.wait_text("status", "signed-in").await;
    assert_eq!(h.text("event").await, "storage");

    h.switch_to(&first).await;
    let out = h.run("return Portcullis.signOut({redirect: false})").await;
    assert_eq!(out["url"], h.url("/test/client.html"), "{out}");
    h.wait_text("status", "signed-out").await;

    h.switch_to(&second).await;
    h.wait_text("status", "signed-out").await;
    assert_eq!(h.text("event").await, "storage");
    assert_eq!(h.text("loaded").await, loaded, "the second window reloaded");
}

#[tokio::test]
async fn keep_alive_refreshes_the_session_cookie() {
    let h = Harness::start(SiteOptions::default(), module_pages()).await;
    h.browser
        .goto(&h.url("/test/client.html?keepAlive=1"))
        .await
        .unwrap();
    h.wait_text("status", "signed-out").await;
    let result = h.sign_in_with_client().await;
    assert_eq!(result["ok"], true, "{result}");
    let (value, expires) = h.session_cookie().await.expect("a session cookie");
    let fetches: u64 = h.text("session-fetches").await.parse().unwrap();

    // Nothing but the keep-alive timer reads the session now.
    let (new_value, new_expires) = h
        .browser
        .wait_cookie_change("next-auth.session-token", &value, WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        new_expires > expires,
        "the expiry did not move forward: {expires} → {new_expires}"
    );
    assert_ne!(new_value, value);
    let after: u64 = h.text("session-fetches").await.parse().unwrap();
    assert!(after > fetches, "no GET /session was sent");
    h.wait_text("event", "timer").await;
    h.wait_text("status", "signed-in").await;
}

#[tokio::test]
async fn within_client_max_age_the_session_comes_from_the_cache() {
    let (served, counter) = count_requests("/api/auth/session");
    let h = Harness::start(SiteOptions::default(), counter.or(module_pages()).unify()).await;
    h.browser.goto(&h.url("/test/client.html")).await.unwrap();
    h.wait_text("status", "signed-out").await;
    assert_eq!(h.sign_in_with_client().await["ok"], true);

    h.browser
        .goto(&h.url("/test/client.html?clientMaxAge=60"))
        .await
        .unwrap();
    h.wait_text("status", "signed-in").await;
    assert_eq!(h.text("session-fetches").await, "1");
    let before = served.load(Ordering::SeqCst);
    let reads = h
        .run(
            "return Promise.all([Portcullis.getSession(), Portcullis.getSession(), \
             Portcullis.getSession({event: 'visibilitychange'}), \
             Portcullis.getSession({event: 'timer'})])",
        )
        .await;
    for read in reads.as_array().unwrap() {
        assert_eq!(read["user"]["name"], "Jane", "{reads}");
    }
    assert_eq!(h.text("session-fetches").await, "1");
    assert_eq!(
        served.load(Ordering::SeqCst),
        before,
        "the server was asked"
    );

    // Another tab's message always fetches: the counts can move.
    h.run("return Portcullis.getSession({event: 'storage'})")
        .await;
    assert_eq!(h.text("session-fetches").await, "2");
    assert_eq!(served.load(Ordering::SeqCst), before + 1);

    // Past clientMaxAge a read fetches again.
    h.run("Portcullis.configure({clientMaxAge: 1})").await;
    let started = Instant::now();
    while h.text("session-fetches").await == "2" {
        assert!(started.elapsed() < WAIT, "no fetch after clientMaxAge");
        let read = h.run("return Portcullis.getSession()").await;
        assert_eq!(read["user"]["name"], "Jane");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(h.text("session-fetches").await, "3");
    assert_eq!(served.load(Ordering::SeqCst), before + 2);
}

#[tokio::test]
async fn sign_in_results_follow_v3() {
    let h = Harness::start(SiteOptions::default(), module_pages()).await;
    h.browser.goto(&h.url("/test/client.html")).await.unwrap();
    h.wait_text("status", "signed-out").await;
    let wrong = h
        .run(
            "return Portcullis.signIn('credentials', \
             {redirect: false, username: 'jane', password: 'wrong'})",
        )
        .await;
    assert_eq!(
        wrong,
        json!({"error": "CredentialsSignin", "status": 401, "ok": false, "url": null})
    );
    let right = h.sign_in_with_client().await;
    assert_eq!(
        right,
        json!({"error": null, "status": 200, "ok": true, "url": h.url("/test/client.html")})
    );
    h.wait_text("status", "signed-in").await;
    let csrf = h.run("return Portcullis.getCsrfToken()").await;
    assert!(csrf.as_str().is_some_and(|t| t.len() == 64), "{csrf}");
    let providers = h.run("return Portcullis.getProviders()").await;
    assert_eq!(providers["credentials"]["type"], "credentials");
    assert_eq!(
        providers["credentials"]["callbackUrl"],
        Value::String(h.url("/api/auth/callback/credentials"))
    );
}
