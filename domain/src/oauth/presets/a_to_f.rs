//! Presets `42-school` … `fusionauth`.

use super::images::{bungie_image, discord_avatar};
use super::{
    domain, first_of, join, oauth2, profile, require_header, tenant, PresetError, PresetOptions,
};
use crate::http::HttpMethod;
use crate::oauth::profile::{path, Field};
use crate::oauth::provider::{ClientAuth, OAuthProvider, ProfileSource};
use crate::secret::SecretString;

type Result = std::result::Result<OAuthProvider, PresetError>;

pub(super) fn forty_two_school(o: &PresetOptions) -> Result {
    Ok(oauth2(
        o,
        "https://api.intra.42.fr/oauth/authorize?response_type=code",
        "https://api.intra.42.fr/oauth/token",
        "https://api.intra.42.fr/v2/me",
        None,
        profile(
            path("id"),
            path("usual_full_name"),
            path("email"),
            // v3 read `image_url`; the current API nests it as `image.link`.
            first_of(&["image_url", "image.link"]),
            Field::None,
        ),
    ))
}

/// Sign in with Apple (spec §7.9): the profile is the verified ID token; the callback is a
/// cross-site form POST. v3 turned state off (`protection: "none"`) because its Lax CSRF
/// cookie did not survive that POST; Portcullis keeps state, PKCE and nonce (the callback
/// flow answers such a POST with a redirect to a GET, which carries the check cookies).
pub(super) fn apple(o: &PresetOptions) -> Result {
    let mut p = OAuthProvider::openid(
        "https://appleid.apple.com",
        o.client_id.clone(),
        SecretString::new(""),
    );
    // `ClientSecret::AppleKey` signs a fresh secret per token request; a pre-signed JWT given
    // as a plain secret is used as is (v3 accepted both).
    p.client_secret = o.client_secret.clone();
    p.headers = o.headers.clone();
    // v3: `…?response_type=code&id_token&response_mode=form_post`. `response_mode=form_post`
    // is added by `form_post` (twice would be a duplicate parameter); the stray `id_token`
    // (meant as `code id_token`) is dropped: the token answer carries the ID token.
    p.endpoints.authorization =
        Some("https://appleid.apple.com/auth/authorize?response_type=code".into());
    p.endpoints.token = Some("https://appleid.apple.com/auth/token".into());
    p.endpoints.jwks_uri = Some("https://appleid.apple.com/auth/keys".into());
    // Apple knows only `name` and `email`; it sends an ID token without `openid`.
    p.scope = Some("name email".into());
    p.profile_source = ProfileSource::IdToken;
    p.form_post = true;
    p.profile = profile(
        path("sub"),
        // The `user` JSON Apple POSTs on first consent only (spec §7.2 step 1).
        join("user.name.firstName", "user.name.lastName"),
        path("email"),
        Field::None,
        // Apple sends `true` or `"true"`; it only hands out verified (or relay) addresses.
        path("email_verified"),
    );
    Ok(p)
}

pub(super) fn atlassian(o: &PresetOptions) -> Result {
    Ok(oauth2(
        o,
        "https://auth.atlassian.com/authorize?audience=api.atlassian.com&response_type=code&prompt=consent",
        "https://auth.atlassian.com/oauth/token",
        "https://api.atlassian.com/me",
        None,
        profile(
            path("account_id"),
            path("name"),
            path("email"),
            path("picture"),
            Field::None,
        ),
    ))
}

/// Auth0 is OpenID Connect: its issuer is `https://{domain}/` (trailing slash), so the ID
/// token is verified and a nonce bound; the profile stays v3's userinfo answer.
pub(super) fn auth0(o: &PresetOptions) -> Result {
    let d = domain(o)?;
    let mut p = oauth2(
        o,
        format!("https://{d}/authorize?response_type=code"),
        format!("https://{d}/oauth/token"),
        format!("https://{d}/userinfo"),
        Some("openid email profile"),
        profile(
            path("sub"),
            path("nickname"),
            path("email"),
            path("picture"),
            path("email_verified"),
        ),
    );
    p.endpoints.issuer = Some(format!("https://{d}/"));
    p.checks.nonce = true;
    Ok(p)
}

/// v3's "B2C" preset talks to the Azure AD v2 endpoints and reads Microsoft Graph `/me`,
/// whose `userPrincipalName` is not a verified address.
pub(super) fn azure_ad_b2c(o: &PresetOptions) -> Result {
    let t = tenant(o)?.unwrap_or_else(|| "common".into());
    Ok(oauth2(
        o,
        format!(
            "https://login.microsoftonline.com/{t}/oauth2/v2.0/authorize?response_type=code&response_mode=query"
        ),
        format!("https://login.microsoftonline.com/{t}/oauth2/v2.0/token"),
        "https://graph.microsoft.com/v1.0/me/",
        None,
        profile(
            path("id"),
            path("displayName"),
            path("userPrincipalName"),
            Field::None,
            Field::None,
        ),
    ))
}

