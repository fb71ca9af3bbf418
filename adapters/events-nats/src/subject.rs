//! NATS subjects: which are valid to publish to or to filter on, and which filter takes which
//! subject (`*` one token, `>` one or more trailing tokens).

/// A subject to publish to: dot-separated non-empty tokens, no wildcards, no whitespace.
pub fn is_publish_subject(subject: &str) -> bool {
    is_filter(subject) && subject.split('.').all(|token| token != "*" && token != ">")
}

/// A subject filter (a stream's subjects): tokens as in a subject, or `*`, or a last `>`.
pub fn is_filter(filter: &str) -> bool {
    let tokens: Vec<&str> = filter.split('.').collect();
    let last = tokens.len().saturating_sub(1);
    !filter.is_empty()
        && tokens.iter().enumerate().all(|(i, token)| {
            !token.is_empty()
                && !token.chars().any(char::is_whitespace)
                && match *token {
                    "*" => true,
                    ">" => i == last,
                    other => !other.contains(['*', '>']),
                }
        })
}

/// Whether `filter` takes `subject`.
pub fn matches(filter: &str, subject: &str) -> bool {
    let mut subject = subject.split('.');
    for token in filter.split('.') {
        match (token, subject.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (token, Some(s)) if token == s => {}
            _ => return false,
        }
    }
    subject.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_take_what_nats_says_they_take() {
        assert!(matches("a.b", "a.b"));
        assert!(!matches("a.b", "a.b.c"));
        assert!(!matches("a.b.c", "a.b"));
        assert!(matches("a.*", "a.b"));
        assert!(!matches("a.*", "a.b.c"));
        assert!(matches("a.>", "a.b.c"));
        assert!(!matches("a.>", "a"));
        assert!(matches(">", "a"));
        assert!(matches("*.b.>", "x.b.c.d"));
        assert!(!matches("a.b", "a.c"));
    }

    #[test]
    fn subjects_and_filters_are_checked() {
        assert!(is_publish_subject("portcullis.events"));
        assert!(is_publish_subject("events"));
        for bad in ["", "a..b", ".a", "a.", "a b", "a.*", "a.>", "a*b", "a.\t"] {
            assert!(!is_publish_subject(bad), "{bad:?}");
        }
        assert!(is_filter("a.*.c"));
        assert!(is_filter("a.>"));
        assert!(is_filter(">"));
        for bad in ["", "a.>.c", "a..b", "a b", "a*"] {
            assert!(!is_filter(bad), "{bad:?}");
        }
    }
}
