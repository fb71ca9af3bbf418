#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The built-in provider catalogue (spec §7.10) against `fixtures/providers/<id>/`: every
//! preset builds and validates, talks https only, maps its provider's documented profile to
//! `expected.json`, and finds its access token where its token shape says.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use portcullis_domain::http::HttpMethod;
use portcullis_domain::oauth::presets::{preset, PresetError, PresetOptions, PRESET_IDS};
use portcullis_domain::oauth::provider::{
    ClientAuth, ClientSecret, OAuthProvider, ProfileSource, Protocol, TokenShape,
};
use portcullis_domain::oauth::Field;
use portcullis_domain::secret::SecretString;
use serde_json::{json, Value};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/providers")
}

fn read_json(id: &str, file: &str) -> Value {
    let path = fixtures().join(id).join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn apple_key() -> ClientSecret {
    ClientSecret::AppleKey {
        key_id: "KEY123ABCD".into(),
        team_id: "TEAM456XYZ".into(),
        private_key: SecretString::new(
            "-----BEGIN PRIVATE KEY-----\\nnot used here\\n-----END PRIVATE KEY-----",
        ),
    }
}

/// Every option filled, as a site using any preset would.
fn full_options(id: &str) -> PresetOptions {
    PresetOptions {
        client_id: "test-client-id".into(),
        client_secret: if id == "apple" {
            apple_key()
        } else {
            ClientSecret::Secret(SecretString::new("test-client-secret"))
        },
        domain: Some(match id {
            "okta" => "dev-123456.okta.com/oauth2/default".into(),
            _ => "login.example.com".into(),
        }),
        tenant: Some("example-tenant".into()),
        region: Some("eu".into()),
        api_version: Some("20231114".into()),
        headers: vec![("X-API-Key".into(), "test-api-key".into())],
    }
}

fn build(id: &str, options: &PresetOptions) -> OAuthProvider {
    preset(id, options)
        .unwrap_or_else(|e| panic!("{id}: {e}"))
        .provider
}

fn endpoints(p: &OAuthProvider) -> Vec<(&'static str, &str)> {
    let e = &p.endpoints;
    [
        ("issuer", &e.issuer),
        ("authorization", &e.authorization),
        ("token", &e.token),
        ("userinfo", &e.userinfo),
        ("jwks_uri", &e.jwks_uri),
        ("request_token", &e.request_token),
    ]
    .into_iter()
    .filter_map(|(name, url)| url.as_deref().map(|u| (name, u)))
    .collect()
}

#[test]
fn the_catalogue_has_48_unique_ids_each_with_a_fixture_directory() {
    assert_eq!(PRESET_IDS.len(), 48);
    let ids: BTreeSet<&str> = PRESET_IDS.iter().copied().collect();
    assert_eq!(ids.len(), 48, "duplicate ids in PRESET_IDS");

    let dirs: BTreeSet<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_type().unwrap().is_dir())
        .map(|entry| entry.file_name().into_string().unwrap())
        .collect();
    let ids: BTreeSet<String> = ids.into_iter().map(str::to_owned).collect();
    assert_eq!(
        ids.difference(&dirs).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "presets without fixtures"
    );
    assert_eq!(
        dirs.difference(&ids).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "fixtures without a preset"
    );
    for id in PRESET_IDS {
        for file in ["token.json", "profile.json", "expected.json"] {
            assert!(fixtures().join(id).join(file).is_file(), "{id}/{file}");
        }
    }
}

