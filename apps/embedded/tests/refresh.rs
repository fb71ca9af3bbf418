//! Refresh-token rotation through `Portcullis::provider_access_token`, against a token
//! endpoint on loopback that rotates strictly (a used refresh token is retired) and counts
//! its calls, with the embedded sled store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/token_endpoint.rs"]
mod token_endpoint;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use portcullis::{AccessTokenError, Clock, OAuthProvider, Portcullis, Store};
use portcullis_domain::model::{Account, NewUser};
use portcullis_domain::secret::SecretString;
use rand_chacha::rand_core::SeedableRng;
use time::OffsetDateTime;

use token_endpoint::{start_provider, Provider};

const SECRET: &str = "a-test-secret-of-at-least-32-bytes-long";

struct FixedClock(OffsetDateTime);

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        self.0
    }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

struct Setup {
    app: Portcullis,
    store: Arc<dyn Store>,
    provider: Arc<Provider>,
    user_id: String,
    _dir: tempfile::TempDir,
}

async fn setup(access_expires: OffsetDateTime, refresh: Option<&str>) -> Setup {
    setup_with(access_expires, refresh, false).await
}

async fn setup_with(
    access_expires: OffsetDateTime,
    refresh: Option<&str>,
    encrypt_provider_tokens: bool,
) -> Setup {
    let provider = Arc::new(Provider::default());
    *provider.current_refresh.lock().unwrap() = refresh.unwrap_or_default().to_owned();
    let origin = start_provider(provider.clone()).await;
    let mut oauth = OAuthProvider::oauth2("cid", "csecret");
    oauth.endpoints.authorization = Some(format!("{origin}/authorize"));
    oauth.endpoints.token = Some(format!("{origin}/token"));
    oauth.endpoints.userinfo = Some(format!("{origin}/me"));
    let dir = tempfile::TempDir::new().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(portcullis_store_sled::SledStore::open(dir.path().join("db")).unwrap());
    let user = store
        .create_user(NewUser {
            email: Some("jane@example.com".into()),
            ..NewUser::default()
        })
        .await
        .unwrap();
    store
        .link_account(Account {
            user_id: user.id.clone(),
            provider_type: "oauth".into(),
            provider_id: "corp".into(),
            provider_account_id: "jane-at-corp".into(),
            refresh_token: refresh.map(SecretString::from),
            access_token: Some("at-0".into()),
            access_token_expires: Some(access_expires),
            token_type: Some("Bearer".into()),
            scope: Some("api".into()),
            id_token: None,
        })
        .await
        .unwrap();
    let app = Portcullis::builder()
        .url("http://localhost:3000/api/auth")
        // The provider runs on 127.0.0.1.
        .allow_private_network(true)
        .secret(SECRET)
        .oauth("corp", "Corp", oauth)
        .store(store.clone())
        .clock(Arc::new(FixedClock(now())))
        .configure(move |c| c.encrypt_provider_tokens(encrypt_provider_tokens))
        .build()
        .unwrap();
    Setup {
        app,
        store,
        provider,
        user_id: user.id,
        _dir: dir,
    }
}

async fn stored_refresh(setup: &Setup) -> Option<String> {
    setup
        .store
        .get_account("corp", "jane-at-corp")
        .await
        .unwrap()
        .unwrap()
        .refresh_token
        .map(|t| t.expose().to_owned())
}

#[tokio::test]
async fn a_valid_token_is_returned_without_asking_the_provider() {
    let setup = setup(now() + time::Duration::hours(1), Some("rt-0")).await;
    let token = setup
        .app
        .provider_access_token(&setup.user_id, "corp")
        .await
        .unwrap();
    assert_eq!(token.access_token.expose(), "at-0");
    assert_eq!(setup.provider.calls.load(Ordering::SeqCst), 0);
    assert!(!format!("{token:?}").contains("at-0"));
}

