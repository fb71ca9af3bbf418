//! E-mail addresses: the one canonicalisation step every submitted address goes through
//! before anything else (store, hooks, mailer) sees it.
//!
//! [`canonicalize`] turns what a user typed into an [`EmailAddress`] — exactly one mailbox,
//! in one canonical spelling — or refuses it with an [`AddressError`] whose
//! [`code`](AddressError::code) is stable and names the class of mistake. The canonical
//! string is both the stored identifier and the only `RCPT TO` (security checklist §1 #8,
//! #11, #12).
//!
//! # Pipeline
//!
//! 1. If the input, trimmed, is longer than 4 KiB it is refused (`too_long`) before any
//!    Unicode work, so a huge body costs nothing.
//! 2. **NFKC**. Compatibility forms become their plain forms: full-width `＠` (U+FF20)
//!    becomes `@`, `ｊ` becomes `j`, U+3000 becomes a space. *Everything below looks at
//!    the normalised text*, so a character that turns into `@`, `,` or `.` under NFKC counts
//!    as that character: `jane＠evil.com@x.org` has two `@` and is refused. This is the
//!    order checklist #12 asks for (normalise, then validate); validating first and letting a
//!    later layer normalise is the bug it records.
//! 3. **Trim** spaces at both ends (Unicode white space, but not control characters: a
//!    trailing `\n` or `\r` is refused, not trimmed, since no form field produces one and it
//!    is the usual header-injection probe). Trimming after NFKC also trims compatibility
//!    spaces.
//! 4. **Validate** (below), in a fixed order, so one input always gets the same code.
//! 5. **Lower-case** (ASCII; after validation the address is ASCII), as v3 does.
//!
//! Characters that NFKC folds to ASCII (full-width `＠`, `．`, letters) are refused as
//! `confusable` before normalising (issue 4: "full-width ＠ and other confusables are
//! refused"). So whatever is accepted reads the same normalised or not:
//! `canonicalize(x) == Ok(a)` implies `canonicalize(nfkc(x)) == Ok(a)`, and a canonical
//! address canonicalises to itself (both are property tests).
//!
//! # Rules and codes, in the order they are checked
//!
//! | code | refused |
//! |---|---|
//! | `empty` | nothing left after trimming |
//! | `too_long` | over 254 bytes in all (RFC 5321 path limit), or a local part over 64 bytes |
//! | `control_character` | C0/C1 controls (incl. `\n`, `\r`, `\t`, NUL), bidirectional overrides, embeddings, isolates and marks (U+202A–U+202E, U+2066–U+2069, U+200E/F, U+061C), zero-width and other invisible format characters |
//! | `display_name` | `<` or `>`: `Jane <jane@x.org>`, `"X" <a@b>` |
//! | `list` | `,` or `;`: `a@b.c, d@e.f`, `a@b.c;d@e.f` |
//! | `quoted_local_part` | any `"`: `"e@attacker.tld"@victim.tld` |
//! | `comment` | `(` or `)`: `jane(work)@x.org` |
//! | `whitespace` | white space inside the address |
//! | `non_ascii` | any character still outside ASCII after NFKC (see *Internationalised addresses*) |
//! | `missing_at` | no `@` |
//! | `multiple_at` | more than one `@` |
//! | `invalid_local_part` | empty, or not a dot-atom (RFC 5322 §3.2.3: atoms of `atext` joined by single dots, none leading or trailing), or contains `!` or `%` |
//! | `ip_literal` | a domain literal `[…]` |
//! | `invalid_domain` | empty; a label not 1–63 of letters, digits, hyphens with no hyphen at either end (RFC 1035 §2.3.1); an empty label (leading, trailing or double dot); an all-numeric last label (looks like an IPv4 address, RFC 3696 §2); a single label other than `localhost` |
//!
//! # Choices
//!
//! * **Stricter than RFC 5322, on purpose.** RFC 5322 allows display names, quoted local
//!   parts, comments, folding white space, domain literals and group syntax; each has been
//!   used to make one layer see a different recipient than another (checklist #8, #11).
//!   An identity provider needs one bare mailbox, so all of them are refused. The
//!   `email_address` crate implements the RFC grammar faithfully and so accepts these
//!   forms; using it would mean wrapping it in the same strict checks, so the checks here are
//!   written out in full and the crate serves the tests as an independent oracle: every
//!   address accepted here must also parse there.
//! * **`!` and `%` are refused in the local part.** Both are valid `atext`, but some MTAs
//!   still honour the old routing conventions `host!user@relay` (UUCP) and
//!   `user%host@relay` (the "percent hack"), which delivers to a host other than the one
//!   after the `@` — the misdelivery class of checklist #11.
//! * **Internationalised addresses are refused (`non_ascii`).** A non-ASCII local part
//!   needs SMTPUTF8 end to end, and non-ASCII domains need IDNA, whose own mapping opens
//!   homograph confusables (`pаypal.com` with a Cyrillic `а`). Accepting only ASCII after
//!   NFKC keeps one spelling per mailbox and one visible form in every mail. Owners of an
//!   IDN domain can give its ASCII (`xn--…`) form, which is accepted as is. Converting with
//!   the `idna` crate (UTS #46) could be added later without changing any code here.
//! * **Full-width and other compatibility forms are refused** (`confusable`):
//!   `ｊａｎｅ＠ｘ．ｏｒｇ` is not quietly turned into `jane@x.org`; the person is asked to
//!   type the address in ASCII, so what they see is what is stored and mailed.
//! * **`localhost` is the one single-label domain accepted**, for development and tests
//!   (`me@localhost`). Other dotless domains are refused: no public mailbox has one, and a
//!   bare intranet name resolves differently from host to host. An application that wants
//!   to refuse `localhost` (or allow only its own domain) adds that rule in its
//!   identifier hook.

