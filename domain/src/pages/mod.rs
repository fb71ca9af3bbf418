//! The built-in pages (spec §13): sign-in, sign-out, verify-request and error, rendered
//! with askama templates (`domain/templates/`), which escape every value they print.
//!
//! Each page comes with its Content-Security-Policy: its one inline stylesheet is allowed
//! by hash, nothing else loads but the configured logo, and nothing may frame it.

pub mod brands;
mod csp;
mod messages;
mod style;

use askama::Template;
use http::{header, HeaderValue, StatusCode};

use crate::config::{Config, Theme};
use crate::error::ErrorCode;
use crate::provider::{CredentialField, Provider, ProviderKind};
use crate::response::Reply;

pub use csp::origin_of;
pub use messages::{error_text, sign_in_message, ErrorText};
pub use style::Rgb;

/// A page to render.
pub enum Page<'a> {
    /// `GET /signin`: a button or form per provider.
    SignIn {
        /// The providers to offer, in order.
        providers: &'a [Provider],
        /// The validated callback URL: OAuth buttons send it along.
        callback_url: &'a str,
        /// Prefills the e-mail form (`?email=`).
        email: Option<&'a str>,
        /// Why the last sign-in failed (`?error=`), shown above the forms.
        error: Option<&'a ErrorCode>,
    },
    /// `GET /signout`: asks to confirm.
    SignOut {
        /// Where sign-out lands (the callback-url cookie): its origin joins `form-action`.
        callback_url: &'a str,
    },
    /// `GET /verify-request`: "check your e-mail".
    VerifyRequest,
    /// `GET /error`.
    Error {
        /// The `?error=` code; `None` or an unknown one gets the generic text.
        code: Option<&'a ErrorCode>,
    },
}

/// A rendered page: status, HTML and the policy that lets its stylesheet apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedPage {
    /// The HTTP status (the error page's depends on its code).
    pub status: StatusCode,
    /// The whole document.
    pub html: String,
    /// The `Content-Security-Policy` header value.
    pub content_security_policy: String,
}

