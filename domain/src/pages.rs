//! The built-in pages (spec §13): sign-in, sign-out, verify-request, error.
//! Minimal but complete HTML; every interpolated value is escaped.

use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use http::StatusCode;

use crate::config::{Config, Theme};
use crate::error::ErrorCode;
use crate::provider::{Provider, ProviderKind};

/// A page to render.
pub enum Page<'a> {
    SignIn {
        providers: &'a [Provider],
        callback_url: &'a str,
        email: Option<&'a str>,
        error: Option<&'a ErrorCode>,
    },
    SignOut,
    VerifyRequest,
    Error {
        code: Option<&'a ErrorCode>,
    },
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:0;padding:0;background:#fff;color:#111}\
.page{display:flex;justify-content:center;align-items:center;min-height:100vh;padding:1rem;box-sizing:border-box}\
.card{max-width:22rem;width:100%}\
h1{font-size:1.4rem}\
label{display:block;margin:.6rem 0 .2rem}\
input{display:block;width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}\
button,.button{display:inline-block;margin-top:.8rem;padding:.6rem 1rem;font-size:1rem;cursor:pointer;text-decoration:none}\
:focus-visible{outline:3px solid #2563eb;outline-offset:2px}\
.error{background:#fee2e2;color:#7f1d1d;padding:.6rem;border-radius:4px}\
.__next-auth-theme-dark{background:#111;color:#eee}\
@media (prefers-color-scheme:dark){.__next-auth-theme-auto{background:#111;color:#eee}}";

/// The page's HTML and status.
pub fn render(page: &Page<'_>, config: &Config, csrf_token: &str) -> (StatusCode, String) {
    let (status, title, body) = match page {
        Page::SignIn {
            providers,
            callback_url,
            email,
            error,
        } => (
            StatusCode::OK,
            "Sign In",
            sign_in(providers, config, csrf_token, callback_url, *email, *error),
        ),
        Page::SignOut => (
            StatusCode::OK,
            "Sign Out",
            format!(
                "<div class=\"signout\"><h1>Are you sure you want to sign out?</h1>\
                 <form action=\"{}\" method=\"POST\">{}<button type=\"submit\">Sign out</button></form></div>",
                attr(&config.site.route("/signout")),
                csrf_input(csrf_token)
            ),
        ),
        Page::VerifyRequest => (
            StatusCode::OK,
            "Verify Request",
            format!(
                "<div class=\"verify-request\"><h1>Check your email</h1>\
                 <p>A sign in link has been sent to your email address.</p>\
                 <p><a class=\"site\" href=\"{0}\">{1}</a></p></div>",
                attr(config.site.base_url()),
                text(host(config.site.base_url()))
            ),
        ),
        Page::Error { code } => error_page(config, *code),
    };
    let theme = match config.theme {
        Theme::Auto => "auto",
        Theme::Light => "light",
        Theme::Dark => "dark",
    };
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"UTF-8\">\
         <meta http-equiv=\"X-UA-Compatible\" content=\"IE=Edge\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1.0\">\
         <style>{CSS}</style><title>{title}</title></head>\
         <body class=\"__next-auth-theme-{theme}\"><div class=\"page\"><div class=\"card\">{body}</div></div></body></html>"
    );
    (status, html)
}

fn host(base_url: &str) -> &str {
    base_url
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(base_url)
}

fn csrf_input(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrfToken\" value=\"{}\">",
        attr(token)
    )
}

fn sign_in_message(code: &ErrorCode) -> &'static str {
    match code {
        ErrorCode::Signin
        | ErrorCode::OAuthSignin
        | ErrorCode::OAuthCallback
        | ErrorCode::OAuthCreateAccount
        | ErrorCode::EmailCreateAccount
        | ErrorCode::Callback => "Try signing in with a different account.",
        ErrorCode::OAuthAccountNotLinked => {
            "To confirm your identity, sign in with the same account you used originally."
        }
        ErrorCode::EmailSignin => "Check your email inbox.",
        ErrorCode::CredentialsSignin => {
            "Sign in failed. Check the details you provided are correct."
        }
        ErrorCode::EmailInvalid => "Enter one valid email address.",
        _ => "Unable to sign in.",
    }
}

fn sign_in(
    providers: &[Provider],
    config: &Config,
    csrf_token: &str,
    _callback_url: &str,
    email: Option<&str>,
    error: Option<&ErrorCode>,
) -> String {
    let mut out = String::from("<div class=\"signin\"><h1>Sign in</h1>");
    if let Some(code) = error {
        out.push_str(&format!(
            "<div class=\"error\" role=\"alert\"><p>{}</p></div>",
            text(sign_in_message(code))
        ));
    }
    for provider in providers {
        match &provider.kind {
            ProviderKind::Credentials { fields } if !fields.is_empty() => {
                let action = config.site.route(&format!("/callback/{}", provider.id));
                out.push_str(&format!(
                    "<div class=\"provider\"><form action=\"{}\" method=\"POST\">{}",
                    attr(&action),
                    csrf_input(csrf_token)
                ));
                for field in fields {
                    let id = format!("input-{}-for-{}-provider", field.name, provider.id);
                    out.push_str(&format!(
                        "<label for=\"{id}\">{label}</label><input name=\"{name}\" id=\"{id}\" type=\"{ty}\" value=\"{value}\" placeholder=\"{ph}\">",
                        id = attr(&id),
                        label = text(field.label.as_deref().unwrap_or(&field.name)),
                        name = attr(&field.name),
                        ty = attr(field.input_type.as_deref().unwrap_or("text")),
                        value = attr(field.value.as_deref().unwrap_or("")),
                        ph = attr(field.placeholder.as_deref().unwrap_or("")),
                    ));
                }
                out.push_str(&format!(
                    "<button type=\"submit\">Sign in with {}</button></form></div>",
                    text(&provider.name)
                ));
            }
            ProviderKind::Credentials { .. } => {}
            ProviderKind::Email { .. } => {
                let action = config.site.route(&format!("/signin/{}", provider.id));
                let id = format!("input-email-for-{}-provider", provider.id);
                out.push_str(&format!(
                    "<div class=\"provider\"><form action=\"{action}\" method=\"POST\">{csrf}\
                     <label for=\"{id}\">Email</label>\
                     <input id=\"{id}\" type=\"email\" name=\"email\" placeholder=\"email@example.com\" value=\"{value}\" autocomplete=\"email\">\
                     <button type=\"submit\">Sign in with {name}</button></form></div>",
                    action = attr(&action),
                    csrf = csrf_input(csrf_token),
                    id = attr(&id),
                    value = attr(email.unwrap_or("")),
                    name = text(&provider.name),
                ));
            }
        }
    }
    out.push_str("</div>");
    out
}

fn error_page(config: &Config, code: Option<&ErrorCode>) -> (StatusCode, &'static str, String) {
    let signin = config.site.route("/signin");
    let lower = code.map(|c| c.as_str().to_ascii_lowercase());
    let (status, heading, body) = match lower.as_deref() {
        Some("configuration") => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Server error",
            "<p>There is a problem with the server configuration.</p>\
             <p>Check the server logs for more information.</p>"
                .to_owned(),
        ),
        Some("accessdenied") => (
            StatusCode::FORBIDDEN,
            "Access Denied",
            format!(
                "<p>You do not have permission to sign in.</p><p><a class=\"button\" href=\"{}\">Sign in</a></p>",
                attr(&signin)
            ),
        ),
        Some("verification") => (
            StatusCode::FORBIDDEN,
            "Unable to sign in",
            format!(
                "<p>The sign in link is no longer valid.</p><p>It may have been used already or it may have expired.</p>\
                 <p><a class=\"button\" href=\"{}\">Sign in</a></p>",
                attr(&signin)
            ),
        ),
        _ => (
            StatusCode::OK,
            "Error",
            format!(
                "<p><a class=\"site\" href=\"{}\">{}</a></p>",
                attr(config.site.base_url()),
                text(host(config.site.base_url()))
            ),
        ),
    };
    (
        status,
        "Error",
        format!("<div class=\"error-page\"><h1>{heading}</h1>{body}</div>"),
    )
}
