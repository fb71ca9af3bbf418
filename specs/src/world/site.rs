//! Starting the site a [`Setup`] describes: the engine built in process, or the real
//! binary (or the Lambda function, or the axum example) run from a configuration file.

use std::net::SocketAddr;
use std::sync::Arc;

use portcullis::{Portcullis, Provider};

use super::{
    credential_fields, in_process_only, AuthWorld, Frontend, MailMode, Setup, StoreMode, Target,
    SECRET,
};
use crate::doubles::{backend, AppSender, PlainCodec, ScriptedHooks};

/// The site as it runs. With the real binary, `app` is the same configuration checked
/// in process (`portcullis config check`'s engine), read for cookie names and the like.
pub(super) struct Running {
    pub(super) app: Portcullis,
    pub(super) server: Option<Served>,
    /// Keeps a server configuration's data directory alive.
    _data_dir: Option<tempfile::TempDir>,
}

/// The server the HTTP target speaks to. One per scenario: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub(super) enum Served {
    /// `portcullis serve` from the scenario's configuration file.
    Binary(crate::binary::ServerProcess),
    /// `portcullis-lambda` from the scenario's configuration file, under the emulator.
    Lambda(crate::lambda::LambdaProcess),
}

impl Served {
    pub(super) fn addr(&self) -> SocketAddr {
        match self {
            Served::Binary(process) => process.addr,
            Served::Lambda(process) => process.addr,
        }
    }

    /// What comes before the site's paths on this server.
    pub(super) fn prefix(&self) -> &str {
        match self {
            Served::Binary(_) => "",
            Served::Lambda(process) => &process.prefix,
        }
    }

    pub(super) async fn stop(self) {
        match self {
            Served::Binary(process) => process.stop().await,
            Served::Lambda(process) => process.stop().await,
        }
    }
}

impl AuthWorld {
    pub(super) async fn start(&mut self) -> Running {
        if self.setup().store != StoreMode::None {
            self.store().await;
        }
        let setup = self.setup().clone();
        if let (Some(toml), Target::Http) = (&setup.server_config, self.target) {
            return start_binary(toml, setup.server_dev_mode, setup.frontend).await;
        }
        if self.target == Target::Http {
            let toml = match in_process_only(&setup, self.store_kind) {
                Some(why) => Err(why.to_owned()),
                None => self.server_toml(&setup).await,
            };
            // The HTTP target runs the real binary only.
            match toml {
                Ok(toml) => return self.start_configured(&toml).await,
                Err(why) => panic!(
                    "the HTTP target runs the real binary, and this setup cannot: {why}; tag \
                     the scenario @embedded"
                ),
            }
        }
        // The embedded target: the engine in process, no server.
        let (app, data_dir) = match &setup.server_config {
            Some(toml) => {
                let (app, dir) = build_from_server_config(toml, setup.server_dev_mode);
                (app, Some(dir))
            }
            None => (self.build(&setup), None),
        };
        let server = None;
        Running {
            app,
            server,
            _data_dir: data_dir,
        }
    }

    /// Runs the real binary from the configuration file `toml`, in the scenario's directory.
    async fn start_configured(&mut self, toml: &str) -> Running {
        let config = portcullis_server::ServerConfig::from_toml(toml)
            .unwrap_or_else(|e| panic!("the server configuration is refused: {e}\n{toml}"));
        let app = portcullis_server::app::check(&config)
            .unwrap_or_else(|e| panic!("the server configuration does not check: {e}\n{toml}"));
        if self.binary_sled.is_some() {
            self.release_sled().await;
        }
        let dir = self.site_dir();
        let process = crate::binary::ServerProcess::start(&dir, toml, false).await;
        Running {
            app,
            server: Some(Served::Binary(process)),
            _data_dir: None,
        }
    }

    pub(super) fn build(&mut self, setup: &Setup) -> Portcullis {
        // The scenarios' providers run on 127.0.0.1 (issue 11 §9).
        let mut builder = Portcullis::builder()
            .url(&setup.url)
            .allow_private_network(true);
        for secret in &setup.secrets {
            builder = builder.secret(secret);
        }
        let s = setup.clone();
        builder = builder.configure(move |mut c| {
            c = c
                .allow_short_secret(s.allow_short_secret)
                .jwt_encryption(s.encryption);
            if let Some(age) = s.session_max_age {
                c = c.session_max_age(age);
            }
            if let Some(age) = s.jwt_max_age {
                c = c.jwt_max_age(age);
            }
            if let Some(on) = s.use_secure_cookies {
                c = c.use_secure_cookies(on);
            }
            for (key, policy) in s.cookies {
                c = c.cookie(key, policy);
            }
            for id in &s.unbacked {
                c = c.provider(Provider::credentials(id, id, credential_fields()));
            }
            if s.database_sessions {
                c = c.session_strategy(portcullis::SessionStrategy::Database);
            }
            if let Some(age) = s.session_update_age {
                c = c.session_update_age(age);
            }
            if let Some(age) = s.session_absolute_max_age {
                c = c.session_absolute_max_age(age);
            }
            c = c.jwt_revocable(s.jwt_revocable);
            if let Some(throttle) = s.throttle {
                c = c.throttle(throttle);
            }
            if s.plain_codec {
                c = c.codec(Arc::new(PlainCodec));
            }
            if let Some(jwk) = &s.jwt_signing_key {
                c = c.jwt_signing_key(jwk.as_str());
            }
            if let Some(jwk) = &s.jwt_encryption_key {
                c = c.jwt_encryption_key(jwk.as_str());
            }
            c.provider_tokens_in_jwt(s.provider_tokens_in_jwt)
                .pages(s.pages)
        });
        for entry in &setup.oauth {
            builder = builder.oauth(&entry.id, &entry.name, entry.provider.clone());
        }
        if setup.credentials {
            builder = builder.credentials(
                "credentials",
                "Credentials",
                credential_fields(),
                backend(setup.backend.clone(), self.authorize_seen.clone()),
            );
        }
        if let Some(max_age) = setup.email {
            builder = builder.email("email", "Email", max_age);
            builder = match setup.mail {
                MailMode::Smtp => builder.mailer(crate::mailbox::smtp_mailer(&self.mail_sender)),
                MailMode::Unreachable => {
                    builder.mailer(crate::mailbox::unreachable_mailer(&self.mail_sender))
                }
                MailMode::AppSender { fails } => {
                    let sender = self
                        .app_sender
                        .get_or_insert_with(|| {
                            Arc::new(AppSender {
                                fails,
                                ..AppSender::default()
                            })
                        })
                        .clone();
                    builder.verification_sender(sender)
                }
            };
        }
        if setup.hooks.any() {
            let scripted = ScriptedHooks {
                script: setup.hooks.clone(),
                events: self.events.clone(),
            };
            builder = builder.hooks(scripted.into_hooks());
        }
        if setup.store != StoreMode::None {
            let store = self
                .store
                .clone()
                .expect("the store is made before the site");
            builder = builder.store(store);
        }
        if self.target == Target::Embedded {
            builder = builder.clock(self.clock.clone());
        }
        builder
            .observe(crate::coverage::observer(self.target))
            .build()
            .unwrap_or_else(|e| panic!("the site's configuration is refused: {e}"))
    }
}

