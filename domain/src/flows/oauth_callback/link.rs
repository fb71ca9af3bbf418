//! After `signIn` allows: save the new tokens on the linked account, link the account (to a
//! new user, the signed-in one or the e-mail's owner), then issue the session
//! (`session_issue`) and land with the events.

use crate::error::ErrorCode;
use serde_json::Value;

use super::account::Plan;
use super::{follow, profile_user, user_json, wait, Authenticated, Callback, Go};
use crate::effect::AuthEvent;
use crate::flows::issue::{self, SignIn};
use crate::flows::stored;
use crate::flows::{Cx, Fault};
use crate::model::{Account, AccountTokens, NewUser, User};
use crate::secret::SecretString;
use crate::store::StoreError;

crate::flow! {
    /// An OAuth callback's account writes, then the session.
    pub(crate) mod oauth_link = "oauth_link" {
        states { Received, Updating, Creating, Linking, Issuing, SignedIn, Failed }
        events { ProfileOnly, Existing, Link, New, Saved, StoreFailed, CreateFailed, Issued, IssueFailed }
        initial Received;
        Received + ProfileOnly => Issuing, guard "no store", effect "session_issue from the profile (always a new token)";
        Received + Existing => Updating, guard "the account is linked", effect "Store: save the new provider tokens on the account (compare-and-set on the stored refresh token)";
        Received + Link => Linking, guard "link to the signed-in user (or the verified e-mail's user, opt-in)", effect "Store: link account with its tokens";
        Received + New => Creating, guard "nobody to link to", effect "Store: create user from the profile";
        Updating + Saved => Issuing, guard "saved, or another sign-in saved newer tokens meanwhile", effect "session_issue (always a new token)";
        Updating + StoreFailed => Failed, guard "store error", effect "redirect error?error=Callback";
        Creating + Saved => Linking, guard "user stored (emailVerified = now when the provider verified the e-mail)", effect "Store: link account with its tokens";
        Creating + CreateFailed => Failed, guard "store error (e.g. the e-mail was taken meanwhile)", effect "redirect error?error=OAuthCreateAccount";
        Linking + Saved => Issuing, guard "", effect "session_issue (always a new token)";
        Linking + StoreFailed => Failed, guard "store error (e.g. linked meanwhile)", effect "redirect error?error=Callback";
        Issuing + Issued => SignedIn, guard "", effect "Set-Cookie: session; Events: createUser, linkAccount, signIn; redirect callbackUrl (or the new-user page)";
        Issuing + IssueFailed => Failed, guard "", effect "redirect error?error=<Configuration|Callback>";
    }
}

use oauth_link::Event as E;

/// Waiting for the token update on the linked account.
struct Updating {
    auth: Authenticated,
    user: User,
}

/// Waiting for the new user.
struct Creating {
    auth: Authenticated,
}

/// Waiting for the account link.
struct Linking {
    auth: Authenticated,
    user: User,
    is_new_user: bool,
    /// Events gathered before the session is issued.
    events: Vec<AuthEvent>,
}

/// `signIn` allowed `plan`.
pub(super) fn start(
    cb: &mut Callback,
    cx: &mut Cx,
    auth: Authenticated,
    plan: Plan,
) -> Result<Go, Fault> {
    match plan {
        Plan::ProfileOnly => {
            cb.m.link.fire(E::ProfileOnly, &mut cx.trace)?;
            issue(cb, cx, auth, None, false, Vec::new())
        }
        Plan::Existing {
            user,
            stored_refresh,
        } => {
            cb.m.link.fire(E::Existing, &mut cx.trace)?;
            update_tokens(cb, cx, auth, user, stored_refresh)
        }
        Plan::Link(user) => {
            cb.m.link.fire(E::Link, &mut cx.trace)?;
            link(cb, cx, auth, user, false, Vec::new())
        }
        Plan::New => {
            cb.m.link.fire(E::New, &mut cx.trace)?;
            let p = &auth.profile;
            // The provider vouches for the address: the user owns it (an e-mail link for it
            // lands here). Unvouched, it stays unverified, and an e-mail link proves it to
            // someone else (docs/security.md).
            let vouched = p.email.is_some() && p.email_verified;
            let user = NewUser {
                name: p.name.clone(),
                email: p.email.clone(),
                email_verified: vouched.then_some(cx.now),
                image: p.image.clone(),
            };
            let creating = Creating { auth };
            Ok(wait(stored::create_user(user), move |cb, cx, answer| {
                creating.on_created(cb, cx, answer)
            }))
        }
    }
}

fn failed(cb: &mut Callback, cx: &mut Cx, event: E, code: ErrorCode) -> Result<Go, Fault> {
    cb.m.link.fire(event, &mut cx.trace)?;
    Ok(cb.error(cx, code))
}

/// The provider's new tokens for the linked account, kept only if nobody changed the stored
/// refresh token since this sign-in read it.
fn update_tokens(
    cb: &mut Callback,
    cx: &mut Cx,
    auth: Authenticated,
    user: User,
    stored_refresh: Option<SecretString>,
) -> Result<Go, Fault> {
    let tokens = &auth.tokens;
    let tokens_to_store = AccountTokens {
        access_token: Some(tokens.access_token.clone()),
        // A provider that does not rotate sends no new refresh token: keep the old one.
        refresh_token: tokens
            .refresh_token
            .clone()
            .or_else(|| stored_refresh.clone()),
        access_token_expires: tokens.expires_at,
        token_type: tokens.token_type.clone(),
        scope: tokens.scope.clone(),
        id_token: tokens.id_token.clone(),
    };
    let provider_account_id = auth.profile.id.clone();
    let Some(tokens_to_store) = seal(cx, tokens_to_store, &cb.provider_id, &provider_account_id)
    else {
        return failed(cb, cx, E::StoreFailed, ErrorCode::Callback);
    };
    let op = stored::update_account_tokens(
        cb.provider_id.clone(),
        provider_account_id,
        // As stored (encrypted or not): the store compares it byte for byte.
        stored_refresh,
        tokens_to_store,
    );
    let updating = Updating { auth, user };
    Ok(wait(op, move |cb, cx, answer| {
        updating.on_saved(cb, cx, answer)
    }))
}

