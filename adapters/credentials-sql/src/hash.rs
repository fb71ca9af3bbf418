//! The password hashes a table may hold, told apart by their prefix, and verified with the
//! RustCrypto crates: PHC strings (`$argon2id$…`, `$scrypt$…`, `$pbkdf2-sha256$…`) through
//! `password-hash`, and bcrypt's modular-crypt `$2b$…` through the `bcrypt` crate
//! (RustCrypto has no PHC bcrypt).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params};

/// A hash scheme a password table may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Argon2id PHC string (`$argon2id$`).
    Argon2id,
    /// Argon2i PHC string (`$argon2i$`).
    Argon2i,
    /// Argon2d PHC string (`$argon2d$`).
    Argon2d,
    /// `$2a$`, `$2b$`, `$2x$` or `$2y$` (bcrypt reads at most 72 bytes of a password).
    Bcrypt,
    /// scrypt PHC string (`$scrypt$`).
    Scrypt,
    /// PBKDF2-HMAC-SHA256 PHC string (`$pbkdf2-sha256$`).
    Pbkdf2Sha256,
    /// PBKDF2-HMAC-SHA512 PHC string (`$pbkdf2-sha512$`).
    Pbkdf2Sha512,
}

impl Scheme {
    /// Every scheme, in the order of [`Scheme::name`]s documented for `allowed_schemes`.
    pub const ALL: [Scheme; 7] = [
        Scheme::Argon2id,
        Scheme::Argon2i,
        Scheme::Argon2d,
        Scheme::Bcrypt,
        Scheme::Scrypt,
        Scheme::Pbkdf2Sha256,
        Scheme::Pbkdf2Sha512,
    ];

    /// The name used in configuration (`allowed_schemes`) and logs; for PHC schemes, the
    /// PHC identifier.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Argon2id => "argon2id",
            Scheme::Argon2i => "argon2i",
            Scheme::Argon2d => "argon2d",
            Scheme::Bcrypt => "bcrypt",
            Scheme::Scrypt => "scrypt",
            Scheme::Pbkdf2Sha256 => "pbkdf2-sha256",
            Scheme::Pbkdf2Sha512 => "pbkdf2-sha512",
        }
    }

    /// The scheme a configuration name stands for.
    pub fn from_name(name: &str) -> Option<Scheme> {
        Scheme::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The scheme of a stored hash; `None` when it is none of [`Scheme::ALL`].
    pub fn of(stored: &str) -> Option<Scheme> {
        if ["$2a$", "$2b$", "$2x$", "$2y$"]
            .iter()
            .any(|prefix| stored.starts_with(prefix))
        {
            return Some(Scheme::Bcrypt);
        }
        let hash = PasswordHash::new(stored).ok()?;
        Scheme::from_name(hash.algorithm.as_str()).filter(|s| *s != Scheme::Bcrypt)
    }
}

/// Whether `password` matches `stored`, a hash of `scheme`. `false` also for a hash that
/// does not parse. CPU-heavy: call it off the async executor.
pub fn verify(scheme: Scheme, password: &str, stored: &str) -> bool {
    if scheme == Scheme::Bcrypt {
        return bcrypt::verify(password, stored).unwrap_or(false);
    }
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    let password = password.as_bytes();
    match scheme {
        // Each reads its algorithm variant and parameters from the hash.
        Scheme::Argon2id | Scheme::Argon2i | Scheme::Argon2d => {
            Argon2::default().verify_password(password, &hash).is_ok()
        }
        Scheme::Scrypt => scrypt::Scrypt.verify_password(password, &hash).is_ok(),
        Scheme::Pbkdf2Sha256 | Scheme::Pbkdf2Sha512 => {
            pbkdf2::Pbkdf2.verify_password(password, &hash).is_ok()
        }
        Scheme::Bcrypt => false,
    }
}

/// Whether a verified hash should be rewritten as Argon2id with today's parameters: any
/// other scheme, or Argon2id costing less memory × passes than the default (19 MiB, 2).
pub fn needs_rehash(scheme: Scheme, stored: &str) -> bool {
    if scheme != Scheme::Argon2id {
        return true;
    }
    let Some(params) = PasswordHash::new(stored)
        .ok()
        .and_then(|hash| Params::try_from(&hash).ok())
    else {
        return true;
    };
    let target = Params::default();
    u64::from(params.m_cost()) * u64::from(params.t_cost())
        < u64::from(target.m_cost()) * u64::from(target.t_cost())
}

/// A fresh Argon2id PHC string with the default parameters (the rehash target, and the
/// dummy checked for unknown users). CPU-heavy.
pub fn hash_argon2id(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::new(
        Algorithm::Argon2id,
        argon2::Version::V0x13,
        Params::default(),
    )
    .hash_password(password.as_bytes(), &salt)
    .map(|hash| hash.to_string())
    .map_err(|e| format!("argon2: {e}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn schemes_are_told_apart_by_their_prefix() {
        let argon = hash_argon2id("pw").unwrap();
        assert_eq!(Scheme::of(&argon), Some(Scheme::Argon2id));
        assert!(verify(Scheme::Argon2id, "pw", &argon));
        assert!(!verify(Scheme::Argon2id, "pw2", &argon));
        assert!(!needs_rehash(Scheme::Argon2id, &argon));
        let salt = SaltString::generate(&mut OsRng);
        let scrypt = scrypt::Scrypt
            .hash_password_customized(
                b"pw",
                None,
                None,
                scrypt::Params::new(4, 8, 1, 32).unwrap(),
                &salt,
            )
            .unwrap()
            .to_string();
        let pbkdf2 = pbkdf2::Pbkdf2
            .hash_password_customized(
                b"pw",
                Some(pbkdf2::Algorithm::Pbkdf2Sha512.ident()),
                None,
                pbkdf2::Params {
                    rounds: 1000,
                    output_length: 64,
                },
                &salt,
            )
            .unwrap()
            .to_string();
        for (stored, scheme) in [
            ("$2a$04$".to_owned(), Scheme::Bcrypt),
            ("$2y$04$".to_owned(), Scheme::Bcrypt),
            (scrypt, Scheme::Scrypt),
            (pbkdf2, Scheme::Pbkdf2Sha512),
        ] {
            assert_eq!(Scheme::of(&stored), Some(scheme), "{stored}");
        }
        for unknown in [
            "",
            "plain",
            "{SSHA}abc",
            "$1$salt$hash",
            "$6$salt$hash",
            "$pbkdf2$i=1000$c2FsdA$aGFzaA",
            "$bcrypt$v=98$c2FsdA$aGFzaA",
        ] {
            assert_eq!(Scheme::of(unknown), None, "{unknown}");
        }
        for scheme in Scheme::ALL {
            assert_eq!(Scheme::from_name(scheme.name()), Some(scheme));
        }
        assert_eq!(Scheme::from_name("md5"), None);
    }
}
