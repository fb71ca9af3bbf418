//! The built-in provider catalogue (spec §7.10): every NextAuth v3 provider as a
//! declarative preset — endpoints, scope, checks, token-request quirks, profile mapping.
//!
//! Table 7.10.1 (endpoints, scopes, quirks) and 7.10.2 (profile mapping) are the source;
//! where Portcullis departs from v3 the preset says why in a comment. Every OAuth 2 preset
//! keeps Portcullis's default checks (state and PKCE S256) unless its comment says otherwise.

mod a_to_f;
mod g_to_n;
mod images;
mod o_to_z;

use super::profile::{path, Field, ProfileMap};
use super::provider::{ClientSecret, OAuthProvider};
use crate::secret::SecretString;

/// What a preset needs from the site's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresetOptions {
    /// The client id the provider issued to the site.
    pub client_id: String,
    /// The client secret, or Apple's signing key.
    pub client_secret: ClientSecret,
    /// Host of a tenant-specific service (Auth0, Cognito, Okta, FusionAuth …).
    pub domain: Option<String>,
    /// Azure AD B2C tenant (default `common`), FusionAuth tenant id.
    pub tenant: Option<String>,
    /// Battle.net region (`us`, `eu`, `kr`, `tw`, `cn`).
    pub region: Option<String>,
    /// Foursquare API version date.
    pub api_version: Option<String>,
    /// Extra headers a preset requires (Bungie's `X-API-Key`).
    pub headers: Vec<(String, String)>,
}

/// Why a preset cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresetError {
    /// No preset has this id.
    #[error("no built-in provider {0:?}")]
    Unknown(String),
    /// The preset needs this option (e.g. `domain`), and it is not set.
    #[error("option {0:?} is required for this provider")]
    MissingOption(&'static str),
    /// The value is not repeated: it may be pasted from a secret store by mistake.
    #[error("option {option:?} is invalid: {reason}")]
    InvalidOption {
        /// The option's name.
        option: &'static str,
        /// What a valid value looks like.
        reason: &'static str,
    },
}

/// A built-in provider: its display name and how to talk to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    /// The preset's id, e.g. `github`.
    pub id: &'static str,
    /// Display name for the sign-in page, e.g. `GitHub`.
    pub name: &'static str,
    /// How to talk to the provider, the options applied.
    pub provider: OAuthProvider,
}

type Build = fn(&PresetOptions) -> Result<OAuthProvider, PresetError>;

/// One list gives both [`PRESET_IDS`] and the builders, so they cannot drift apart.
macro_rules! catalogue {
    ($($id:literal, $name:literal => $build:path;)*) => {
        /// Every preset id, in the order of spec §7.10.
        pub const PRESET_IDS: &[&str] = &[$($id),*];
        const CATALOGUE: &[(&str, &str, Build)] = &[$(($id, $name, $build)),*];
    };
}

