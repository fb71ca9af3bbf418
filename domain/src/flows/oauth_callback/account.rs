//! Account resolution (spec §11.2): who is signed in, who the provider account is linked
//! to, who owns the e-mail — then [`decide`] (pure), then the `signIn` hook.

use crate::error::ErrorCode;
use crate::flows::common::Refused;
use std::collections::VecDeque;

use http::StatusCode;
use serde_json::Value;
use time::OffsetDateTime;

use super::{link, profile_user, user_json, wait, Authenticated, Callback, Go};
use crate::config::SessionStrategy;
use crate::effect::{HookFailure, SignInDecision};
use crate::flows::ask::SignInCall;
use crate::flows::stored;
use crate::flows::{Cx, Fault};
use crate::model::User;
use crate::secret::SecretString;
use crate::session_key::SessionKeys;

crate::flow! {
    /// An OAuth callback's account resolution (spec §11.2) and the signIn decision.
    pub(crate) mod oauth_account = "oauth_account" {
        states { Received, Resolving, CheckingSignIn, Decided, Failed }
        events { NoStore, StoreAttached, Loaded, Resolved, NotLinked, StoreFailed, Allowed, Denied, Redirected, HookFailed }
        initial Received;
        Received + NoStore => CheckingSignIn, guard "no store: JWT sessions from the profile", effect "Hook: signIn(profile, account, raw profile)";
        Received + StoreAttached => Resolving, guard "a store", effect "Store: the signed-in user (session cookie), the linked user, a user with the e-mail";
        Resolving + Loaded => Resolving, guard "one lookup answered, another needed", effect "Store: the next lookup";
        Resolving + Resolved => CheckingSignIn, guard "decide: sign in, link or create (spec §11.2)", effect "Hook: signIn(linked user or profile, account, raw profile)";
        Resolving + NotLinked => Failed, guard "linked to another signed-in user; signed in, but not by the fresh session that started this sign-in; or the e-mail belongs to a user and linking by e-mail is off or unverified", effect "redirect error?error=OAuthAccountNotLinked";
        Resolving + StoreFailed => Failed, guard "store error", effect "redirect error?error=Callback";
        CheckingSignIn + Allowed => Decided, guard "signIn allows (or there is no signIn hook)", effect "oauth_link with the plan";
        CheckingSignIn + Denied => Failed, guard "signIn returns false", effect "redirect error?error=AccessDenied";
        CheckingSignIn + Redirected => Failed, guard "signIn returns a URL", effect "redirect to that URL";
        CheckingSignIn + HookFailed => Failed, guard "signIn fails", effect "redirect error?error=<message>";
    }
}

use oauth_account::Event as E;

/// What the callback will do once `signIn` allows.
pub(super) enum Plan {
    /// No store: sign in as the profile.
    ProfileOnly,
    /// Sign in as this (linked) user, saving the new tokens over `stored_refresh`.
    Existing {
        user: User,
        /// The refresh token stored on the linked account before this sign-in.
        stored_refresh: Option<SecretString>,
    },
    /// Link the account to this user, then sign in as them.
    Link(User),
    New,
}

/// What spec §11.2 decides from what the store knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision<'a> {
    /// The account is linked: sign in as its user.
    SignIn(&'a User),
    /// Link the account to this user (the signed-in one, or the e-mail's owner).
    Link(&'a User),
    /// Nobody to link to: create a user.
    New,
    /// `OAuthAccountNotLinked`.
    NotLinked,
}

/// The facts [`decide`] reads.
#[derive(Debug, Clone, Copy)]
pub(super) struct Facts<'a> {
    /// The user the provider account is linked to.
    pub linked: Option<&'a User>,
    /// The user signed in by this request's session.
    pub signed_in: Option<&'a User>,
    /// The user with the profile's e-mail (looked up only when nobody else matched).
    pub by_email: Option<&'a User>,
    /// The session is the one that started this sign-in (sealed in its checks).
    pub same_session: bool,
    /// The signed-in user authenticated within `link_max_auth_age`.
    pub fresh: bool,
    /// The provider vouches for the profile's e-mail.
    pub email_verified: bool,
    /// `allow_dangerous_email_account_linking`.
    pub link_by_email: bool,
}

