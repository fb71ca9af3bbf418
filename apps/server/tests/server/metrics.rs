//! `[metrics]` (issue 12 §3): the Prometheus endpoint of the real binary, on a listener of
//! its own or behind a bearer token on the main one, counting what requests did.

use std::collections::HashMap;

use reqwest::StatusCode;
use tempfile::TempDir;

use crate::ops::{base_config, serve, serve_logged, stop};
use crate::support::{client, cookie_header, set_cookies, write_users, PASSWORD};

const TOKEN: &str = "metrics-token-6Gd9Kq2Vx8Lm4Rt7";

fn config(dir: &std::path::Path, metrics: &str) -> String {
    let users = write_users(dir);
    format!(
        "{}\n[[providers]]\ntype = \"credentials\"\nid = \"credentials\"\nname = \"Credentials\"\nusers_file = \"{}\"\n\n[metrics]\n{metrics}\n",
        base_config(dir),
        users.display()
    )
}

/// A credentials sign-in: returns the status and the cookies it set.
async fn sign_in(
    http: &reqwest::Client,
    site: &str,
    username: &str,
    password: &str,
) -> (StatusCode, HashMap<String, String>) {
    let res = http
        .get(format!("{site}/api/auth/csrf"))
        .send()
        .await
        .unwrap();
    let mut jar = set_cookies(&res);
    let csrf = res.json::<serde_json::Value>().await.unwrap()["csrfToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = http
        .post(format!("{site}/api/auth/callback/credentials"))
        .header("cookie", cookie_header(&jar))
        .form(&[
            ("csrfToken", csrf.as_str()),
            ("username", username),
            ("password", password),
            ("json", "true"),
        ])
        .send()
        .await
        .unwrap();
    let status = res.status();
    jar.extend(set_cookies(&res));
    (status, jar)
}

#[tokio::test]
async fn metrics_on_their_own_listener_count_sign_ins_session_reads_and_refusals() {
    let dir = TempDir::new().unwrap();
    let (child, addrs) = serve_logged(
        dir.path(),
        &config(dir.path(), "listen = \"127.0.0.1:0\""),
        &[("PORT", "0"), ("HOST", "127.0.0.1")],
    );
    let site = format!("http://{}", addrs["listening"]);
    let scrape = format!("http://{}/metrics", addrs["metrics listening"]);
    let http = client();

    let (status, _) = sign_in(&http, &site, "jane", "wrong password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, jar) = sign_in(&http, &site, "jane", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    let session = http
        .get(format!("{site}/api/auth/session"))
        .header("cookie", cookie_header(&jar))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(session.contains("Jane"), "{session}");
    http.get(format!("{site}/api/auth/session"))
        .send()
        .await
        .unwrap();
    // `bob` may fail 10 times in 5 minutes (default); the 11th is refused by the limit.
    for _ in 0..11 {
        sign_in(&http, &site, "bob", "not bob's").await;
    }

    let res = http.get(&scrape).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = res.text().await.unwrap();
    for line in [
        "portcullis_sign_ins_total{provider=\"credentials\",outcome=\"ok\"} 1",
        "portcullis_sign_ins_total{provider=\"credentials\",outcome=\"CredentialsSignin\"} 12",
        "portcullis_session_reads_total{result=\"signed_in\"} 1",
        "portcullis_session_reads_total{result=\"anonymous\"} 1",
        "portcullis_rate_limit_refusals_total{scope=\"credentials:credentials\",per=\"id\"} 1",
        "portcullis_hook_duration_seconds_count{hook=\"authorize\"} 12",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    for private in ["jane", "bob", PASSWORD, "127.0.0.1"] {
        assert!(!text.contains(private), "{private} in a label:\n{text}");
    }
    // Not on the main listener: it has a listener of its own.
    let main = http.get(format!("{site}/metrics")).send().await.unwrap();
    assert_eq!(main.status(), StatusCode::NOT_FOUND);
    assert!(stop(child).success());
}

#[tokio::test]
async fn metrics_on_the_main_listener_need_the_bearer_token() {
    let dir = TempDir::new().unwrap();
    let (child, addr) = serve(
        dir.path(),
        &config(dir.path(), ""),
        &[
            ("PORT", "0"),
            ("HOST", "127.0.0.1"),
            ("PORTCULLIS_METRICS_TOKEN", TOKEN),
        ],
    );
    let url = format!("http://{addr}/metrics");
    let http = client();
    for authorization in [None, Some("Bearer wrong-token-wrong-token"), Some(TOKEN)] {
        let mut request = http.get(&url);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let res = request.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{authorization:?}");
        assert_eq!(
            res.headers()["www-authenticate"],
            "Bearer realm=\"metrics\""
        );
    }
    let res = http
        .get(&url)
        .header("authorization", format!("Bearer {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().ends_with("# EOF\n"));
    assert!(stop(child).success());
}

#[tokio::test]
async fn metrics_are_off_by_default_and_a_short_token_is_refused() {
    let dir = TempDir::new().unwrap();
    let plain = format!("{}\n", base_config(dir.path()));
    let (child, addr) = serve(dir.path(), &plain, &[("PORT", "0"), ("HOST", "127.0.0.1")]);
    let res = client()
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(stop(child).success());

    let short =
        portcullis_server::ServerConfig::from_toml(&config(dir.path(), "token = \"short\""))
            .unwrap();
    let error = portcullis_server::build_app(&short, false)
        .unwrap_err()
        .to_string();
    assert!(error.contains("[metrics] token"), "{error}");
    assert!(
        !error.contains("short\""),
        "the token is not quoted: {error}"
    );
}
