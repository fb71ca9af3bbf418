//! Presets `github` … `netlify`.

use super::{domain, first_of, join, oauth2, profile, PresetError, PresetOptions};
use crate::oauth::profile::{path, Field};
use crate::oauth::provider::OAuthProvider;

type Result = std::result::Result<OAuthProvider, PresetError>;

/// v3 asked for `user`, which also grants write access to the profile; `read:user` and
/// `user:email` read the same `/user` answer (security checklist: minimal scopes). GitHub's
/// `/user` carries the public address and no verification flag.
pub(super) fn github(o: &PresetOptions) -> Result {
    let mut p = oauth2(
        o,
        "https://github.com/login/oauth/authorize",
        "https://github.com/login/oauth/access_token",
        "https://api.github.com/user",
        Some("read:user user:email"),
        profile(
            path("id"),
            first_of(&["name", "login"]),
            path("email"),
            path("avatar_url"),
            Field::None,
        ),
    );
    p.token_params.clear(); // v3: no params
    Ok(p)
}

pub(super) fn gitlab(o: &PresetOptions) -> Result {
    Ok(oauth2(
        o,
        "https://gitlab.com/oauth/authorize?response_type=code",
        "https://gitlab.com/oauth/token",
        "https://gitlab.com/api/v4/user",
        Some("read_user"),
        profile(
            path("id"),
            path("username"),
            path("email"),
            path("avatar_url"),
            Field::None,
        ),
    ))
}

/// v3 asks for the two userinfo scopes, not `openid`, so no ID token is verified; the v1
/// userinfo answer says `verified_email`.
pub(super) fn google(o: &PresetOptions) -> Result {
    Ok(oauth2(
        o,
        "https://accounts.google.com/o/oauth2/auth?response_type=code",
        "https://accounts.google.com/o/oauth2/token",
        "https://www.googleapis.com/oauth2/v1/userinfo?alt=json",
        Some(
            "https://www.googleapis.com/auth/userinfo.profile https://www.googleapis.com/auth/userinfo.email",
        ),
        profile(
            path("id"),
            path("name"),
            path("email"),
            path("picture"),
            path("verified_email"),
        ),
    ))
}

/// IdentityServer4 is OpenID Connect with issuer `https://{domain}`. v3 also sent
/// `Authorization: Bearer <code>` on the token request (a bug, spec §7.7); not reproduced.
pub(super) fn identity_server4(o: &PresetOptions) -> Result {
    let d = domain(o)?;
    let mut p = oauth2(
        o,
        format!("https://{d}/connect/authorize?response_type=code"),
        format!("https://{d}/connect/token"),
        format!("https://{d}/connect/userinfo"),
        Some("openid profile email"),
        profile(
            path("sub"),
            path("name"),
            path("email"),
            path("image"),
            path("email_verified"),
        ),
    );
    p.endpoints.issuer = Some(format!("https://{d}"));
    p.checks.nonce = true;
    Ok(p)
}

pub(super) fn instagram(o: &PresetOptions) -> Result {
    Ok(oauth2(
        o,
        "https://api.instagram.com/oauth/authorize?response_type=code",
        "https://api.instagram.com/oauth/access_token",
        "https://graph.instagram.com/me?fields=id,username,account_type,name",
        Some("user_profile"),
        profile(
            path("id"),
            path("username"),
            Field::None,
            Field::None,
            Field::None,
        ),
    ))
}

pub(super) fn kakao(o: &PresetOptions) -> Result {
    Ok(oauth2(
        o,
        "https://kauth.kakao.com/oauth/authorize?response_type=code",
        "https://kauth.kakao.com/oauth/token",
        "https://kapi.kakao.com/v2/user/me",
        None,
        profile(
            path("id"),
            path("kakao_account.profile.nickname"),
            path("kakao_account.email"),
            path("kakao_account.profile.profile_image_url"),
            path("kakao_account.is_email_verified"),
        ),
    ))
}

