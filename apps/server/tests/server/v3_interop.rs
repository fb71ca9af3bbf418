//! A NextAuth v3 database, as v3 left it, opened by Portcullis on SQLite, PostgreSQL and
//! MariaDB (issue 5 point 5): its live session cookie reads back as a session, and its
//! pending e-mail link signs in exactly once.

use std::process::Command;

use bytes::Bytes;
use portcullis::SessionStrategy;
use portcullis_server::config::{DatabaseUrl, EmailProviderConfig, Secrets, SmtpUrl};
use portcullis_server::{open, ProviderConfig, ServerConfig};
use portcullis_store_sql::v3_fixture::{self, load_v3_fixture};
use tempfile::TempDir;

/// A fresh, empty database on a local server, dropped again when this is dropped.
struct Scratch {
    url: String,
    drop_with: Option<(&'static str, Vec<String>)>,
    _dir: Option<TempDir>,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some((program, args)) = self.drop_with.take() {
            let _ = Command::new(program).args(args).status();
        }
    }
}

fn run(program: &str, args: &[String]) {
    let status = Command::new(program).args(args).status().unwrap_or_else(|e| {
        panic!("{program} cannot run ({e}): run `bash .ci/services` (the README's test command does)")
    });
    assert!(
        status.success(),
        "{program} {args:?} failed: run `bash .ci/services`"
    );
}

fn scratch(kind: &str) -> Scratch {
    let name = format!("portcullis_t_v3_{}_{}", std::process::id(), kind);
    match kind {
        "sqlite" => {
            let dir = TempDir::new().unwrap();
            let url = format!("sqlite://{}", dir.path().join("v3.db").display());
            Scratch {
                url,
                drop_with: None,
                _dir: Some(dir),
            }
        }
        "postgres" => {
            let psql = |sql: String| {
                vec![
                    "-h".into(),
                    "127.0.0.1".into(),
                    "-U".into(),
                    "postgres".into(),
                    "-d".into(),
                    "postgres".into(),
                    "-qc".into(),
                    sql,
                ]
            };
            run("psql", &psql(format!("DROP DATABASE IF EXISTS {name}")));
            run("psql", &psql(format!("CREATE DATABASE {name}")));
            Scratch {
                url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
                drop_with: Some((
                    "psql",
                    psql(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")),
                )),
                _dir: None,
            }
        }
        _ => {
            let mariadb = |sql: String| {
                vec![
                    "-h".into(),
                    "127.0.0.1".into(),
                    "-u".into(),
                    "root".into(),
                    "-e".into(),
                    sql,
                ]
            };
            run(
                "mariadb",
                &mariadb(format!(
                    "DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name}"
                )),
            );
            Scratch {
                url: format!("mysql://root@127.0.0.1:3306/{name}"),
                drop_with: Some((
                    "mariadb",
                    mariadb(format!("DROP DATABASE IF EXISTS {name}")),
                )),
                _dir: None,
            }
        }
    }
}

async fn get(
    app: &portcullis::Portcullis,
    path: &str,
    cookie: Option<&str>,
) -> http::Response<String> {
    let mut request = http::Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    app.handle(request.body(Bytes::new()).unwrap()).await
}

#[tokio::test]
async fn a_v3_database_keeps_its_sessions_and_links() {
    for kind in ["sqlite", "postgres", "mariadb"] {
        let db = scratch(kind);
        load_v3_fixture(&db.url)
            .await
            .unwrap_or_else(|e| panic!("{kind}: loading the v3 fixture: {e}"));
        let config = ServerConfig {
            url: Some("http://localhost:3000/api/auth".into()),
            secret: Some(Secrets::One(v3_fixture::SECRET.into())),
            database: Some(DatabaseUrl::new(db.url.clone())),
            providers: vec![ProviderConfig::Email(EmailProviderConfig {
                id: "email".into(),
                name: "Email".into(),
                smtp: Some(SmtpUrl::new("smtp://127.0.0.1:2525")),
                from: "no-reply@example.com".into(),
                max_age: 86_400,
                template: None,
            })],
            ..ServerConfig::default()
        };
        let mut config = config;
        config.session.strategy = Some(SessionStrategy::Database);
        // The fixture's session was signed in in 2021 (v3's `created_at`, now the session's
        // `created`): past the default absolute lifetime (90 days), which ends it. Off
        // here, to read v3's row as v3 did.
        config.session.absolute_max_age = Some(0);
        let app = open(&config, false, true)
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let app = app.portcullis;

        // The session v3 issued reads back, with v3's accessToken.
        let cookie = format!("next-auth.session-token={}", v3_fixture::SESSION_TOKEN);
        let res = get(&app, "/api/auth/session", Some(&cookie)).await;
        let session: serde_json::Value = serde_json::from_str(res.body()).unwrap();
        assert_eq!(
            session["user"]["name"],
            v3_fixture::ADA_NAME,
            "{kind}: {session}"
        );
        assert_eq!(
            session["accessToken"],
            v3_fixture::SESSION_ACCESS_TOKEN,
            "{kind}"
        );

        // The link v3 mailed (hashed with the app secret) signs in once.
        let link = format!(
            "/api/auth/callback/email?email={}&token={}",
            v3_fixture::EMAIL_IDENTIFIER.replace('@', "%40"),
            v3_fixture::EMAIL_TOKEN
        );
        let res = get(&app, &link, None).await;
        assert_eq!(res.status(), 302, "{kind}");
        assert_eq!(res.headers()["location"], "http://localhost:3000", "{kind}");
        let new_session = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .find(|c| c.starts_with("next-auth.session-token="))
            .unwrap();
        let res = get(&app, "/api/auth/session", Some(&new_session)).await;
        let session: serde_json::Value = serde_json::from_str(res.body()).unwrap();
        assert_eq!(session["user"]["email"], v3_fixture::GRACE_EMAIL, "{kind}");
        // `migrate` took this database over from v3, which may still serve it: the new
        // session is stored as v3 stores it (the token itself), so v3 reads it too.
        let rows = app.sessions(v3_fixture::GRACE_ID).await.unwrap();
        assert_eq!(rows.len(), 1, "{kind}");
        assert_eq!(
            format!("next-auth.session-token={}", rows[0].session_token.expose()),
            new_session,
            "{kind}: raw on a database upgraded from v3 (until hash_tokens = true)"
        );
        let again = get(&app, &link, None).await;
        assert_eq!(
            again.headers()["location"],
            "http://localhost:3000/api/auth/error?error=Verification",
            "{kind}: the v3 link is single use"
        );

        // With the default absolute lifetime, v3's session, signed in in 2021 (its
        // `created_at`), has outlived it: no session, though its `expires` is in 2037.
        config.session.absolute_max_age = None;
        let app = open(&config, false, true)
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"))
            .portcullis;
        let res = get(&app, "/api/auth/session", Some(&cookie)).await;
        assert_eq!(res.body().trim(), "{}", "{kind}");
    }
}
