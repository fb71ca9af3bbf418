//! Provider buttons in their brand's colours, with the brand's mark, as Auth.js draws them.
//!
//! One row per built-in preset. The colours become `.brand-<mark>` rules of the page's one
//! stylesheet (only for the brands the page shows), because the Content-Security-Policy
//! allows that stylesheet by hash and no `style` attribute. The marks are inline SVG
//! (`templates/logos/`), so nothing is fetched. They are simplified marks drawn for
//! Portcullis, not the brands' artwork files; the colours are the brands' own, with a text
//! colour that meets WCAG AA (4.5:1) on them.

use super::Rgb;

/// How one brand's button looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Brand {
    /// The catalogue id of the preset it belongs to.
    pub preset: &'static str,
    /// The button's CSS class, `brand-<mark>`.
    pub class: &'static str,
    /// The mark: one `<svg>` element, decorative (`aria-hidden`), sized by its attributes.
    pub logo: &'static str,
    /// The button's background colour.
    pub background: Rgb,
    /// The label's colour, also the mark's `currentColor`.
    pub text: Rgb,
    /// An outline for a background that would vanish into the card of one theme.
    pub border: Option<Rgb>,
}

const fn rgb(hex: u32) -> Rgb {
    let [_, r, g, b] = hex.to_be_bytes();
    Rgb(r, g, b)
}

/// Keeps a near-black button apart from the dark theme's card.
const OUTLINE: Option<Rgb> = Some(rgb(0x6b7280));

/// One row: preset id (`as` the mark's name where it differs; the mark is
/// `templates/logos/<mark>.svg`, its class `brand-<mark>`), background, text, outline.
macro_rules! brand {
    ($preset:literal as $mark:literal, $background:literal, $text:literal, $border:expr) => {
        Brand {
            preset: $preset,
            class: concat!("brand-", $mark),
            logo: include_str!(concat!("../../templates/logos/", $mark, ".svg")),
            background: rgb($background),
            text: rgb($text),
            border: $border,
        }
    };
    ($preset:literal, $background:literal, $text:literal, $border:expr) => {
        brand!($preset as $preset, $background, $text, $border)
    };
}

/// In the catalogue's order.
const BRANDS: &[Brand] = &[
    brand!("42-school", 0x000000, 0xffffff, OUTLINE),
    brand!("apple", 0x000000, 0xffffff, OUTLINE),
    brand!("atlassian", 0x0052cc, 0xffffff, None),
    brand!("auth0", 0xeb5424, 0x111827, None),
    brand!("azure-ad-b2c" as "microsoft", 0x2f2f2f, 0xffffff, None),
    brand!("basecamp", 0x1d2d35, 0xffffff, OUTLINE),
    brand!("battlenet", 0x148eff, 0x111827, None),
    brand!("box", 0x0061d5, 0xffffff, None),
    brand!("bungie", 0x0075bb, 0xffffff, None),
    brand!("cognito", 0x232f3e, 0xffffff, OUTLINE),
    brand!("coinbase", 0x0052ff, 0xffffff, None),
    brand!("discord", 0x5865f2, 0xffffff, None),
    brand!("dropbox", 0x0061ff, 0xffffff, None),
    brand!("eveonline", 0x000000, 0xffffff, OUTLINE),
    brand!("facebook", 0x0866ff, 0xffffff, None),
    brand!("faceit", 0xff5500, 0x111827, None),
    brand!("foursquare", 0x3333ff, 0xffffff, None),
    brand!("freshbooks", 0x0075dd, 0xffffff, None),
    brand!("fusionauth", 0xf58320, 0x111827, None),
    brand!("github", 0x24292f, 0xffffff, OUTLINE),
    brand!("gitlab", 0xfc6d26, 0x111827, None),
    brand!("google", 0xffffff, 0x1f1f1f, Some(rgb(0x747775))),
    brand!("identity-server4", 0x0f4c81, 0xffffff, None),
    brand!("instagram", 0xc13584, 0xffffff, None),
    brand!("kakao", 0xfee500, 0x191919, None),
    brand!("line", 0x06c755, 0x111827, None),
    brand!("linkedin", 0x0a66c2, 0xffffff, None),
    brand!("mailchimp", 0xffe01b, 0x241c15, None),
    brand!("mailru", 0x005ff9, 0xffffff, None),
    brand!("medium", 0x000000, 0xffffff, OUTLINE),
    brand!("naver", 0x03c75a, 0x111827, None),
    brand!("netlify", 0x00c7b7, 0x111827, None),
    brand!("okta", 0x007dc1, 0x000000, None),
    brand!("onelogin", 0x1c1f2a, 0xffffff, OUTLINE),
    brand!("osso", 0x334155, 0xffffff, None),
    brand!("reddit", 0xff4500, 0x111827, None),
    brand!("salesforce", 0x00a1e0, 0x111827, None),
    brand!("slack", 0x4a154b, 0xffffff, OUTLINE),
    brand!("spotify", 0x1db954, 0x191414, None),
    brand!("strava", 0xfc4c02, 0x111827, None),
    brand!("twitch", 0x9146ff, 0xffffff, None),
    brand!("twitter" as "x", 0x000000, 0xffffff, OUTLINE),
    brand!("vk", 0x0077ff, 0x000000, None),
    brand!("wordpress", 0x21759b, 0xffffff, None),
    brand!("workos", 0x6363f1, 0xffffff, None),
    brand!("yandex", 0xfc3f1d, 0x111827, None),
    brand!("zoho", 0xe42527, 0xffffff, None),
    brand!("zoom", 0x0b5cff, 0xffffff, None),
];