pub(super) fn basecamp(o: &PresetOptions) -> Result {
    let mut p = oauth2(
        o,
        "https://launchpad.37signals.com/authorization/new?type=web_server",
        "https://launchpad.37signals.com/authorization/token?type=web_server",
        "https://launchpad.37signals.com/authorization.json",
        None,
        profile(
            path("identity.id"),
            join("identity.first_name", "identity.last_name"),
            path("identity.email_address"),
            Field::None,
            Field::None,
        ),
    );
    p.token_params.clear(); // v3: no params (`type=web_server` sits in the URL)
    Ok(p)
}

/// `region` picks the host (`us`, `eu`, `kr`, `tw`, or `cn` for China); only those five are
/// accepted, so the option cannot move the endpoints to another host.
pub(super) fn battlenet(o: &PresetOptions) -> Result {
    let region = o
        .region
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .ok_or(PresetError::MissingOption("region"))?
        .to_ascii_lowercase();
    let (host, userinfo) = match region.as_str() {
        // v3 sent China's tokens to `us.battle.net`, which cannot know them.
        "cn" => (
            "www.battlenet.com.cn".to_owned(),
            "https://www.battlenet.com.cn/oauth/userinfo",
        ),
        "us" | "eu" | "kr" | "tw" => (
            format!("{region}.battle.net"),
            "https://us.battle.net/oauth/userinfo",
        ),
        _ => {
            return Err(PresetError::InvalidOption {
                option: "region",
                reason: "one of us, eu, kr, tw, cn",
            })
        }
    };
    Ok(oauth2(
        o,
        format!("https://{host}/oauth/authorize?response_type=code"),
        format!("https://{host}/oauth/token"),
        userinfo,
        Some("openid"),
        profile(
            path("id"),
            path("battletag"),
            Field::None,
            Field::None,
            Field::None,
        ),
    ))
}

/// (`box` is a reserved word in Rust.)
pub(super) fn box_com(o: &PresetOptions) -> Result {
    Ok(oauth2(
        o,
        "https://account.box.com/api/oauth2/authorize?response_type=code",
        "https://api.box.com/oauth2/token",
        "https://api.box.com/2.0/users/me",
        None,
        profile(
            path("id"),
            path("name"),
            path("login"),
            path("avatar_url"),
            Field::None,
        ),
    ))
}

/// Bungie needs the application's `X-API-Key` on every call, and the profile URL carries the
/// `membership_id` of the token answer.
pub(super) fn bungie(o: &PresetOptions) -> Result {
    require_header(o, "X-API-Key", "headers.X-API-Key")?;
    let mut p = oauth2(
        o,
        "https://www.bungie.net/en/OAuth/Authorize?response_type=code",
        "https://www.bungie.net/platform/app/oauth/token/",
        "https://www.bungie.net/platform/User/GetBungieAccount/{membershipId}/254/",
        None,
        profile(
            path("Response.bungieNetUser.membershipId"),
            path("Response.bungieNetUser.displayName"),
            Field::None,
            Field::Custom(bungie_image),
            Field::None,
        ),
    );
    p.token_params = vec![
        ("reauth".into(), "true".into()),
        ("grant_type".into(), "authorization_code".into()),
    ];
    p.userinfo.url_from_token = vec![("membershipId".into(), "membership_id".into())];
    Ok(p)
}

/// Cognito's hosted UI domain does not name its issuer
/// (`https://cognito-idp.<region>.amazonaws.com/<pool>`), so the ID token is not verified
/// here; the userinfo answer is the profile, as in v3.
pub(super) fn cognito(o: &PresetOptions) -> Result {
    let d = domain(o)?;
    Ok(oauth2(
        o,
        format!("https://{d}/oauth2/authorize?response_type=code"),
        format!("https://{d}/oauth2/token"),
        format!("https://{d}/oauth2/userInfo"),
        Some("openid profile email"),
        profile(
            path("sub"),
            path("username"),
            path("email"),
            Field::None,
            // Cognito answers `"true"`/`"false"` strings.
            path("email_verified"),
        ),
    ))
}

pub(super) fn coinbase(o: &PresetOptions) -> Result {
    Ok(oauth2(
        o,
        "https://www.coinbase.com/oauth/authorize?response_type=code",
        "https://api.coinbase.com/oauth/token",
        "https://api.coinbase.com/v2/user",
        Some("wallet:user:email wallet:user:read"),
        profile(
            path("data.id"),
            path("data.name"),
            path("data.email"),
            path("data.avatar_url"),
            Field::None,
        ),
    ))
}

pub(super) fn discord(o: &PresetOptions) -> Result {
    Ok(oauth2(
        o,
        "https://discord.com/api/oauth2/authorize?response_type=code&prompt=none",
        "https://discord.com/api/oauth2/token",
        "https://discord.com/api/users/@me",
        Some("identify email"),
        profile(
            path("id"),
            path("username"),
            path("email"),
            Field::Custom(discord_avatar),
            // Discord's `verified`: the account's e-mail address has been verified.
            path("verified"),
        ),
    ))
}