use std::fmt;
use std::str::FromStr;

use unicode_normalization::UnicodeNormalization;

/// Longest accepted address in bytes (RFC 5321 §4.5.3.1.3: a path of 256 with the brackets).
pub const MAX_ADDRESS_BYTES: usize = 254;
/// Longest accepted local part in bytes (RFC 5321 §4.5.3.1.1).
pub const MAX_LOCAL_PART_BYTES: usize = 64;
/// Longest domain label in bytes (RFC 1035 §2.3.4).
pub const MAX_LABEL_BYTES: usize = 63;
/// Inputs longer than this (after trimming) are refused before normalisation. NFKC shrinks
/// text by at most a factor of four, so anything this long is still over
/// [`MAX_ADDRESS_BYTES`] after it: the early refusal gives the same answer as the full check.
const MAX_INPUT_BYTES: usize = 4096;

/// Why a submitted address was refused. [`code`](Self::code) is stable: flows, error pages
/// and specs use it. The messages never repeat the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum AddressError {
    /// Nothing left once surrounding spaces are trimmed.
    #[error("no e-mail address was given")]
    Empty,
    /// Over [`MAX_ADDRESS_BYTES`], or a part before the `@` over [`MAX_LOCAL_PART_BYTES`].
    #[error("the e-mail address is too long")]
    TooLong,
    /// A control, invisible (soft hyphen, zero-width …) or text-direction character.
    #[error("the e-mail address contains a control, invisible or text-direction character")]
    ControlCharacter,
    #[error(
        "a name with the address (\"Name <address>\") is not accepted: give the address alone"
    )]
    /// `Name <address>`: an angle bracket.
    DisplayName,
    /// A `,` or `;`: more than one address.
    #[error("only one e-mail address is accepted")]
    List,
    /// A `"`: quoted local parts are valid but refused.
    #[error("quoted e-mail addresses are not accepted")]
    QuotedLocalPart,
    /// A `(` or `)`: RFC 5322 comments are refused.
    #[error("comments in parentheses are not accepted in an e-mail address")]
    Comment,
    /// Whitespace inside the address.
    #[error("the e-mail address contains a space")]
    Whitespace,
    /// A character outside ASCII (internationalised addresses are refused).
    #[error("the e-mail address contains a character outside ASCII")]
    NonAscii,
    /// A full-width or compatibility character that looks like ASCII.
    #[error("the e-mail address contains a look-alike (full-width or compatibility) character: type it in plain ASCII")]
    Confusable,
    /// No `@`.
    #[error("the e-mail address has no @")]
    MissingAt,
    /// More than one `@`.
    #[error("the e-mail address has more than one @")]
    MultipleAt,
    /// The part before the `@` is not a dot-atom.
    #[error("the part before the @ is not a valid mailbox name")]
    InvalidLocalPart,
    /// The part after the `@` is not a host name.
    #[error("the part after the @ is not a valid domain name")]
    InvalidDomain,
    /// A domain literal (`[192.0.2.1]`).
    #[error("addresses at an IP address ([…]) are not accepted")]
    IpLiteral,
}