catalogue! {
    "42-school", "42 School" => a_to_f::forty_two_school;
    "apple", "Apple" => a_to_f::apple;
    "atlassian", "Atlassian" => a_to_f::atlassian;
    "auth0", "Auth0" => a_to_f::auth0;
    "azure-ad-b2c", "Azure Active Directory B2C" => a_to_f::azure_ad_b2c;
    "basecamp", "Basecamp" => a_to_f::basecamp;
    "battlenet", "Battle.net" => a_to_f::battlenet;
    "box", "Box" => a_to_f::box_com;
    "bungie", "Bungie" => a_to_f::bungie;
    "cognito", "Cognito" => a_to_f::cognito;
    "coinbase", "Coinbase" => a_to_f::coinbase;
    "discord", "Discord" => a_to_f::discord;
    "dropbox", "Dropbox" => a_to_f::dropbox;
    "eveonline", "EVE Online" => a_to_f::eveonline;
    "facebook", "Facebook" => a_to_f::facebook;
    "faceit", "FACEIT" => a_to_f::faceit;
    "foursquare", "Foursquare" => a_to_f::foursquare;
    "freshbooks", "Freshbooks" => a_to_f::freshbooks;
    "fusionauth", "FusionAuth" => a_to_f::fusionauth;
    "github", "GitHub" => g_to_n::github;
    "gitlab", "GitLab" => g_to_n::gitlab;
    "google", "Google" => g_to_n::google;
    "identity-server4", "IdentityServer4" => g_to_n::identity_server4;
    "instagram", "Instagram" => g_to_n::instagram;
    "kakao", "Kakao" => g_to_n::kakao;
    "line", "LINE" => g_to_n::line;
    "linkedin", "LinkedIn" => g_to_n::linkedin;
    "mailchimp", "Mailchimp" => g_to_n::mailchimp;
    "mailru", "Mail.ru" => g_to_n::mailru;
    "medium", "Medium" => g_to_n::medium;
    "naver", "Naver" => g_to_n::naver;
    "netlify", "Netlify" => g_to_n::netlify;
    "okta", "Okta" => o_to_z::okta;
    "onelogin", "OneLogin" => o_to_z::onelogin;
    "osso", "SAML SSO" => o_to_z::osso;
    "reddit", "Reddit" => o_to_z::reddit;
    "salesforce", "Salesforce" => o_to_z::salesforce;
    "slack", "Slack" => o_to_z::slack;
    "spotify", "Spotify" => o_to_z::spotify;
    "strava", "Strava" => o_to_z::strava;
    "twitch", "Twitch" => o_to_z::twitch;
    "twitter", "Twitter" => o_to_z::twitter;
    "vk", "VK" => o_to_z::vk;
    "wordpress", "WordPress.com" => o_to_z::wordpress;
    "workos", "WorkOS" => o_to_z::workos;
    "yandex", "Yandex" => o_to_z::yandex;
    "zoho", "Zoho" => o_to_z::zoho;
    "zoom", "Zoom" => o_to_z::zoom;
}

/// The preset `id` configured with `options`.
pub fn preset(id: &str, options: &PresetOptions) -> Result<Preset, PresetError> {
    let (id, name, build) = CATALOGUE
        .iter()
        .find(|(known, _, _)| *known == id)
        .ok_or_else(|| PresetError::Unknown(id.to_owned()))?;
    let mut provider = build(options)?;
    provider.preset = Some(id);
    Ok(Preset { id, name, provider })
}

// ---- Shared building blocks of the preset modules ----

/// An OAuth 2.0 provider with v3's three URLs and scope, the site's client credentials and
/// extra headers (v3's `headers` option), `grant_type=authorization_code` ("gt") and
/// Portcullis's default checks (state + PKCE).
fn oauth2(
    options: &PresetOptions,
    authorization: impl Into<String>,
    token: impl Into<String>,
    userinfo: impl Into<String>,
    scope: Option<&str>,
    profile: ProfileMap,
) -> OAuthProvider {
    let mut provider = OAuthProvider::oauth2(options.client_id.clone(), SecretString::new(""));
    provider.client_secret = options.client_secret.clone();
    provider.headers = options.headers.clone();
    provider.endpoints.authorization = Some(authorization.into());
    provider.endpoints.token = Some(token.into());
    provider.endpoints.userinfo = Some(userinfo.into());
    provider.scope = scope.map(str::to_owned);
    provider.profile = profile;
    provider
}

/// A profile mapping, field by field (spec §7.10.2).
fn profile(
    id: Field,
    name: Field,
    email: Field,
    image: Field,
    email_verified: Field,
) -> ProfileMap {
    ProfileMap {
        id,
        name,
        email,
        image,
        email_verified,
    }
}

/// `first + " " + last`, leaving out empty parts (v3 printed `"Ada undefined"`).
fn join(first: &str, last: &str) -> Field {
    Field::Join(vec![first.to_owned(), last.to_owned()], " ".to_owned())
}