/// LINE web login signs its ID tokens with the channel secret (HS256), not with a published
/// key, so no issuer is set and v3's profile endpoint stays the source (no e-mail there).
pub(super) fn line(o: &PresetOptions) -> Result {
    Ok(oauth2(
        o,
        "https://access.line.me/oauth2/v2.1/authorize?response_type=code",
        "https://api.line.me/oauth2/v2.1/token",
        "https://api.line.me/v2/profile",
        Some("profile openid"),
        profile(
            path("userId"),
            path("displayName"),
            Field::None,
            path("pictureUrl"),
            Field::None,
        ),
    ))
}

/// v3 repeated `client_id`/`client_secret` in the token params; `ClientAuth::Post` already
/// sends them, so only `grant_type` stays.
pub(super) fn linkedin(o: &PresetOptions) -> Result {
    Ok(oauth2(
        o,
        "https://www.linkedin.com/oauth/v2/authorization?response_type=code",
        "https://www.linkedin.com/oauth/v2/accessToken",
        "https://api.linkedin.com/v2/me?projection=(id,localizedFirstName,localizedLastName)",
        Some("r_liteprofile"),
        profile(
            path("id"),
            join("localizedFirstName", "localizedLastName"),
            Field::None,
            Field::None,
            Field::None,
        ),
    ))
}

pub(super) fn mailchimp(o: &PresetOptions) -> Result {
    Ok(oauth2(
        o,
        "https://login.mailchimp.com/oauth2/authorize?response_type=code",
        "https://login.mailchimp.com/oauth2/token",
        "https://login.mailchimp.com/oauth2/metadata",
        None,
        profile(
            path("login.login_id"),
            path("accountname"),
            path("login.email"),
            Field::None,
            Field::None,
        ),
    ))
}

/// Mail.ru wants the access token in the query as well as the header.
pub(super) fn mailru(o: &PresetOptions) -> Result {
    let mut p = oauth2(
        o,
        "https://oauth.mail.ru/login?response_type=code",
        "https://oauth.mail.ru/token",
        "https://oauth.mail.ru/userinfo",
        Some("userinfo"),
        profile(
            path("id"),
            path("name"),
            path("email"),
            path("image"),
            Field::None,
        ),
    );
    p.userinfo.token_in_query = true;
    Ok(p)
}

pub(super) fn medium(o: &PresetOptions) -> Result {
    Ok(oauth2(
        o,
        "https://medium.com/m/oauth/authorize?response_type=code",
        "https://api.medium.com/v1/tokens",
        "https://api.medium.com/v1/me",
        Some("basicProfile"),
        profile(
            path("data.id"),
            path("data.name"),
            Field::None,
            path("data.imageUrl"),
            Field::None,
        ),
    ))
}

/// v3 returned `raw.response` unchanged, so the image is only a field named `image` (Naver
/// calls it `profile_image`, hence usually none). v3's `protection: ["state"]` was its
/// default spelled out; PKCE is added as everywhere.
pub(super) fn naver(o: &PresetOptions) -> Result {
    Ok(oauth2(
        o,
        "https://nid.naver.com/oauth2.0/authorize?response_type=code",
        "https://nid.naver.com/oauth2.0/token",
        "https://openapi.naver.com/v1/nid/me",
        None,
        profile(
            path("response.id"),
            path("response.name"),
            path("response.email"),
            path("response.image"),
            Field::None,
        ),
    ))
}

pub(super) fn netlify(o: &PresetOptions) -> Result {
    Ok(oauth2(
        o,
        "https://app.netlify.com/authorize?response_type=code",
        "https://api.netlify.com/oauth/token",
        "https://api.netlify.com/api/v1/user",
        None,
        profile(
            path("id"),
            path("full_name"),
            path("email"),
            path("avatar_url"),
            Field::None,
        ),
    ))
}
