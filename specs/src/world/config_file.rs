//! The configuration file (TOML) that runs a [`Setup`] on the real binary, as an operator
//! writes it.

use portcullis::CookieKey;

use super::{AuthWorld, MailMode, OAuthEntry, Setup, StoreMode};

impl AuthWorld {
    /// The server configuration (TOML) that runs `setup` on the real binary: what
    /// [`Self::build`] builds in process, as an operator writes it.
    pub(super) async fn server_toml(&mut self, setup: &Setup) -> Result<String, String> {
        use serde_json::json;
        let dir = self.site_dir();
        let mut session = json!({
            "strategy": if setup.database_sessions { "database" } else { "jwt" },
        });
        if let Some(age) = setup.session_max_age {
            session["max_age"] = json!(age);
        }
        if let Some(age) = setup.session_update_age {
            session["update_age"] = json!(age);
        }
        if let Some(age) = setup.session_absolute_max_age {
            session["absolute_max_age"] = json!(age);
        }
        let mut jwt = json!({ "encryption": setup.encryption });
        if setup.jwt_revocable {
            jwt["revocable"] = json!(true);
        }
        if let Some(age) = setup.jwt_max_age {
            jwt["max_age"] = json!(age);
        }
        if let Some(jwk) = &setup.jwt_signing_key {
            jwt["signing_key"] = json!(jwk);
        }
        if let Some(jwk) = &setup.jwt_encryption_key {
            jwt["encryption_key"] = json!(jwk);
        }
        let mut cookies = serde_json::Map::new();
        for (key, policy) in &setup.cookies {
            let name = match key {
                CookieKey::SessionToken => "sessionToken",
                CookieKey::CallbackUrl => "callbackUrl",
                CookieKey::CsrfToken => "csrfToken",
                CookieKey::PkceCodeVerifier => "pkceCodeVerifier",
                CookieKey::State => "state",
                CookieKey::Nonce => "nonce",
                CookieKey::OAuthTokenSecret => "oauthTokenSecret",
            };
            cookies.insert(name.into(), json!(policy));
        }
        if self.backend_service.is_none() && (setup.credentials || !setup.unbacked.is_empty()) {
            let service = crate::steps::BackendService::start(self.authorize_seen.clone()).await;
            self.backend_service = Some(service);
        }
        let mut providers: Vec<serde_json::Value> = Vec::new();
        for id in &setup.unbacked {
            // The server has no credentials provider without a backend (it refuses to
            // start): one whose service never answers is the nearest.
            let service = self.backend_service.as_ref().expect("started");
            providers.push(json!({
                "type": "credentials",
                "id": id,
                "name": id,
                "http": {
                    "url": crate::mailbox::unreachable_url().replace("smtp://", "http://"),
                    "secret": service.secret,
                },
            }));
        }
        providers.extend(setup.oauth.iter().map(oauth_provider_config));
        if setup.credentials {
            let service = self.backend_service.as_ref().expect("started");
            providers.push(json!({
                "type": "credentials",
                "id": "credentials",
                "name": "Credentials",
                "http": { "url": service.url, "secret": service.secret },
            }));
        }
        if let Some(max_age) = setup.email {
            let smtp = match setup.mail {
                MailMode::Unreachable => crate::mailbox::unreachable_url(),
                _ => {
                    if let Err(why) = crate::mailbox::preflight() {
                        panic!("{why}");
                    }
                    crate::mailbox::smtp_url()
                }
            };
            providers.push(json!({
                "type": "email",
                "id": "email",
                "name": "Email",
                "max_age": max_age,
                "smtp": smtp,
                "from": format!("Portcullis <{}>", self.mail_sender),
            }));
        }
        let mut config = json!({
            "url": setup.url,
            "secret": setup.secrets,
            "allow_short_secret": setup.allow_short_secret,
            // The scenario's providers run on 127.0.0.1 (issue 11 §9).
            "allow_private_network": true,
            "data_dir": dir.join("data"),
            "session": session,
            "jwt": jwt,
            "cookies": cookies,
            "pages": setup.pages,
            "providers": providers,
        });
        if let Some(on) = setup.use_secure_cookies {
            config["use_secure_cookies"] = json!(on);
        }
        match setup.store {
            StoreMode::None => config["stateless"] = json!(true),
            StoreMode::Backed => {
                let store = self.store().await;
                match &store.location {
                    _ if self.binary_sled.is_some() => {}
                    crate::stores::Location::Sql(url) => config["database"] = json!(url),
                    crate::stores::Location::Mongo { url, database } => {
                        let mut url = url::Url::parse(url).expect("a MongoDB URL");
                        url.set_path(&format!("/{database}"));
                        config["database"] = json!(url.to_string());
                    }
                    crate::stores::Location::ThisHandle => {
                        panic!(
                            "the {:?} store cannot be shared with the binary",
                            store.kind
                        )
                    }
                }
            }
            StoreMode::Refusing => panic!("a recording store runs in process only"),
        }
        if setup.provider_tokens_in_jwt {
            config["jwt"]["provider_tokens"] = json!(true);
        }
        let toml = toml::to_string(&without_nulls(config))
            .unwrap_or_else(|e| panic!("the server configuration as TOML: {e}"));
        // Each OAuth provider must come out of the file exactly as the scenario made it.
        let parsed = portcullis_server::ServerConfig::from_toml(&toml)
            .unwrap_or_else(|e| panic!("the server configuration is refused: {e}\n{toml}"));
        for entry in &setup.oauth {
            let built = parsed.providers.iter().find_map(|p| match p {
                portcullis_server::ProviderConfig::Oauth(o) if o.id() == entry.id => {
                    Some(o.build())
                }
                _ => None,
            });
            match built {
                Some(Ok((id, name, provider)))
                    if id == entry.id && name == entry.name && provider == entry.provider => {}
                other => {
                    return Err(format!(
                        "the OAuth provider {:?} cannot be described in the file ({other:?})",
                        entry.id
                    ))
                }
            }
        }
        Ok(toml)
    }
}

