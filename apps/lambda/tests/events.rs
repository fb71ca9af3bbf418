//! The function's handler, fed the JSON events API Gateway (REST and HTTP API) and an
//! Application Load Balancer send, parsed by `lambda_http` as the runtime parses them:
//! CSRF, credentials sign-in, session, sign-out and an error page, for each source.
//! (`emulator.rs` runs the built binary under cargo-lambda's Lambda emulator.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use http::StatusCode;
use lambda_http::Body;
use portcullis::Portcullis;
use serde_json::{json, Value};
use tempfile::TempDir;

const SECRET: &str = "lambda-test-secret-5Kq8Rz2Wm7Tv4Xn9Pb3Hd6Js";
const PASSWORD: &str = "correct horse battery staple";
const HOST: &str = "abc123.execute-api.eu-west-1.amazonaws.com";
const CLIENT_IP: &str = "203.0.113.7";

/// Where an event comes from: each has its own JSON shape.
#[derive(Clone, Copy, Debug)]
enum Source {
    /// API Gateway REST API (payload v1), deployed on the stage `prod`.
    RestApi,
    /// API Gateway HTTP API or a function URL (payload v2), `$default` stage.
    HttpApi,
    /// An Application Load Balancer target group with multi-value headers on.
    Alb,
}

impl Source {
    /// The public URL of the auth routes: REST APIs keep the stage in the path.
    fn base_url(self) -> String {
        match self {
            Source::RestApi => format!("https://{HOST}/prod/api/auth"),
            Source::HttpApi | Source::Alb => format!("https://{HOST}/api/auth"),
        }
    }