impl RenderedPage {
    /// The reply: never cached, never framed, with its policy.
    pub fn into_reply(self) -> Reply {
        let csp = HeaderValue::from_str(&self.content_security_policy)
            // Unreachable (the policy is built from checked parts); fail closed.
            .unwrap_or(HeaderValue::from_static(
                "default-src 'none'; frame-ancestors 'none'",
            ));
        Reply::html(self.status, self.html)
            .no_store()
            .with_header(header::CONTENT_SECURITY_POLICY, csp)
            .with_header(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"))
    }
}

/// Renders `page` for `config`; `csrf_token` goes into every form.
pub fn render(
    page: &Page<'_>,
    config: &Config,
    csrf_token: &str,
) -> Result<RenderedPage, askama::Error> {
    let branding = &config.branding;
    let shown_brands: Vec<brands::Brand> = match page {
        Page::SignIn { providers, .. } => providers.iter().filter_map(brand_of).collect(),
        _ => Vec::new(),
    };
    let sheet = style::stylesheet(
        config.theme,
        branding.accent_color.as_deref().and_then(Rgb::parse),
        &shown_brands,
    );
    let shell = |title| Shell {
        title,
        theme: theme_name(config.theme),
        css: &sheet.css,
        brand: brand(config),
    };
    let site_url = config.site.base_url();
    let site_host = host(site_url);
    let (status, html, form_targets) = match page {
        Page::SignIn {
            providers,
            callback_url,
            email,
            error,
        } => {
            let forms = provider_forms(providers, config, callback_url, email.unwrap_or(""));
            let html = SignInPage {
                shell: shell("Sign In"),
                csrf_token,
                error: error.map(sign_in_message),
                providers: forms,
            }
            .render()?;
            let mut targets = form_targets(config, callback_url);
            targets.extend(providers.iter().filter_map(oauth_target));
            (StatusCode::OK, html, Some(targets))
        }
        Page::SignOut { callback_url } => {
            let html = SignOutPage {
                shell: shell("Sign Out"),
                csrf_token,
                action: config.site.route("/signout"),
            }
            .render()?;
            (
                StatusCode::OK,
                html,
                Some(form_targets(config, callback_url)),
            )
        }
        Page::VerifyRequest => {
            let html = VerifyRequestPage {
                shell: shell("Verify Request"),
                site_url,
                site_host,
            }
            .render()?;
            (StatusCode::OK, html, None)
        }
        Page::Error { code } => {
            let text = error_text(*code);
            let status = text.status;
            let html = ErrorPage {
                shell: shell("Error"),
                text,
                sign_in_url: config.site.route("/signin"),
                site_url,
                site_host,
            }
            .render()?;
            (status, html, None)
        }
    };
    let policy = csp::Policy {
        site_origin: config.site.origin().ascii_serialization(),
        style: &sheet.source,
        logo_url: branding.logo_url.as_deref(),
        form_targets,
    };
    Ok(RenderedPage {
        status,
        html,
        content_security_policy: policy.header(),
    })
}

/// Where a page's forms may lead besides the site itself: the callback URL (credentials
/// sign-in and sign-out land there) and custom pages (errors are forwarded to them).
fn form_targets(config: &Config, callback_url: &str) -> Vec<String> {
    let pages = &config.pages;
    std::iter::once(callback_url)
        .chain(
            [
                &pages.sign_in,
                &pages.sign_out,
                &pages.error,
                &pages.verify_request,
                &pages.new_user,
            ]
            .into_iter()
            .filter_map(|p| p.as_deref()),
        )
        .map(str::to_owned)
        .collect()
}

/// An OAuth provider's authorisation endpoint, where its sign-in form ends up. With
/// discovery and no configured endpoint, the issuer (usually the same origin).
fn oauth_target(provider: &Provider) -> Option<String> {
    let endpoints = &provider.as_oauth()?.endpoints;
    endpoints
        .authorization
        .as_ref()
        .or(endpoints.issuer.as_ref())
        .cloned()
}

fn theme_name(theme: Theme) -> &'static str {
    match theme {
        Theme::Auto => "auto",
        Theme::Light => "light",
        Theme::Dark => "dark",
    }
}

fn brand(config: &Config) -> Option<Brand<'_>> {
    let branding = &config.branding;
    let name = branding.name.as_deref();
    let logo_url = branding.logo_url.as_deref();
    if name.is_none() && logo_url.is_none() {
        return None;
    }
    Some(Brand {
        name,
        logo_url,
        // The name is printed beside the logo: screen readers need not hear it twice.
        logo_alt: if name.is_some() { "" } else { "Logo" },
    })
}

/// `https://example.com` → `example.com`.
fn host(base_url: &str) -> &str {
    base_url
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(base_url)
}

/// Where a provider kind stands on the page: passwordless first (e-mail links), then
/// OAuth buttons, then credentials forms, each kind in configuration order.
fn page_rank(kind: &ProviderKind) -> u8 {
    match kind {
        ProviderKind::Email { .. } => 0,
        ProviderKind::OAuth(_) => 1,
        ProviderKind::Credentials { .. } => 2,
    }
}

/// The colours and mark of a built-in preset's button; `None`: the neutral button.
fn brand_of(provider: &Provider) -> Option<brands::Brand> {
    match &provider.kind {
        ProviderKind::OAuth(oauth) => oauth.preset.and_then(brands::of_preset),
        _ => None,
    }
}