/// The `[[providers]]` entry of an OAuth provider (what `oauth_config.rs` reads).
fn oauth_provider_config(entry: &OAuthEntry) -> serde_json::Value {
    use portcullis::oauth::{ClientSecret, ProfileSource, Protocol};
    use serde_json::json;
    let p = &entry.provider;
    let e = &p.endpoints;
    let pairs = |list: &[(String, String)]| -> serde_json::Map<String, serde_json::Value> {
        list.iter().map(|(k, v)| (k.clone(), json!(v))).collect()
    };
    let mut c = json!({
        "type": "oauth",
        "id": entry.id,
        "name": entry.name,
        "client_id": p.client_id,
        "issuer": e.issuer,
        "authorization_url": e.authorization,
        "token_url": e.token,
        "userinfo_url": e.userinfo,
        "jwks_uri": e.jwks_uri,
        "request_token_url": e.request_token,
        "scope": p.scope,
        "authorization_params": pairs(&p.authorization_params),
        "token_params": pairs(&p.token_params),
        "headers": pairs(&p.headers),
        "checks": { "state": p.checks.state, "pkce": p.checks.pkce, "nonce": p.checks.nonce },
        "client_auth": match p.client_auth {
            portcullis_domain::oauth::ClientAuth::Post => "post",
            portcullis_domain::oauth::ClientAuth::Basic => "basic",
        },
        "profile_source": match p.profile_source {
            ProfileSource::Userinfo => "userinfo",
            ProfileSource::IdToken => "id_token",
            ProfileSource::IdTokenAndUserinfo => "id_token_and_userinfo",
        },
        "allow_dangerous_email_account_linking": p.allow_dangerous_email_account_linking,
    });
    if entry.preset {
        // The preset with the scenarios' options; its parameters are the preset's own.
        let options = crate::steps::preset_options(&entry.id);
        c["preset"] = json!(entry.id);
        c["domain"] = json!(options.domain);
        c["tenant"] = json!(options.tenant);
        c["region"] = json!(options.region);
        c["api_version"] = json!(options.api_version);
        c["headers"] = json!(pairs(&options.headers));
        if let Some(o) = c.as_object_mut() {
            o.remove("authorization_params");
            o.remove("token_params");
        }
    } else if p.protocol == Protocol::OAuth1 {
        c["protocol"] = json!("oauth1");
    }
    if p.protocol == Protocol::OAuth1 {
        if let Some(o) = c.as_object_mut() {
            o.remove("checks");
        }
    }
    match &p.client_secret {
        ClientSecret::Secret(secret) => c["client_secret"] = json!(secret.expose()),
        ClientSecret::AppleKey {
            key_id,
            team_id,
            private_key,
        } => {
            c["apple_key_id"] = json!(key_id);
            c["apple_team_id"] = json!(team_id);
            c["apple_private_key"] = json!(private_key.expose());
        }
    }
    let path = |field: &portcullis_domain::oauth::Field| match field {
        portcullis_domain::oauth::Field::Path(path) => Some(path.clone()),
        _ => None,
    };
    let m = &p.profile;
    c["profile"] = json!({
        "id": path(&m.id),
        "name": path(&m.name),
        "email": path(&m.email),
        "image": path(&m.image),
        "email_verified": path(&m.email_verified),
    });
    c
}

/// `value` without its `null`s (TOML has none: an absent key is the default).
fn without_nulls(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}