    /// The event for one request. `path` is below the host, as the browser asked for it
    /// (with the stage for a REST API); `cookies` are `name=value` pairs.
    fn event(self, method: &str, path: &str, cookies: &[String], form: Option<&str>) -> String {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let cookie = cookies.join("; ");
        let mut headers = json!({
            "host": HOST,
            "x-forwarded-proto": "https",
            "x-forwarded-for": CLIENT_IP,
        });
        if form.is_some() {
            headers["content-type"] = json!("application/x-www-form-urlencoded");
        }
        let body = form.map_or(Value::Null, |form| json!(form));
        let event = match self {
            Source::RestApi => {
                let path = path
                    .strip_prefix("/prod")
                    .expect("REST API paths carry the stage");
                if !cookie.is_empty() {
                    headers["cookie"] = json!(cookie);
                }
                json!({
                    "resource": "/{proxy+}",
                    "path": path,
                    "httpMethod": method,
                    "headers": headers,
                    "multiValueHeaders": multi_value(&headers),
                    "queryStringParameters": query_map(query),
                    "multiValueQueryStringParameters": multi_value(&query_map(query)),
                    "requestContext": {
                        "accountId": "123456789012",
                        "resourceId": "us4z18",
                        "stage": "prod",
                        "requestId": "41b45ea3-70b5-11e6-b7bd-69b5aaebc7d9",
                        "identity": { "sourceIp": CLIENT_IP },
                        "resourcePath": "/{proxy+}",
                        "httpMethod": method,
                        "apiId": "abc123",
                    },
                    "body": body,
                    "isBase64Encoded": false,
                })
            }
            Source::HttpApi => json!({
                "version": "2.0",
                "routeKey": "$default",
                "rawPath": path,
                "rawQueryString": query,
                // Payload v2 carries the cookies apart from the headers.
                "cookies": cookies,
                "headers": headers,
                "requestContext": {
                    "accountId": "123456789012",
                    "apiId": "abc123",
                    "domainName": HOST,
                    "http": {
                        "method": method,
                        "path": path,
                        "protocol": "HTTP/1.1",
                        "sourceIp": CLIENT_IP,
                        "userAgent": "test",
                    },
                    "requestId": "MIZRNhJtIAMEMDw=",
                    "routeKey": "$default",
                    "stage": "$default",
                    "time": "06/May/2020:22:36:55 +0000",
                    "timeEpoch": 1588804615616u64,
                },
                "body": body,
                "isBase64Encoded": false,
            }),
            Source::Alb => {
                if !cookie.is_empty() {
                    headers["cookie"] = json!(cookie);
                }
                json!({
                    "requestContext": { "elb": { "targetGroupArn":
                        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/auth/6d0ecf831eec9f09" } },
                    "httpMethod": method,
                    "path": path,
                    "multiValueQueryStringParameters": multi_value(&query_map(query)),
                    "multiValueHeaders": multi_value(&headers),
                    "body": body,
                    "isBase64Encoded": false,
                })
            }
        };
        event.to_string()
    }
}

fn query_map(query: &str) -> Value {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), json!(v)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn multi_value(map: &Value) -> Value {
    map.as_object()
        .map(|map| {
            map.iter()
                .map(|(k, v)| (k.clone(), json!([v])))
                .collect::<serde_json::Map<_, _>>()
        })
        .unwrap_or_default()
        .into()
}

/// The engine as `main` builds it, from the environment alone (inline TOML, no database),
/// and a browser's cookie jar.
struct Function {
    source: Source,
    engine: Portcullis,
    jar: BTreeMap<String, String>,
    _dir: TempDir,
}

impl Function {
    async fn new(source: Source) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users.toml");
        std::fs::write(
            &users,
            format!(
                "[[users]]\nusername = \"jane\"\npassword_hash = \"{}\"\nname = \"Jane\"\nemail = \"jane@example.com\"\nid = \"user-1\"\n",
                cheap_hash(PASSWORD)
            ),
        )
        .unwrap();
        let toml = format!(
            "[[providers]]\ntype = \"credentials\"\nid = \"credentials\"\nname = \"Credentials\"\nusers_file = \"{}\"\n",
            users.display()
        );
        let base_url = source.base_url();
        let env = move |name: &str| match name {
            "PORTCULLIS_CONFIG_TOML" => Some(toml.clone()),
            "NEXTAUTH_URL" => Some(base_url.clone()),
            "NEXTAUTH_SECRET" => Some(SECRET.to_owned()),
            _ => None,
        };
        let config = portcullis_lambda::config_from_env(&env).unwrap();
        assert!(config.stateless, "no database: JWT sessions and no disk");
        let app = portcullis_server::app::open(&config, false, true)
            .await
            .unwrap();
        Function {
            source,
            engine: app.portcullis,
            jar: BTreeMap::new(),
            _dir: dir,
        }
    }

    /// Sends one event and keeps the cookies the answer sets, as a browser would.
    async fn send(
        &mut self,
        method: &str,
        path: &str,
        form: Option<&str>,
    ) -> http::Response<String> {
        let cookies: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let event = self.source.event(method, path, &cookies, form);
        let request = lambda_http::request::from_str(&event).unwrap();
        let response = portcullis_lambda::respond(&self.engine, request).await;
        for set in response.headers().get_all(http::header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || attributes.to_ascii_lowercase().contains("max-age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
        let (parts, body) = response.into_parts();
        let body = match body {
            Body::Text(text) => text,
            other => panic!("a text body, not {other:?}"),
        };
        http::Response::from_parts(parts, body)
    }

    fn path(&self, route: &str) -> String {
        let base = self.source.base_url();
        let base_path = base.strip_prefix(&format!("https://{HOST}")).unwrap();
        format!("{base_path}{route}")
    }

    async fn json(&mut self, method: &str, route: &str, form: Option<&str>) -> Value {
        let path = self.path(route);
        let response = self.send(method, &path, form).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{method} {route}: {}",
            response.body()
        );
        serde_json::from_str(response.body()).unwrap()
    }
}

fn cheap_hash(password: &str) -> String {
    let params = Params::new(Params::MIN_M_COST, 1, 1, None).unwrap();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string()
}

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// csrf → credentials sign-in → session → sign-out → no session, then an error page.
async fn sign_in_and_out(source: Source) {
    let mut function = Function::new(source).await;
    let base = source.base_url();

    let csrf = function.json("GET", "/csrf", None).await["csrfToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        function.jar.contains_key("__Host-next-auth.csrf-token"),
        "an https site gets the __Host- CSRF cookie: {:?}",
        function.jar.keys()
    );

    let wrong = form(&[
        ("csrfToken", &csrf),
        ("username", "jane"),
        ("password", "wrong"),
        ("json", "true"),
    ]);
    let path = function.path("/callback/credentials");
    let refused = function.send("POST", &path, Some(&wrong)).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let refused: Value = serde_json::from_str(refused.body()).unwrap();
    assert_eq!(
        refused["url"],
        json!(format!(
            "{base}/error?error=CredentialsSignin&provider=credentials"
        ))
    );
    assert!(!function
        .jar
        .contains_key("__Secure-next-auth.session-token"));

    let right = form(&[
        ("csrfToken", &csrf),
        ("username", "jane"),
        ("password", PASSWORD),
        ("json", "true"),
    ]);
    let signed_in = function
        .json("POST", "/callback/credentials", Some(&right))
        .await;
    // v3 lands on the site's origin (`baseUrl`) when no callbackUrl was given.
    assert_eq!(signed_in["url"], json!(format!("https://{HOST}")));
    assert!(function
        .jar
        .contains_key("__Secure-next-auth.session-token"));

    let session = function.json("GET", "/session", None).await;
    assert_eq!(session["user"]["name"], json!("Jane"));
    assert_eq!(session["user"]["email"], json!("jane@example.com"));

    let signed_out = function
        .json(
            "POST",
            "/signout",
            Some(&form(&[("csrfToken", &csrf), ("json", "true")])),
        )
        .await;
    assert!(signed_out["url"].is_string());
    assert!(
        !function
            .jar
            .contains_key("__Secure-next-auth.session-token"),
        "sign-out clears the session cookie"
    );
    assert_eq!(function.json("GET", "/session", None).await, json!({}));

    let path = function.path("/error?error=Verification");
    let error = function.send("GET", &path, None).await;
    assert_eq!(error.status(), StatusCode::FORBIDDEN);
    assert!(
        error.body().contains("Unable to sign in"),
        "{}",
        error.body()
    );
}

#[tokio::test]
async fn api_gateway_rest_api_events_sign_in_and_out() {
    sign_in_and_out(Source::RestApi).await;
}

#[tokio::test]
async fn api_gateway_http_api_events_sign_in_and_out() {
    sign_in_and_out(Source::HttpApi).await;
}

#[tokio::test]
async fn load_balancer_events_sign_in_and_out() {
    sign_in_and_out(Source::Alb).await;
}

#[tokio::test]
async fn a_path_outside_the_auth_routes_is_not_found() {
    let mut function = Function::new(Source::HttpApi).await;
    let response = function.send("GET", "/elsewhere", None).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[test]
fn the_inline_configuration_wins_over_the_file_and_the_environment_completes_it() {
    let env = |name: &str| match name {
        "PORTCULLIS_CONFIG_TOML" => Some("url = \"https://a.example/api/auth\"\n".to_owned()),
        "PORTCULLIS_CONFIG" => Some("/nonexistent/portcullis.toml".to_owned()),
        "NEXTAUTH_SECRET" => Some(SECRET.to_owned()),
        _ => None,
    };
    let config = portcullis_lambda::config_from_env(&env).unwrap();
    assert!(config.stateless);
}

#[test]
fn a_broken_inline_configuration_is_an_error_not_a_default() {
    let env = |name: &str| match name {
        "PORTCULLIS_CONFIG_TOML" => Some("url = ".to_owned()),
        "NEXTAUTH_SECRET" => Some(SECRET.to_owned()),
        _ => None,
    };
    let error = portcullis_lambda::config_from_env(&env)
        .unwrap_err()
        .to_string();
    assert!(error.contains("PORTCULLIS_CONFIG_TOML"), "{error}");
}

#[test]
fn a_database_url_keeps_sessions_in_the_database() {
    let env = |name: &str| match name {
        "PORTCULLIS_CONFIG_TOML" => Some(
            "url = \"https://a.example/api/auth\"\ndatabase = \"postgres://localhost/test\"\n"
                .to_owned(),
        ),
        "NEXTAUTH_SECRET" => Some(SECRET.to_owned()),
        _ => None,
    };
    let config = portcullis_lambda::config_from_env(&env).unwrap();
    assert!(!config.stateless);
}
