//! The error codes of v3's wire (`?error=`, spec §13.6).

use std::fmt;

/// A code in `BASE/error?error=<code>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorCode {
    /// The server is misconfigured, or failed in a way the user cannot fix.
    Configuration,
    /// The `signIn` callback refused the sign-in.
    AccessDenied,
    /// The magic link expired or was used already.
    Verification,
    /// A sign-in failed for a reason no other code names.
    Signin,
    /// Starting an OAuth sign-in failed (building the authorisation URL).
    OAuthSignin,
    /// The provider's callback failed a check, or the provider's answer is unusable.
    OAuthCallback,
    /// The user for an OAuth sign-in could not be created.
    OAuthCreateAccount,
    /// The user for an e-mail sign-in could not be created.
    EmailCreateAccount,
    /// A callback route failed otherwise (store or hook errors).
    Callback,
    /// The address belongs to a user who signed in another way; the account is not linked.
    OAuthAccountNotLinked,
    /// The magic link could not be sent.
    EmailSignin,
    /// `authorize` turned the credentials down.
    CredentialsSignin,
    /// Portcullis: the submitted address is not exactly one valid mailbox.
    EmailInvalid,
    /// Free text, e.g. the message of an error thrown by a hook.
    Other(String),
}

impl ErrorCode {
    /// The code for this `?error=` value; an unknown one is kept as [`ErrorCode::Other`].
    pub fn parse(code: &str) -> Self {
        match code {
            "Configuration" => Self::Configuration,
            "AccessDenied" => Self::AccessDenied,
            "Verification" => Self::Verification,
            "Signin" => Self::Signin,
            "OAuthSignin" => Self::OAuthSignin,
            "OAuthCallback" => Self::OAuthCallback,
            "OAuthCreateAccount" => Self::OAuthCreateAccount,
            "EmailCreateAccount" => Self::EmailCreateAccount,
            "Callback" => Self::Callback,
            "OAuthAccountNotLinked" => Self::OAuthAccountNotLinked,
            "EmailSignin" => Self::EmailSignin,
            "CredentialsSignin" => Self::CredentialsSignin,
            "EmailInvalid" => Self::EmailInvalid,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The `?error=` value.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Other(text) => text,
            known => known.v3_name().unwrap_or_default(),
        }
    }

    /// The name of a code v3 (or Portcullis) defines; `None` for free text.
    pub fn v3_name(&self) -> Option<&'static str> {
        Some(match self {
            Self::Configuration => "Configuration",
            Self::AccessDenied => "AccessDenied",
            Self::Verification => "Verification",
            Self::Signin => "Signin",
            Self::OAuthSignin => "OAuthSignin",
            Self::OAuthCallback => "OAuthCallback",
            Self::OAuthCreateAccount => "OAuthCreateAccount",
            Self::EmailCreateAccount => "EmailCreateAccount",
            Self::Callback => "Callback",
            Self::OAuthAccountNotLinked => "OAuthAccountNotLinked",
            Self::EmailSignin => "EmailSignin",
            Self::CredentialsSignin => "CredentialsSignin",
            Self::EmailInvalid => "EmailInvalid",
            Self::Other(_) => return None,
        })
    }

    /// Codes the error route forwards to the sign-in page (spec §1.4.6 step 2).
    pub fn shown_on_signin_page(&self) -> bool {
        matches!(
            self,
            Self::Signin
                | Self::OAuthSignin
                | Self::OAuthCallback
                | Self::OAuthCreateAccount
                | Self::EmailCreateAccount
                | Self::Callback
                | Self::OAuthAccountNotLinked
                | Self::EmailSignin
                | Self::CredentialsSignin
                | Self::EmailInvalid
        )
    }
}

impl From<&str> for ErrorCode {
    fn from(code: &str) -> Self {
        Self::parse(code)
    }
}

impl From<String> for ErrorCode {
    fn from(code: String) -> Self {
        match Self::parse(&code) {
            Self::Other(_) => Self::Other(code),
            known => known,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for code in [
            "Configuration",
            "AccessDenied",
            "Verification",
            "Signin",
            "OAuthSignin",
            "OAuthCallback",
            "OAuthCreateAccount",
            "EmailCreateAccount",
            "Callback",
            "OAuthAccountNotLinked",
            "EmailSignin",
            "CredentialsSignin",
            "EmailInvalid",
            "whatever",
        ] {
            assert_eq!(ErrorCode::parse(code).as_str(), code);
        }
        assert!(ErrorCode::CredentialsSignin.shown_on_signin_page());
        assert!(!ErrorCode::AccessDenied.shown_on_signin_page());
        assert!(!ErrorCode::parse("accessdenied").shown_on_signin_page());
    }
}