#[test]
fn every_preset_validates_uses_https_and_maps_its_fixture() {
    let mut failures = Vec::new();
    for id in PRESET_IDS {
        let built = preset(id, &full_options(id)).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(built.id, *id);
        assert!(!built.name.is_empty(), "{id}: no display name");
        let p = built.provider;
        if let Err(e) = p.validate() {
            failures.push(format!("{id}: validate: {e}"));
        }
        for (name, url) in endpoints(&p) {
            let parsed = url::Url::parse(url).map(|u| u.scheme().to_owned());
            if parsed.as_deref() != Ok("https") {
                failures.push(format!("{id}: {name} {url:?} is not https"));
            }
        }

        let raw = read_json(id, "profile.json");
        let expected = read_json(id, "expected.json");
        match p.profile.map(&raw) {
            Ok(profile) => {
                let got = json!({
                    "id": profile.id,
                    "name": profile.name,
                    "email": profile.email,
                    "image": profile.image,
                    "email_verified": profile.email_verified,
                });
                if got != expected {
                    failures.push(format!("{id}: mapped {got}\n  expected {expected}"));
                }
            }
            Err(e) => failures.push(format!("{id}: {e}")),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_token_fixture_has_the_token_where_the_preset_looks() {
    let text = |v: &Value, path: &[&str]| {
        path.iter()
            .try_fold(v, |v, key| v.get(key))
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    for id in PRESET_IDS {
        let p = build(id, &full_options(id));
        let token = read_json(id, "token.json");
        match (p.protocol, p.token_shape) {
            (Protocol::OAuth1, _) => {
                assert!(text(&token, &["oauth_token"]), "{id}");
                assert!(text(&token, &["oauth_token_secret"]), "{id}");
            }
            (Protocol::OAuth2, TokenShape::Slack) => {
                assert_eq!(token["ok"], json!(true), "{id}");
                assert!(text(&token, &["authed_user", "access_token"]), "{id}");
            }
            (Protocol::OAuth2, TokenShape::Standard) => {
                assert!(text(&token, &["access_token"]), "{id}");
            }
        }
        if p.profile_source != ProfileSource::Userinfo {
            assert!(
                text(&token, &["id_token"]),
                "{id}: ID-token profile without id_token"
            );
        }
        for (placeholder, field) in &p.userinfo.url_from_token {
            assert!(text(&token, &[field]), "{id}: token has no {field}");
            let userinfo = p.endpoints.userinfo.as_deref().unwrap_or_default();
            assert!(userinfo.contains(&format!("{{{placeholder}}}")), "{id}");
        }
    }
}

#[test]
fn required_options_are_named_when_missing() {
    let bare = |id: &str| PresetOptions {
        domain: None,
        tenant: None,
        region: None,
        api_version: None,
        headers: Vec::new(),
        ..full_options(id)
    };
    for id in [
        "auth0",
        "cognito",
        "fusionauth",
        "identity-server4",
        "okta",
        "onelogin",
        "osso",
    ] {
        assert_eq!(
            preset(id, &bare(id)),
            Err(PresetError::MissingOption("domain")),
            "{id}"
        );
    }
    assert_eq!(
        preset("bungie", &bare("bungie")),
        Err(PresetError::MissingOption("headers.X-API-Key"))
    );
    let blank_key = PresetOptions {
        headers: vec![("x-api-key".into(), " ".into())],
        ..bare("bungie")
    };
    assert_eq!(
        preset("bungie", &blank_key),
        Err(PresetError::MissingOption("headers.X-API-Key"))
    );
    assert_eq!(
        preset("battlenet", &bare("battlenet")),
        Err(PresetError::MissingOption("region"))
    );
    assert_eq!(
        preset("foursquare", &bare("foursquare")),
        Err(PresetError::MissingOption("api_version"))
    );

    // Options with sensible defaults, and presets needing none, build bare.
    let mut without_options = Vec::new();
    for id in PRESET_IDS {
        if preset(id, &bare(id)).is_ok() {
            without_options.push(*id);
        }
    }
    assert_eq!(without_options.len(), 48 - 10, "{without_options:?}");
    let workos = build("workos", &bare("workos"));
    assert_eq!(
        workos.endpoints.token.as_deref(),
        Some("https://api.workos.com/sso/token")
    );
    let azure = build("azure-ad-b2c", &bare("azure-ad-b2c"));
    assert_eq!(
        azure.endpoints.authorization.as_deref(),
        Some("https://login.microsoftonline.com/common/oauth2/v2.0/authorize?response_type=code&response_mode=query")
    );
}

#[test]
fn options_cannot_move_endpoints_to_another_host() {
    let with = |id: &str, f: &dyn Fn(&mut PresetOptions)| {
        let mut o = full_options(id);
        f(&mut o);
        preset(id, &o)
    };
    assert!(matches!(
        with("auth0", &|o| o.domain = Some("evil.example/#".into())),
        Err(PresetError::InvalidOption {
            option: "domain",
            ..
        })
    ));
    assert!(matches!(
        with("battlenet", &|o| o.region = Some("evil.example/".into())),
        Err(PresetError::InvalidOption {
            option: "region",
            ..
        })
    ));
    assert!(matches!(
        with("foursquare", &|o| o.api_version = Some("1&x=y".into())),
        Err(PresetError::InvalidOption {
            option: "api_version",
            ..
        })
    ));
    assert!(matches!(
        with("fusionauth", &|o| o.tenant = Some("a&prompt=none".into())),
        Err(PresetError::InvalidOption {
            option: "tenant",
            ..
        })
    ));
}

#[test]
fn apple_takes_the_verified_id_token_and_a_form_post() {
    let p = build("apple", &full_options("apple"));
    assert!(p.form_post);
    assert_eq!(p.profile_source, ProfileSource::IdToken);
    assert_eq!(
        p.endpoints.issuer.as_deref(),
        Some("https://appleid.apple.com")
    );
    assert_eq!(
        p.endpoints.jwks_uri.as_deref(),
        Some("https://appleid.apple.com/auth/keys")
    );
    assert!(p.checks.nonce && p.checks.state && p.checks.pkce);
    assert_eq!(p.client_secret, apple_key());
    assert_eq!(p.scope.as_deref(), Some("name email"));

    // On first consent Apple POSTs the name as `user` JSON; only its name joins the raw
    // profile (the callback merges `apple::user_name`), never an id or e-mail of its own.
    let mut raw = read_json("apple", "profile.json");
    let user = json!({"name": {"firstName": "Jane", "lastName": "Doe"}, "email": "victim@example.com", "id": "VICTIM"});
    raw["user"] = portcullis_domain::oauth::apple::user_name(&user.to_string()).unwrap();
    let profile = p.profile.map(&raw).unwrap();
    assert_eq!(profile.name.as_deref(), Some("Jane Doe"));
    assert_ne!(profile.id, "VICTIM");
    assert_ne!(profile.email.as_deref(), Some("victim@example.com"));
    assert!(profile.email_verified);

    let unverified =
        json!({"sub": "001.abc.1", "email": "a@example.com", "email_verified": "false"});
    assert!(!p.profile.map(&unverified).unwrap().email_verified);
}

/// docs/oauth.md says, for every preset, whether its e-mail counts as verified (issue 11):
/// only a preset that reads a verification claim can vouch for an address. Regenerate the
/// table with `UPDATE_DOCS=1 cargo test -p portcullis-domain --test presets`.
#[test]
fn the_docs_say_whose_email_is_verified() {
    const START: &str = "<!-- presets-email-verified -->\n";
    const END: &str = "<!-- /presets-email-verified -->";
    let mut table = String::from("| Preset | E-mail verified |\n|---|---|\n");
    for id in PRESET_IDS {
        let p = build(id, &full_options(id));
        let how = match &p.profile.email_verified {
            Field::None => "no: the profile does not say (a later e-mail link for the address makes a new user)".to_owned(),
            Field::Path(path) => format!("when the profile's `{path}` is true"),
            other => format!("{other:?}"),
        };
        table.push_str(&format!("| {id} | {how} |\n"));
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/oauth.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let (Some(start), Some(end)) = (doc.find(START), doc.find(END)) else {
        panic!("docs/oauth.md lacks the {START:?} … {END:?} markers");
    };
    let current = &doc[start + START.len()..end];
    if current != table {
        if std::env::var_os("UPDATE_DOCS").is_some() {
            let updated = format!("{}{table}{}", &doc[..start + START.len()], &doc[end..]);
            std::fs::write(path, updated).unwrap();
        } else {
            panic!("docs/oauth.md's e-mail table is out of date: run with UPDATE_DOCS=1");
        }
    }
}

#[test]
fn request_quirks_per_provider() {
    let get = |id: &str| build(id, &full_options(id));
    let gt = vec![("grant_type".to_owned(), "authorization_code".to_owned())];

    assert_eq!(get("dropbox").userinfo.method, HttpMethod::Post);
    for id in ["mailru", "vk"] {
        let p = get(id);
        assert!(
            p.userinfo.token_in_query && p.userinfo.token_in_header,
            "{id}"
        );
    }
    assert!(get("twitch").userinfo.client_id_header);
    for id in ["reddit", "faceit"] {
        assert_eq!(get(id).client_auth, ClientAuth::Basic, "{id}");
    }
    let bungie = get("bungie");
    assert_eq!(
        bungie.userinfo.url_from_token,
        vec![("membershipId".to_owned(), "membership_id".to_owned())]
    );
    assert!(bungie
        .headers
        .contains(&("X-API-Key".to_owned(), "test-api-key".to_owned())));
    assert_eq!(
        bungie.token_params,
        vec![("reauth".to_owned(), "true".to_owned()), gt[0].clone()]
    );

    let slack = get("slack");
    assert_eq!(slack.token_shape, TokenShape::Slack);
    assert_eq!(slack.scope, None);
    assert_eq!(
        slack.authorization_params,
        vec![(
            "user_scope".to_owned(),
            "identity.basic,identity.email,identity.avatar".to_owned()
        )]
    );

    for id in ["github", "facebook", "basecamp"] {
        assert!(get(id).token_params.is_empty(), "{id}: v3 sends no params");
    }
    for id in ["linkedin", "okta", "workos"] {
        assert_eq!(get(id).token_params, gt, "{id}");
    }
    assert_eq!(
        get("salesforce").token_params[0],
        ("display".into(), "page".into())
    );

    // v3's empty scopes (`scope=`, `""`, `[]`) send none.
    for id in [
        "42-school",
        "atlassian",
        "azure-ad-b2c",
        "basecamp",
        "box",
        "bungie",
        "eveonline",
        "faceit",
        "foursquare",
        "freshbooks",
        "kakao",
        "mailchimp",
        "naver",
        "netlify",
        "osso",
        "salesforce",
        "slack",
        "twitter",
        "workos",
        "zoom",
    ] {
        assert_eq!(get(id).scope, None, "{id}");
    }

    let twitter = get("twitter");
    assert_eq!(twitter.protocol, Protocol::OAuth1);
    assert!(!twitter.checks.state && !twitter.checks.pkce && !twitter.checks.nonce);

    // State and PKCE everywhere on OAuth 2, except VK (documented not to support PKCE).
    for id in PRESET_IDS {
        let p = get(id);
        if p.protocol == Protocol::OAuth2 {
            assert!(p.checks.state, "{id}");
            assert_eq!(p.checks.pkce, *id != "vk", "{id}");
        }
    }
}

#[test]
fn openid_presets_name_their_issuer_and_bind_a_nonce() {
    let get = |id: &str, domain: &str| {
        let o = PresetOptions {
            domain: Some(domain.into()),
            ..full_options(id)
        };
        build(id, &o)
    };
    let cases = [
        (
            "auth0",
            "tenant.eu.auth0.com",
            "https://tenant.eu.auth0.com/",
        ),
        (
            "okta",
            "dev-1.okta.com/oauth2/default",
            "https://dev-1.okta.com/oauth2/default",
        ),
        ("okta", "dev-1.okta.com/oauth2", "https://dev-1.okta.com"),
        (
            "onelogin",
            "example.onelogin.com",
            "https://example.onelogin.com/oidc/2",
        ),
        (
            "identity-server4",
            "id.example.com",
            "https://id.example.com",
        ),
    ];
    for (id, domain, issuer) in cases {
        let p = get(id, domain);
        assert_eq!(p.endpoints.issuer.as_deref(), Some(issuer), "{id}");
        assert!(p.is_openid() && p.checks.nonce, "{id}");
        assert_eq!(
            p.profile_source,
            ProfileSource::Userinfo,
            "{id}: v3's userinfo"
        );
    }
    // Only those (and Apple) carry an issuer; the rest never expect a verified ID token.
    let with_issuer: HashSet<&str> = PRESET_IDS
        .iter()
        .copied()
        .filter(|id| build(id, &full_options(id)).endpoints.issuer.is_some())
        .collect();
    assert_eq!(
        with_issuer,
        HashSet::from(["apple", "auth0", "identity-server4", "okta", "onelogin"])
    );
}

#[test]
fn battlenet_regions_pick_the_host() {
    let region = |r: &str| {
        let o = PresetOptions {
            region: Some(r.into()),
            ..full_options("battlenet")
        };
        build("battlenet", &o)
    };
    let eu = region("eu");
    assert_eq!(
        eu.endpoints.authorization.as_deref(),
        Some("https://eu.battle.net/oauth/authorize?response_type=code")
    );
    assert_eq!(
        eu.endpoints.userinfo.as_deref(),
        Some("https://us.battle.net/oauth/userinfo")
    );
    let cn = region("CN");
    assert_eq!(
        cn.endpoints.token.as_deref(),
        Some("https://www.battlenet.com.cn/oauth/token")
    );
    assert_eq!(
        cn.endpoints.userinfo.as_deref(),
        Some("https://www.battlenet.com.cn/oauth/userinfo")
    );
}

#[test]
fn tenants_and_api_versions_fill_the_urls() {
    let fusion = build("fusionauth", &full_options("fusionauth"));
    assert_eq!(
        fusion.endpoints.authorization.as_deref(),
        Some(
            "https://login.example.com/oauth2/authorize?response_type=code&tenantId=example-tenant"
        )
    );
    let azure = build("azure-ad-b2c", &full_options("azure-ad-b2c"));
    assert_eq!(
        azure.endpoints.token.as_deref(),
        Some("https://login.microsoftonline.com/example-tenant/oauth2/v2.0/token")
    );
    let foursquare = build("foursquare", &full_options("foursquare"));
    assert_eq!(
        foursquare.endpoints.userinfo.as_deref(),
        Some("https://api.foursquare.com/v2/users/self?v=20231114")
    );
}
