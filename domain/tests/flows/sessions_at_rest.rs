//! Issue 11 §7: database session tokens are stored as `sha256:<hex>`; a stored key is
//! never a cookie.

use super::*;
use portcullis_domain::model::{Session, User};
use portcullis_domain::secret::SecretString;
use portcullis_domain::session_key::hashed_key;
use portcullis_domain::store::{StoreOp, StoreReply};
use portcullis_domain::SessionStrategy;

const COOKIE: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

fn engine() -> Engine {
    Engine::new(
        Config::builder()
            .url("https://example.com/api/auth")
            .secret(SECRET)
            .hooks(HookSet::default())
            .session_strategy(SessionStrategy::Database)
            .build()
            .unwrap(),
    )
}

fn read(engine: &Engine, cookie: &str, answer: impl FnMut(&Effect) -> Outcome) -> Record {
    let request = http::Request::get("/api/auth/session")
        .header(
            "cookie",
            format!("__Secure-next-auth.session-token={cookie}"),
        )
        .body(Bytes::new())
        .unwrap();
    drive(engine, request, 8, answer)
}

/// A reader of the sessions table copies a stored key into a cookie. It is refused
/// before any lookup, so the raw arm of the lookup can never match a hashed row.
#[test]
fn a_stored_key_presented_as_a_cookie_is_never_looked_up() {
    let engine = engine();
    let stored = hashed_key(COOKIE);
    let record = read(&engine, &stored, |effect| {
        panic!("a stored key must not reach the store: {effect:?}")
    });
    assert_eq!(record.body, "{}");
    assert!(record
        .headers
        .iter()
        .any(|(k, v)| k == "set-cookie" && v.contains("Max-Age=0")));

    let (token, csrf_cookie) = csrf(&engine);
    let request = http::Request::post("/api/auth/signout")
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "cookie",
            format!("{csrf_cookie}; __Secure-next-auth.session-token={stored}"),
        )
        .body(Bytes::from(format!("csrfToken={token}&json=true")))
        .unwrap();
    let signed_out = drive(&engine, request, 9, |effect| {
        panic!("sign-out with a stored key must not reach the store: {effect:?}")
    });
    assert_eq!(signed_out.status, 200);
}

/// The lookup asks for both candidates of the cookie at once; the extension is written
/// under the key the store says matched (here: a hashed row).
#[test]
fn a_hashed_row_is_found_and_extended_by_its_stored_key() {
    let stored = hashed_key(COOKIE);
    let mut updated = None;
    let record = read(&engine(), COOKIE, |effect| match effect {
        Effect::Store(StoreOp::GetSessionAndUser(keys)) => {
            assert_eq!(keys.exposed(), [stored.as_str(), COOKIE]);
            Outcome::Store(Ok(StoreReply::MaybeSessionAndUser(Some((
                Session {
                    session_token: SecretString::new(stored.clone()),
                    user_id: "1".into(),
                    expires: NOW + time::Duration::days(2),
                    access_token: SecretString::new("acc"),
                    created: None,
                },
                User {
                    id: "1".into(),
                    name: Some("Jane".into()),
                    email: None,
                    email_verified: None,
                    image: None,
                },
            )))))
        }
        Effect::Store(StoreOp::UpdateSessionExpiry { session_token, .. }) => {
            updated = Some(session_token.expose().to_owned());
            Outcome::Store(Ok(StoreReply::Done))
        }
        other => panic!("unexpected {other:?}"),
    });
    assert_eq!(updated.as_deref(), Some(stored.as_str()));
    assert_eq!(
        serde_json::from_str::<Value>(&record.body).unwrap()["user"]["name"],
        "Jane"
    );
    let set_cookie = record
        .headers
        .iter()
        .find(|(k, v)| k == "set-cookie" && v.contains("session-token="))
        .unwrap();
    assert!(
        set_cookie.1.contains(&format!("session-token={COOKIE};")),
        "the browser keeps its token, never the stored key: {}",
        set_cookie.1
    );
}

/// Signs a new user in by e-mail link; returns the stored key and the cookie's value.
fn new_session(engine: &Engine) -> (String, String) {
    let mut stored = None;
    let record = {
        let request =
            http::Request::get("/api/auth/callback/email?email=jane%40example.com&token=abc")
                .body(Bytes::new())
                .unwrap();
        drive(engine, request, 11, |effect| match effect {
            Effect::Store(StoreOp::UseVerificationToken { identifier, .. }) => {
                Outcome::Store(Ok(StoreReply::MaybeVerificationToken(Some(
                    portcullis_domain::model::VerificationToken {
                        identifier: identifier.clone(),
                        token_hash: "h".into(),
                        expires: NOW + time::Duration::seconds(60),
                    },
                ))))
            }
            Effect::Store(StoreOp::GetUserByEmail(_)) => {
                Outcome::Store(Ok(StoreReply::MaybeUser(None)))
            }
            Effect::Store(StoreOp::CreateUser(new)) => {
                Outcome::Store(Ok(StoreReply::User(new.clone().with_id("9"))))
            }
            Effect::Store(StoreOp::CreateSession(session)) => {
                stored = Some(session.session_token.expose().to_owned());
                Outcome::Store(Ok(StoreReply::Session(session.clone())))
            }
            Effect::Throttle(_) => Outcome::Throttle(true),
            other => panic!("unexpected {other:?}"),
        })
    };
    let cookie = record
        .headers
        .iter()
        .find_map(|(k, v)| {
            (k == "set-cookie")
                .then(|| v.strip_prefix("__Secure-next-auth.session-token="))
                .flatten()
        })
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    (stored.unwrap(), cookie)
}

fn email_engine(storage: Option<portcullis_domain::session_key::SessionTokenStorage>) -> Engine {
    let mut config = Config::builder()
        .url("https://example.com/api/auth")
        .secret(SECRET)
        .store(true)
        .session_strategy(SessionStrategy::Database)
        .provider(Provider::email("email", "Email", 600));
    if let Some(storage) = storage {
        config = config.session_token_storage(storage);
    }
    Engine::new(config.build().unwrap())
}

#[test]
fn a_new_session_is_stored_as_the_sha256_of_its_cookie() {
    let (stored, cookie) = new_session(&email_engine(None));
    assert_eq!(cookie.len(), 64, "the cookie is v3's shape: {cookie}");
    assert!(cookie.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(stored, hashed_key(&cookie));
    assert_ne!(stored, cookie);
}

/// For a database NextAuth v3 still serves: v3 reads the token itself.
#[test]
fn raw_storage_keeps_the_token_as_v3_does() {
    let (stored, cookie) = new_session(&email_engine(Some(
        portcullis_domain::session_key::SessionTokenStorage::Raw,
    )));
    assert_eq!(stored, cookie);
}
