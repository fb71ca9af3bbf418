//! The pages' one inline stylesheet, made for the theme, the accent colour and the brands
//! of the page's provider buttons, and the hash by which the Content-Security-Policy allows
//! it (no `'unsafe-inline'`).

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::brands::Brand;
use crate::config::Theme;

const BASE: &str = include_str!("../../templates/style/base.css");
const LIGHT: &str = include_str!("../../templates/style/light.css");
const DARK: &str = include_str!("../../templates/style/dark.css");

/// A colour given as `#rgb` or `#rrggbb`. Only these two forms parse, so a configured
/// colour can never carry CSS of its own into the stylesheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// Parses `#rgb` or `#rrggbb` (either case); anything else is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        let hex = text.strip_prefix('#')?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let channel = |s: &str| u8::from_str_radix(s, 16).ok();
        match hex.len() {
            3 => {
                let short = |i: usize| channel(hex.get(i..=i)?).map(|v| v * 17);
                Some(Self(short(0)?, short(1)?, short(2)?))
            }
            6 => Some(Self(
                channel(hex.get(0..2)?)?,
                channel(hex.get(2..4)?)?,
                channel(hex.get(4..6)?)?,
            )),
            _ => None,
        }
    }

    fn css(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    /// WCAG relative luminance.
    fn luminance(self) -> f64 {
        let linear = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.040_45 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * linear(self.0) + 0.7152 * linear(self.1) + 0.0722 * linear(self.2)
    }

    /// WCAG contrast ratio, from 1 (none) to 21 (black on white).
    pub(super) fn contrast(self, other: Rgb) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    /// White or near-black, whichever reads better on this colour.
    fn text_on(self) -> &'static str {
        if self.contrast(Rgb(0x11, 0x18, 0x27)) > self.contrast(Rgb(0xff, 0xff, 0xff)) {
            "#111827"
        } else {
            "#ffffff"
        }
    }
}

/// The CSS text and its CSP source expression, `'sha256-…'`.
pub(crate) struct Stylesheet {
    pub(crate) css: String,
    pub(crate) source: String,
}

/// `brands`: the page's branded buttons; only their rules are included, once each.
pub(crate) fn stylesheet(theme: Theme, accent: Option<Rgb>, brands: &[Brand]) -> Stylesheet {
    let mut css = String::with_capacity(BASE.len() + LIGHT.len() + DARK.len() + 128);
    match theme {
        Theme::Light => css.push_str(LIGHT),
        Theme::Dark => css.push_str(DARK),
        Theme::Auto => {
            css.push_str(LIGHT);
            css.push_str("@media (prefers-color-scheme: dark) {\n");
            css.push_str(DARK);
            css.push_str("}\n");
        }
    }
    if let Some(accent) = accent {
        css.push_str(&format!(
            ":root {{ --accent: {}; --accent-text: {}; }}\n",
            accent.css(),
            accent.text_on()
        ));
    }
    css.push_str(BASE);
    for (i, brand) in brands.iter().enumerate() {
        if !brands[..i].contains(brand) {
            css.push_str(&brand_rule(brand));
        }
    }
    let digest = Sha256::digest(css.as_bytes());
    let source = format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    );
    Stylesheet { css, source }
}

fn brand_rule(brand: &Brand) -> String {
    let border = brand
        .border
        .map(|b| format!(" border-color: {};", b.css()))
        .unwrap_or_default();
    format!(
        ".{} {{ color: {}; background: {};{border} }}\n",
        brand.class,
        brand.text.css(),
        brand.background.css()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_parse_only_as_hex() {
        assert_eq!(Rgb::parse("#0af"), Some(Rgb(0x00, 0xaa, 0xff)));
        assert_eq!(Rgb::parse("#0A7F3c"), Some(Rgb(0x0a, 0x7f, 0x3c)));
        for bad in [
            "",
            "#",
            "0af",
            "#0afg",
            "#12345",
            "#1234567",
            "red",
            "#fff;}",
            "#fff }",
            "#ｆｆｆ",
        ] {
            assert_eq!(Rgb::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn text_on_the_accent_stays_readable() {
        assert_eq!(Rgb(0x25, 0x63, 0xeb).text_on(), "#ffffff");
        assert_eq!(Rgb(0xff, 0xee, 0x00).text_on(), "#111827");
        assert_eq!(Rgb(0, 0, 0).text_on(), "#ffffff");
        assert_eq!(Rgb(0xff, 0xff, 0xff).text_on(), "#111827");
    }

    #[test]
    fn the_hash_is_of_the_exact_text() {
        let sheet = stylesheet(Theme::Dark, Some(Rgb(1, 2, 3)), &[]);
        assert!(sheet
            .css
            .contains("--accent: #010203; --accent-text: #ffffff;"));
        let digest = Sha256::digest(sheet.css.as_bytes());
        let expected = base64::engine::general_purpose::STANDARD.encode(digest);
        assert_eq!(sheet.source, format!("'sha256-{expected}'"));
        assert_ne!(sheet.source, stylesheet(Theme::Light, None, &[]).source);
    }

    #[test]
    fn auto_follows_the_system_scheme() {
        let auto = stylesheet(Theme::Auto, None, &[]).css;
        assert!(auto.contains("@media (prefers-color-scheme: dark)"));
        assert!(auto.contains("color-scheme: light") && auto.contains("color-scheme: dark"));
        let light = stylesheet(Theme::Light, None, &[]).css;
        assert!(!light.contains("prefers-color-scheme") && !light.contains("color-scheme: dark"));
        let dark = stylesheet(Theme::Dark, None, &[]).css;
        assert!(!dark.contains("prefers-color-scheme") && !dark.contains("color-scheme: light"));
    }

    #[test]
    fn only_the_brands_shown_are_styled_once_each() {
        let github = crate::pages::brands::of_preset("github").unwrap();
        let google = crate::pages::brands::of_preset("google").unwrap();
        let css = stylesheet(Theme::Light, None, &[github, google, github]).css;
        let rule =
            ".brand-github { color: #ffffff; background: #24292f; border-color: #6b7280; }\n";
        assert_eq!(css.matches(rule).count(), 1);
        assert!(css.ends_with(
            ".brand-google { color: #1f1f1f; background: #ffffff; border-color: #747775; }\n"
        ));
        let discord = crate::pages::brands::of_preset("discord").unwrap();
        assert!(stylesheet(Theme::Light, None, &[discord])
            .css
            .ends_with(".brand-discord { color: #ffffff; background: #5865f2; }\n"));
        assert!(!stylesheet(Theme::Light, None, &[]).css.contains(".brand-"));
    }
}
