//! The browser going to the provider and back: signing in, consenting, returning to the
//! site, and the cookies it carries.

use cucumber::{given, when};
use http::Method;
use portcullis::CookieKey;
use serde_json::Value;

use crate::steps::form;
use crate::world::{AuthWorld, ProviderAnswer, Req, Resp};

impl AuthWorld {
    /// `POST BASE/signin/<id>` as the sign-in page's button does; remembers where the site
    /// sends the browser.
    pub(crate) async fn oauth_sign_in(
        &mut self,
        id: &str,
        callback_url: Option<&str>,
        json: bool,
    ) -> Resp {
        let csrf_cookie = self.cookie_name(CookieKey::CsrfToken).await;
        let csrf = match self.jar.get(&csrf_cookie) {
            Some(_) => self.csrf_or_fetch().await,
            None => self.fetch_csrf().await,
        };
        let target = self.route(&format!("/signin/{id}")).await;
        let mut fields = vec![("csrfToken", csrf.as_str())];
        if let Some(url) = callback_url {
            fields.push(("callbackUrl", url));
        }
        if json {
            fields.push(("json", "true"));
        }
        let resp = self.post_form(&target, form(&fields)).await;
        let url = if json {
            serde_json::from_str::<Value>(&resp.body)
                .ok()
                .and_then(|v| v["url"].as_str().map(str::to_owned))
        } else {
            resp.header("location")
        };
        let origin = self.provider.as_ref().map(|p| p.origin());
        self.oauth.authorization_url =
            url.filter(|u| origin.as_ref().is_some_and(|o| u.starts_with(o.as_str())));
        self.oauth.back = None;
        resp
    }

    /// The browser at the provider's authorisation URL: the provider answers with a redirect
    /// to the site's callback (or, for `form_post`, a page that POSTs the answer there).
    pub(crate) async fn consent(&mut self) {
        let url = self
            .oauth
            .authorization_url
            .clone()
            .expect("the site did not send the browser to the provider");
        let resp = self
            .client
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp.text().await.unwrap_or_default();
        let answer = match (status, location) {
            (302, Some(location)) => {
                let mut parsed = url::Url::parse(&location).expect("a callback URL");
                let fields = parsed
                    .query_pairs()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                parsed.set_query(None);
                ProviderAnswer {
                    url: parsed.into(),
                    fields,
                    post: false,
                }
            }
            (200, None) if body.contains("<form method=\"post\"") => form_post_page(&body),
            _ => panic!("the provider refused the authorisation request ({status}): {body}"),
        };
        self.oauth.back = Some(answer);
    }

    /// The browser carries the provider's answer back to the site. A form POST comes from
    /// the provider's page, cross-site: it carries no SameSite=Lax cookie.
    pub(crate) async fn go_back(&mut self) -> Resp {
        let answer = self
            .oauth
            .back
            .clone()
            .expect("the provider has not answered yet: say `When I consent at the provider`");
        let path = self.on_site(&answer.url).await;
        let pairs: Vec<(&str, &str)> = answer
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if answer.post {
            let mut req = Req::new(Method::POST, &path).form(form(&pairs));
            req.with_jar = false;
            self.send(req).await
        } else {
            let query = form(&pairs);
            let target = if query.is_empty() {
                path
            } else {
                format!("{path}?{query}")
            };
            self.send(Req::new(Method::GET, &target)).await
        }
    }

    fn answer_mut(&mut self) -> &mut ProviderAnswer {
        self.oauth
            .back
            .as_mut()
            .expect("the provider has not answered yet")
    }

    /// Signs in at the provider all the way: the site, the provider, back to the site.
    pub(crate) async fn oauth_round_trip(&mut self, id: &str, callback_url: Option<&str>) -> Resp {
        let resp = self.oauth_sign_in(id, callback_url, false).await;
        assert!(
            self.oauth.authorization_url.is_some(),
            "the site did not send the browser to the provider: {resp:?}"
        );
        self.consent().await;
        self.go_back().await
    }
}

/// The fields of the provider's auto-submitting `form_post` page.
fn form_post_page(page: &str) -> ProviderAnswer {
    let attr = |tag: &str, name: &str| {
        let marker = format!("{name}=\"");
        tag.find(&marker).and_then(|at| {
            let rest = &tag[at + marker.len()..];
            rest.find('"').map(|end| rest[..end].to_owned())
        })
    };
    let url = attr(page, "action").expect("the form has an action");
    let fields = page
        .split("<input")
        .skip(1)
        .filter_map(|tag| Some((attr(tag, "name")?, attr(tag, "value")?)))
        .collect();
    ProviderAnswer {
        url,
        fields,
        post: true,
    }
}