/// Dropbox's profile is an RPC call: `POST` without a body.
pub(super) fn dropbox(o: &PresetOptions) -> Result {
    let mut p = oauth2(
        o,
        "https://www.dropbox.com/oauth2/authorize?token_access_type=offline&response_type=code",
        "https://api.dropboxapi.com/oauth2/token",
        "https://api.dropboxapi.com/2/users/get_current_account",
        Some("account_info.read"),
        profile(
            path("account_id"),
            path("name.display_name"),
            path("email"),
            path("profile_photo_url"),
            path("email_verified"),
        ),
    );
    p.userinfo.method = HttpMethod::Post;
    Ok(p)
}

pub(super) fn eveonline(o: &PresetOptions) -> Result {
    Ok(oauth2(
        o,
        "https://login.eveonline.com/oauth/authorize?response_type=code",
        "https://login.eveonline.com/oauth/token",
        "https://login.eveonline.com/oauth/verify",
        None,
        profile(
            path("CharacterID"),
            path("CharacterName"),
            Field::None,
            Field::Template("https://image.eveonline.com/Character/{CharacterID}_128.jpg".into()),
            Field::None,
        ),
    ))
}

pub(super) fn facebook(o: &PresetOptions) -> Result {
    let mut p = oauth2(
        o,
        "https://www.facebook.com/v7.0/dialog/oauth?response_type=code",
        "https://graph.facebook.com/oauth/access_token",
        "https://graph.facebook.com/me?fields=email,name,picture",
        Some("email"),
        profile(
            path("id"),
            path("name"),
            path("email"),
            path("picture.data.url"),
            Field::None,
        ),
    );
    p.token_params.clear(); // v3: no params
    Ok(p)
}

/// FACEIT authenticates the client with HTTP Basic at the token endpoint.
pub(super) fn faceit(o: &PresetOptions) -> Result {
    let mut p = oauth2(
        o,
        "https://accounts.faceit.com/accounts?redirect_popup=true&response_type=code",
        "https://api.faceit.com/auth/v1/oauth/token",
        "https://api.faceit.com/auth/v1/resources/userinfo",
        None,
        profile(
            path("guid"),
            path("nickname"),
            path("email"),
            path("picture"),
            Field::None,
        ),
    );
    p.client_auth = ClientAuth::Basic;
    Ok(p)
}

/// `api_version` is Foursquare's `v=YYYYMMDD`. v3 mapped the top level of the answer, but
/// the API nests the user under `response.user` (and the photo under `photo`), so v3 never
/// found an id; the mapping reads the documented shape.
pub(super) fn foursquare(o: &PresetOptions) -> Result {
    let version = o
        .api_version
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(PresetError::MissingOption("api_version"))?;
    if !version.chars().all(|c| c.is_ascii_digit()) {
        return Err(PresetError::InvalidOption {
            option: "api_version",
            reason: "a date as YYYYMMDD",
        });
    }
    Ok(oauth2(
        o,
        "https://foursquare.com/oauth2/authenticate?response_type=code",
        "https://foursquare.com/oauth2/access_token",
        format!("https://api.foursquare.com/v2/users/self?v={version}"),
        None,
        profile(
            path("response.user.id"),
            join("response.user.firstName", "response.user.lastName"),
            path("response.user.contact.email"),
            Field::Template(
                "{response.user.photo.prefix}original{response.user.photo.suffix}".into(),
            ),
            Field::None,
        ),
    ))
}

pub(super) fn freshbooks(o: &PresetOptions) -> Result {
    Ok(oauth2(
        o,
        "https://auth.freshbooks.com/service/auth/oauth/authorize?response_type=code",
        "https://api.freshbooks.com/auth/oauth/token",
        "https://api.freshbooks.com/auth/api/v1/users/me",
        None,
        profile(
            path("response.id"),
            join("response.first_name", "response.last_name"),
            path("response.email"),
            Field::None,
            Field::None,
        ),
    ))
}

/// FusionAuth's issuer is a per-tenant setting (not derivable from the host), so the ID token
/// is not verified here; `tenant` adds `tenantId` to the authorisation URL.
pub(super) fn fusionauth(o: &PresetOptions) -> Result {
    let d = domain(o)?;
    let tenant = match tenant(o)? {
        Some(t) => format!("&tenantId={t}"),
        None => String::new(),
    };
    Ok(oauth2(
        o,
        format!("https://{d}/oauth2/authorize?response_type=code{tenant}"),
        format!("https://{d}/oauth2/token"),
        format!("https://{d}/oauth2/userinfo"),
        Some("openid"),
        profile(
            path("sub"),
            path("name"),
            path("email"),
            path("picture"),
            path("email_verified"),
        ),
    ))
}
