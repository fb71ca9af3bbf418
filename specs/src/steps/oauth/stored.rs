//! Users and accounts the store holds before a scenario signs in with a provider.

use cucumber::given;
use serde_json::Value;

use super::provider;
use crate::world::AuthWorld;

#[given(expr = "the store links the {string} account of the provider's user to {string}")]
async fn store_link(w: &mut AuthWorld, id: String, email: String) {
    use portcullis_domain::model::Account;
    let sub = provider_sub(w);
    let store = w.store().await;
    let user = store
        .backend()
        .get_user_by_email(&email)
        .await
        .expect("the store reads")
        .unwrap_or_else(|| panic!("no user {email} in the store"));
    store
        .backend()
        .link_account(Account {
            user_id: user.id,
            provider_type: "oauth".into(),
            provider_id: id,
            provider_account_id: sub,
            refresh_token: None,
            access_token: None,
            access_token_expires: None,
            token_type: None,
            scope: None,
            id_token: None,
        })
        .await
        .expect("the account is linked");
}

/// The provider user's `sub`.
pub(crate) fn provider_sub(w: &AuthWorld) -> String {
    provider(w)
        .state()
        .user
        .get("sub")
        .and_then(Value::as_str)
        .expect("the provider's user has a sub")
        .to_owned()
}

#[given(expr = "I am signed in as the stored user {string}")]
async fn signed_in_as(w: &mut AuthWorld, email: String) {
    let store = w.store().await;
    let user = store
        .backend()
        .get_user_by_email(&email)
        .await
        .expect("the store reads")
        .unwrap_or_else(|| panic!("no user {email} in the store"));
    let token = if w.setup().database_sessions {
        use portcullis_domain::model::Session;
        let token = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(user.id.as_bytes()));
        let now = w.now();
        store
            .backend()
            .create_session(Session {
                session_token: token.clone().into(),
                user_id: user.id.clone(),
                expires: now + time::Duration::days(30),
                access_token: format!("{token}-access").into(),
                created: Some(now),
            })
            .await
            .expect("the session is stored");
        token
    } else {
        let now = w.now().unix_timestamp();
        let claims = serde_json::json!({
            "name": user.name, "email": user.email, "picture": null, "sub": user.id,
            "iat": now, "exp": now + 86_400,
        });
        let keys = crate::jose::derive(&w.setup().secrets[0]);
        let jws = crate::jose::sign(
            crate::jose::Alg::Hs512,
            &keys.signing,
            r#"{"alg":"HS512"}"#,
            &claims.to_string(),
        );
        if w.setup().encryption {
            crate::jose::seal(
                &keys.encryption,
                r#"{"alg":"dir","enc":"A256GCM"}"#,
                jws.as_bytes(),
            )
        } else {
            jws
        }
    };
    w.saved.insert("signed-in-as".into(), user.id);
    w.set_session_cookie(&token).await;
}
