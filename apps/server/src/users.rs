//! The users file credentials backend: `[[users]]` with Argon2id password hashes, checked
//! by an [`Authorize`] implementation; and the hashing behind `portcullis hash-password`.
//!
//! ```toml
//! [[users]]
//! username = "jane"
//! password_hash = "$argon2id$v=19$m=19456,t=2,p=1$…"
//! name = "Jane"
//! email = "jane@example.com"
//! id = "42"            # optional, default: the username
//! ```

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use portcullis::{Authorize, ErrorCode, HookFailure, RequestInfo};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::sync::Semaphore;

/// Checked when the username is unknown, so that an unknown user costs what a known one
/// does (Argon2id, default parameters, hash of a random password nobody knows).
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$TnvQWM14X+GdDOY3EadfYw$T05YUoRKPELr6AZyMr3DkDVSia8ZKHUyC5WoeD6al2o";

/// Why a password cannot be hashed or a hash cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// The password is empty.
    #[error("the password is empty")]
    Empty,
    /// The hash is not an Argon2id PHC string.
    #[error("not an Argon2id PHC string (make one with `portcullis hash-password`)")]
    NotArgon2id,
    /// Argon2 failed (its message).
    #[error("argon2: {0}")]
    Argon2(String),
}

/// Hashes a password as an Argon2id PHC string (default parameters: 19 MiB, 2 passes,
/// 1 lane) with a random 16-byte salt. Refuses an empty password.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.is_empty() {
        return Err(PasswordError::Empty);
    }
    hash_with(password, Params::default())
}

fn hash_with(password: &str, params: Params) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Argon2(e.to_string()))
}

/// Checks a password against an Argon2id PHC string, in constant time in the hash output.
/// `false` for a wrong password or an unusable hash. CPU-heavy: call it off the async
/// executor.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) if hash.algorithm == Algorithm::Argon2id.ident() => Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
        _ => false,
    }
}

/// Reads a PHC string as Argon2id parameters, refusing anything else.
fn argon2id_params(phc: &str) -> Result<Params, PasswordError> {
    let hash = PasswordHash::new(phc).map_err(|_| PasswordError::NotArgon2id)?;
    if hash.algorithm != Algorithm::Argon2id.ident() || hash.salt.is_none() || hash.hash.is_none() {
        return Err(PasswordError::NotArgon2id);
    }
    Params::try_from(&hash).map_err(|e| PasswordError::Argon2(e.to_string()))
}

/// Whether two parameter sets cost the same to compute.
fn same_cost(a: &Params, b: &Params) -> bool {
    (a.m_cost(), a.t_cost(), a.p_cost()) == (b.m_cost(), b.t_cost(), b.p_cost())
        && a.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)
            == b.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)
}

/// One user as written in the users file.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    /// What the person types in the `username` field.
    pub username: String,
    /// Argon2id PHC string (`portcullis hash-password`).
    pub password_hash: String,
    /// The user id in the session (default: the username).
    #[serde(default)]
    pub id: Option<String>,
    /// The user's name in the session.
    #[serde(default)]
    pub name: Option<String>,
    /// The user's e-mail address in the session.
    #[serde(default)]
    pub email: Option<String>,
}

// The hash stays out of logs.
impl std::fmt::Debug for UserEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserEntry")
            .field("username", &self.username)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default)]
    users: Vec<UserEntry>,
}

/// A users file, loaded and checked: a credentials backend.
///
/// Unknown usernames are checked against a dummy hash with the same parameters, so the
/// time taken does not tell which usernames exist. Hashing runs on tokio's blocking pool,
/// at most as many at once as the machine has cores.
#[derive(Clone)]
pub struct UserDirectory {
    users: Arc<HashMap<String, UserEntry>>,
    dummy_hash: Arc<str>,
    permits: Arc<Semaphore>,
}

impl std::fmt::Debug for UserDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserDirectory")
            .field("users", &self.users.len())
            .finish_non_exhaustive()
    }
}

