//! The token endpoint: client authentication, the code exchange with PKCE, refresh, and the
//! claims of the ID tokens it mints.

use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

use super::reply::{json_reply, oauth_error, Reply};
use super::{id_token, Seen, State};

/// The client of a token request, if its secret is right (form fields or HTTP Basic).
fn client(state: &State, seen: &Seen) -> Option<String> {
    use base64::Engine as _;
    let (id, secret) = match seen
        .header("authorization")
        .and_then(|h| h.strip_prefix("Basic "))
    {
        Some(basic) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(basic)
                .ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let (id, secret) = text.split_once(':')?;
            let unescape = |s: &str| {
                form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            (unescape(id), unescape(secret))
        }
        None => (
            seen.param("client_id")?.to_owned(),
            seen.param("client_secret")?.to_owned(),
        ),
    };
    (state.clients.get(&id) == Some(&secret)).then_some(id)
}

pub(super) fn token(state: &mut State, seen: &Seen) -> Reply {
    let Some(client_id) = client(state, seen) else {
        return oauth_error(401, "invalid_client");
    };
    match seen.param("grant_type") {
        Some("refresh_token") => refresh(state, seen),
        // GitHub's preset sends no grant_type, as v3 did; GitHub accepts that.
        Some("authorization_code") | None => exchange(state, seen, &client_id),
        Some(_) => oauth_error(400, "unsupported_grant_type"),
    }
}

fn exchange(state: &mut State, seen: &Seen, client_id: &str) -> Reply {
    let Some(grant) = seen.param("code").and_then(|c| state.codes.get_mut(c)) else {
        return oauth_error(400, "invalid_grant");
    };
    let pkce_ok = match (&grant.challenge, seen.param("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            use base64::Engine as _;
            let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(Sha256::digest(verifier.as_bytes()));
            &computed == challenge
        }
        (Some(_), None) => false,
        (None, _) => true,
    };
    if grant.used
        || grant.client_id != client_id
        || seen.param("redirect_uri") != Some(grant.redirect_uri.as_str())
        || !pkce_ok
    {
        return oauth_error(400, "invalid_grant");
    }
    grant.used = true;
    let grant = grant.clone();
    if let Some(body) = state.token_body.clone() {
        return json_reply(200, &body);
    }
    let mut answer = tokens(state);
    answer.insert("scope".into(), grant.scope.clone().into());
    if grant.scope.split(' ').any(|s| s == "openid") {
        let claims = id_claims(state, client_id, grant.nonce.as_deref());
        let jwt = id_token::mint(&state.signing, &claims);
        state.issued.push(jwt.clone());
        answer.insert("id_token".into(), jwt.into());
    }
    json_reply(200, &Value::Object(answer))
}

/// A fresh access token and refresh token.
fn tokens(state: &mut State) -> Map<String, Value> {
    let access = state.fresh("at");
    let refresh = state.fresh("rt");
    state.access_tokens.push(access.clone());
    state.refresh_tokens.push(refresh.clone());
    let answer = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": state.expires_in,
        "refresh_token": refresh,
    });
    answer.as_object().cloned().unwrap_or_default()
}

fn refresh(state: &mut State, seen: &Seen) -> Reply {
    let Some(old) = seen.param("refresh_token").map(str::to_owned) else {
        return oauth_error(400, "invalid_request");
    };
    if state.refuse_refresh || state.revoked.contains(&old) || !state.refresh_tokens.contains(&old)
    {
        return oauth_error(400, "invalid_grant");
    }
    // Rotation: the old refresh token is spent.
    state.revoked.insert(old);
    json_reply(200, &Value::Object(tokens(state)))
}

fn id_claims(state: &State, client_id: &str, nonce: Option<&str>) -> Map<String, Value> {
    let now = state.now();
    let mut claims = state.user.clone();
    claims.insert("iss".into(), state.origin.clone().into());
    claims.insert("aud".into(), client_id.into());
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), (now + 3600).into());
    if let Some(nonce) = nonce {
        claims.insert("nonce".into(), nonce.into());
    }
    for (k, v) in &state.id_token_claims {
        if v.is_null() {
            claims.remove(k);
        } else {
            claims.insert(k.clone(), v.clone());
        }
    }
    claims
}
