//! Tests of `canonicalize`: each refused class and its code, accepted forms, limits, and
//! properties checked against the `email_address` crate as an oracle.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use proptest::prelude::*;

fn code_of(input: &str) -> Result<String, &'static str> {
    canonicalize(input)
        .map(EmailAddress::into_string)
        .map_err(AddressError::code)
}

#[test]
fn refused_classes() {
    let long_local = format!("{}@x.org", "a".repeat(65));
    let long_total = format!(
        "a@{}.org",
        [
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(63),
            "e".repeat(60)
        ]
        .join(".")
    );
    let long_label = format!("a@{}.org", "b".repeat(64));
    let huge = "a".repeat(MAX_INPUT_BYTES + 1);
    let cases: Vec<(&str, &str)> = vec![
        // empty
        ("", "empty"),
        ("   ", "empty"),
        ("\u{3000}", "empty"),
        // too long
        (&long_local, "too_long"),
        (&long_total, "too_long"),
        (&huge, "too_long"),
        // control, bidi and invisible characters
        ("jane@x.org\n", "control_character"),
        ("jane@x.org\r\nBcc: eve@evil.com", "control_character"),
        ("\tjane@x.org", "control_character"),
        ("jane\0@x.org", "control_character"),
        ("jane@x.org\u{85}", "control_character"),
        ("\u{202E}gro.x@enaj", "control_character"),
        ("jane\u{202E}@x.org", "control_character"),
        ("jane@x\u{2066}.org", "control_character"),
        ("jane@x.org\u{200F}", "control_character"),
        ("ja\u{200B}ne@x.org", "control_character"),
        ("jane@x.org\u{FEFF}", "control_character"),
        ("ja\u{00AD}ne@x.org", "control_character"),
        // display names
        ("Jane <jane@x.org>", "display_name"),
        ("\"X\" <a@b.org>", "display_name"),
        ("<jane@x.org>", "display_name"),
        ("ｊａｎｅ　＜ｊａｎｅ＠ｘ．ｏｒｇ＞", "confusable"),
        ("ｊａｎｅ＠ｘ．ｏｒｇ", "confusable"),
        ("jane＠x.org", "confusable"),
        ("ｊａｎｅ@x.org", "confusable"),
        // lists
        ("a@b.c, d@e.f", "list"),
        ("a@b.c,d@e.f", "list"),
        ("a@b.c;d@e.f", "list"),
        ("jane@x.org,attacker.com", "list"),
        ("jane@x.org﹐d@e.f", "confusable"), // U+FE50 small comma: NFKC ","
        // quoted local parts
        ("\"e@attacker.tld\"@victim.tld", "quoted_local_part"),
        ("\"jane\"@x.org", "quoted_local_part"),
        ("＂e@attacker.tld＂@victim.tld", "confusable"), // full-width quotes
        // comments
        ("jane(work)@x.org", "comment"),
        ("jane@x.org(comment)", "comment"),
        // white space inside
        ("jane doe@x.org", "whitespace"),
        ("jane@x .org", "whitespace"),
        ("jane@x.org d@e.f", "whitespace"),
        ("jane\u{3000}doe@x.org", "whitespace"),
        // non-ASCII after NFKC
        ("jöne@x.org", "non_ascii"),
        ("jane@bücher.de", "non_ascii"),
        ("jane@pаypal.com", "non_ascii"),         // Cyrillic а
        ("jane@x.org\u{201A}d@e.f", "non_ascii"), // single low-9 quote, looks like a comma
        // no @ / several @
        ("jane", "missing_at"),
        ("jane.x.org", "missing_at"),
        ("jane@evil.com@x.org", "multiple_at"),
        ("jane＠evil.com@x.org", "confusable"),
        ("jane﹫evil.com@x.org", "confusable"), // U+FE6B small commercial at
        ("a\\@b@x.org", "multiple_at"),
        ("@@x.org", "multiple_at"),
        // local part
        ("@x.org", "invalid_local_part"),
        (".jane@x.org", "invalid_local_part"),
        ("jane.@x.org", "invalid_local_part"),
        ("ja..ne@x.org", "invalid_local_part"),
        ("jane\\x@x.org", "invalid_local_part"),
        ("jane[1]@x.org", "invalid_local_part"),
        ("host!jane@x.org", "invalid_local_part"),
        ("jane%evil.com@x.org", "invalid_local_part"),
        ("jane:x@x.org", "invalid_local_part"),
        // IP literals
        ("jane@[127.0.0.1]", "ip_literal"),
        ("jane@[IPv6:::1]", "ip_literal"),
        // domain
        ("jane@", "invalid_domain"),
        ("jane@x", "invalid_domain"),
        ("jane@.x.org", "invalid_domain"),
        ("jane@x.org.", "invalid_domain"),
        ("jane@x..org", "invalid_domain"),
        ("jane@-x.org", "invalid_domain"),
        ("jane@x-.org", "invalid_domain"),
        ("jane@x_y.org", "invalid_domain"),
        ("jane@127.0.0.1", "invalid_domain"),
        ("jane@x.123", "invalid_domain"),
        ("jane@x.org:25", "invalid_domain"),
        ("jane@x.org/path", "invalid_domain"),
        (&long_label, "invalid_domain"),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for (input, expected) in &cases {
        assert_eq!(code_of(input), Err(*expected), "input {input:?}");
        seen.insert(*expected);
    }
    // Every class is pinned by at least one case.
    for class in AddressError::ALL {
        assert!(seen.contains(class.code()), "no case for {}", class.code());
    }
}

#[test]
fn accepted_forms() {
    let max_local = "a".repeat(64);
    let max_local_in = format!("{max_local}@x.org");
    let max_local_out = max_local_in.clone();
    let cases: Vec<(&str, &str)> = vec![
        ("jane@x.org", "jane@x.org"),
        ("Jane@Example.COM ", "jane@example.com"),
        ("  jane@x.org\u{3000}", "jane@x.org"),
        ("\u{00A0}jane@x.org", "jane@x.org"),
        ("jane+signin@x.org", "jane+signin@x.org"),
        ("jane.doe@mail.eu.x.org", "jane.doe@mail.eu.x.org"),
        ("jane@my-company.co.uk", "jane@my-company.co.uk"),
        ("o'brien@x.org", "o'brien@x.org"),
        ("a_b-c=d@x-1.org", "a_b-c=d@x-1.org"),
        ("jane@xn--bcher-kva.de", "jane@xn--bcher-kva.de"),
        ("jane@x.c", "jane@x.c"),
        ("me@localhost", "me@localhost"),
        ("Me@LocalHost", "me@localhost"),
        ("jane@1x.org", "jane@1x.org"),
        ("jane@x.org1", "jane@x.org1"),
        (&max_local_in, &max_local_out),
    ];
    for (input, expected) in &cases {
        assert_eq!(
            code_of(input),
            Ok((*expected).to_owned()),
            "input {input:?}"
        );
    }
}

#[test]
fn parts_and_display() {
    let address = canonicalize(" Jane.Doe+x@Mail.Example.com").unwrap();
    assert_eq!(address.as_str(), "jane.doe+x@mail.example.com");
    assert_eq!(address.local_part(), "jane.doe+x");
    assert_eq!(address.domain(), "mail.example.com");
    assert_eq!(address.to_string(), "jane.doe+x@mail.example.com");
    assert_eq!(
        "jane@x.org".parse::<EmailAddress>().unwrap().as_str(),
        "jane@x.org"
    );
    assert_eq!(String::from(address.clone()), address.as_str());
}

#[test]
fn limits_are_exact() {
    // 254 bytes in all is accepted, 255 is not.
    let domain = |len: usize| {
        let mut labels = Vec::new();
        let mut left = len;
        while left > 0 {
            let take = left.min(63);
            labels.push("d".repeat(take));
            left = left.saturating_sub(take + 1);
        }
        labels.join(".")
    };
    let d = domain(250);
    let ok = format!("ab@{d}");
    assert_eq!(ok.len(), 253);
    assert!(canonicalize(&ok).is_ok());
    let ok = format!("abc@{d}");
    assert_eq!(ok.len(), 254);
    assert!(canonicalize(&ok).is_ok());
    let too_long = format!("abcd@{d}");
    assert_eq!(too_long.len(), 255);
    assert_eq!(canonicalize(&too_long), Err(AddressError::TooLong));
}

#[test]
fn codes_are_distinct_and_messages_do_not_echo() {
    let codes: std::collections::BTreeSet<_> = AddressError::ALL.iter().map(|e| e.code()).collect();
    assert_eq!(codes.len(), AddressError::ALL.len());
    let error = canonicalize("<script>@x.org").unwrap_err();
    assert!(!error.to_string().contains("script"));
}

fn nfkc(s: &str) -> String {
    s.nfkc().collect()
}

/// Strings that look like addresses, with the characters that matter here mixed in.
fn address_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-zA-Z0-9]{1,8}",
        1 => Just("@".to_owned()),
        1 => Just("＠".to_owned()),
        1 => Just("﹫".to_owned()),
        1 => Just(".".to_owned()),
        1 => Just("．".to_owned()),
        1 => Just(",".to_owned()),
        1 => Just(" ".to_owned()),
        1 => Just("\u{3000}".to_owned()),
        1 => Just("\"".to_owned()),
        1 => Just("<".to_owned()),
        1 => Just("-".to_owned()),
        1 => Just("+".to_owned()),
        1 => Just("\n".to_owned()),
        1 => Just("\u{202E}".to_owned()),
        1 => Just("e\u{0301}".to_owned()),
        1 => Just("ｊ".to_owned()),
        1 => Just("\u{1D400}".to_owned()),
        1 => Just("ﬁ".to_owned()),
        1 => any::<char>().prop_map(String::from),
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn normalising_first_changes_nothing(input in address_like()) {
        if let Ok(address) = canonicalize(&input) {
            prop_assert_eq!(canonicalize(&nfkc(&input)), Ok(address));
        }
    }

    #[test]
    fn normalising_first_changes_nothing_on_any_text(input in "\\PC{0,40}") {
        if let Ok(address) = canonicalize(&input) {
            prop_assert_eq!(canonicalize(&nfkc(&input)), Ok(address));
        }
    }

    #[test]
    fn accepted_output_is_one_canonical_mailbox(input in address_like()) {
        if let Ok(address) = canonicalize(&input) {
            let text = address.as_str();
            prop_assert_eq!(text.matches('@').count(), 1);
            prop_assert!(text.is_ascii());
            prop_assert_eq!(text.to_ascii_lowercase(), text);
            prop_assert!(text.len() <= MAX_ADDRESS_BYTES);
            prop_assert_eq!(canonicalize(text), Ok(address.clone()));
            prop_assert_eq!(format!("{}@{}", address.local_part(), address.domain()), text);
            // An independent RFC 5322 parser agrees that it is one plain mailbox.
            prop_assert!(
                email_address::EmailAddress::parse_with_options(
                    text,
                    email_address::Options::default().without_display_text(),
                ).is_ok(),
                "email_address refused {:?}", text
            );
        }
    }

    #[test]
    fn generated_addresses_are_accepted(
        local in "[a-z0-9]{1,10}(\\.[a-z0-9+_-]{1,10}){0,2}",
        labels in proptest::collection::vec("[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", 1..4),
        tld in "[a-z]{2,6}",
    ) {
        let address = format!("{local}@{}.{tld}", labels.join("."));
        prop_assert_eq!(canonicalize(&address).map(EmailAddress::into_string), Ok(address.clone()));
        let shouted = format!("  {}  ", address.to_ascii_uppercase());
        prop_assert_eq!(canonicalize(&shouted).map(EmailAddress::into_string), Ok(address));
    }
}