#[tokio::test]
async fn concurrent_callers_share_one_refresh_and_the_rotated_token_is_stored() {
    let setup = setup(now() - time::Duration::minutes(1), Some("rt-0")).await;
    let calls: Vec<_> = (0..8)
        .map(|_| setup.app.provider_access_token(&setup.user_id, "corp"))
        .collect();
    let tokens = futures::future::join_all(calls).await;
    assert_eq!(
        setup.provider.calls.load(Ordering::SeqCst),
        1,
        "one refresh"
    );
    for token in &tokens {
        let token = token.as_ref().unwrap();
        assert_eq!(token.access_token.expose(), "at-1");
        assert_eq!(token.expires, Some(now() + time::Duration::hours(1)));
    }
    assert_eq!(stored_refresh(&setup).await.as_deref(), Some("rt-1"));
    // Valid now: no further refresh.
    setup
        .app
        .provider_access_token(&setup.user_id, "corp")
        .await
        .unwrap();
    assert_eq!(setup.provider.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn two_instances_sharing_a_store_end_on_the_same_rotated_token() {
    let setup = setup(now() - time::Duration::minutes(1), Some("rt-0")).await;
    // A second instance (another process) with its own in-process locks.
    let corp = setup.app.config().provider("corp").unwrap().clone();
    let other = Portcullis::builder()
        .url("http://localhost:3000/api/auth")
        // The provider runs on 127.0.0.1.
        .allow_private_network(true)
        .secret(SECRET)
        .configure(move |c| c.provider(corp))
        .store(setup.store.clone())
        .clock(Arc::new(FixedClock(now())))
        .build()
        .unwrap();
    let (a, b) = tokio::join!(
        setup.app.provider_access_token(&setup.user_id, "corp"),
        other.provider_access_token(&setup.user_id, "corp"),
    );
    // The store's lease lets one of the two renew; the other waits and reads its result.
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.access_token, b.access_token);
    assert_eq!(
        setup.provider.calls.load(Ordering::SeqCst),
        1,
        "the refresh token is spent once"
    );
    let winner = a;
    let stored = stored_refresh(&setup).await.unwrap();
    assert_eq!(
        stored,
        *setup.provider.current_refresh.lock().unwrap(),
        "the store holds the refresh token the provider accepts next"
    );
    for app in [&setup.app, &other] {
        let again = app
            .provider_access_token(&setup.user_id, "corp")
            .await
            .unwrap();
        assert_eq!(again.access_token, winner.access_token);
    }
}

#[tokio::test]
async fn a_refused_refresh_is_an_error_and_changes_nothing() {
    let setup = setup(now() - time::Duration::minutes(1), Some("rt-0")).await;
    *setup.provider.refuse.lock().unwrap() = true;
    let error = setup
        .app
        .provider_access_token(&setup.user_id, "corp")
        .await
        .unwrap_err();
    assert!(matches!(error, AccessTokenError::Refused(_)), "{error:?}");
    assert!(!error.to_string().contains("rt-0"));
    assert_eq!(stored_refresh(&setup).await.as_deref(), Some("rt-0"));
}

#[tokio::test]
async fn without_a_refresh_token_or_an_account_there_is_a_clear_error() {
    let setup = setup(now() - time::Duration::minutes(1), None).await;
    assert_eq!(
        setup
            .app
            .provider_access_token(&setup.user_id, "corp")
            .await
            .unwrap_err(),
        AccessTokenError::NotRenewable
    );
    assert_eq!(
        setup
            .app
            .provider_access_token("nobody", "corp")
            .await
            .unwrap_err(),
        AccessTokenError::NotLinked
    );
    assert_eq!(
        setup
            .app
            .provider_access_token(&setup.user_id, "github")
            .await
            .unwrap_err(),
        AccessTokenError::UnknownProvider("github".into())
    );
    assert_eq!(setup.provider.calls.load(Ordering::SeqCst), 0);
}

/// JWT sessions keeping provider tokens: two session reads at once, with the access token
/// expired, spend the refresh token once; both answers carry the renewed access token.
#[tokio::test]
async fn concurrent_session_reads_renew_the_provider_token_once() {
    let setup = setup(now() - time::Duration::minutes(1), Some("rt-0")).await;
    let corp = setup.app.config().provider("corp").unwrap().clone();
    let app = Portcullis::builder()
        .url("http://localhost:3000/api/auth")
        // The provider runs on 127.0.0.1.
        .allow_private_network(true)
        .secret(SECRET)
        .configure(move |c| {
            c.provider(corp)
                .jwt_encryption(true)
                .provider_tokens_in_jwt(true)
        })
        .clock(Arc::new(FixedClock(now())))
        .build()
        .unwrap();
    let mut claims = portcullis::Claims::new();
    for (claim, value) in [
        ("name", serde_json::json!("Jane")),
        ("sub", serde_json::json!("42")),
        ("provider", serde_json::json!("corp")),
        ("accessToken", serde_json::json!("at-0")),
        (
            "accessTokenExpires",
            serde_json::json!((now().unix_timestamp() - 60) * 1000),
        ),
        ("refreshToken", serde_json::json!("rt-0")),
    ] {
        claims.insert(claim.into(), value);
    }
    let keys = portcullis_domain::jwt::JwtKeys::derive(&[SecretString::from(SECRET)]).unwrap();
    let settings = portcullis_domain::jwt::JwtSettings {
        max_age: 3600,
        encryption: true,
    };
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let token =
        portcullis_domain::jwt::encode(&keys, &claims, &settings, now().unix_timestamp(), &mut rng)
            .unwrap();
    let read = || {
        let request = http::Request::get("/api/auth/session")
            .header("cookie", format!("next-auth.session-token={token}"))
            .body(bytes::Bytes::new())
            .unwrap();
        app.handle(request)
    };
    let (a, b) = tokio::join!(read(), read());
    assert_eq!(
        setup.provider.calls.load(Ordering::SeqCst),
        1,
        "one refresh"
    );
    for response in [a, b] {
        let session: serde_json::Value = serde_json::from_str(response.body()).unwrap();
        assert_eq!(session["accessToken"], "at-1", "{session}");
        assert!(session.get("error").is_none(), "{session}");
        assert!(
            !response.body().contains("rt-"),
            "the refresh token stays inside"
        );
    }
}

/// Data at rest (issue 11 §7): with `encrypt_provider_tokens`, a plain row (from before, or
/// from NextAuth v3) still reads and renews; renewed tokens are stored as `enc:v1:…`, never
/// in the clear; the app gets them in the clear; and the next renewal decrypts the stored
/// refresh token for the provider, while the compare-and-set uses its stored form.
#[tokio::test]
async fn encrypted_provider_tokens_are_stored_sealed_and_still_renew() {
    use portcullis_domain::model::AccountTokens;
    let past = now() - time::Duration::minutes(5);
    let setup = setup_with(past, Some("rt-0"), true).await;
    let token = setup
        .app
        .provider_access_token(&setup.user_id, "corp")
        .await
        .unwrap();
    assert_eq!(token.access_token.expose(), "at-1");
    let row = setup
        .store
        .get_account("corp", "jane-at-corp")
        .await
        .unwrap()
        .unwrap();
    let (access, refresh) = (
        row.access_token.clone().unwrap(),
        row.refresh_token.clone().unwrap(),
    );
    for (stored, clear) in [(&access, "at-1"), (&refresh, "rt-1")] {
        assert!(stored.expose().starts_with("enc:v1:"), "stored sealed");
        assert!(!stored.expose().contains(clear), "never in the clear");
    }

    // Expire the stored access token (keeping the sealed values), then renew again: the
    // provider must receive the decrypted refresh token `rt-1`.
    let expired = AccountTokens {
        access_token_expires: Some(past),
        ..AccountTokens::from(&row)
    };
    assert!(setup
        .store
        .update_account_tokens("corp", "jane-at-corp", Some(refresh.expose()), expired)
        .await
        .unwrap()
        .is_some());
    let token = setup
        .app
        .provider_access_token(&setup.user_id, "corp")
        .await
        .unwrap();
    assert_eq!(token.access_token.expose(), "at-2");
    assert_eq!(setup.provider.calls.load(Ordering::SeqCst), 2);
    let refresh = stored_refresh(&setup).await.unwrap();
    assert!(refresh.starts_with("enc:v1:") && !refresh.contains("rt-2"));
}
