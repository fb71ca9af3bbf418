//! The small routes: providers list (spec §1.4.1), `POST /signin/<id>` (§1.5) and the
//! built-in or custom pages (§1.4.3–§1.4.6, §13).

use http::StatusCode;
use serde_json::{json, Map, Value};

use super::{Cx, Fault};
use crate::cookies::encode_uri_component;
use crate::error::ErrorCode;
use crate::pages::{self as html, Page};
use crate::provider::ProviderKind;
use crate::response::Reply;

crate::flow! {
    /// `GET /providers`: every configured provider, in configuration order.
    pub(crate) mod providers = "providers" {
        states { Received, Served }
        events { Listed }
        initial Received;
        Received + Listed => Served, guard "", effect "{id: {id, name, type, signinUrl, callbackUrl}}";
    }
}

crate::flow! {
    /// `POST /signin/<provider>`: starts a sign-in (OAuth and e-mail arrive as provider kinds).
    pub(crate) mod signin = "signin" {
        states { Received, Rejected, Redirected, Delegated }
        events { CsrfRejected, UnknownProvider, CredentialsProvider, EmailProvider, OAuthProvider }
        initial Received;
        Received + CsrfRejected => Rejected, guard "csrfToken not verified", effect "redirect signin?csrf=true";
        Received + UnknownProvider => Rejected, guard "no such provider", effect "redirect signin?csrf=true";
        Received + CredentialsProvider => Redirected, guard "credentials provider (it posts to /callback)", effect "redirect signin";
        Received + EmailProvider => Delegated, guard "e-mail provider", effect "email_request";
        Received + OAuthProvider => Delegated, guard "OAuth provider", effect "oauth_signin";
    }
}

crate::flow! {
    /// `GET /signin`, `/signout`, `/verify-request`, `/error`: a built-in page or a redirect.
    pub(crate) mod pages = "pages" {
        states { Received, Redirected, Rendered }
        events { CustomPageSet, SignInErrorCode, BuiltIn }
        initial Received;
        Received + CustomPageSet => Redirected, guard "pages.<page> configured", effect "302 to the custom page, parameters URL-encoded";
        Received + SignInErrorCode => Redirected, guard "error page with a sign-in error code", effect "302 to signin?error=<code>";
        Received + BuiltIn => Rendered, guard "", effect "HTML page";
    }
}

pub(super) fn list_providers(cx: &mut Cx) -> Result<Reply, Fault> {
    let mut m = providers::machine();
    let mut out = Map::new();
    for p in &cx.config.providers {
        out.insert(
            p.id.clone(),
            json!({
                "id": p.id,
                "name": p.name,
                "type": p.type_name(),
                "signinUrl": cx.config.site.route(&format!("/signin/{}", p.id)),
                "callbackUrl": cx.callback_route(&p.id),
            }),
        );
    }
    m.fire(providers::Event::Listed, &mut cx.trace)?;
    Ok(Reply::json(Value::Object(out)))
}

pub(super) fn post_signin(cx: &mut Cx) -> Result<super::Flow<Reply>, Fault> {
    let mut m = signin::machine();
    let provider = cx
        .req
        .provider_id()
        .and_then(|id| cx.config.provider(id))
        .cloned();
    let csrf_retry = format!("{}?csrf=true", cx.route("/signin"));
    let reply = |r: Reply| Ok(super::Flow::Done(r));
    if !cx.csrf_verified {
        m.fire(signin::Event::CsrfRejected, &mut cx.trace)?;
        return reply(cx.redirect(csrf_retry, StatusCode::OK));
    }
    match provider {
        None => {
            m.fire(signin::Event::UnknownProvider, &mut cx.trace)?;
            reply(cx.redirect(csrf_retry, StatusCode::OK))
        }
        Some(p) => match p.kind {
            ProviderKind::Credentials { .. } => {
                m.fire(signin::Event::CredentialsProvider, &mut cx.trace)?;
                reply(cx.redirect(cx.route("/signin"), StatusCode::OK))
            }
            ProviderKind::Email { max_age } => {
                m.fire(signin::Event::EmailProvider, &mut cx.trace)?;
                super::email::start_request(cx, p.id, max_age)
            }
            ProviderKind::OAuth(provider) => {
                m.fire(signin::Event::OAuthProvider, &mut cx.trace)?;
                super::oauth_signin::start(cx, p.id, *provider)
            }
        },
    }
}

