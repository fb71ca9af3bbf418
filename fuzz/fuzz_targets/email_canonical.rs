//! E-mail canonicalisation: never panics, and a canonical address is a fixed point
//! (canonicalising it again gives itself), ASCII, lower-case, one `@`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_domain::email_address::canonicalize;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(address) = canonicalize(input) else {
        return;
    };
    let text = address.as_str();
    assert!(text.is_ascii(), "{input:?} -> {text:?} is not ASCII");
    assert_eq!(text, text.to_ascii_lowercase(), "{input:?} -> {text:?}");
    assert_eq!(text.matches('@').count(), 1, "{input:?} -> {text:?}");
    assert_eq!(
        format!("{}@{}", address.local_part(), address.domain()),
        text
    );
    assert!(!address.local_part().is_empty() && !address.domain().is_empty());
    match canonicalize(text) {
        Ok(again) => assert_eq!(again, address, "{input:?}: not a fixed point"),
        Err(e) => panic!("{input:?} -> {text:?}, which is refused: {e:?}"),
    }
});
