#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The OAuth callback driven with canned outcomes through every declared edge of its
//! sub-machines (`oauth_checks`, `oauth_exchange`, `oauth_profile`, `oauth_account`,
//! `oauth_link`): no server, no provider, no store — each effect is answered by the case.
//!
//! This file is the harness (a canned engine, provider, store and hook answers); the
//! driving test is in `edges`.

mod edges;

use std::collections::BTreeSet;

use bytes::Bytes;
use josekit::jwk::Jwk;
use josekit::jws::{JwsHeader, RS256};
use josekit::jwt::JwtPayload;
use portcullis_domain::effect::{Effect, HookCall, HookFailure, Outcome, SignInDecision};
use portcullis_domain::http::HttpResponse;
use portcullis_domain::model::{Account, User};
use portcullis_domain::oauth::{preset, ClientSecret, OAuthProvider, PresetOptions, ProfileSource};
use portcullis_domain::store::{StoreError, StoreOp, StoreReply};
use portcullis_domain::{Config, Engine, Env, HookSet, Provider, SessionStrategy, Step};
use rand_chacha::rand_core::SeedableRng;
use serde_json::{json, Value};
use time::macros::datetime;
use time::OffsetDateTime;

const SECRET: &str = "oauth-callback-secret-5Zr8Qp2Lm7Vx4Kt9Hc3";
const NOW: OffsetDateTime = datetime!(2023-11-14 22:13:20 UTC);
const ISSUER: &str = "https://idp.example";

fn options() -> PresetOptions {
    PresetOptions {
        client_id: "client".into(),
        client_secret: ClientSecret::Secret("csecret".into()),
        domain: None,
        tenant: None,
        region: None,
        api_version: None,
        headers: Vec::new(),
    }
}

/// An OpenID provider with known endpoints; `profile` from the ID token and/or userinfo.
fn openid(profile: ProfileSource) -> OAuthProvider {
    let mut p = OAuthProvider::openid(ISSUER, "client", "csecret");
    p.endpoints.authorization = Some(format!("{ISSUER}/authorize"));
    p.endpoints.token = Some(format!("{ISSUER}/token"));
    p.endpoints.userinfo = Some(format!("{ISSUER}/userinfo"));
    p.endpoints.jwks_uri = Some(format!("{ISSUER}/jwks"));
    p.profile_source = profile;
    p
}

/// Providers: `gh` (OAuth 2, userinfo), `oidc` (ID token and userinfo), `idt` (profile from
/// the ID token; answers by form POST), `disc` (endpoints by discovery), `tw` (OAuth 1.0a).
fn engine(store: bool, hooks: HookSet) -> Engine {
    let o = options();
    let github = preset("github", &o).unwrap();
    let twitter = preset("twitter", &o).unwrap();
    let mut oidc = openid(ProfileSource::IdTokenAndUserinfo);
    oidc.allow_dangerous_email_account_linking = true;
    let mut idt = openid(ProfileSource::IdToken);
    idt.form_post = true;
    let mut disc = OAuthProvider::openid(ISSUER, "client", "csecret");
    disc.profile_source = ProfileSource::IdToken;
    Engine::new(
        Config::builder()
            .url("https://example.com/api/auth")
            .secret(SECRET)
            .store(store)
            .session_strategy(SessionStrategy::Jwt)
            .hooks(hooks)
            .provider(Provider::oauth("gh", "GitHub", github.provider))
            .provider(Provider::oauth("tw", "Twitter", twitter.provider))
            .provider(Provider::oauth("oidc", "OIDC", oidc))
            .provider(Provider::oauth("idt", "IdT", idt))
            .provider(Provider::oauth("disc", "Disc", disc))
            .build()
            .unwrap(),
    )
}

fn env(seed: u64) -> Env {
    Env {
        now: NOW,
        rng: Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(seed)),
        client_ip: None,
    }
}

fn ok(content_type: &str, body: impl Into<Bytes>) -> Outcome {
    Outcome::Http(Ok(HttpResponse {
        status: 200,
        content_type: Some(content_type.into()),
        headers: Vec::new(),
        body: body.into(),
    }))
}

fn json_ok(value: Value) -> Outcome {
    ok("application/json", serde_json::to_vec(&value).unwrap())
}

fn discovery() -> Outcome {
    json_ok(json!({
        "issuer": ISSUER,
        "authorization_endpoint": format!("{ISSUER}/authorize"),
        "token_endpoint": format!("{ISSUER}/token"),
        "jwks_uri": format!("{ISSUER}/jwks"),
    }))
}

