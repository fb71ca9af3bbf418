//! Every declared edge of the OAuth callback's sub-machines, each driven by one case.

use super::*;

const ERROR: &str = "https://example.com/api/auth/error?error=";
const HOME: &str = "https://example.com";

#[test]
fn every_declared_edge_of_the_oauth_callback_is_driven() {
    let idp = idp();
    let with_store = engine(true, HookSet::default());
    let no_store = engine(false, HookSet::default());
    let hooks = engine(
        true,
        HookSet {
            sign_in: true,
            jwt: true,
            ..HookSet::default()
        },
    );
    let code = "code=c&state={state}";
    let s = Script::default();
    let mut taken = BTreeSet::new();
    let mut check = |name: &str, done: Done, location: &str| {
        // Signed in: exactly the callback URL; otherwise where it ends starts so.
        let arrived = if location == HOME {
            done.location() == HOME
        } else {
            done.location().starts_with(location)
        };
        assert!(
            arrived,
            "{name}: ended at {:?}, not {location}",
            done.location()
        );
        if location == HOME {
            assert!(
                done.cookies()
                    .iter()
                    .any(|c| c.contains("next-auth.session-token=") && !c.ends_with('=')),
                "{name}: no session cookie"
            );
        }
        taken.extend(done.taken);
    };

    // oauth_checks
    let reroute = drive(
        &with_store,
        http::Request::post("/api/auth/callback/idt")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Bytes::from("code=c&state=s"))
            .unwrap(),
        &mut no_effect,
    );
    assert_eq!(reroute.response.status(), 303);
    check(
        "form post",
        reroute,
        "https://example.com/api/auth/callback/idt?code=c",
    );
    let e = format!("{ERROR}OAuthCallback");
    check(
        "provider error",
        callback(&with_store, &idp, "gh", "error=access_denied", s),
        &e,
    );
    check(
        "bad state",
        callback(&with_store, &idp, "gh", "code=c&state=forged", s),
        &e,
    );
    check(
        "oauth 1",
        callback(
            &with_store,
            &idp,
            "tw",
            "oauth_token=rt&oauth_verifier=v",
            s,
        ),
        HOME,
    );
    check(
        "oauth 1, wrong token",
        callback(
            &with_store,
            &idp,
            "tw",
            "oauth_token=xx&oauth_verifier=v",
            s,
        ),
        &e,
    );

    // oauth_exchange and oauth_profile
    check(
        "github, new user",
        callback(&with_store, &idp, "gh", code, s),
        HOME,
    );
    let token_fails = Script {
        token_fails: true,
        ..s
    };
    check(
        "token fails",
        callback(&with_store, &idp, "gh", code, token_fails),
        &e,
    );
    check(
        "discovery",
        callback(&with_store, &idp, "disc", code, s),
        HOME,
    );
    let discovery_fails = Script {
        discovery_fails: true,
        ..s
    };
    check(
        "discovery fails",
        callback(&with_store, &idp, "disc", code, discovery_fails),
        &e,
    );
    check(
        "id token and userinfo",
        callback(&with_store, &idp, "oidc", code, s),
        HOME,
    );
    let rotated = Script {
        jwks: [Jwks::Other, Jwks::Good],
        ..s
    };
    check(
        "rotated key, userinfo",
        callback(&with_store, &idp, "oidc", code, rotated),
        HOME,
    );
    check(
        "rotated key, id token",
        callback(&with_store, &idp, "idt", code, rotated),
        HOME,
    );
    let jwks_down = Script {
        jwks: [Jwks::Down, Jwks::Down],
        ..s
    };
    check(
        "jwks down",
        callback(&with_store, &idp, "idt", code, jwks_down),
        &e,
    );
    let unknown = Script {
        jwks: [Jwks::Other, Jwks::Other],
        ..s
    };
    check(
        "key never found",
        callback(&with_store, &idp, "idt", code, unknown),
        &e,
    );
    let userinfo_fails = Script {
        userinfo_fails: true,
        ..s
    };
    check(
        "userinfo fails",
        callback(&with_store, &idp, "gh", code, userinfo_fails),
        &e,
    );

    // oauth_account
    check("no store", callback(&no_store, &idp, "gh", code, s), HOME);
    let linked = Script { linked: true, ..s };
    check(
        "linked",
        callback(&with_store, &idp, "gh", code, linked),
        HOME,
    );
    let taken_email = Script {
        email_owner: true,
        ..s
    };
    let not_linked = format!("{ERROR}OAuthAccountNotLinked");
    check(
        "e-mail taken",
        callback(&with_store, &idp, "gh", code, taken_email),
        &not_linked,
    );
    check(
        "e-mail linked",
        callback(&with_store, &idp, "oidc", code, taken_email),
        HOME,
    );
    let lookup_fails = Script {
        lookup_fails: true,
        ..s
    };
    check(
        "lookup fails",
        callback(&with_store, &idp, "gh", code, lookup_fails),
        &format!("{ERROR}Callback"),
    );
    for (hook, location) in [
        (Hook::Deny, format!("{ERROR}AccessDenied")),
        (Hook::Redirect, "https://example.com/bye".into()),
        (Hook::Fail, format!("{ERROR}Banned")),
    ] {
        let script = Script {
            sign_in: Some(hook),
            ..s
        };
        check(
            "signIn",
            callback(&hooks, &idp, "gh", code, script),
            &location,
        );
    }

    // oauth_link
    check(
        "signIn and jwt allow",
        callback(&hooks, &idp, "gh", code, s),
        HOME,
    );
    let update_fails = Script {
        linked: true,
        update_fails: true,
        ..s
    };
    check(
        "update fails",
        callback(&with_store, &idp, "gh", code, update_fails),
        &format!("{ERROR}Callback"),
    );
    let create_fails = Script {
        create_fails: true,
        ..s
    };
    check(
        "create fails",
        callback(&with_store, &idp, "gh", code, create_fails),
        &format!("{ERROR}OAuthCreateAccount"),
    );
    let link_fails = Script {
        link_fails: true,
        ..s
    };
    check(
        "link fails",
        callback(&with_store, &idp, "gh", code, link_fails),
        &format!("{ERROR}Callback"),
    );
    let jwt_fails = Script {
        jwt_fails: true,
        ..s
    };
    check(
        "jwt fails",
        callback(&hooks, &idp, "gh", code, jwt_fails),
        &format!("{ERROR}Configuration"),
    );

    let flows = [
        "oauth_checks",
        "oauth_exchange",
        "oauth_profile",
        "oauth_account",
        "oauth_link",
    ];
    let missing: Vec<String> = portcullis_domain::flows::all_transitions()
        .into_iter()
        .filter(|t| flows.contains(&t.flow) && !taken.contains(&(t.flow, t.index)))
        .map(|t| t.to_string())
        .collect();
    assert!(missing.is_empty(), "edges no case took: {missing:#?}");
}
