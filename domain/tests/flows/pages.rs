//! The built-in pages (sign-in, sign-out, verify-request, error), snapshotted.

use super::*;

#[test]
fn pages() {
    let engine = engine(HookSet::default());
    for (name, uri) in [
        ("page_signin", "/api/auth/signin?error=CredentialsSignin"),
        ("page_signout", "/api/auth/signout"),
        ("page_verify_request", "/api/auth/verify-request"),
        (
            "page_error_access_denied",
            "/api/auth/error?error=AccessDenied",
        ),
        (
            "page_error_verification",
            "/api/auth/error?error=Verification",
        ),
        ("page_error_configuration", "/api/auth/error/Configuration"),
        ("page_error_other", "/api/auth/error?error=%3Cscript%3E"),
    ] {
        let record = drive(
            &engine,
            http::Request::get(uri).body(Bytes::new()).unwrap(),
            7,
            |_| panic!("no effects"),
        );
        insta::assert_yaml_snapshot!(name, record);
    }
}
