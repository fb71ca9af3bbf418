//! Time and randomness, so the domain never reads either by itself.

use rand_core::CryptoRngCore;
use time::OffsetDateTime;

/// The current time.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> OffsetDateTime;
}

/// A source of randomness for one request. It mints session IVs, CSRF tokens and OAuth
/// checks, so it must be a cryptographic RNG. Production: the OS CSPRNG.
pub trait Entropy: Send + Sync {
    /// A cryptographic random number generator for one request.
    fn rng(&self) -> Box<dyn CryptoRngCore + Send>;
}

impl<F> Clock for F
where
    F: Fn() -> OffsetDateTime + Send + Sync,
{
    fn now(&self) -> OffsetDateTime {
        self()
    }
}
