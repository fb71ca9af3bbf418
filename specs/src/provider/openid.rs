//! The OpenID Connect endpoints around the token endpoint: discovery, authorisation, userinfo.

use serde_json::{json, Value};

use super::reply::{json_reply, oauth_error, redirect, reply, Reply};
use super::{Grant, Role, Seen, State};

pub(super) fn discovery(state: &State) -> Reply {
    let issuer = state
        .discovery_issuer
        .clone()
        .unwrap_or_else(|| state.origin.clone());
    json_reply(
        200,
        &json!({
            "issuer": issuer,
            "authorization_endpoint": state.url(Role::Authorize),
            "token_endpoint": state.url(Role::Token),
            "userinfo_endpoint": state.url(Role::Userinfo),
            "jwks_uri": state.url(Role::Jwks),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": state.send_iss.is_some(),
        }),
    )
}

pub(super) fn authorize(state: &mut State, seen: &Seen) -> Reply {
    let param = |name: &str| seen.param(name).map(str::to_owned);
    let (Some(client_id), Some(redirect_uri)) = (param("client_id"), param("redirect_uri")) else {
        return reply(400, "text/plain", "client_id and redirect_uri are required");
    };
    if !state.clients.contains_key(&client_id) || param("response_type").as_deref() != Some("code")
    {
        return reply(400, "text/plain", "unknown client or response type");
    }
    let challenge = param("code_challenge");
    if challenge.is_some() && param("code_challenge_method").as_deref() != Some("S256") {
        return reply(400, "text/plain", "PKCE must be S256");
    }
    let code = state.fresh("code");
    state.codes.insert(
        code.clone(),
        Grant {
            client_id,
            redirect_uri: redirect_uri.clone(),
            challenge,
            nonce: param("nonce"),
            scope: param("scope").unwrap_or_default(),
            used: false,
        },
    );
    let mut answer = vec![("code".to_owned(), code)];
    if let Some(s) = param("state") {
        answer.push(("state".into(), s));
    }
    if let Some(iss) = &state.send_iss {
        answer.push(("iss".into(), iss.clone()));
    }
    if param("response_mode").as_deref() == Some("form_post") {
        // Apple: an auto-submitting form that POSTs the answer to the redirect URI.
        let inputs: String = answer
            .iter()
            .map(|(k, v)| format!("<input type=\"hidden\" name=\"{k}\" value=\"{v}\">"))
            .collect();
        let page = format!(
            "<!doctype html><form method=\"post\" action=\"{redirect_uri}\">{inputs}</form>"
        );
        return reply(200, "text/html", page);
    }
    let mut url = url::Url::parse(&redirect_uri).expect("the redirect URI is a URL");
    url.query_pairs_mut().extend_pairs(&answer);
    redirect(url.as_str())
}

pub(super) fn userinfo(state: &mut State, seen: &Seen) -> Reply {
    let token = seen
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .or_else(|| seen.param("access_token"));
    let known = token.is_some_and(|t| {
        state.access_tokens.iter().any(|a| a == t)
            || state
                .token_body
                .as_ref()
                .is_some_and(|b| contains_string(b, t))
    });
    if !known {
        return oauth_error(401, "invalid_token");
    }
    if let Some(body) = &state.userinfo_body {
        return json_reply(200, body);
    }
    let mut profile = state.user.clone();
    for (k, v) in &state.userinfo_claims {
        profile.insert(k.clone(), v.clone());
    }
    json_reply(200, &Value::Object(profile))
}

/// Whether `needle` is a string anywhere in `value` (a fixture's access token).
fn contains_string(value: &Value, needle: &str) -> bool {
    match value {
        Value::String(s) => s == needle,
        Value::Array(items) => items.iter().any(|v| contains_string(v, needle)),
        Value::Object(map) => map.values().any(|v| contains_string(v, needle)),
        _ => false,
    }
}