fn status(code: u16) -> Outcome {
    Outcome::Http(Ok(HttpResponse {
        status: code,
        content_type: None,
        headers: Vec::new(),
        body: Bytes::new(),
    }))
}

/// A request's answer and the transitions it took (`flow: from --event--> to`).
struct Done {
    response: http::Response<String>,
    taken: Vec<(&'static str, usize)>,
}

impl Done {
    fn location(&self) -> &str {
        self.response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    fn cookies(&self) -> Vec<String> {
        self.response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .collect()
    }
}

fn drive(
    engine: &Engine,
    request: http::Request<Bytes>,
    answer: &mut dyn FnMut(&Effect) -> Outcome,
) -> Done {
    let mut run = engine.begin(&request, env(7));
    let response = loop {
        match run.step() {
            Step::Done(response) => break response,
            Step::Effect(effect) => {
                let outcome = answer(&effect);
                run.resume(outcome);
            }
        }
    };
    assert!(run.fault().is_none(), "fault: {:?}", run.fault());
    Done {
        response,
        taken: run.trace().iter().map(|t| (t.flow, t.index)).collect(),
    }
}

fn no_effect(effect: &Effect) -> Outcome {
    panic!("unexpected effect {effect:?}")
}

/// A started sign-in: the check cookies and the values the authorisation URL carries.
struct Started {
    cookies: String,
    state: Option<String>,
    nonce: Option<String>,
}

fn sign_in(engine: &Engine, provider: &str) -> Started {
    let csrf = drive(
        engine,
        http::Request::get("/api/auth/csrf")
            .body(Bytes::new())
            .unwrap(),
        &mut no_effect,
    );
    let token: Value = serde_json::from_str(csrf.response.body()).unwrap();
    let token = token["csrfToken"].as_str().unwrap().to_owned();
    let signin = drive(
        engine,
        http::Request::post(format!("/api/auth/signin/{provider}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", csrf.cookies().join("; "))
            .body(Bytes::from(format!("csrfToken={token}")))
            .unwrap(),
        // Discovery, or (OAuth 1.0a) a request token first.
        &mut |effect| match effect {
            Effect::Http(call) if call.url.ends_with("/.well-known/openid-configuration") => {
                discovery()
            }
            _ => ok(
                "application/x-www-form-urlencoded",
                "oauth_token=rt&oauth_token_secret=rs&oauth_callback_confirmed=true",
            ),
        },
    );
    let location = url::Url::parse(signin.location()).unwrap();
    let param = |name: &str| {
        location
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    Started {
        cookies: signin.cookies().join("; "),
        state: param("state"),
        nonce: param("nonce"),
    }
}

/// The provider's key and a signed ID token for `alice`.
struct Idp {
    private: Jwk,
    jwks: Value,
    other_jwks: Value,
}

fn idp() -> Idp {
    let key = |kid: &str| {
        let mut private = RS256.generate_key_pair(2048).unwrap().to_jwk_key_pair();
        private.set_key_id(kid);
        let mut public = private.to_public_key().unwrap();
        public.set_key_id(kid);
        let jwks = json!({ "keys": [serde_json::to_value(public.as_ref()).unwrap()] });
        (private, jwks)
    };
    let (private, jwks) = key("k1");
    let (_, other_jwks) = key("k2");
    Idp {
        private,
        jwks,
        other_jwks,
    }
}

impl Idp {
    fn id_token(&self, nonce: Option<&str>) -> String {
        let claims = json!({
            "iss": ISSUER, "sub": "alice", "aud": "client",
            "exp": NOW.unix_timestamp() + 300, "iat": NOW.unix_timestamp(),
            "nonce": nonce, "email": "alice@example.com", "email_verified": true,
            "name": "Alice",
        });
        let mut header = JwsHeader::new();
        header.set_key_id("k1");
        let payload = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
        let signer = RS256.signer_from_jwk(&self.private).unwrap();
        josekit::jwt::encode_with_signer(&payload, &header, &signer).unwrap()
    }
}

fn user(id: &str) -> User {
    User {
        id: id.into(),
        name: Some("Alice".into()),
        email: Some("alice@example.com".into()),
        email_verified: None,
        image: None,
    }
}

/// What the provider and the store answer in one case.
#[derive(Clone, Copy, Default)]
struct Script {
    /// The token endpoint fails.
    token_fails: bool,
    /// The discovery document is unreachable.
    discovery_fails: bool,
    /// JWKS answers, in order: `Good`, `Other` (no key with the token's kid), `Down`.
    jwks: [Jwks; 2],
    userinfo_fails: bool,
    /// The provider account is linked to user `1`.
    linked: bool,
    /// A user `9` has the profile's e-mail.
    email_owner: bool,
    lookup_fails: bool,
    update_fails: bool,
    create_fails: bool,
    link_fails: bool,
    sign_in: Option<Hook>,
    jwt_fails: bool,
}

#[derive(Clone, Copy, Default, PartialEq)]
enum Jwks {
    #[default]
    Good,
    Other,
    Down,
}

#[derive(Clone, Copy)]
enum Hook {
    Deny,
    Redirect,
    Fail,
}

fn answer(idp: &Idp, nonce: Option<String>, s: Script) -> impl FnMut(&Effect) -> Outcome + '_ {
    let mut jwks_asked = 0;
    move |effect| match effect {
        Effect::Http(call) => {
            let url = call.url.as_str();
            if url.ends_with("/.well-known/openid-configuration") {
                if s.discovery_fails {
                    return status(503);
                }
                return discovery();
            }
            if url.ends_with("/jwks") {
                let which = s.jwks[jwks_asked.min(1)];
                jwks_asked += 1;
                return match which {
                    Jwks::Good => json_ok(idp.jwks.clone()),
                    Jwks::Other => json_ok(idp.other_jwks.clone()),
                    Jwks::Down => status(503),
                };
            }
            if url.contains("token") {
                if s.token_fails {
                    return status(500);
                }
                if url.contains("twitter") {
                    return ok(
                        "application/x-www-form-urlencoded",
                        "oauth_token=at&oauth_token_secret=as",
                    );
                }
                return json_ok(json!({
                    "access_token": "at", "token_type": "Bearer",
                    "id_token": idp.id_token(nonce.as_deref()),
                }));
            }
            if s.userinfo_fails {
                return status(500);
            }
            json_ok(json!({
                "id": 42, "id_str": "42", "sub": "alice", "login": "alice",
                "screen_name": "alice", "name": "Alice", "email": "alice@example.com",
            }))
        }
        Effect::Store(op) => {
            let fail = || Outcome::Store(Err(StoreError::Backend("down".into())));
            match op {
                StoreOp::GetUserByAccount { .. } if s.lookup_fails => fail(),
                StoreOp::GetUserByAccount { .. } => {
                    Outcome::Store(Ok(StoreReply::MaybeUser(s.linked.then(|| user("1")))))
                }
                StoreOp::GetAccount { .. } => Outcome::Store(Ok(StoreReply::MaybeAccount(None))),
                StoreOp::GetUserByEmail(_) => {
                    Outcome::Store(Ok(StoreReply::MaybeUser(s.email_owner.then(|| user("9")))))
                }
                StoreOp::UpdateAccountTokens { .. } if s.update_fails => fail(),
                StoreOp::UpdateAccountTokens { .. } => {
                    Outcome::Store(Ok(StoreReply::MaybeAccount(None)))
                }
                StoreOp::CreateUser(_) if s.create_fails => fail(),
                StoreOp::CreateUser(_) => Outcome::Store(Ok(StoreReply::User(user("2")))),
                StoreOp::LinkAccount(_) if s.link_fails => fail(),
                StoreOp::LinkAccount(account) => {
                    let account: &Account = account;
                    Outcome::Store(Ok(StoreReply::Account(account.clone())))
                }
                other => panic!("unexpected store op {other:?}"),
            }
        }
        Effect::Hook(HookCall::SignIn { .. }) => Outcome::SignIn(match s.sign_in {
            None => Ok(SignInDecision::Allow),
            Some(Hook::Deny) => Ok(SignInDecision::Deny),
            Some(Hook::Redirect) => Ok(SignInDecision::Redirect("https://example.com/bye".into())),
            Some(Hook::Fail) => Err(HookFailure::Error("Banned".into())),
        }),
        Effect::Hook(HookCall::Jwt { token, .. }) => Outcome::Token(if s.jwt_fails {
            Err(HookFailure::Error("broken".into()))
        } else {
            Ok(token.clone())
        }),
        other => panic!("unexpected effect {other:?}"),
    }
}

/// One callback: signs in at `provider`, then calls back with `query` (`{state}` filled in)
/// and answers with `script`; returns where it ends and the transitions taken.
fn callback(engine: &Engine, idp: &Idp, provider: &str, query: &str, s: Script) -> Done {
    let started = sign_in(engine, provider);
    let query = query.replace("{state}", started.state.as_deref().unwrap_or(""));
    let request = http::Request::get(format!("/api/auth/callback/{provider}?{query}"))
        .header("cookie", started.cookies)
        .body(Bytes::new())
        .unwrap();
    drive(engine, request, &mut answer(idp, started.nonce, s))
}