#[when(expr = "I sign in with {string}")]
async fn sign_in_with(w: &mut AuthWorld, id: String) {
    w.oauth_sign_in(&id, None, false).await;
}

#[when(expr = "I sign in with {string} and the callback URL {string}")]
async fn sign_in_with_callback(w: &mut AuthWorld, id: String, url: String) {
    let url = w.expand(&url);
    w.oauth_sign_in(&id, Some(&url), false).await;
}

#[when(expr = "I sign in with {string} asking for JSON")]
async fn sign_in_json(w: &mut AuthWorld, id: String) {
    w.oauth_sign_in(&id, None, true).await;
}

#[when("I consent at the provider")]
async fn consent(w: &mut AuthWorld) {
    w.consent().await;
}

#[when("I return to the site")]
#[when("I return to the site again")]
async fn go_back(w: &mut AuthWorld) {
    w.go_back().await;
}

#[when(expr = "I return to the site with {word} set to {string}")]
async fn go_back_with(w: &mut AuthWorld, name: String, value: String) {
    let value = w.expand(&value);
    let answer = w.answer_mut();
    answer.fields.retain(|(k, _)| *k != name);
    answer.fields.push((name, value));
    w.go_back().await;
}

#[when(expr = "I return to the site without {word}")]
async fn go_back_without(w: &mut AuthWorld, name: String) {
    w.answer_mut().fields.retain(|(k, _)| *k != name);
    w.go_back().await;
}

#[when(expr = "I return to the site at the callback of {string}")]
async fn go_back_elsewhere(w: &mut AuthWorld, id: String) {
    let answer = w.answer_mut();
    let (base, _) = answer
        .url
        .rsplit_once("/callback/")
        .expect("a callback URL");
    answer.url = format!("{base}/callback/{id}");
    w.go_back().await;
}

#[when(expr = "the provider sends me back with the error {string}")]
async fn provider_error(w: &mut AuthWorld, error: String) {
    let url = w
        .oauth
        .authorization_url
        .clone()
        .expect("the site did not send the browser to the provider");
    let parsed = url::Url::parse(&url).expect("a URL");
    let param = |name: &str| {
        parsed
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let redirect_uri = param("redirect_uri").expect("a redirect_uri");
    let mut fields = vec![("error".to_owned(), error)];
    if let Some(state) = param("state") {
        fields.push(("state".into(), state));
    }
    w.oauth.back = Some(ProviderAnswer {
        url: redirect_uri,
        fields,
        post: false,
    });
    w.go_back().await;
}

#[given(expr = "I signed in with {string} at the provider")]
#[when(expr = "I sign in with {string} at the provider")]
async fn round_trip(w: &mut AuthWorld, id: String) {
    w.oauth_round_trip(&id, None).await;
}

#[when(expr = "I sign in with {string} at the provider and the callback URL {string}")]
async fn round_trip_to(w: &mut AuthWorld, id: String, url: String) {
    w.oauth_round_trip(&id, Some(&url)).await;
}

#[when(expr = "I lose my {string} cookie")]
async fn lose_cookie(w: &mut AuthWorld, name: String) {
    assert!(
        w.jar.get(&name).is_some(),
        "the browser has no {name} cookie"
    );
    w.jar.remove(&name);
}

#[when(expr = "I remember my {string} cookie as {string}")]
async fn remember_cookie(w: &mut AuthWorld, name: String, saved: String) {
    let value = w
        .jar
        .get(&name)
        .unwrap_or_else(|| panic!("the browser has no {name} cookie"))
        .to_owned();
    w.saved.insert(saved, value);
}

#[when(expr = "my {string} cookie is {string}")]
async fn set_cookie(w: &mut AuthWorld, name: String, value: String) {
    let value = w.expand(&value);
    w.jar.set(&name, &value);
}

#[when(expr = "my session cookie is my {string} cookie")]
async fn check_as_session(w: &mut AuthWorld, name: String) {
    let value = w
        .jar
        .get(&name)
        .unwrap_or_else(|| panic!("the browser has no {name} cookie"))
        .to_owned();
    w.set_session_cookie(&value).await;
}

#[when("the site restarts")]
async fn restart(w: &mut AuthWorld) {
    w.stop().await;
    // A new process: nothing cached (discovery documents, key sets).
    w.setup_mut();
}