pub(super) fn render(cx: &mut Cx, action: &str) -> Result<Reply, Fault> {
    let mut m = pages::machine();
    let pages = &cx.config.pages;
    let custom = match action {
        "signin" => pages.sign_in.as_deref(),
        "signout" => pages.sign_out.as_deref(),
        "verify-request" => pages.verify_request.as_deref(),
        _ => pages.error.as_deref(),
    };
    let error = cx
        .req
        .query_str("error")
        .or_else(|| {
            if action == "error" {
                cx.req.provider_id()
            } else {
                None
            }
        })
        .filter(|e| !e.is_empty())
        .map(ErrorCode::parse);
    if let Some(page) = custom {
        let mut params = Vec::new();
        if action == "signin" {
            params.push(("callbackUrl", cx.callback_url.clone()));
        }
        if matches!(action, "signin" | "error") {
            if let Some(error) = &error {
                params.push(("error", error.to_string()));
            }
        }
        m.fire(pages::Event::CustomPageSet, &mut cx.trace)?;
        return Ok(Reply::redirect(
            with_params(page, &params),
            false,
            StatusCode::FOUND,
        ));
    }
    if action == "error" {
        if let Some(code) = error.as_ref().filter(|c| c.shown_on_signin_page()) {
            m.fire(pages::Event::SignInErrorCode, &mut cx.trace)?;
            let target = format!(
                "{}?error={}",
                cx.route("/signin"),
                encode_uri_component(code.as_str())
            );
            return Ok(Reply::redirect(target, false, StatusCode::FOUND));
        }
    }
    m.fire(pages::Event::BuiltIn, &mut cx.trace)?;
    let page = match action {
        "signin" => Page::SignIn {
            providers: &cx.config.providers,
            callback_url: &cx.callback_url,
            email: cx.req.query_str("email"),
            error: error.as_ref(),
        },
        "signout" => Page::SignOut {
            callback_url: &cx.callback_url,
        },
        "verify-request" => Page::VerifyRequest,
        _ => Page::Error {
            code: error.as_ref(),
        },
    };
    let page = html::render(&page, &cx.config, cx.csrf_token.expose())
        .map_err(|_| Fault::Unexpected("a page template failed to render"))?;
    Ok(page.into_reply())
}

/// `page` with `params` appended, each value URL-encoded (v3 did not encode: fixed).
fn with_params(page: &str, params: &[(&str, String)]) -> String {
    let mut out = page.to_owned();
    for (name, value) in params {
        out.push(if out.contains('?') { '&' } else { '?' });
        out.push_str(name);
        out.push('=');
        out.push_str(&encode_uri_component(value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_params;

    #[test]
    fn custom_page_parameters_are_url_encoded() {
        let params = [
            ("callbackUrl", "https://e.com/a?b=1&c=<d> é".to_owned()),
            ("error", "a&b=c#d".to_owned()),
        ];
        assert_eq!(
            with_params("/login", &params),
            "/login?callbackUrl=https%3A%2F%2Fe.com%2Fa%3Fb%3D1%26c%3D%3Cd%3E%20%C3%A9&error=a%26b%3Dc%23d"
        );
        assert_eq!(
            with_params("/oops?from=auth", &params[1..]),
            "/oops?from=auth&error=a%26b%3Dc%23d"
        );
        assert_eq!(with_params("/bye", &[]), "/bye");
    }
}
