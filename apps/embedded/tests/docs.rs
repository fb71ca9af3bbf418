#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The flow diagrams in `docs/flows.md` are generated from the declarations; this fails
//! when they drift. Regenerate with `cargo run -p portcullis-server -- flows --markdown > docs/flows.md`
//! (or set `UPDATE_DOCS=1` when running this test).

#[test]
fn flow_diagrams_in_docs_are_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/flows.md");
    let expected = portcullis::flows_markdown();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(path, &expected).unwrap();
    }
    let actual = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        actual == expected,
        "docs/flows.md is out of date: run `UPDATE_DOCS=1 cargo test -p portcullis --test docs`"
    );
}
