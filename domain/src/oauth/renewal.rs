//! The one rule for renewing a provider's access token with its refresh token, shared by
//! the JWT session read (tokens kept in the session) and the embedded crate's
//! `provider_access_token` (tokens kept on the stored account).

use time::{Duration, OffsetDateTime};

use super::client::{self, ClientError};
use super::{Endpoints, OAuthProvider, Protocol};
use crate::config::Config;
use crate::http::HttpCall;
use crate::secret::SecretString;

/// Renew this long before the provider's expiry, so a token is not handed out moments
/// before it dies.
pub const RENEW_EARLY: Duration = Duration::seconds(30);

/// Whether an access token expiring at `expires` must be renewed before use. A token whose
/// expiry the provider did not give is used as it is.
pub fn due(expires: Option<OffsetDateTime>, now: OffsetDateTime) -> bool {
    expires.is_some_and(|at| at <= now + RENEW_EARLY)
}

/// The configured provider `provider_id`, when its tokens can be renewed: OAuth 2 (OAuth 1
/// has no refresh grant).
pub fn renewable_provider<'c>(config: &'c Config, provider_id: &str) -> Option<&'c OAuthProvider> {
    config
        .provider(provider_id)
        .and_then(|p| p.as_oauth())
        .filter(|p| p.protocol == Protocol::OAuth2)
}

/// The refresh grant to send to `endpoints` (discovered, when the provider names only an
/// issuer).
pub fn refresh_request(
    provider: &OAuthProvider,
    endpoints: &Endpoints,
    refresh_token: &SecretString,
    now: OffsetDateTime,
) -> Result<HttpCall, ClientError> {
    let secret = client::client_secret(provider, now)?;
    client::refresh_call(provider, endpoints, refresh_token, &secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_token_is_renewed_from_thirty_seconds_before_it_expires() {
        let now = datetime!(2030-01-01 12:00:00 UTC);
        assert!(due(Some(now - Duration::seconds(1)), now));
        assert!(due(Some(now + Duration::seconds(30)), now));
        assert!(!due(Some(now + Duration::seconds(31)), now));
        assert!(!due(None, now), "no expiry given: used as it is");
    }
}
