//! Why a directory refused a bind, for the logs: the client always hears the same
//! `CredentialsSignin`, whatever the reason.

use ldap3::controls::{Control, RawControl};

/// The Password Policy control (draft-behera-ldap-password-policy), asked for on every
/// user bind. Not critical: directories without it ignore it.
pub(crate) const PPOLICY_OID: &str = "1.3.6.1.4.1.42.2.27.8.5.1";

/// The request control (no value).
pub(crate) fn ppolicy_request() -> RawControl {
    RawControl {
        ctype: PPOLICY_OID.into(),
        crit: false,
        val: None,
    }
}

/// The reason a bind was refused, as far as the directory tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Wrong password, or no such entry: directories do not tell these apart.
    BadCredentials,
    /// Locked (OpenLDAP ppolicy `accountLocked`, a `pwdAccountLockedTime` on the entry,
    /// or Active Directory's `data 775`).
    Locked,
    /// The password expired or must be changed first.
    PasswordExpired,
    /// The account is disabled or expired (Active Directory `data 533` / `701`).
    Disabled,
}

impl Refusal {
    /// The refusal as a short, fixed phrase for logs and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::BadCredentials => "wrong password or unknown user",
            Refusal::Locked => "account locked",
            Refusal::PasswordExpired => "password expired or must be changed",
            Refusal::Disabled => "account disabled or expired",
        }
    }
}

/// Classifies a refused bind from its response controls, its diagnostic text, and
/// whether the entry (when it was read first) carries `pwdAccountLockedTime`.
pub(crate) fn classify(controls: &[Control], text: &str, locked_attribute: bool) -> Refusal {
    let ppolicy = controls
        .iter()
        .filter(|Control(_, raw)| raw.ctype == PPOLICY_OID)
        .find_map(|Control(_, raw)| raw.val.as_deref().and_then(ppolicy_error));
    match ppolicy {
        Some(1) => return Refusal::Locked,
        Some(0 | 2) => return Refusal::PasswordExpired,
        _ => {}
    }
    // Active Directory: "80090308: LdapErr: …, data 775, v4563".
    if text.contains("data 775") {
        return Refusal::Locked;
    }
    if text.contains("data 532") || text.contains("data 773") {
        return Refusal::PasswordExpired;
    }
    if text.contains("data 533") || text.contains("data 701") {
        return Refusal::Disabled;
    }
    if locked_attribute {
        return Refusal::Locked;
    }
    Refusal::BadCredentials
}

/// The `error` of a PasswordPolicyResponseValue:
/// `SEQUENCE { warning [0] … OPTIONAL, error [1] ENUMERATED OPTIONAL }`.
fn ppolicy_error(value: &[u8]) -> Option<u8> {
    let (tag, body, _) = tlv(value)?;
    if tag != 0x30 {
        return None;
    }
    let mut rest = body;
    while !rest.is_empty() {
        let (tag, content, after) = tlv(rest)?;
        if tag == 0x81 {
            return content.first().copied();
        }
        rest = after;
    }
    None
}

/// One BER element: (tag, content, what follows). Short and long definite lengths.
fn tlv(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *bytes.first()?;
    let first = *bytes.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let len = bytes
            .get(2..2 + count)?
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, 2 + count)
    };
    let content = bytes.get(header..header.checked_add(len)?)?;
    Some((tag, content, bytes.get(header + len..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(value: &[u8]) -> Vec<Control> {
        vec![Control(
            None,
            RawControl {
                ctype: PPOLICY_OID.into(),
                crit: false,
                val: Some(value.to_vec()),
            },
        )]
    }

    #[test]
    fn reads_the_password_policy_error() {
        // accountLocked, with and without a warning before it.
        assert_eq!(
            classify(&response(&[0x30, 0x03, 0x81, 0x01, 0x01]), "", false),
            Refusal::Locked
        );
        assert_eq!(
            classify(
                &response(&[0x30, 0x07, 0xa0, 0x02, 0x81, 0x00, 0x81, 0x01, 0x00]),
                "",
                false
            ),
            Refusal::PasswordExpired
        );
        // An empty response (OpenLDAP without ppolicy_use_lockout) says nothing.
        assert_eq!(
            classify(&response(&[0x30, 0x00]), "", false),
            Refusal::BadCredentials
        );
        // Truncated or foreign bytes never panic.
        for junk in [
            &[][..],
            &[0x30],
            &[0x30, 0x05, 0x81],
            &[0x04, 0x01, 0x01],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert_eq!(
                classify(&response(junk), "", false),
                Refusal::BadCredentials
            );
        }
    }

    #[test]
    fn reads_active_directory_sub_codes_and_the_lock_attribute() {
        let ad = "80090308: LdapErr: DSID-0C09030B, comment: AcceptSecurityContext error, data 775, v4563";
        assert_eq!(classify(&[], ad, false), Refusal::Locked);
        assert_eq!(
            classify(&[], &ad.replace("775", "533"), false),
            Refusal::Disabled
        );
        assert_eq!(classify(&[], "", true), Refusal::Locked);
        assert_eq!(classify(&[], "", false), Refusal::BadCredentials);
    }
}