/// Spec §11.2's matrix, plus opt-in linking by a verified e-mail; a new account links only
/// into the fresh session that started the sign-in (ASVS 3.7.1).
pub(super) fn decide(f: Facts<'_>) -> Decision<'_> {
    match (f.linked, f.signed_in) {
        (Some(linked), Some(current)) if linked.id == current.id => Decision::SignIn(linked),
        (Some(_), Some(_)) => Decision::NotLinked,
        (Some(linked), None) => Decision::SignIn(linked),
        (None, Some(current)) if f.same_session && f.fresh => Decision::Link(current),
        (None, Some(_)) => Decision::NotLinked,
        (None, None) => match f.by_email {
            None => Decision::New,
            Some(owner) if f.link_by_email && f.email_verified => Decision::Link(owner),
            Some(_) => Decision::NotLinked,
        },
    }
}

/// A store lookup that decides between sign-in, link and create.
enum Lookup {
    /// With `jwt.revocable`: whether the JWT session's `jti` was revoked (then it is no
    /// session, and the `SignedInByJwt` lookup behind it is dropped).
    JwtRevoked(String),
    SignedInByJwt(String),
    SignedInByDatabase(SessionKeys),
    Linked,
    /// The linked account itself: its stored refresh token guards the token update.
    LinkedAccount,
    ByEmail(String),
}

/// What the lookups found so far.
#[derive(Default)]
struct Found {
    signed_in: Option<User>,
    /// When the signed-in user last authenticated (JWT `auth_time`; database: the row's
    /// `created`), for the linking window.
    signed_in_at: Option<OffsetDateTime>,
    linked: Option<User>,
    stored_refresh: Option<SecretString>,
    by_email: Option<User>,
}

/// Asking the store, one lookup after another; `queue` holds the lookups still to ask.
struct Resolving {
    auth: Authenticated,
    queue: VecDeque<Lookup>,
    found: Found,
}

/// Waiting for the `signIn` hook.
struct CheckingSignIn {
    auth: Authenticated,
    plan: Plan,
}

/// The profile is known: resolve the account, or (no store) ask `signIn` straight away.
pub(super) fn start(cb: &mut Callback, cx: &mut Cx, auth: Authenticated) -> Result<Go, Fault> {
    if !cx.config.store {
        cb.m.account.fire(E::NoStore, &mut cx.trace)?;
        return ask_sign_in(cb, cx, auth, Plan::ProfileOnly);
    }
    cb.m.account.fire(E::StoreAttached, &mut cx.trace)?;
    let mut queue = VecDeque::new();
    let mut found = Found::default();
    if let Some(cookie) = cx.session_cookie().map(str::to_owned) {
        match cx.config.session.strategy {
            SessionStrategy::Jwt => {
                let claims = cx.decode_session(&cookie).ok().filter(|claims| {
                    // A token no revocation could name is no session where one could.
                    !cx.config.jwt_revocable || crate::flows::revocation::jti(claims).is_some()
                });
                if let Some(claims) = claims {
                    if let Some(Value::String(sub)) = claims.get("sub") {
                        if let (true, Some(jti)) = (
                            cx.config.jwt_revocable,
                            crate::flows::revocation::jti(&claims),
                        ) {
                            queue.push_back(Lookup::JwtRevoked(jti.to_owned()));
                        }
                        queue.push_back(Lookup::SignedInByJwt(sub.clone()));
                    }
                    found.signed_in_at = claims
                        .get(crate::flows::AUTH_TIME)
                        .and_then(Value::as_i64)
                        .and_then(|at| OffsetDateTime::from_unix_timestamp(at).ok());
                }
            }
            // A cookie with a stored key's shape is none of ours: not looked up.
            SessionStrategy::Database => {
                if let Some(keys) = SessionKeys::for_cookie(&cookie) {
                    queue.push_back(Lookup::SignedInByDatabase(keys));
                }
            }
        }
    }
    queue.push_back(Lookup::Linked);
    let first = queue.pop_front().unwrap_or(Lookup::Linked);
    Ok(Resolving { auth, queue, found }.ask(cb, first))
}

impl Resolving {
    /// Asks `lookup`, each with its own answer's type.
    fn ask(mut self, cb: &Callback, lookup: Lookup) -> Go {
        let account = || (cb.provider_id.clone(), self.auth.profile.id.clone());
        match lookup {
            Lookup::JwtRevoked(jti) => wait(stored::is_jwt_revoked(jti), move |cb, cx, revoked| {
                let Ok(revoked) = revoked else {
                    return lost(cb, cx);
                };
                if revoked {
                    self.queue
                        .retain(|l| !matches!(l, Lookup::SignedInByJwt(_)));
                    self.found.signed_in_at = None;
                }
                self.go_on(cb, cx)
            }),
            Lookup::SignedInByJwt(sub) => wait(stored::get_user(sub), move |cb, cx, user| {
                let Ok(user) = user else {
                    return lost(cb, cx);
                };
                self.found.signed_in = user;
                self.go_on(cb, cx)
            }),
            Lookup::SignedInByDatabase(keys) => {
                wait(stored::get_session_and_user(keys), move |cb, cx, row| {
                    let Ok(row) = row else {
                        return lost(cb, cx);
                    };
                    let settings = cx.config.session;
                    let row = row.filter(|(session, _)| {
                        session.expires > cx.now
                            && !settings.outlived(settings.signed_in(session), cx.now)
                    });
                    self.found.signed_in_at =
                        row.as_ref().map(|(session, _)| settings.signed_in(session));
                    self.found.signed_in = row.map(|(_, user)| user);
                    self.go_on(cb, cx)
                })
            }
            Lookup::Linked => {
                let (provider_id, provider_account_id) = account();
                let lookup = stored::get_user_by_account(provider_id, provider_account_id);
                wait(lookup, move |cb, cx, user| {
                    let Ok(user) = user else {
                        return lost(cb, cx);
                    };
                    let email = self.auth.profile.email.clone();
                    if user.is_some() {
                        self.queue.push_back(Lookup::LinkedAccount);
                    } else if let (None, Some(email)) = (&self.found.signed_in, email) {
                        self.queue.push_back(Lookup::ByEmail(email));
                    }
                    self.found.linked = user;
                    self.go_on(cb, cx)
                })
            }
            Lookup::LinkedAccount => {
                let (provider_id, provider_account_id) = account();
                let lookup = stored::get_account(provider_id, provider_account_id);
                wait(lookup, move |cb, cx, linked| {
                    let Ok(linked) = linked else {
                        return lost(cb, cx);
                    };
                    self.found.stored_refresh = linked.and_then(|a| a.refresh_token);
                    self.go_on(cb, cx)
                })
            }
            Lookup::ByEmail(email) => {
                wait(stored::get_user_by_email(email), move |cb, cx, user| {
                    let Ok(user) = user else {
                        return lost(cb, cx);
                    };
                    self.found.by_email = user;
                    self.go_on(cb, cx)
                })
            }
        }
    }

    /// One lookup answered: the next one, or, when none is left, the decision.
    fn go_on(mut self, cb: &mut Callback, cx: &mut Cx) -> Result<Go, Fault> {
        match self.queue.pop_front() {
            Some(next) => {
                cb.m.account.fire(E::Loaded, &mut cx.trace)?;
                Ok(self.ask(cb, next))
            }
            None => self.decide(cb, cx),
        }
    }

    /// Spec §11.2 on what the lookups found ([`decide`]), then `signIn`.
    fn decide(self, cb: &mut Callback, cx: &mut Cx) -> Result<Go, Fault> {
        let Resolving { auth, found, .. } = self;
        let window = time::Duration::seconds(cx.config.link_max_auth_age);
        // Linking into the signed-in user needs the session that started this sign-in (not
        // one whose browser was handed another sign-in's check cookies).
        let same_session = match (&cb.binding.session, &auth.started_from) {
            (Some(now), Some(started)) => {
                crate::secret::constant_time_eq(now.as_bytes(), started.as_bytes())
            }
            _ => false,
        };
        let facts = Facts {
            linked: found.linked.as_ref(),
            signed_in: found.signed_in.as_ref(),
            by_email: found.by_email.as_ref(),
            same_session,
            fresh: found.signed_in_at.is_some_and(|at| at + window >= cx.now),
            email_verified: auth.profile.email_verified,
            link_by_email: cb.provider.allow_dangerous_email_account_linking,
        };
        let plan = match decide(facts) {
            Decision::SignIn(user) => Plan::Existing {
                user: user.clone(),
                stored_refresh: found.stored_refresh.clone(),
            },
            Decision::Link(user) => Plan::Link(user.clone()),
            Decision::New => Plan::New,
            Decision::NotLinked => {
                cb.m.account.fire(E::NotLinked, &mut cx.trace)?;
                return Ok(cb.error(cx, ErrorCode::OAuthAccountNotLinked));
            }
        };
        cb.m.account.fire(E::Resolved, &mut cx.trace)?;
        ask_sign_in(cb, cx, auth, plan)
    }
}

/// A lookup failed: `?error=Callback`.
fn lost(cb: &mut Callback, cx: &mut Cx) -> Result<Go, Fault> {
    cb.m.account.fire(E::StoreFailed, &mut cx.trace)?;
    Ok(cb.error(cx, ErrorCode::Callback))
}

/// `signIn(user, account, profile)`, or straight on when the app has no such hook.
fn ask_sign_in(
    cb: &mut Callback,
    cx: &mut Cx,
    auth: Authenticated,
    plan: Plan,
) -> Result<Go, Fault> {
    let waiting = CheckingSignIn { auth, plan };
    if !cx.config.hooks.sign_in {
        return waiting.on_sign_in(cb, cx, Ok(SignInDecision::Allow));
    }
    let user = match &waiting.plan {
        Plan::Existing { user, .. } => user_json(user),
        _ => profile_user(&waiting.auth.profile),
    };
    let question = SignInCall {
        user,
        account: cb.hook_account(&waiting.auth),
        profile: waiting.auth.profile.raw.clone(),
    };
    Ok(wait(question, move |cb, cx, decision| {
        waiting.on_sign_in(cb, cx, decision)
    }))
}

impl CheckingSignIn {
    fn on_sign_in(
        self,
        cb: &mut Callback,
        cx: &mut Cx,
        result: Result<SignInDecision, HookFailure>,
    ) -> Result<Go, Fault> {
        let Some(refused) = Refused::of(result) else {
            cb.m.account.fire(E::Allowed, &mut cx.trace)?;
            return link::start(cb, cx, self.auth, self.plan);
        };
        cb.m.account.fire(
            refused.event(E::Denied, E::Redirected, E::HookFailed),
            &mut cx.trace,
        )?;
        Ok(match refused {
            // Like every other error of the callback: not stored by any cache.
            Refused::Denied => cb.error(cx, ErrorCode::AccessDenied),
            other => Go::Reply(other.reply(cx, StatusCode::OK)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{decide, Decision, Facts};
    use crate::model::User;

    fn user(id: &str) -> User {
        User {
            id: id.into(),
            name: None,
            email: None,
            email_verified: None,
            image: None,
        }
    }

    /// Every combination of the facts, against the plan spec §11.2 (and the opt-in e-mail
    /// linking, and the fresh-session rule) gives it.
    #[test]
    fn decide_is_spec_11_2() {
        let (a, b, owner) = (user("a"), user("b"), user("owner"));
        let none = None;
        // (linked, signed in, by e-mail, same session, fresh, verified, link by e-mail) → plan
        type Row<'a> = (
            Option<&'a User>,
            Option<&'a User>,
            Option<&'a User>,
            bool,
            bool,
            bool,
            bool,
            Decision<'a>,
        );
        let mut table: Vec<Row> = Vec::new();
        for same_session in [false, true] {
            for fresh in [false, true] {
                for verified in [false, true] {
                    for by_email_on in [false, true] {
                        let flags = (same_session, fresh, verified, by_email_on);
                        let (s, f, v, e) = flags;
                        // Linked, signed in as that user: sign in, whatever else holds.
                        table.push((Some(&a), Some(&a), none, s, f, v, e, Decision::SignIn(&a)));
                        // Linked to another user than the signed-in one: refused.
                        table.push((Some(&a), Some(&b), none, s, f, v, e, Decision::NotLinked));
                        // Linked, nobody signed in: sign in as the linked user.
                        table.push((Some(&a), none, none, s, f, v, e, Decision::SignIn(&a)));
                        // Not linked, signed in: link only into the fresh starting session.
                        let link = if s && f {
                            Decision::Link(&b)
                        } else {
                            Decision::NotLinked
                        };
                        table.push((none, Some(&b), none, s, f, v, e, link));
                        // Not linked, nobody signed in, the e-mail unknown: a new user.
                        table.push((none, none, none, s, f, v, e, Decision::New));
                        // …the e-mail is someone's: linked only when opted in and verified.
                        let by_email = if v && e {
                            Decision::Link(&owner)
                        } else {
                            Decision::NotLinked
                        };
                        table.push((none, none, Some(&owner), s, f, v, e, by_email));
                    }
                }
            }
        }
        assert_eq!(table.len(), 16 * 6);
        for (linked, signed_in, by_email, same_session, fresh, verified, on, want) in table {
            let facts = Facts {
                linked,
                signed_in,
                by_email,
                same_session,
                fresh,
                email_verified: verified,
                link_by_email: on,
            };
            assert_eq!(decide(facts), want, "{facts:?}");
        }
    }
}
