//! Routing: a request is recorded, answered as a scenario canned it, or sent to its endpoint.

use bytes::Bytes;
use http::{HeaderMap, Method};

use super::oauth1_endpoints::{access_token, oauth1_authorize, oauth1_profile, request_token};
use super::openid::{authorize, discovery, userinfo};
use super::reply::{json_reply, redirect, reply, Reply};
use super::token::token;
use super::{id_token, Canned, Role, Seen, State};

fn pairs(text: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(super) fn handle(
    state: &mut State,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Reply {
    let role = Role::ALL
        .into_iter()
        .find(|r| r.path() == path)
        .or_else(|| state.aliases.get(path).copied());
    let is_form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let seen = Seen {
        role,
        method: method.to_string(),
        path: path.to_owned(),
        query: pairs(query),
        form: if is_form {
            pairs(&String::from_utf8_lossy(body))
        } else {
            Vec::new()
        },
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
    };
    state.seen.push(seen.clone());
    let Some(role) = role else {
        return reply(404, "text/plain", "not found");
    };
    if let Some(canned) = state.canned.get(&role).cloned() {
        return match canned {
            Canned::Status {
                status,
                content_type,
                body,
            } => reply(
                status,
                content_type
                    .as_deref()
                    .unwrap_or("application/octet-stream"),
                body,
            ),
            Canned::Huge(n) => {
                let mut body = Vec::with_capacity(n);
                body.extend_from_slice(b"{\"padding\":\"");
                body.resize(n.saturating_sub(2), b'a');
                body.extend_from_slice(b"\"}");
                reply(200, "application/json", body)
            }
            Canned::Redirect(location) => redirect(&location),
        };
    }
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    match role {
        Role::Discovery => discovery(state),
        Role::Jwks => json_reply(200, &id_token::jwks(&state.published)),
        Role::Authorize => authorize(state, &seen),
        Role::Token => token(state, &seen),
        Role::Userinfo => userinfo(state, &seen),
        Role::RequestToken => request_token(state, &seen, &host),
        Role::OAuth1Authorize => oauth1_authorize(state, &seen),
        Role::AccessToken => access_token(state, &seen, &host),
        Role::Profile => oauth1_profile(state, &seen, &host),
    }
}