/// Runs the real binary from the scenario's configuration file, in a fresh directory with
/// the users file (`{dir}` in the TOML).
async fn start_binary(toml: &str, dev: bool, frontend: Frontend) -> Running {
    let (dir, text) = server_directory(toml);
    let config = portcullis_server::ServerConfig::from_toml(&text)
        .unwrap_or_else(|e| panic!("the server configuration is refused: {e}"));
    let app = match portcullis_server::app::check(&config) {
        Ok(app) => app,
        // Dev mode needs no secret; the binary makes one. The URL decides the cookie names.
        Err(_) if dev => Portcullis::builder()
            .url(config.effective_url())
            .secret(SECRET)
            .build()
            .expect("a minimal engine for the dev site's cookie names"),
        Err(e) => panic!("the server configuration does not check: {e}"),
    };
    let server = match frontend {
        Frontend::Server => {
            Served::Binary(crate::binary::ServerProcess::start(dir.path(), &text, dev).await)
        }
        Frontend::Lambda => {
            assert!(!dev, "the Lambda function has no dev mode");
            Served::Lambda(crate::lambda::LambdaProcess::start(dir.path(), &text).await)
        }
        Frontend::Axum => {
            assert!(!dev, "the axum example has no dev mode");
            Served::Binary(crate::binary::ServerProcess::start_axum(dir.path(), &text).await)
        }
    };
    Running {
        app,
        server: Some(server),
        _data_dir: Some(dir),
    }
}

/// Runs the real binary from `toml` (in a fresh directory, as [`start_binary`] does),
/// expecting it to refuse to start: its exit status and standard error.
pub(crate) async fn refused_binary(toml: &str, dev: bool) -> (Option<i32>, String) {
    let (dir, text) = server_directory(toml);
    crate::binary::ServerProcess::refused(dir.path(), &text, dev).await
}

/// Builds the site in process with the server's own code: TOML configuration, users file,
/// sled store. `{dir}` in the TOML is a fresh temporary directory.
fn build_from_server_config(toml: &str, dev: bool) -> (Portcullis, tempfile::TempDir) {
    let (dir, text) = server_directory(toml);
    let config = portcullis_server::ServerConfig::from_toml(&text)
        .unwrap_or_else(|e| panic!("the server configuration is refused: {e}"));
    let app = portcullis_server::build_app(&config, dev)
        .unwrap_or_else(|e| panic!("the server does not start: {e}"));
    (app, dir)
}

/// A fresh directory holding the scenarios' users file; `toml` with `{dir}` replaced.
fn server_directory(toml: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let users = dir.path().join("users.toml");
    let hash = portcullis_server::hash_password(crate::doubles::PASSWORD).expect("hashing");
    std::fs::write(
        &users,
        format!(
            "[[users]]\nusername = \"{}\"\npassword_hash = \"{hash}\"\nid = \"42\"\nname = \"Jane Doe\"\nemail = \"jane@example.com\"\n",
            crate::doubles::USERNAME
        ),
    )
    .expect("writing the users file");
    let text = toml.replace("{dir}", &dir.path().display().to_string());
    // Top-level keys first (before any table): the scenarios' providers and services run on
    // 127.0.0.1, which the server refuses unless told (issue 11 §9), and a configuration
    // without a URL is refused outside `--dev`; the scenario's site is where a developer's
    // app would be (as `binary` sets NEXTAUTH_URL). A scenario that sets either keeps it.
    let mut preamble = String::new();
    if !text.contains("allow_private_network") {
        preamble.push_str("allow_private_network = true\n");
    }
    if portcullis_server::ServerConfig::from_toml(&text).is_ok_and(|c| c.url.is_none()) {
        preamble.push_str("url = \"http://localhost:3000\"\n");
    }
    (dir, preamble + &text)
}
