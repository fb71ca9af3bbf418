//! The browser's part of a run: CSRF, sign-in, the provider's authorisation URL, the
//! callback (with a freshly signed ID token where the preset is OpenID), the session.

use super::*;

impl Run<'_> {
    /// The browser's part; `Err` ends the run (what the provider saw is still checked).
    pub(super) async fn drive(
        &self,
        seen: &mut Seen,
        problems: &mut Vec<String>,
    ) -> Result<(), String> {
        let id = self.id;
        let cookies = &self.app.config().cookies;
        let mut browser = Browser::new(&self.app);

        let page = browser.get("/api/auth/csrf").await;
        let csrf: Value = serde_json::from_str(&page.body).map_err(|e| format!("csrf: {e}"))?;
        let csrf = csrf["csrfToken"]
            .as_str()
            .ok_or("csrf: no csrfToken")?
            .to_owned();

        let page = browser
            .post_form(
                &format!("/api/auth/signin/{id}"),
                &[("csrfToken", csrf.as_str()), ("callbackUrl", CALLBACK_URL)],
                true,
            )
            .await;
        let authorization = match (page.status, page.location) {
            (302, Some(location)) => location,
            (status, location) => {
                return Err(format!(
                    "sign-in answered {status} {location:?}, not a redirect to the provider"
                ))
            }
        };
        let query = self.check_authorization_url(&authorization, problems)?;
        let state = values(&query, "state").first().map(|s| s.to_string());
        let nonce = values(&query, "nonce").first().map(|s| s.to_string());
        seen.code_challenge = values(&query, "code_challenge")
            .first()
            .map(|s| s.to_string());

        // The provider's answers, now that the nonce is known.
        let mut token = self.fixture.token.clone();
        if self.wants_id_token() {
            let id_token = self.id_token(nonce.as_deref());
            token["id_token"] = json!(id_token);
            seen.id_token = Some(id_token);
        }
        let token_path = url(self.preset.endpoints.token.as_deref().unwrap_or_default());
        self.idp.serve(token_path.path(), Answer::json(&token));
        if self.provider.profile_source != ProfileSource::IdToken {
            let userinfo = self
                .userinfo_url()
                .ok_or("the preset has no userinfo URL")?;
            self.idp
                .serve(userinfo.path(), Answer::json(&self.fixture.profile));
        }

        // The provider sends the browser back.
        let mut back = vec![("code", CODE)];
        if let Some(state) = &state {
            back.push(("state", state));
        }
        let callback_path = format!("/api/auth/callback/{id}");
        let page = if self.provider.form_post {
            let post = browser.post_form(&callback_path, &back, false).await;
            // 303 makes every client repeat the request as a GET; a 302 after a POST
            // only does so by browser custom (RFC 9110 §15.4.3). Noted, then followed.
            let location = match (post.status, post.location) {
                (status @ (302 | 303), Some(location)) => {
                    if status != 303 {
                        problems.push(format!(
                            "form_post callback without check cookies answered {status}, not 303"
                        ));
                    }
                    location
                }
                (status, location) => {
                    return Err(format!(
                        "form_post callback without check cookies answered {status} {location:?}, not a redirect"
                    ))
                }
            };
            // The POST carried none of the browser's cookies, so whatever the answer sets
            // (a default callback URL, a fresh CSRF token) overwrites what the browser had.
            if !post.set_cookies.is_empty() {
                problems.push(format!(
                    "the form_post reroute overwrites the browser's cookies {:?}",
                    post.set_cookies
                ));
            }
            let target = url(&location);
            let expected: Vec<(String, String)> = back
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            if target.as_str().split('?').next() != Some(&self.redirect_uri())
                || pairs(target.query().unwrap_or_default().as_bytes()) != expected
            {
                problems.push(format!(
                    "form_post reroute went to {location}, not the GET callback with code and state"
                ));
            }
            let path_and_query = &location[target.origin().ascii_serialization().len()..];
            browser.get(path_and_query).await
        } else {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&back)
                .finish();
            browser.get(&format!("{callback_path}?{query}")).await
        };
        match (page.status, page.location.as_deref()) {
            (302, Some(CALLBACK_URL)) => {}
            (status, location) => {
                return Err(format!(
                    "callback answered {status} {location:?}, not 302 to {CALLBACK_URL}"
                ))
            }
        }
        if browser
            .cookie(&cookies.session_token.name)
            .is_none_or(str::is_empty)
        {
            return Err("the callback set no session cookie".into());
        }
        seen.signed_in = true;
        for policy in [&cookies.state, &cookies.pkce_code_verifier, &cookies.nonce] {
            if browser.cookie(&policy.name).is_some() {
                problems.push(format!("check cookie {} was not cleared", policy.name));
            }
        }

        let page = browser.get("/api/auth/session").await;
        let session: Value =
            serde_json::from_str(&page.body).map_err(|e| format!("session: {e}"))?;
        let expected = &self.fixture.expected;
        let user = json!({
            "name": expected["name"],
            "email": expected["email"],
            "image": expected["image"],
        });
        if session["user"] != user {
            problems.push(format!(
                "/session user is {}, expected {user}",
                session["user"]
            ));
        }
        Ok(())
    }

    /// The authorisation URL: the preset's path and fixed parameters on the local origin,
    /// with Portcullis's parameters exactly once each. Returns its query.
    fn check_authorization_url(
        &self,
        location: &str,
        problems: &mut Vec<String>,
    ) -> Result<Vec<(String, String)>, String> {
        let got = url::Url::parse(location)
            .map_err(|e| format!("authorisation URL {location:?}: {e}"))?;
        let preset = url(self
            .preset
            .endpoints
            .authorization
            .as_deref()
            .unwrap_or_default());
        if got.origin().ascii_serialization() != self.idp.origin || got.path() != preset.path() {
            return Err(format!(
                "authorisation URL {location} is not the preset's path {} on {}",
                preset.path(),
                self.idp.origin
            ));
        }
        let query: Vec<(String, String)> = got.query_pairs().into_owned().collect();
        let mut problem = |p: String| problems.push(format!("authorisation URL: {p}"));
        for (k, v) in preset.query_pairs() {
            if !values(&query, &k).contains(&v.as_ref()) {
                problem(format!("lost the preset's {k}={v}"));
            }
        }
        for (k, v) in &self.provider.authorization_params {
            if values(&query, k) != [v.as_str()] {
                problem(format!("{k} is {:?}, expected [{v:?}]", values(&query, k)));
            }
        }
        let redirect_uri = self.redirect_uri();
        let checks = self.provider.checks;
        let once = |name: &str, wanted: Want| -> Option<String> {
            let found = values(&query, name);
            let ok = match wanted {
                Want::Absent => found.is_empty(),
                Want::Any => found.len() == 1 && !found[0].is_empty(),
                Want::Exactly(value) => found == [value],
            };
            (!ok).then(|| format!("{name} is {found:?}, expected {wanted:?}"))
        };
        let when = |on: bool, want: Want<'static>| if on { want } else { Want::Absent };
        let expectations = [
            ("response_type", Want::Exactly("code")),
            ("client_id", Want::Exactly(CLIENT_ID)),
            ("redirect_uri", Want::Exactly(&redirect_uri)),
            (
                "scope",
                self.provider
                    .scope
                    .as_deref()
                    .map_or(Want::Absent, Want::Exactly),
            ),
            ("state", when(checks.state, Want::Any)),
            ("code_challenge", when(checks.pkce, Want::Any)),
            (
                "code_challenge_method",
                when(checks.pkce, Want::Exactly("S256")),
            ),
            ("nonce", when(checks.nonce, Want::Any)),
        ];
        for (name, wanted) in expectations {
            if let Some(p) = once(name, wanted) {
                problem(p);
            }
        }
        if self.provider.form_post {
            if let Some(p) = once("response_mode", Want::Exactly("form_post")) {
                problem(p);
            }
        }
        if !checks.state {
            return Err("the preset turned state off".into());
        }
        Ok(query)
    }

    /// An ID token as the provider would sign it: the fixture profile's claims plus the
    /// registered ones, bound to the sign-in's nonce.
    fn id_token(&self, nonce: Option<&str>) -> String {
        let mut claims: Map<String, Value> = self
            .fixture
            .profile
            .as_object()
            .cloned()
            .unwrap_or_default();
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .or(self.fixture.expected("id"))
            .unwrap_or_default()
            .to_owned();
        let issuer = self.provider.endpoints.issuer.clone().unwrap_or_default();
        let now = NOW.unix_timestamp();
        claims.insert("iss".into(), json!(issuer));
        claims.insert("aud".into(), json!(CLIENT_ID));
        claims.insert("sub".into(), json!(sub));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + 600));
        match nonce {
            Some(nonce) => claims.insert("nonce".into(), json!(nonce)),
            None => claims.remove("nonce"),
        };
        self.key.sign(claims)
    }
}
