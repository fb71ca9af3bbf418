//! OAuth 1.0a request signing (HMAC-SHA1) with the oauth1-request crate. The nonce and
//! timestamp come from the caller, so signing stays pure.

use std::num::NonZeroU64;

use oauth1_request as oauth;

use crate::http::{HttpCall, HttpMethod};
use crate::secret::SecretString;

/// One signed call's inputs.
pub struct Signing<'a> {
    /// The client id (OAuth 1.0a's consumer key).
    pub consumer_key: &'a str,
    /// The client secret: the first half of the HMAC-SHA1 key.
    pub consumer_secret: &'a str,
    /// The request token (access-token call) or access token (resource calls).
    pub token: Option<(&'a str, &'a str)>,
    /// `oauth_callback`: where the provider sends the browser (request-token call only).
    pub callback: Option<&'a str>,
    /// `oauth_verifier` from the provider's callback (access-token call only).
    pub verifier: Option<&'a str>,
    /// `oauth_nonce`: random, once per call.
    pub nonce: &'a str,
    /// `oauth_timestamp`, Unix seconds.
    pub timestamp: u64,
}

/// Why a call could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The call's URL does not parse.
    #[error("not a URL")]
    Url,
    /// The timestamp is 0.
    #[error("timestamp must be positive")]
    Timestamp,
}

/// `call` with its `Authorization: OAuth …` header. Query parameters of the URL take part
/// in the signature (Twitter's `include_email=true`).
pub fn sign(mut call: HttpCall, signing: &Signing<'_>) -> Result<HttpCall, SignError> {
    let parsed = url::Url::parse(&call.url).map_err(|_| SignError::Url)?;
    let mut base = parsed.clone();
    base.set_query(None);
    base.set_fragment(None);
    let params: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
    let params = oauth::request::ParameterList::new(params);
    let client = oauth::Credentials::new(signing.consumer_key, signing.consumer_secret);
    let mut builder = oauth::Builder::<_, _, &str>::new(client, oauth::HMAC_SHA1);
    builder
        .token(signing.token.map(|(t, s)| oauth::Credentials::new(t, s)))
        .callback(signing.callback)
        .verifier(signing.verifier)
        .nonce(signing.nonce)
        .timestamp(NonZeroU64::new(signing.timestamp).ok_or(SignError::Timestamp)?);
    let method = match call.method {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
    };
    let header = builder.authorize(method, base.as_str(), &params);
    call.headers
        .push(("authorization".into(), SecretString::new(header)));
    Ok(call)
}

/// A form-encoded answer (`oauth_token=…&oauth_token_secret=…`) as pairs.
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// The non-empty value of `name` in a parsed form.
pub fn form_value(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_rfc5849_example() {
        // RFC 5849 §1.2: the photos.example.net access to `photos?file=vacation.jpg&size=original`.
        let call =
            HttpCall::get("http://photos.example.net/photos?file=vacation.jpg&size=original");
        let signed = sign(
            call,
            &Signing {
                consumer_key: "dpf43f3p2l4k3l03",
                consumer_secret: "kd94hf93k423kf44",
                token: Some(("nnch734d00sl2jdk", "pfkkdhi9sl3r4s00")),
                callback: None,
                verifier: None,
                nonce: "chapoH",
                timestamp: 137131202,
            },
        )
        .unwrap();
        let header = signed.headers[0].1.expose();
        assert!(header.starts_with("OAuth "), "{header}");
        assert!(
            header.contains("oauth_signature=\"MdpQcU8iPSUjWoN%2FUDMsK2sui9I%3D\""),
            "{header}"
        );
        assert_eq!(
            signed.url,
            "http://photos.example.net/photos?file=vacation.jpg&size=original"
        );
    }

    #[test]
    fn forms_parse() {
        assert_eq!(
            parse_form(b"oauth_token=a&oauth_token_secret=b%2Bc"),
            vec![
                ("oauth_token".to_owned(), "a".to_owned()),
                ("oauth_token_secret".to_owned(), "b+c".to_owned())
            ]
        );
    }
}