impl AddressError {
    /// Every class, in the order [`canonicalize`] checks them.
    pub const ALL: [AddressError; 15] = [
        AddressError::Empty,
        AddressError::TooLong,
        AddressError::Confusable,
        AddressError::ControlCharacter,
        AddressError::DisplayName,
        AddressError::List,
        AddressError::QuotedLocalPart,
        AddressError::Comment,
        AddressError::Whitespace,
        AddressError::NonAscii,
        AddressError::MissingAt,
        AddressError::MultipleAt,
        AddressError::InvalidLocalPart,
        AddressError::InvalidDomain,
        AddressError::IpLiteral,
    ];

    /// The stable, machine-readable name of this class (snake case).
    pub fn code(self) -> &'static str {
        match self {
            AddressError::Empty => "empty",
            AddressError::TooLong => "too_long",
            AddressError::Confusable => "confusable",
            AddressError::ControlCharacter => "control_character",
            AddressError::DisplayName => "display_name",
            AddressError::List => "list",
            AddressError::QuotedLocalPart => "quoted_local_part",
            AddressError::Comment => "comment",
            AddressError::Whitespace => "whitespace",
            AddressError::NonAscii => "non_ascii",
            AddressError::MissingAt => "missing_at",
            AddressError::MultipleAt => "multiple_at",
            AddressError::InvalidLocalPart => "invalid_local_part",
            AddressError::InvalidDomain => "invalid_domain",
            AddressError::IpLiteral => "ip_literal",
        }
    }
}

/// One mailbox in canonical form: ASCII, lower-case, `local@domain`, exactly one `@`.
/// Only [`canonicalize`] makes one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress {
    canonical: String,
    at: usize,
}

impl EmailAddress {
    /// The canonical address, e.g. `jane@example.com`.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The part before the `@`.
    pub fn local_part(&self) -> &str {
        self.canonical.get(..self.at).unwrap_or_default()
    }

    /// The part after the `@`, e.g. `example.com`.
    pub fn domain(&self) -> &str {
        self.canonical.get(self.at + 1..).unwrap_or_default()
    }

