//! Callback-URL validation (the open-redirect defence): `SameOrigin` and `AllowedOrigins`.
//! Whatever comes out is the base URL, or a URL without credentials whose parsed origin is
//! the site's (or a listed one), with no control character or backslash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_domain::redirect::{same_origin, AllowedOrigins, RedirectPolicy, SameOrigin};
use portcullis_domain::site::SiteUrl;

fn check(out: &str, input: &str, site: &SiteUrl, allowed: &[url::Origin]) {
    if out == site.base_url() {
        return;
    }
    let parsed = url::Url::parse(out).unwrap_or_else(|e| panic!("{out:?} does not parse: {e}"));
    let origin = parsed.origin();
    assert!(
        &origin == site.origin() || allowed.contains(&origin),
        "{input:?} -> {out:?}: origin {origin:?} not allowed"
    );
    assert!(parsed.username().is_empty() && parsed.password().is_none());
    assert!(!out.chars().any(|c| c.is_control() || c == '\\'));
    // Either the input itself or the input appended to the base URL, never a rewrite.
    assert!(
        out == input || out == format!("{}{input}", site.base_url()),
        "{input:?} rewritten to {out:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let sites = [
        "https://app.example.com/api/auth",
        "http://localhost:3000/api/auth",
        "https://example.com",
    ];
    let extra = ["https://admin.example.com", "http://127.0.0.1:8080"];
    let Ok(policy) = AllowedOrigins::parse(&extra) else {
        return;
    };
    let extra_origins: Vec<url::Origin> = extra
        .iter()
        .filter_map(|e| url::Url::parse(e).ok())
        .map(|u| u.origin())
        .collect();
    for site in sites {
        let Ok(site) = SiteUrl::parse(site) else {
            continue;
        };
        if let Some(out) = same_origin(input, &site) {
            check(&out, input, &site, &[]);
        }
        check(&SameOrigin.redirect(input, &site), input, &site, &[]);
        check(&policy.redirect(input, &site), input, &site, &extra_origins);
    }
});
