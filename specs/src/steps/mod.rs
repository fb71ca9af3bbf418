//! Step definitions. The same steps serve both targets: they talk to the site only through
//! [`AuthWorld::send`], which calls the engine or the real server.

mod backends;
pub(crate) mod browser;
mod email;
mod given;
mod hook_server;
mod keys;
mod oauth;
mod oauth_then;
mod stores;
mod then;
mod when;

pub(crate) use backends::{
    drop_tables as drop_password_tables, BackendService, CredentialsService, PasswordTable,
};
pub(crate) use hook_server::HookServer;
use http::Method;
pub(crate) use oauth::preset_options;
use portcullis::CookieKey;
use serde_json::Value;

use crate::doubles::{PASSWORD, USERNAME};
use crate::world::{AuthWorld, Req, Resp, Target};

/// The text of a step's docstring, without the surrounding blank lines.
pub(crate) fn docstring(step: &cucumber::gherkin::Step) -> String {
    step.docstring
        .as_deref()
        .expect("this step takes a docstring (\"\"\")")
        .trim_matches('\n')
        .to_owned()
}

/// An `application/x-www-form-urlencoded` body.
pub(crate) fn form(fields: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

pub(crate) fn require_embedded(world: &AuthWorld, what: &str) {
    assert_eq!(
        world.target,
        Target::Embedded,
        "{what} needs the embedded engine: tag the scenario @embedded"
    );
}

impl AuthWorld {
    /// `BASE` + `path`, as a request target (the base path of the configured site).
    pub(crate) async fn route(&mut self, path: &str) -> String {
        let app = self.app().await;
        format!("{}{path}", app.config().site.base_path())
    }

    pub(crate) async fn get(&mut self, target: &str) -> Resp {
        let target = self.expand(target);
        self.send(Req::new(Method::GET, &target)).await
    }

    pub(crate) async fn post_form(&mut self, target: &str, body: String) -> Resp {
        self.send(Req::new(Method::POST, target).form(body)).await
    }

    /// `GET BASE/csrf`; the token becomes `{csrf}`.
    pub(crate) async fn fetch_csrf(&mut self) -> String {
        let target = self.route("/csrf").await;
        let resp = self.get(&target).await;
        assert_eq!(resp.status, 200, "GET {target}: {}", resp.body);
        resp.json()["csrfToken"]
            .as_str()
            .expect("a csrfToken")
            .to_owned()
    }

    pub(crate) async fn csrf_or_fetch(&mut self) -> String {
        match &self.csrf {
            Some(token) => token.clone(),
            None => self.fetch_csrf().await,
        }
    }

    /// Credentials sign-in with `json=true`.
    pub(crate) async fn sign_in(&mut self, username: &str, password: &str) -> Resp {
        let csrf = self.csrf_or_fetch().await;
        let target = self.route("/callback/credentials").await;
        let body = form(&[
            ("csrfToken", &csrf),
            ("username", username),
            ("password", password),
            ("json", "true"),
        ]);
        self.post_form(&target, body).await
    }

    /// Signs Jane in as a browser would (no `json`): a 302 and a session cookie.
    pub(crate) async fn signed_in(&mut self) {
        let csrf = self.fetch_csrf().await;
        let target = self.route("/callback/credentials").await;
        let body = form(&[
            ("csrfToken", &csrf),
            ("username", USERNAME),
            ("password", PASSWORD),
        ]);
        let resp = self.post_form(&target, body).await;
        assert_eq!(resp.status, 302, "sign-in failed: {resp:?}");
        let name = self.cookie_name(CookieKey::SessionToken).await;
        assert!(
            self.jar.get(&name).is_some(),
            "sign-in set no session cookie {name}: {resp:?}"
        );
    }

    pub(crate) async fn sign_out(&mut self) -> Resp {
        let csrf = self.csrf_or_fetch().await;
        let target = self.route("/signout").await;
        self.post_form(&target, form(&[("csrfToken", &csrf), ("json", "true")]))
            .await
    }

    pub(crate) async fn read_session(&mut self) -> Resp {
        let target = self.route("/session").await;
        let resp = self.get(&target).await;
        assert_eq!(resp.status, 200, "GET {target}: {resp:?}");
        resp
    }

    /// The session cookie's value in the jar.
    pub(crate) async fn session_cookie(&mut self) -> String {
        let name = self.cookie_name(CookieKey::SessionToken).await;
        self.jar
            .get(&name)
            .unwrap_or_else(|| panic!("the browser has no {name} cookie"))
            .to_owned()
    }

    pub(crate) async fn set_session_cookie(&mut self, value: &str) {
        let name = self.cookie_name(CookieKey::SessionToken).await;
        self.jar.set(&name, value);
    }
}

/// Stores a user (not through the engine) and returns its id.
pub(crate) async fn store_user(w: &mut AuthWorld, name: Option<&str>, email: &str) -> String {
    use portcullis_domain::model::NewUser;
    let store = w.store().await;
    store
        .backend()
        .create_user(NewUser {
            name: name.map(str::to_owned),
            email: Some(email.to_owned()),
            email_verified: None,
            image: None,
        })
        .await
        .unwrap_or_else(|e| panic!("storing the user {email}: {e}"))
        .id
}

impl AuthWorld {
    /// The request target of an absolute URL on this site (`Location`, a mail's link);
    /// panics when the URL leaves the site.
    pub(crate) async fn on_site(&mut self, url: &str) -> String {
        let app = self.app().await;
        let base = app.config().site.base_url().to_owned();
        url.strip_prefix(&base)
            .filter(|rest| rest.starts_with('/'))
            .unwrap_or_else(|| panic!("{url} leaves the site {base}"))
            .to_owned()
    }
}

/// The CSRF token a response hands out: `{"csrfToken"}` JSON or a page's hidden input.
pub(crate) fn csrf_in(resp: &Resp) -> Option<String> {
    if let Ok(Value::Object(json)) = serde_json::from_str::<Value>(&resp.body) {
        return json
            .get("csrfToken")
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    let marker = "name=\"csrfToken\" value=\"";
    let start = resp.body.find(marker)? + marker.len();
    let len = resp.body[start..].find('"')?;
    Some(resp.body[start..start + len].to_owned())
}