/// One block per provider the page shows, passwordless first ([`page_rank`]). A new
/// provider kind adds an arm here, a `ProviderForm` variant and its partial in
/// `templates/providers/`.
fn provider_forms<'a>(
    providers: &'a [Provider],
    config: &Config,
    callback_url: &'a str,
    email: &'a str,
) -> Vec<ProviderBlock<'a>> {
    let mut ordered: Vec<&'a Provider> = providers.iter().collect();
    // Stable: within a kind, the configuration's order.
    ordered.sort_by_key(|p| page_rank(&p.kind));
    let mut blocks: Vec<ProviderBlock<'a>> = Vec::new();
    for provider in ordered {
        let form = match &provider.kind {
            ProviderKind::OAuth(_) => ProviderForm::OAuth(OAuthForm {
                action: config.site.route(&format!("/signin/{}", provider.id)),
                name: &provider.name,
                callback_url,
                brand: brand_of(provider),
            }),
            ProviderKind::Email { .. } => ProviderForm::Email(EmailForm {
                action: config.site.route(&format!("/signin/{}", provider.id)),
                name: &provider.name,
                input_id: format!("input-email-for-{}-provider", provider.id),
                email,
            }),
            // Without declared fields there is nothing to fill in (v3 shows no form).
            ProviderKind::Credentials { fields } if fields.is_empty() => continue,
            ProviderKind::Credentials { fields } => ProviderForm::Credentials(CredentialsForm {
                action: config.site.route(&format!("/callback/{}", provider.id)),
                name: &provider.name,
                fields: fields
                    .iter()
                    .map(|f| FieldView::new(f, &provider.id))
                    .collect(),
            }),
        };
        // v3's `<hr>` rule: a divider between two blocks unless both are OAuth buttons.
        let divider_before = blocks.last().is_some_and(|previous| {
            !matches!(
                (&previous.form, &form),
                (ProviderForm::OAuth(_), ProviderForm::OAuth(_))
            )
        });
        blocks.push(ProviderBlock {
            divider_before,
            form,
        });
    }
    blocks
}

/// What every page shares: `base.html`.
struct Shell<'a> {
    title: &'static str,
    theme: &'static str,
    css: &'a str,
    brand: Option<Brand<'a>>,
}

struct Brand<'a> {
    name: Option<&'a str>,
    logo_url: Option<&'a str>,
    logo_alt: &'static str,
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage<'a> {
    shell: Shell<'a>,
    csrf_token: &'a str,
    error: Option<&'static str>,
    providers: Vec<ProviderBlock<'a>>,
}

struct ProviderBlock<'a> {
    divider_before: bool,
    form: ProviderForm<'a>,
}

/// One provider's part of the sign-in page; each variant has a partial in
/// `templates/providers/`.
enum ProviderForm<'a> {
    OAuth(OAuthForm<'a>),
    Email(EmailForm<'a>),
    Credentials(CredentialsForm<'a>),
}

struct OAuthForm<'a> {
    action: String,
    name: &'a str,
    callback_url: &'a str,
    /// The preset's colours and mark; `None`: the neutral button.
    brand: Option<brands::Brand>,
}

struct EmailForm<'a> {
    action: String,
    name: &'a str,
    input_id: String,
    email: &'a str,
}

struct CredentialsForm<'a> {
    action: String,
    name: &'a str,
    fields: Vec<FieldView<'a>>,
}

/// One credentials input, with v3's defaults filled in.
struct FieldView<'a> {
    id: String,
    name: &'a str,
    label: &'a str,
    input_type: &'a str,
    value: &'a str,
    placeholder: &'a str,
}

impl<'a> FieldView<'a> {
    fn new(field: &'a CredentialField, provider_id: &str) -> Self {
        Self {
            id: format!("input-{}-for-{}-provider", field.name, provider_id),
            name: &field.name,
            label: field.label.as_deref().unwrap_or(&field.name),
            input_type: field.input_type.as_deref().unwrap_or("text"),
            value: field.value.as_deref().unwrap_or(""),
            placeholder: field.placeholder.as_deref().unwrap_or(""),
        }
    }
}

#[derive(Template)]
#[template(path = "signout.html")]
struct SignOutPage<'a> {
    shell: Shell<'a>,
    csrf_token: &'a str,
    action: String,
}

#[derive(Template)]
#[template(path = "verify_request.html")]
struct VerifyRequestPage<'a> {
    shell: Shell<'a>,
    site_url: &'a str,
    site_host: &'a str,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    shell: Shell<'a>,
    text: ErrorText,
    sign_in_url: String,
    site_url: &'a str,
    site_host: &'a str,
}
