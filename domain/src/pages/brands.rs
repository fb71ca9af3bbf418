//! Provider buttons in their brand's colours, with the brand's mark, as Auth.js draws them.
//!
//! One row per branded preset; the others get the neutral (accent-coloured) button. The
//! colours become `.brand-<mark>` rules of the page's one stylesheet (only for the brands
//! the page shows), because the Content-Security-Policy allows that stylesheet by hash and
//! no `style` attribute. The marks are inline SVG (`templates/logos/`), so nothing is
//! fetched. They are simplified marks drawn for Portcullis, not the brands' artwork files;
//! the colours are the brands' own, with a text colour that meets WCAG AA (4.5:1) on them.

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
    brand!("apple", 0x000000, 0xffffff, OUTLINE),
    brand!("azure-ad-b2c" as "microsoft", 0x2f2f2f, 0xffffff, None),
    brand!("discord", 0x5865f2, 0xffffff, None),
    brand!("facebook", 0x0866ff, 0xffffff, None),
    brand!("github", 0x24292f, 0xffffff, OUTLINE),
    brand!("gitlab", 0xfc6d26, 0x111827, None),
    brand!("google", 0xffffff, 0x1f1f1f, Some(rgb(0x747775))),
    brand!("twitter" as "x", 0x000000, 0xffffff, OUTLINE),
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
    fn every_row_is_a_preset_in_the_catalogue_order() {
        let mut presets = PRESET_IDS.iter();
        for brand in BRANDS {
            assert!(presets.any(|id| *id == brand.preset), "{}", brand.preset);
        }
        assert_eq!(of_preset("okta"), None);
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
    fn every_mark_file_belongs_to_a_brand() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates/logos");
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let mark = name.strip_suffix(".svg").unwrap_or(&name);
            let class = format!("brand-{mark}");
            assert!(BRANDS.iter().any(|b| b.class == class), "unused: {name}");
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