    /// The canonical address as an owned `String`.
    pub fn into_string(self) -> String {
        self.canonical
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl AsRef<str> for EmailAddress {
    fn as_ref(&self) -> &str {
        &self.canonical
    }
}

impl From<EmailAddress> for String {
    fn from(address: EmailAddress) -> String {
        address.canonical
    }
}

impl FromStr for EmailAddress {
    type Err = AddressError;

    /// Same as [`canonicalize`].
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        canonicalize(input)
    }
}

/// Canonicalises a submitted address: NFKC, trim, validate, lower-case (see the module
/// documentation for every rule and its code).
pub fn canonicalize(input: &str) -> Result<EmailAddress, AddressError> {
    if input.trim_matches(is_trimmable).len() > MAX_INPUT_BYTES {
        return Err(AddressError::TooLong);
    }
    // A character that only looks like ASCII (full-width `＠`, `．`, letters …) is refused
    // rather than folded: the person typed something other than what would be mailed.
    if input.chars().any(|c| {
        !c.is_ascii() && {
            let folded: String = std::iter::once(c).nfkc().collect();
            folded.is_ascii() && !folded.chars().all(char::is_whitespace)
        }
    }) {
        return Err(AddressError::Confusable);
    }
    let normalized: String = input.nfkc().collect();
    let address = normalized.trim_matches(is_trimmable);

    if address.is_empty() {
        return Err(AddressError::Empty);
    }
    if address.len() > MAX_ADDRESS_BYTES {
        return Err(AddressError::TooLong);
    }
    if address.chars().any(is_control_or_invisible) {
        return Err(AddressError::ControlCharacter);
    }
    if address.contains(['<', '>']) {
        return Err(AddressError::DisplayName);
    }
    if address.contains([',', ';']) {
        return Err(AddressError::List);
    }
    if address.contains('"') {
        return Err(AddressError::QuotedLocalPart);
    }
    if address.contains(['(', ')']) {
        return Err(AddressError::Comment);
    }
    if address.chars().any(char::is_whitespace) {
        return Err(AddressError::Whitespace);
    }
    if !address.is_ascii() {
        return Err(AddressError::NonAscii);
    }

    let (local, domain) = match address.split_once('@') {
        None => return Err(AddressError::MissingAt),
        Some((_, domain)) if domain.contains('@') => return Err(AddressError::MultipleAt),
        Some(parts) => parts,
    };
    if local.len() > MAX_LOCAL_PART_BYTES {
        return Err(AddressError::TooLong);
    }
    if !is_dot_atom(local) {
        return Err(AddressError::InvalidLocalPart);
    }
    let domain = domain.to_ascii_lowercase();
    if domain.starts_with('[') || domain.ends_with(']') {
        return Err(AddressError::IpLiteral);
    }
    if !is_host_name(&domain) {
        return Err(AddressError::InvalidDomain);
    }

    let local = local.to_ascii_lowercase();
    let at = local.len();
    Ok(EmailAddress {
        canonical: format!("{local}@{domain}"),
        at,
    })
}

/// Spaces trimmed from both ends: white space that is not a control character.
fn is_trimmable(c: char) -> bool {
    c.is_whitespace() && !c.is_control()
}

/// Control characters and the invisible format characters that can hide or reorder text:
/// what an address must never contain, and what a one-line mail field must not carry.
pub fn is_control_or_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'                  // soft hyphen
            | '\u{034F}'                // combining grapheme joiner
            | '\u{061C}'                // arabic letter mark
            | '\u{115F}' | '\u{1160}'   // hangul fillers
            | '\u{17B4}' | '\u{17B5}'   // khmer inherent vowels
            | '\u{180B}'..='\u{180F}'   // mongolian selectors and vowel separator
            | '\u{200B}'..='\u{200F}'   // zero-width space, joiners, LRM, RLM
            | '\u{2028}' | '\u{2029}'   // line and paragraph separators
            | '\u{202A}'..='\u{202E}'   // bidi embeddings and overrides
            | '\u{2060}'..='\u{206F}'   // word joiner, invisible operators, bidi isolates
            | '\u{3164}' | '\u{FFA0}'   // hangul fillers
            | '\u{FE00}'..='\u{FE0F}'   // variation selectors
            | '\u{FEFF}'                // zero-width no-break space (BOM)
            | '\u{FFF0}'..='\u{FFFB}'   // interlinear annotation, specials
            | '\u{1BCA0}'..='\u{1BCA3}' // shorthand format controls
            | '\u{1D173}'..='\u{1D17A}' // musical format controls
            | '\u{E0000}'..='\u{E0FFF}' // tags, variation selectors supplement
        )
}

/// RFC 5322 `atext`, less `!` and `%` (legacy routing, see the module documentation).
fn is_local_atext(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '#' | '$'
                | '&'
                | '\''
                | '*'
                | '+'
                | '-'
                | '/'
                | '='
                | '?'
                | '^'
                | '_'
                | '`'
                | '{'
                | '|'
                | '}'
                | '~'
        )
}

/// A dot-atom: non-empty atoms of `atext` separated by single dots.
fn is_dot_atom(local: &str) -> bool {
    !local.is_empty()
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(is_local_atext))
}

/// An ASCII host name (already lower-case): RFC 1035 labels, at least two of them unless
/// it is `localhost`, and a last label that is not all digits.
fn is_host_name(domain: &str) -> bool {
    if domain == "localhost" {
        return true;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let Some(last) = labels.last() else {
        return false;
    };
    labels.len() >= 2 && labels.iter().all(|label| is_label(label)) && !is_all_digits(last)
}

fn is_label(label: &str) -> bool {
    (1..=MAX_LABEL_BYTES).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

fn is_all_digits(label: &str) -> bool {
    label.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests;
