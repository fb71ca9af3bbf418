//! Provider buttons in their brand's colours, with the brand's mark, as Auth.js draws them.
//!
//! The colours are CSS classes of the pages' one stylesheet (`templates/style/base.css`,
//! `.brand-<name>`), because the Content-Security-Policy allows that stylesheet by hash and
//! no `style` attribute. The marks are inline SVG (`templates/logos/`), so nothing is
//! fetched. They are simplified marks drawn for Portcullis, not the brands' artwork files.
//! A preset without an entry here gets the neutral (accent-coloured) button.

/// How one brand's button looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Brand {
    /// The button's CSS class, `brand-<name>`.
    pub class: &'static str,
    /// The mark: one `<svg>` element, decorative (`aria-hidden`), sized by its attributes.
    pub logo: &'static str,
}

const GITHUB: Brand = Brand {
    class: "brand-github",
    logo: include_str!("../../templates/logos/github.svg"),
};
const GOOGLE: Brand = Brand {
    class: "brand-google",
    logo: include_str!("../../templates/logos/google.svg"),
};
const APPLE: Brand = Brand {
    class: "brand-apple",
    logo: include_str!("../../templates/logos/apple.svg"),
};
const DISCORD: Brand = Brand {
    class: "brand-discord",
    logo: include_str!("../../templates/logos/discord.svg"),
};
const GITLAB: Brand = Brand {
    class: "brand-gitlab",
    logo: include_str!("../../templates/logos/gitlab.svg"),
};
const MICROSOFT: Brand = Brand {
    class: "brand-microsoft",
    logo: include_str!("../../templates/logos/microsoft.svg"),
};
const X: Brand = Brand {
    class: "brand-x",
    logo: include_str!("../../templates/logos/x.svg"),
};
const FACEBOOK: Brand = Brand {
    class: "brand-facebook",
    logo: include_str!("../../templates/logos/facebook.svg"),
};

/// The brand of a built-in preset (its id in the catalogue), if it has one here.
pub fn of_preset(preset: &str) -> Option<Brand> {
    Some(match preset {
        "github" => GITHUB,
        "google" => GOOGLE,
        "apple" => APPLE,
        "discord" => DISCORD,
        "gitlab" => GITLAB,
        "azure-ad-b2c" => MICROSOFT,
        "twitter" => X,
        "facebook" => FACEBOOK,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BRANDED: [&str; 8] = [
        "github",
        "google",
        "apple",
        "discord",
        "gitlab",
        "azure-ad-b2c",
        "twitter",
        "facebook",
    ];

    #[test]
    fn every_brand_is_a_preset_with_a_self_contained_mark_and_a_style() {
        let css = include_str!("../../templates/style/base.css");
        for id in BRANDED {
            assert!(crate::oauth::PRESET_IDS.contains(&id), "{id}");
            let brand = of_preset(id).unwrap_or_else(|| panic!("{id} has no brand"));
            assert!(css.contains(&format!(".{} ", brand.class)), "{id}: no CSS");
            let logo = brand.logo;
            assert!(
                logo.starts_with("<svg ") && logo.ends_with("</svg>"),
                "{id}"
            );
            assert!(logo.contains("aria-hidden=\"true\""), "{id}");
            // Nothing the policy would refuse or that loads from elsewhere.
            for banned in ["style", "href", "<script", "url(", "\n"] {
                assert!(!logo.contains(banned), "{id}: {banned:?}");
            }
        }
        assert_eq!(of_preset("okta"), None);
    }
}