/// The brand of a built-in preset (its id in the catalogue), if it has one here.
pub fn of_preset(preset: &str) -> Option<Brand> {
    BRANDS.iter().find(|b| b.preset == preset).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::PRESET_IDS;

    /// The attributes every mark opens with, as the button's CSS expects them.
    const OPENING: &str = r#"<svg class="logo" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">"#;

    #[test]
    fn every_preset_has_a_brand_in_the_catalogue_order() {
        // Every preset is an OAuth 2 / OIDC provider (e-mail and credentials are no presets).
        let missing: Vec<&str> = PRESET_IDS
            .iter()
            .copied()
            .filter(|id| of_preset(id).is_none())
            .collect();
        assert!(missing.is_empty(), "presets without a brand: {missing:?}");
        let rows: Vec<&str> = BRANDS.iter().map(|b| b.preset).collect();
        assert_eq!(
            rows, PRESET_IDS,
            "one row per preset, in the catalogue's order"
        );
        assert_eq!(of_preset("mixer"), None);
    }

    #[test]
    fn labels_meet_wcag_aa_on_their_background() {
        for brand in BRANDS {
            let ratio = brand.text.contrast(brand.background);
            assert!(ratio >= 4.5, "{}: contrast {ratio:.2} < 4.5", brand.preset);
        }
    }

    #[test]
    fn the_contrast_check_can_fail() {
        // GitLab's orange under white text, as it was drawn before: 2.86:1.
        let ratio = rgb(0xffffff).contrast(rgb(0xfc6d26));
        assert!((2.8..2.9).contains(&ratio), "{ratio}");
        assert!((rgb(0).contrast(rgb(0xffffff)) - 21.0).abs() < 1e-9);
    }

    #[test]
    fn every_mark_is_small_well_formed_and_self_contained() {
        for brand in BRANDS {
            let (id, logo) = (brand.preset, brand.logo);
            assert!(logo.len() <= 1024, "{id}: {} bytes", logo.len());
            assert!(logo.starts_with(OPENING), "{id}: opening tag");
            assert!(logo.ends_with("</svg>"), "{id}: closing tag");
            // Nothing the policy would refuse, that loads from elsewhere or that could
            // clash with another mark on the page (`id`).
            for banned in ["<script", "style", "href", "url(", " id=", "<!", "&", "\n"] {
                assert!(!logo.contains(banned), "{id}: {banned:?}");
            }
            if let Err(e) = well_formed(logo) {
                panic!("{id}: {e}");
            }
        }
    }

    #[test]
    fn the_well_formedness_check_can_fail() {
        assert!(well_formed("<svg><path d=\"M0 0\"/></svg>").is_ok());
        for bad in [
            "<svg><g></svg>",
            "<svg><g></svg></g>",
            "<svg></svg><svg></svg>",
            "<svg>text</svg>",
            "<svg><path d=\"M0 0\"></svg>",
            "<svg",
        ] {
            assert!(well_formed(bad).is_err(), "{bad}");
        }
    }

    /// One root element, tags nested and closed, no text: all a mark may be.
    fn well_formed(svg: &str) -> Result<(), String> {
        let mut open: Vec<&str> = Vec::new();
        let mut rest = svg;
        let mut roots = 0;
        while !rest.is_empty() {
            let Some(tag) = rest.strip_prefix('<') else {
                return Err(format!("text outside a tag: {rest:.20}"));
            };
            let end = tag.find('>').ok_or("unclosed tag")?;
            let (tag, after) = (&tag[..end], &tag[end + 1..]);
            rest = after;
            if let Some(name) = tag.strip_prefix('/') {
                match open.pop() {
                    Some(o) if o == name => {}
                    other => return Err(format!("</{name}> closes {other:?}")),
                }
                continue;
            }
            if open.is_empty() {
                roots += 1;
            }
            if tag.contains('<') || tag.matches('"').count() % 2 != 0 {
                return Err(format!("malformed tag <{tag}>"));
            }
            if !tag.ends_with('/') {
                open.push(tag.split(' ').next().unwrap_or(tag));
            }
        }
        match (roots, open.as_slice()) {
            (1, []) => Ok(()),
            (1, unclosed) => Err(format!("unclosed {unclosed:?}")),
            (n, _) => Err(format!("{n} root elements")),
        }
    }
}
