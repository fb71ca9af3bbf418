//! Exact matching with a few placeholders, for values that are random or time-dependent.
//!
//! In a header line or a JSON string, `{name}` stands for:
//! - `{hex64}`: 64 lowercase hex characters; `{hex32}`: 32 (a 128-bit random id);
//! - `{jws}`: a compact JWS (three base64url parts); `{jwe}`: a compact JWE (five parts);
//! - `{date:OFFSET}`: an HTTP date (`Tue, 14 Nov 2023 22:13:20 GMT`) equal to the request's
//!   time plus OFFSET (`now`, `+30d`, `+10m`, `+60s`, `-1h`);
//! - `{iso:OFFSET}`: the same instant as JavaScript's `toISOString` (`2023-12-14T22:13:20.000Z`);
//! - `{unix:OFFSET}`: the same instant as a Unix timestamp (a JSON number when it is the
//!   whole JSON string).
//!
//! (Curly braces, not angle brackets: Gherkin reads `<name>` in a Scenario Outline as an
//! Examples column.)
//!
//! The "request's time" is the window between sending the request and receiving the answer
//! (one instant with the embedded engine's fixed clock; a few milliseconds over HTTP), so a
//! time placeholder matches exactly what the engine must have computed, never "roughly".

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// When the request was sent and answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
}

impl Window {
    pub(crate) fn at(t: OffsetDateTime) -> Self {
        Self { start: t, end: t }
    }

    fn contains_secs(&self, t: i64, offset: Duration) -> bool {
        let lo = (self.start + offset).unix_timestamp();
        let hi = (self.end + offset).unix_timestamp();
        (lo..=hi).contains(&t)
    }

    fn contains_millis(&self, t: OffsetDateTime, offset: Duration) -> bool {
        let ms = |x: OffsetDateTime| x.unix_timestamp_nanos() / 1_000_000;
        (ms(self.start + offset)..=ms(self.end + offset)).contains(&ms(t))
    }
}

/// JavaScript's `toISOString`: `2023-12-14T22:13:20.000Z`.
pub(crate) fn iso(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// An HTTP date: `Tue, 14 Nov 2023 22:13:20 GMT`.
pub(crate) fn http_date(at: OffsetDateTime) -> String {
    httpdate::fmt_http_date(std::time::SystemTime::from(at))
}

/// `now`, `+30d`, `-1h`, `+15m`, `+60s`.
pub(crate) fn parse_offset(text: &str) -> Result<Duration, String> {
    if text == "now" {
        return Ok(Duration::ZERO);
    }
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'+') => (1, &text[1..]),
        Some(b'-') => (-1, &text[1..]),
        _ => {
            return Err(format!(
                "offset {text:?}: expected now, +N<unit> or -N<unit>"
            ))
        }
    };
    let unit = rest
        .chars()
        .last()
        .ok_or_else(|| format!("offset {text:?}"))?;
    let n: i64 = rest[..rest.len() - 1]
        .parse()
        .map_err(|_| format!("offset {text:?}: not a number"))?;
    let seconds = match unit {
        's' => n,
        'm' => n * 60,
        'h' => n * 3600,
        'd' => n * 86400,
        _ => return Err(format!("offset {text:?}: unit must be s, m, h or d")),
    };
    Ok(Duration::seconds(sign * seconds))
}

/// Matches `actual` against `pattern` (literal text with `{placeholders}`), exactly.
pub(crate) fn match_line(pattern: &str, actual: &str, window: &Window) -> Result<(), String> {
    let mut rest = actual;
    let mut pat = pattern;
    while !pat.is_empty() {
        if let Some(after) = pat.strip_prefix('{') {
            if let Some(end) = after.find('}') {
                let name = &after[..end];
                if is_placeholder(name) {
                    let used = consume(name, rest, window).map_err(|why| {
                        format!("{why}\n  expected: {pattern}\n  actual:   {actual}")
                    })?;
                    rest = &rest[used..];
                    pat = &after[end + 1..];
                    continue;
                }
            }
        }
        let next = pat
            .char_indices()
            .skip(1)
            .find(|&(_, c)| c == '{')
            .map_or(pat.len(), |(i, _)| i);
        let literal = &pat[..next];
        match rest.strip_prefix(literal) {
            Some(r) => rest = r,
            None => {
                return Err(format!(
                    "mismatch at {rest:?}, expected {literal:?}\n  expected: {pattern}\n  actual:   {actual}"
                ))
            }
        }
        pat = &pat[next..];
    }
    if rest.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "unexpected trailing {rest:?}\n  expected: {pattern}\n  actual:   {actual}"
        ))
    }
}

fn is_placeholder(name: &str) -> bool {
    matches!(name, "hex64" | "hex32" | "jws" | "jwe")
        || ["date:", "iso:", "unix:"]
            .iter()
            .any(|p| name.starts_with(p))
}

