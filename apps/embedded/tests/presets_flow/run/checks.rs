//! The checks after a run: what the store holds, what `/session` says, and what the
//! provider received (token, userinfo, keys and discovery requests).

use super::*;

impl Run<'_> {
    pub(super) async fn check_store_and_session(&self, seen: &Seen, problems: &mut Vec<String>) {
        let account_id = self.fixture.expected("id").unwrap_or_default();
        let account = match self.store.get_account(self.id, account_id).await {
            Ok(Some(account)) => account,
            other => {
                problems.push(format!("store: no account {account_id:?}: {other:?}"));
                return;
            }
        };
        let mut problem = |p: String| problems.push(format!("store: {p}"));
        let expose = |s: &Option<SecretString>| s.as_ref().map(|s| s.expose().to_owned());
        let token = &self.fixture.token;
        let text = |field: &str| token[field].as_str().map(str::to_owned);
        let expires_in = match &token["expires_in"] {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
        .filter(|s| *s > 0); // 0: the token does not expire (Mailchimp)
        let id_token = seen.id_token.clone().or_else(|| text("id_token"));
        let fields = [
            (
                "provider_type",
                Some(account.provider_type.clone()),
                Some("oauth".to_owned()),
            ),
            (
                "access_token",
                expose(&account.access_token),
                Some(self.access_token().to_owned()),
            ),
            (
                "refresh_token",
                expose(&account.refresh_token),
                text("refresh_token"),
            ),
            (
                "access_token_expires",
                account.access_token_expires.map(|t| t.to_string()),
                expires_in.map(|s| (NOW + time::Duration::seconds(s)).to_string()),
            ),
            ("scope", account.scope.clone(), text("scope")),
            ("token_type", account.token_type.clone(), text("token_type")),
            ("id_token", expose(&account.id_token), id_token),
        ];
        for (name, got, expected) in fields {
            if got != expected {
                problem(format!("account {name} is {got:?}, expected {expected:?}"));
            }
        }

        let user = match self.store.get_user(&account.user_id).await {
            Ok(Some(user)) => user,
            other => return problem(format!("no user {:?}: {other:?}", account.user_id)),
        };
        let expected = |f| self.fixture.expected(f).map(str::to_owned);
        for (name, got, want) in [
            ("name", &user.name, expected("name")),
            ("email", &user.email, expected("email")),
            ("image", &user.image, expected("image")),
        ] {
            if *got != want {
                problem(format!("user {name} is {got:?}, expected {want:?}"));
            }
        }
        match self.store.get_user_by_account(self.id, account_id).await {
            Ok(Some(linked)) if linked.id == user.id => {}
            other => problem(format!("account does not lead to its user: {other:?}")),
        }
        let sessions = self.store.list_sessions(&user.id).await.map(|s| s.len());
        let wanted = match self.strategy {
            SessionStrategy::Database => 1,
            SessionStrategy::Jwt => 0,
        };
        if sessions != Ok(wanted) {
            problem(format!("{sessions:?} database sessions, expected {wanted}"));
        }
    }

    /// What the provider received: one token request and (unless the profile is the ID
    /// token) one userinfo request, each as the preset declares; keys and discovery for
    /// OpenID presets; nothing else. Returns whether the token endpoint was called.
    pub(super) fn check_provider_requests(&self, seen: &Seen, problems: &mut Vec<String>) -> bool {
        let log = self.idp.requests();
        for r in log.iter().filter(|r| !r.served) {
            problems.push(format!(
                "provider: unexpected {} {}?{} (not one of the preset's endpoints)",
                r.method, r.path, r.query
            ));
        }
        let to = |path: &str| -> Vec<&Recorded> { log.iter().filter(|r| r.path == path).collect() };

        let token_url = url(self.preset.endpoints.token.as_deref().unwrap_or_default());
        let token_requests = to(token_url.path());
        match token_requests.as_slice() {
            [request] => self.check_token_request(request, &token_url, seen, problems),
            [] => {} // the run ended before the exchange; its error says why
            many => problems.push(format!(
                "token endpoint: {} requests, expected 1",
                many.len()
            )),
        }

        if self.provider.profile_source != ProfileSource::IdToken {
            if let Some(userinfo) = self.userinfo_url() {
                match to(userinfo.path()).as_slice() {
                    [request] => self.check_userinfo_request(request, &userinfo, problems),
                    [] => {}
                    many => problems.push(format!(
                        "userinfo endpoint: {} requests, expected 1",
                        many.len()
                    )),
                }
            }
        }

        if self.wants_id_token() && seen.signed_in {
            let jwks = self.jwks_url();
            if to(url(&jwks).path())
                .iter()
                .all(|r| r.method != http::Method::GET)
            {
                problems.push("provider: the key set was never fetched".into());
            }
            let discovered = log
                .iter()
                .any(|r| r.path.ends_with("/.well-known/openid-configuration"));
            if discovered != self.provider.endpoints.needs_discovery() {
                problems.push(format!("provider: discovery fetched: {discovered}"));
            }
        }
        !token_requests.is_empty()
    }

    fn check_token_request(
        &self,
        request: &Recorded,
        token_url: &url::Url,
        seen: &Seen,
        problems: &mut Vec<String>,
    ) {
        let mut problem = |p: String| problems.push(format!("token request: {p}"));
        let p = &self.provider;
        if request.method != http::Method::POST {
            problem(format!("method {}", request.method));
        }
        let preset_query = pairs(token_url.query().unwrap_or_default().as_bytes());
        if request.query_pairs() != preset_query {
            problem(format!(
                "query {:?}, expected the preset's {preset_query:?}",
                request.query
            ));
        }
        let content_type = request.header("content-type").unwrap_or_default();
        if !content_type.starts_with("application/x-www-form-urlencoded") {
            problem(format!("content-type {content_type:?}"));
        }
        let form = request.form();

        let mut expected_fields: Vec<&str> =
            p.token_params.iter().map(|(k, _)| k.as_str()).collect();
        expected_fields.extend(["code", "redirect_uri"]);
        if p.checks.pkce {
            expected_fields.push("code_verifier");
        }
        if p.client_auth == ClientAuth::Post {
            expected_fields.extend(["client_id", "client_secret"]);
        }
        expected_fields.sort_unstable();
        let mut fields: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
        fields.sort_unstable();
        if fields != expected_fields {
            problem(format!(
                "form fields {fields:?}, expected {expected_fields:?}"
            ));
        }
        for (k, v) in &p.token_params {
            if values(&form, k) != [v.as_str()] {
                problem(format!("{k} is {:?}, expected {v:?}", values(&form, k)));
            }
        }
        if values(&form, "code") != [CODE] {
            problem(format!("code is {:?}", values(&form, "code")));
        }
        if values(&form, "redirect_uri") != [self.redirect_uri().as_str()] {
            problem(format!(
                "redirect_uri is {:?}",
                values(&form, "redirect_uri")
            ));
        }
        if p.checks.pkce {
            let verifier = values(&form, "code_verifier");
            let challenge = verifier.first().map(|v| pkce_challenge(v));
            if challenge.is_none() || challenge != seen.code_challenge {
                problem("code_verifier does not match the code_challenge (S256)".into());
            }
        }

        let authorization = request.header("authorization");
        match p.client_auth {
            ClientAuth::Post => {
                if authorization.is_some() {
                    problem("an Authorization header beside form authentication".into());
                }
                if values(&form, "client_id") != [CLIENT_ID] {
                    problem(format!("client_id is {:?}", values(&form, "client_id")));
                }
                let secret = values(&form, "client_secret");
                match (&p.client_secret, secret.as_slice()) {
                    (ClientSecret::AppleKey { .. }, [jwt]) => {
                        if let Err(e) = self.check_apple_secret(jwt) {
                            problem(e);
                        }
                    }
                    (ClientSecret::Secret(_), [CLIENT_SECRET]) => {}
                    _ => problem("client_secret is missing or wrong".into()),
                }
            }
            ClientAuth::Basic => {
                use base64::Engine;
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                let expected = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!(
                        "{}:{}",
                        enc(CLIENT_ID),
                        enc(CLIENT_SECRET)
                    ))
                );
                if authorization != Some(expected.as_str()) {
                    problem("Authorization is not HTTP Basic with the client credentials".into());
                }
            }
        }
        for (name, value) in &p.headers {
            if request.header(name) != Some(value.as_str()) {
                problem(format!("header {name} missing"));
            }
        }
    }

    /// Apple's `client_secret`: an ES256 JWT of the site's key, with v3's claims (spec §7.9).
    fn check_apple_secret(&self, jwt: &str) -> Result<(), String> {
        let (claims, header) = self.apple.open(jwt)?;
        let now = NOW.unix_timestamp();
        let expected = json!({
            "iss": APPLE_TEAM_ID,
            "sub": CLIENT_ID,
            "aud": "https://appleid.apple.com",
            "iat": now,
            "exp": now + 15_552_000,
        });
        if Value::Object(claims.clone()) != expected || header.key_id() != Some(APPLE_KEY_ID) {
            return Err(format!(
                "Apple client secret has claims {claims:?} and kid {:?}",
                header.key_id()
            ));
        }
        Ok(())
    }

    fn check_userinfo_request(
        &self,
        request: &Recorded,
        userinfo: &url::Url,
        problems: &mut Vec<String>,
    ) {
        let mut problem = |p: String| problems.push(format!("userinfo request: {p}"));
        let p = &self.provider;
        let method = match p.userinfo.method {
            HttpMethod::Get => http::Method::GET,
            HttpMethod::Post => http::Method::POST,
        };
        if request.method != method {
            problem(format!("method {}, expected {method}", request.method));
        }
        if !request.body.is_empty() {
            problem("has a body".into());
        }
        let mut query = pairs(userinfo.query().unwrap_or_default().as_bytes());
        if p.userinfo.token_in_query {
            query.push(("access_token".into(), self.access_token().into()));
        }
        let names =
            |pairs: &[(String, String)]| pairs.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
        if request.query_pairs() != query {
            // Names only: the query may carry the access token.
            let got = names(&request.query_pairs());
            problem(format!(
                "query parameters {got:?} differ from the expected {:?} (names or values)",
                names(&query)
            ));
        }
        let bearer = format!("Bearer {}", self.access_token());
        let expected = p.userinfo.token_in_header.then_some(bearer.as_str());
        if request.header("authorization") != expected {
            problem(match expected {
                Some(_) => "no Authorization: Bearer <access token>".into(),
                None => "an Authorization header the preset does not send".into(),
            });
        }
        let client_id = p.userinfo.client_id_header.then_some(CLIENT_ID);
        if request.header("client-id") != client_id {
            problem(format!(
                "Client-ID is {:?}, expected {client_id:?}",
                request.header("client-id")
            ));
        }
        for (name, value) in &p.headers {
            if request.header(name) != Some(value.as_str()) {
                problem(format!("header {name} missing"));
            }
        }
    }
}
