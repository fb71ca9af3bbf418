//! What the pages say for each error code (spec §13.2, §13.5).

use http::StatusCode;

use crate::error::ErrorCode;

/// The sign-in page's error box for `?error=<code>` (spec §13.2; unknown codes: default).
pub fn sign_in_message(code: &ErrorCode) -> &'static str {
    match code {
        ErrorCode::Signin
        | ErrorCode::OAuthSignin
        | ErrorCode::OAuthCallback
        | ErrorCode::OAuthCreateAccount
        | ErrorCode::EmailCreateAccount
        | ErrorCode::Callback => "Try signing in with a different account.",
        ErrorCode::OAuthAccountNotLinked => {
            "To confirm your identity, sign in with the same account you used originally."
        }
        ErrorCode::EmailSignin => "Check your email inbox.",
        ErrorCode::CredentialsSignin => {
            "Sign in failed. Check the details you provided are correct."
        }
        ErrorCode::EmailInvalid => "Enter one valid email address.",
        _ => "Unable to sign in.",
    }
}

/// The error page's status and words for one code.
pub struct ErrorText {
    /// The HTTP status the page answers with.
    pub status: StatusCode,
    /// The page's heading.
    pub heading: &'static str,
    /// The paragraphs under it.
    pub lines: &'static [&'static str],
    /// A "Sign in" button; otherwise a link back to the site.
    pub sign_in_button: bool,
}

/// Spec §13.5: the code matched case-insensitively; anything else (free text from a hook
/// included, which is never echoed) gets the generic page with status 200.
pub fn error_text(code: Option<&ErrorCode>) -> ErrorText {
    let lower = code.map(|c| c.as_str().to_ascii_lowercase());
    match lower.as_deref() {
        Some("configuration") => ErrorText {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            heading: "Server error",
            lines: &[
                "There is a problem with the server configuration.",
                "Check the server logs for more information.",
            ],
            sign_in_button: false,
        },
        Some("accessdenied") => ErrorText {
            status: StatusCode::FORBIDDEN,
            heading: "Access Denied",
            lines: &["You do not have permission to sign in."],
            sign_in_button: true,
        },
        Some("verification") => ErrorText {
            status: StatusCode::FORBIDDEN,
            heading: "Unable to sign in",
            lines: &[
                "The sign in link is no longer valid.",
                "It may have been used already or it may have expired.",
            ],
            sign_in_button: true,
        },
        _ => ErrorText {
            status: StatusCode::OK,
            heading: "Error",
            lines: &["Something went wrong while signing in."],
            sign_in_button: false,
        },
    }
}
