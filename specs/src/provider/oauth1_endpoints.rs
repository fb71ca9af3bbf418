//! The OAuth 1.0a endpoints: request token, authorisation, access token and profile, each
//! request's signature checked.

use serde_json::Value;

use super::reply::{form_reply, json_reply, redirect, reply, Reply};
use super::{oauth1, RequestToken, Seen, State};

/// The parameters of a signed OAuth 1.0a request, or `None` when the header is missing.
fn oauth1_params(seen: &Seen) -> Option<Vec<(String, String)>> {
    let mut params = oauth1::header_params(seen.header("authorization")?)?;
    params.extend(seen.query.iter().cloned());
    params.extend(seen.form.iter().cloned());
    Some(params)
}

/// Checks a signed request; answers the consumer key and the parameters.
fn signed(
    state: &State,
    seen: &Seen,
    host: &str,
    token_secret: impl Fn(&str) -> Option<String>,
) -> Option<(String, Vec<(String, String)>)> {
    let params = oauth1_params(seen)?;
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if get("oauth_signature_method").as_deref() != Some("HMAC-SHA1")
        || get("oauth_nonce").is_none()
        || get("oauth_timestamp").is_none()
    {
        return None;
    }
    let consumer = get("oauth_consumer_key")?;
    let consumer_secret = state.clients.get(&consumer)?;
    let secret = match get("oauth_token") {
        Some(token) => token_secret(&token)?,
        None => String::new(),
    };
    let base_uri = format!("http://{host}{}", seen.path);
    oauth1::verify(&seen.method, &base_uri, &params, consumer_secret, &secret)
        .then_some((consumer, params))
}

pub(super) fn request_token(state: &mut State, seen: &Seen, host: &str) -> Reply {
    let Some((_, params)) = signed(state, seen, host, |_| None) else {
        return reply(401, "text/plain", "bad signature");
    };
    let Some(callback) = params
        .iter()
        .find(|(k, _)| k == "oauth_callback")
        .map(|(_, v)| v.clone())
    else {
        return reply(400, "text/plain", "oauth_callback is required");
    };
    let token = state.fresh("rqt");
    let secret = state.fresh("rqs");
    let verifier = state.fresh("verifier");
    state.request_tokens.insert(
        token.clone(),
        RequestToken {
            secret: secret.clone(),
            callback,
            verifier,
            used: false,
        },
    );
    form_reply(&[
        ("oauth_token", &token),
        ("oauth_token_secret", &secret),
        ("oauth_callback_confirmed", "true"),
    ])
}

pub(super) fn oauth1_authorize(state: &mut State, seen: &Seen) -> Reply {
    let Some(token) = seen.param("oauth_token") else {
        return reply(400, "text/plain", "oauth_token is required");
    };
    let Some(request) = state.request_tokens.get(token) else {
        return reply(400, "text/plain", "unknown request token");
    };
    let Ok(mut url) = url::Url::parse(&request.callback) else {
        return reply(400, "text/plain", "bad callback");
    };
    url.query_pairs_mut()
        .append_pair("oauth_token", token)
        .append_pair("oauth_verifier", &request.verifier);
    redirect(url.as_str())
}

pub(super) fn access_token(state: &mut State, seen: &Seen, host: &str) -> Reply {
    let requests = state.request_tokens.clone();
    let secret_of = |t: &str| {
        requests
            .get(t)
            .filter(|r| !r.used)
            .map(|r| r.secret.clone())
    };
    let Some((_, params)) = signed(state, seen, host, secret_of) else {
        return reply(401, "text/plain", "bad signature");
    };
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let token = get("oauth_token");
    let Some(request) = state.request_tokens.get_mut(&token) else {
        return reply(401, "text/plain", "unknown request token");
    };
    if request.verifier != get("oauth_verifier") {
        return reply(401, "text/plain", "bad verifier");
    }
    request.used = true;
    let access = state.fresh("oat");
    let secret = state.fresh("oas");
    state.oauth1_access.insert(access.clone(), secret.clone());
    state.access_tokens.push(access.clone());
    let sub = state
        .user
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    form_reply(&[
        ("oauth_token", &access),
        ("oauth_token_secret", &secret),
        ("user_id", &sub),
    ])
}

pub(super) fn oauth1_profile(state: &mut State, seen: &Seen, host: &str) -> Reply {
    let access = state.oauth1_access.clone();
    if signed(state, seen, host, |t| access.get(t).cloned()).is_none() {
        return reply(401, "text/plain", "bad signature");
    }
    if let Some(body) = &state.userinfo_body {
        return json_reply(200, body);
    }
    json_reply(200, &Value::Object(state.user.clone()))
}
