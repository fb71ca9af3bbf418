//! The few profile fields that are logic rather than paths (spec §7.10.2): image URLs built
//! from several raw fields with a condition.

use serde_json::Value;

use crate::oauth::profile::{lookup, scalar};

fn text(raw: &Value, path: &str) -> Option<String> {
    lookup(raw, path).and_then(scalar)
}

/// Discord: the user's avatar (animated ones, `a_…`, as GIF), or the default avatar picked by
/// the discriminator.
pub(super) fn discord_avatar(raw: &Value) -> Option<String> {
    match text(raw, "avatar") {
        Some(avatar) => {
            let id = text(raw, "id")?;
            let format = if avatar.starts_with("a_") {
                "gif"
            } else {
                "png"
            };
            Some(format!(
                "https://cdn.discordapp.com/avatars/{id}/{avatar}.{format}"
            ))
        }
        None => {
            let discriminator: u64 = text(raw, "discriminator")?.parse().ok()?;
            Some(format!(
                "https://cdn.discordapp.com/embed/avatars/{}.png",
                discriminator % 5
            ))
        }
    }
}

/// Twitter: `profile_image_url_https` at full size (`…_normal.jpg` → `….jpg`).
pub(super) fn twitter_image(raw: &Value) -> Option<String> {
    let url = text(raw, "profile_image_url_https")?;
    for ext in [".jpg", ".png", ".gif"] {
        if let Some(stem) = url.strip_suffix(&format!("_normal{ext}")) {
            return Some(format!("{stem}{ext}"));
        }
    }
    Some(url)
}

/// Yandex: no image when `is_avatar_empty`, else the 200 px avatar of `default_avatar_id`.
pub(super) fn yandex_avatar(raw: &Value) -> Option<String> {
    if lookup(raw, "is_avatar_empty").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    let avatar = text(raw, "default_avatar_id")?;
    Some(format!(
        "https://avatars.yandex.net/get-yapic/{avatar}/islands-200"
    ))
}

/// Bungie: `profilePicturePath` is relative to `https://www.bungie.net`.
pub(super) fn bungie_image(raw: &Value) -> Option<String> {
    let picture = text(raw, "Response.bungieNetUser.profilePicturePath")?;
    let slash = if picture.starts_with('/') { "" } else { "/" };
    Some(format!("https://www.bungie.net{slash}{picture}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn discord_avatars() {
        let user = |avatar: Value| json!({"id": "80351110224678912", "avatar": avatar, "discriminator": "1337"});
        assert_eq!(
            discord_avatar(&user(json!("8342729096ea3675442027381ff50dfe"))).as_deref(),
            Some("https://cdn.discordapp.com/avatars/80351110224678912/8342729096ea3675442027381ff50dfe.png")
        );
        assert_eq!(
            discord_avatar(&user(json!("a_8342729096ea3675442027381ff50dfe"))).as_deref(),
            Some("https://cdn.discordapp.com/avatars/80351110224678912/a_8342729096ea3675442027381ff50dfe.gif")
        );
        assert_eq!(
            discord_avatar(&user(Value::Null)).as_deref(),
            Some("https://cdn.discordapp.com/embed/avatars/2.png")
        );
        assert_eq!(discord_avatar(&json!({"id": "1", "avatar": null})), None);
    }

    #[test]
    fn twitter_full_size_images() {
        let image = |url: &str| twitter_image(&json!({ "profile_image_url_https": url }));
        assert_eq!(
            image("https://pbs.twimg.com/profile_images/1/abc_normal.png").as_deref(),
            Some("https://pbs.twimg.com/profile_images/1/abc.png")
        );
        assert_eq!(
            image("https://pbs.twimg.com/profile_images/1/abc_normal.gif").as_deref(),
            Some("https://pbs.twimg.com/profile_images/1/abc.gif")
        );
        assert_eq!(
            image("https://pbs.twimg.com/profile_images/1/abc.jpeg").as_deref(),
            Some("https://pbs.twimg.com/profile_images/1/abc.jpeg")
        );
        assert_eq!(twitter_image(&json!({})), None);
    }

    #[test]
    fn yandex_avatar_unless_empty() {
        let raw = |empty: bool| json!({"is_avatar_empty": empty, "default_avatar_id": "131652443"});
        assert_eq!(
            yandex_avatar(&raw(false)).as_deref(),
            Some("https://avatars.yandex.net/get-yapic/131652443/islands-200")
        );
        assert_eq!(yandex_avatar(&raw(true)), None);
    }

    #[test]
    fn bungie_image_paths() {
        let raw = |p: &str| json!({"Response": {"bungieNetUser": {"profilePicturePath": p}}});
        assert_eq!(
            bungie_image(&raw("/img/profile/avatars/default_avatar.gif")).as_deref(),
            Some("https://www.bungie.net/img/profile/avatars/default_avatar.gif")
        );
        assert_eq!(
            bungie_image(&raw("img/x.gif")).as_deref(),
            Some("https://www.bungie.net/img/x.gif")
        );
    }
}