impl UserDirectory {
    /// Loads a users file. Errors name the line (TOML) or the user.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
        Self::from_toml(&text)
    }

    /// Parses the text of a users file.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let file: UsersFile = toml::from_str(text).map_err(|e| e.to_string())?;
        Self::new(file.users)
    }

    /// Checks the entries: non-empty unique usernames, Argon2id hashes.
    pub fn new(entries: Vec<UserEntry>) -> Result<Self, String> {
        let mut users = HashMap::with_capacity(entries.len());
        let mut params = None;
        for entry in entries {
            if entry.username.is_empty() {
                return Err("a user has an empty username".into());
            }
            let user_params = argon2id_params(&entry.password_hash)
                .map_err(|e| format!("user {:?}: password_hash is {e}", entry.username))?;
            params.get_or_insert(user_params);
            if let Some(first) = users.insert(entry.username.clone(), entry) {
                return Err(format!("user {:?} is listed twice", first.username));
            }
        }
        // The dummy must cost what the real hashes cost: the fixed one has the default
        // parameters; for other parameters (those of the first user) one is made now.
        let dummy = match params {
            Some(params) if !same_cost(&params, &Params::default()) => {
                hash_with("portcullis-dummy-password", params).map_err(|e| e.to_string())?
            }
            _ => DUMMY_HASH.to_owned(),
        };
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(Self {
            users: Arc::new(users),
            dummy_hash: dummy.into(),
            permits: Arc::new(Semaphore::new(cores)),
        })
    }

    /// The development backend: one user `demo` / `demo`, hashed now.
    pub fn demo() -> Result<Self, String> {
        let hash = hash_password("demo").map_err(|e| e.to_string())?;
        Self::new(vec![UserEntry {
            username: "demo".into(),
            password_hash: hash,
            id: Some("demo".into()),
            name: Some("Demo User".into()),
            email: Some("demo@example.com".into()),
        }])
    }

    /// How many users the file holds.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the file holds no user.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The user's session JSON if `password` is theirs.
    pub async fn check(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<Value>, HookFailure> {
        let user = self.users.get(username);
        let hash: Arc<str> = match user {
            Some(user) => user.password_hash.as_str().into(),
            None => self.dummy_hash.clone(),
        };
        let password = password.to_owned();
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| HookFailure::Error(ErrorCode::Configuration))?;
        let verified = tokio::task::spawn_blocking(move || {
            let ok = verify_password(&password, &hash);
            drop(permit);
            ok
        })
        .await
        .map_err(|_| {
            tracing::error!(target: "portcullis::users", "password check did not complete");
            HookFailure::Error(ErrorCode::Configuration)
        })?;
        Ok(match user {
            Some(user) if verified => Some(json!({
                "id": user.id.as_deref().unwrap_or(&user.username),
                "name": user.name,
                "email": user.email,
                "image": null,
            })),
            _ => None,
        })
    }
}

#[async_trait]
impl Authorize for UserDirectory {
    /// Reads the `username` and `password` fields; anything missing or not a string is a
    /// failed sign-in.
    async fn authorize(
        &self,
        credentials: &Map<String, Value>,
        _request: &RequestInfo,
    ) -> Result<Option<Value>, HookFailure> {
        let field = |name: &str| credentials.get(name).and_then(Value::as_str);
        match (field("username"), field("password")) {
            (Some(username), Some(password)) => self.check(username, password).await,
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_costs_what_a_default_hash_costs() {
        let dummy = argon2id_params(DUMMY_HASH).unwrap();
        assert!(same_cost(&dummy, &Params::default()));
        let fresh = argon2id_params(&hash_password("x").unwrap()).unwrap();
        assert!(same_cost(&fresh, &dummy));
        let cheap = Params::new(Params::MIN_M_COST, 1, 1, None).unwrap();
        assert!(!same_cost(&cheap, &dummy));
        // Users with default parameters share the fixed dummy; others get one of their cost.
        let hash = hash_password("x").unwrap();
        let entry = |password_hash: String| UserEntry {
            username: "u".into(),
            password_hash,
            id: None,
            name: None,
            email: None,
        };
        let users = UserDirectory::new(vec![entry(hash)]).unwrap();
        assert_eq!(&*users.dummy_hash, DUMMY_HASH);
        let users =
            UserDirectory::new(vec![entry(hash_with("x", cheap.clone()).unwrap())]).unwrap();
        let made = argon2id_params(&users.dummy_hash).unwrap();
        assert!(same_cost(&made, &cheap));
    }

    #[test]
    fn debug_output_hides_hashes() {
        let users = UserDirectory::new(vec![UserEntry {
            username: "jane".into(),
            password_hash: DUMMY_HASH.into(),
            id: None,
            name: None,
            email: None,
        }])
        .unwrap();
        assert!(!format!("{users:?}").contains("argon2"));
        assert!(!format!("{:?}", users.users.get("jane")).contains("argon2"));
    }
}