/// Link the account, with its (sealed) tokens, to `user`.
fn link(
    cb: &mut Callback,
    cx: &mut Cx,
    auth: Authenticated,
    user: User,
    is_new_user: bool,
    events: Vec<AuthEvent>,
) -> Result<Go, Fault> {
    let tokens = &auth.tokens;
    let account = Account {
        user_id: user.id.clone(),
        provider_type: "oauth".into(),
        provider_id: cb.provider_id.clone(),
        provider_account_id: auth.profile.id.clone(),
        refresh_token: tokens.refresh_token.clone(),
        access_token: Some(tokens.access_token.clone()),
        access_token_expires: tokens.expires_at,
        token_type: tokens.token_type.clone(),
        scope: tokens.scope.clone(),
        id_token: tokens.id_token.clone(),
    };
    let sealed = seal(
        cx,
        AccountTokens::from(&account),
        &cb.provider_id,
        &auth.profile.id,
    );
    let Some(sealed) = sealed else {
        return failed(cb, cx, E::StoreFailed, ErrorCode::Callback);
    };
    let account = sealed.apply_to(account);
    let linking = Linking {
        auth,
        user,
        is_new_user,
        events,
    };
    Ok(wait(
        stored::link_account(account),
        move |cb, cx, answer| linking.on_linked(cb, cx, answer),
    ))
}

impl Updating {
    /// `None`: a concurrent sign-in stored newer tokens; either way the sign-in stands.
    fn on_saved(
        self,
        cb: &mut Callback,
        cx: &mut Cx,
        answer: Result<Option<Account>, StoreError>,
    ) -> Result<Go, Fault> {
        match answer {
            Ok(_) => {
                cb.m.link.fire(E::Saved, &mut cx.trace)?;
                issue(cb, cx, self.auth, Some(self.user), false, Vec::new())
            }
            Err(_) => failed(cb, cx, E::StoreFailed, ErrorCode::Callback),
        }
    }
}

impl Creating {
    fn on_created(
        self,
        cb: &mut Callback,
        cx: &mut Cx,
        answer: Result<User, StoreError>,
    ) -> Result<Go, Fault> {
        match answer {
            Ok(user) => {
                cb.m.link.fire(E::Saved, &mut cx.trace)?;
                let events = vec![AuthEvent::CreateUser {
                    user: user_json(&user),
                }];
                link(cb, cx, self.auth, user, true, events)
            }
            Err(_) => failed(cb, cx, E::CreateFailed, ErrorCode::OAuthCreateAccount),
        }
    }
}

impl Linking {
    fn on_linked(
        self,
        cb: &mut Callback,
        cx: &mut Cx,
        answer: Result<Account, StoreError>,
    ) -> Result<Go, Fault> {
        match answer {
            Ok(_) => {
                cb.m.link.fire(E::Saved, &mut cx.trace)?;
                let mut events = self.events;
                events.push(AuthEvent::LinkAccount {
                    user: user_json(&self.user),
                    account: cb.public_account(&self.auth.profile.id),
                });
                issue(cb, cx, self.auth, Some(self.user), self.is_new_user, events)
            }
            Err(_) => failed(cb, cx, E::StoreFailed, ErrorCode::Callback),
        }
    }
}

/// The sign-in tail for `user` (or, without a store, the profile): the session issued,
/// the events out, and the browser landed.
fn issue(
    cb: &mut Callback,
    cx: &mut Cx,
    auth: Authenticated,
    user: Option<User>,
    is_new_user: bool,
    mut events: Vec<AuthEvent>,
) -> Result<Go, Fault> {
    let (user_value, user_id): (Value, String) = match &user {
        Some(user) => (user_json(user), user.id.clone()),
        None => (profile_user(&auth.profile), auth.profile.id.clone()),
    };
    let is_new = cx.config.store.then_some(is_new_user);
    events.push(AuthEvent::SignIn {
        user: user_value.clone(),
        account: cb.public_account(&auth.profile.id),
        is_new_user: is_new,
    });
    let who = SignIn {
        user: user_value,
        user_id,
        account: cb.hook_account(&auth),
        profile: auth.profile.raw,
        is_new_user: is_new,
    };
    let landing = issue::sign_in(cx, who, events, is_new_user)?;
    follow(cb, cx, landing, |cb, cx, landed| match landed {
        Ok(reply) => {
            cb.m.link.fire(E::Issued, &mut cx.trace)?;
            Ok(Go::Reply(reply))
        }
        Err(failure) => failed(cb, cx, E::IssueFailed, failure.code()),
    })
}

/// The provider tokens as they are to be stored: encrypted when `encrypt_provider_tokens`
/// is on (crate::token_cipher). `None` when encryption failed (the random source).
fn seal(
    cx: &mut Cx,
    tokens: AccountTokens,
    provider_id: &str,
    provider_account_id: &str,
) -> Option<AccountTokens> {
    if !cx.config.encrypt_provider_tokens {
        return Some(tokens);
    }
    let cipher = cx.config.token_cipher.clone();
    cipher
        .encrypt_tokens(tokens, provider_id, provider_account_id, &mut *cx.rng)
        .ok()
}
