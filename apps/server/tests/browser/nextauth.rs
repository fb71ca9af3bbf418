//! NextAuth v3's own browser client (`next-auth/client` 3.29.10, bundled by `.ci/browser`
//! from `fixtures/nextauth-client`), unchanged, against the Portcullis server; and a tab
//! running it kept in step with a tab running the client script.

use std::path::PathBuf;

use portcullis_server::testing::test_file;
use serde_json::json;
use warp::Filter;

use crate::server_support::PASSWORD;
use crate::support::{Harness, SiteOptions};

const PAGE: &str = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
    <title>next-auth/client</title></head><body><div id=\"nextauth-root\"></div>\
    <script src=\"/test/next-auth-client.js\"></script></body></html>";

/// The bundle `.ci/browser` builds: PORTCULLIS_NEXTAUTH_CLIENT, or its default place.
fn bundle() -> String {
    let path = std::env::var_os("PORTCULLIS_NEXTAUTH_CLIENT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            home.join(".cache/portcullis/nextauth-client/next-auth-client.js")
        });
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "NextAuth's client bundle {}: {e}; run `bash .ci/browser` to build it",
            path.display()
        )
    })
}

fn nextauth_pages(
) -> impl Filter<Extract = (http::Response<String>,), Error = warp::Rejection> + Clone {
    test_file(
        "next-auth.html",
        "text/html; charset=utf-8",
        PAGE.to_owned(),
    )
    .or(test_file(
        "next-auth-client.js",
        "text/javascript; charset=utf-8",
        bundle(),
    ))
    .unify()
}

#[tokio::test]
async fn nextauths_own_client_works_unchanged() {
    let h = Harness::start(SiteOptions::default(), nextauth_pages()).await;
    h.browser
        .goto(&h.url("/test/next-auth.html"))
        .await
        .unwrap();
    // Its React view (useSession) has read the session.
    h.wait_text("status", "signed-out").await;

    let csrf = h.run("return NextAuthClient.getCsrfToken()").await;
    assert!(
        csrf.as_str()
            .is_some_and(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())),
        "{csrf}"
    );
    let providers = h.run("return NextAuthClient.getProviders()").await;
    assert_eq!(
        providers,
        json!({"credentials": {
            "id": "credentials",
            "name": "Credentials",
            "type": "credentials",
            "signinUrl": h.url("/api/auth/signin/credentials"),
            "callbackUrl": h.url("/api/auth/callback/credentials"),
        }})
    );

    let wrong = h
        .run(
            "return NextAuthClient.signIn('credentials', \
             {redirect: false, username: 'jane', password: 'wrong'})",
        )
        .await;
    assert_eq!(
        wrong,
        json!({"error": "CredentialsSignin", "status": 401, "ok": false, "url": null})
    );
    let right = h
        .run(&format!(
            "return NextAuthClient.signIn('credentials', \
             {{redirect: false, username: 'jane', password: {PASSWORD:?}}})"
        ))
        .await;
    assert_eq!(
        right,
        json!({"error": null, "status": 200, "ok": true, "url": h.url("/test/next-auth.html")})
    );
    h.wait_text("status", "signed-in").await;
    assert_eq!(h.text("user").await, "Jane");

    let session = h.run("return NextAuthClient.getSession()").await;
    assert_eq!(
        session["user"],
        json!({"name": "Jane", "email": "jane@example.com", "image": null})
    );
    assert!(session["expires"]
        .as_str()
        .is_some_and(|e| e.ends_with('Z')));

    let out = h
        .run("return NextAuthClient.signOut({redirect: false})")
        .await;
    assert_eq!(out, json!({"url": h.url("/test/next-auth.html")}));
    h.wait_text("status", "signed-out").await;
    assert_eq!(
        h.run("return NextAuthClient.getSession()").await,
        serde_json::Value::Null
    );
}

#[tokio::test]
async fn a_nextauth_tab_and_a_client_script_tab_stay_in_step() {
    let h = Harness::start(SiteOptions::default(), nextauth_pages()).await;
    h.browser
        .goto(&h.url("/test/next-auth.html"))
        .await
        .unwrap();
    let nextauth = h.browser.window().await.unwrap();
    h.wait_text("status", "signed-out").await;
    let ours = h.new_window("/test/client.html").await;
    h.wait_text("status", "signed-out").await;

    // Our tab signs in and announces it: NextAuth's useSession reads the session again.
    assert_eq!(h.sign_in_with_client().await["ok"], true);
    h.switch_to(&nextauth).await;
    h.wait_text("status", "signed-in").await;

    // Our tab signs out: the NextAuth tab follows.
    h.switch_to(&ours).await;
    h.run("return Portcullis.signOut({redirect: false})").await;
    h.wait_text("status", "signed-out").await;
    h.switch_to(&nextauth).await;
    h.wait_text("status", "signed-out").await;

    // The NextAuth tab signs out (v3 writes `nextauth.message` to localStorage): ours follows.
    h.switch_to(&ours).await;
    assert_eq!(h.sign_in_with_client().await["ok"], true);
    h.wait_text("status", "signed-in").await;
    let loaded = h.text("loaded").await;
    h.switch_to(&nextauth).await;
    h.wait_text("status", "signed-in").await;
    h.run("return NextAuthClient.signOut({redirect: false})")
        .await;
    h.switch_to(&ours).await;
    h.wait_text("status", "signed-out").await;
    assert_eq!(h.text("event").await, "storage");
    assert_eq!(h.text("loaded").await, loaded, "our tab reloaded");
}