/// How many bytes of `text` the placeholder `name` takes.
fn consume(name: &str, text: &str, window: &Window) -> Result<usize, String> {
    let token_len = text
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        .count();
    match name {
        "hex64" | "hex32" => {
            let want = if name == "hex64" { 64 } else { 32 };
            let n = text
                .bytes()
                .take_while(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                .count();
            if n < want {
                return Err(format!(
                    "expected {want} lowercase hex characters at {text:?}"
                ));
            }
            Ok(want)
        }
        "jws" | "jwe" => {
            let token = &text[..token_len];
            let parts: Vec<&str> = token.split('.').collect();
            let want = if name == "jws" { 3 } else { 5 };
            let empty_ok = |i: usize| name == "jwe" && i == 1;
            if parts.len() != want
                || parts
                    .iter()
                    .enumerate()
                    .any(|(i, p)| p.is_empty() && !empty_ok(i))
            {
                return Err(format!(
                    "expected a compact {} ({want} parts) at {text:?}",
                    name.to_uppercase()
                ));
            }
            Ok(token_len)
        }
        _ => {
            let (kind, offset) = name.split_once(':').ok_or("placeholder")?;
            let offset = parse_offset(offset)?;
            match kind {
                "date" => {
                    let field = text
                        .get(..29)
                        .ok_or_else(|| format!("expected an HTTP date at {text:?}"))?;
                    let at = httpdate::parse_http_date(field)
                        .map_err(|e| format!("expected an HTTP date at {text:?}: {e}"))?;
                    let secs = at
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_err(|e| e.to_string())?
                        .as_secs() as i64;
                    if !window.contains_secs(secs, offset) {
                        return Err(format!("date {field:?} is not the request time {name}"));
                    }
                    Ok(29)
                }
                "iso" => {
                    let field = text
                        .get(..24)
                        .ok_or_else(|| format!("expected an ISO date at {text:?}"))?;
                    let at = OffsetDateTime::parse(field, &Rfc3339)
                        .map_err(|e| format!("expected an ISO date at {text:?}: {e}"))?;
                    if field.len() != 24 || !field.ends_with('Z') || field.as_bytes()[19] != b'.' {
                        return Err(format!("{field:?} is not toISOString's format"));
                    }
                    if !window.contains_millis(at, offset) {
                        return Err(format!("date {field:?} is not the request time {name}"));
                    }
                    Ok(24)
                }
                "unix" => {
                    let n = text.bytes().take_while(u8::is_ascii_digit).count();
                    let secs: i64 = text[..n]
                        .parse()
                        .map_err(|_| format!("expected a Unix time at {text:?}"))?;
                    if !window.contains_secs(secs, offset) {
                        return Err(format!("{secs} is not the request time {name}"));
                    }
                    Ok(n)
                }
                _ => Err(format!("unknown placeholder {{{name}}}")),
            }
        }
    }
}

/// Matches JSON exactly, member order included; a string in `expected` may hold
/// placeholders, and `"{unix:…}"` alone matches a number.
pub(crate) fn match_json(
    expected: &Value,
    actual: &Value,
    window: &Window,
    path: &str,
) -> Result<(), String> {
    match (expected, actual) {
        (Value::String(p), Value::Number(n)) if p.starts_with("{unix:") && p.ends_with('}') => {
            match_line(p, &n.to_string(), window).map_err(|e| format!("at {path}: {e}"))
        }
        (Value::String(p), Value::String(a)) => {
            match_line(p, a, window).map_err(|e| format!("at {path}: {e}"))
        }
        (Value::Object(e), Value::Object(a)) => {
            let ek: Vec<&String> = e.keys().collect();
            let ak: Vec<&String> = a.keys().collect();
            if ek != ak {
                return Err(format!("at {path}: members {ak:?}, expected {ek:?}"));
            }
            for (k, v) in e {
                match_json(v, &a[k], window, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!(
                    "at {path}: {} items, expected {}",
                    a.len(),
                    e.len()
                ));
            }
            for (i, (x, y)) in e.iter().zip(a).enumerate() {
                match_json(x, y, window, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (e, a) if e == a => Ok(()),
        (e, a) => Err(format!("at {path}: {a}, expected {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn lines_match_exactly() {
        let w = Window::at(datetime!(2023-11-14 22:13:20 UTC));
        let line = "s=a.b.c; Path=/; Expires=Thu, 14 Dec 2023 22:13:20 GMT; HttpOnly";
        match_line("s={jws}; Path=/; Expires={date:+30d}; HttpOnly", line, &w).unwrap();
        assert!(match_line("s={jws}; Path=/; Expires={date:+29d}; HttpOnly", line, &w).is_err());
        assert!(match_line("s={jws}; Path=/; Expires={date:+30d}", line, &w).is_err());
        assert!(match_line("s={jwe}; Path=/; Expires={date:+30d}; HttpOnly", line, &w).is_err());
        let h = "a".repeat(64);
        match_line("c={hex64}%7C{hex64}; x", &format!("c={h}%7C{h}; x"), &w).unwrap();
        match_line("a{b", "a{b", &w).unwrap();
    }

    #[test]
    fn json_matches_order_and_placeholders() {
        let w = Window::at(datetime!(2023-11-14 22:13:20 UTC));
        let e: Value =
            serde_json::from_str(r#"{"a":1,"t":"{iso:+30d}","i":"{unix:now}"}"#).unwrap();
        let a: Value =
            serde_json::from_str(r#"{"a":1,"t":"2023-12-14T22:13:20.000Z","i":1700000000}"#)
                .unwrap();
        match_json(&e, &a, &w, "$").unwrap();
        let swapped: Value =
            serde_json::from_str(r#"{"t":"2023-12-14T22:13:20.000Z","a":1,"i":1700000000}"#)
                .unwrap();
        assert!(match_json(&e, &swapped, &w, "$").is_err());
    }
}