/// The first non-empty of these paths (`a || b`).
fn first_of(paths: &[&str]) -> Field {
    Field::FirstOf(paths.iter().map(|p| path(p)).collect())
}

/// `{domain}`: a host, optionally with a path (`dev-1.okta.com/oauth2/default`). A pasted
/// `https://` and trailing `/` are tolerated; anything that could move the URL to another
/// host or into its query is refused.
fn domain(options: &PresetOptions) -> Result<String, PresetError> {
    host_option("domain", options.domain.as_deref(), true)
}

fn host_option(
    option: &'static str,
    value: Option<&str>,
    path_allowed: bool,
) -> Result<String, PresetError> {
    let value = value.map(str::trim).unwrap_or_default();
    let value = value.strip_prefix("https://").unwrap_or(value);
    let value = value.trim_end_matches('/');
    if value.is_empty() {
        return Err(PresetError::MissingOption(option));
    }
    let invalid = |reason| PresetError::InvalidOption { option, reason };
    if value.contains("://")
        || value
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '?' | '#' | '@' | '\\' | '{' | '}'))
    {
        return Err(invalid(
            "must be a host name, without scheme, query or credentials",
        ));
    }
    if !path_allowed && value.contains('/') {
        return Err(invalid("must not contain '/'"));
    }
    let parsed =
        url::Url::parse(&format!("https://{value}/")).map_err(|_| invalid("not a host"))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("not a host"));
    }
    Ok(value.to_owned())
}

/// `{tenant}`: one path segment.
fn tenant(options: &PresetOptions) -> Result<Option<String>, PresetError> {
    match options.tenant.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t)
            if t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)) =>
        {
            Ok(Some(t.to_owned()))
        }
        Some(_) => Err(PresetError::InvalidOption {
            option: "tenant",
            reason: "letters, digits, '-', '.' and '_' only",
        }),
    }
}

/// A header the site must configure (Bungie's `X-API-Key`); names compare case-insensitively.
fn require_header(
    options: &PresetOptions,
    name: &str,
    option: &'static str,
) -> Result<(), PresetError> {
    let present = options
        .headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case(name) && !v.trim().is_empty());
    if present {
        Ok(())
    } else {
        Err(PresetError::MissingOption(option))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> PresetOptions {
        PresetOptions {
            client_id: "id".into(),
            client_secret: ClientSecret::Secret(SecretString::new("secret")),
            domain: None,
            tenant: None,
            region: None,
            api_version: None,
            headers: Vec::new(),
        }
    }

    #[test]
    fn domain_is_normalised_or_refused() {
        let with = |d: &str| PresetOptions {
            domain: Some(d.into()),
            ..options()
        };
        assert_eq!(
            domain(&with("https://dev-1.okta.com/oauth2/default/")).as_deref(),
            Ok("dev-1.okta.com/oauth2/default")
        );
        assert_eq!(
            domain(&with(" tenant.eu.auth0.com ")).as_deref(),
            Ok("tenant.eu.auth0.com")
        );
        assert_eq!(
            domain(&options()),
            Err(PresetError::MissingOption("domain"))
        );
        assert_eq!(
            domain(&with("  ")),
            Err(PresetError::MissingOption("domain"))
        );
        for bad in [
            "evil.example#.auth0.com",
            "evil.example?x=.auth0.com",
            "user@evil.example",
            "http://tenant.auth0.com",
            "a b.example",
        ] {
            assert!(
                matches!(domain(&with(bad)), Err(PresetError::InvalidOption { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn unknown_ids_are_refused() {
        assert_eq!(
            preset("mixer", &options()),
            Err(PresetError::Unknown("mixer".into()))
        );
    }

    #[test]
    fn invalid_tenant_cannot_change_the_path() {
        let o = PresetOptions {
            tenant: Some("common/../x".into()),
            ..options()
        };
        assert!(matches!(
            preset("azure-ad-b2c", &o),
            Err(PresetError::InvalidOption {
                option: "tenant",
                ..
            })
        ));
    }
}
