//! The users file backend and password hashing.

use portcullis::{Authorize, RequestInfo};
use portcullis_server::{hash_password, verify_password, PasswordError, UserDirectory};
use serde_json::{json, Map, Value};

use crate::support::{cheap_hash, write_users, PASSWORD};

fn request() -> RequestInfo {
    RequestInfo {
        method: "POST".into(),
        query: Map::new(),
        headers: Vec::new(),
    }
}

fn form(fields: Value) -> Map<String, Value> {
    fields.as_object().unwrap().clone()
}

fn directory() -> UserDirectory {
    let dir = tempfile::TempDir::new().unwrap();
    UserDirectory::load(&write_users(dir.path())).unwrap()
}

#[tokio::test]
async fn right_wrong_and_unknown() {
    let users = directory();
    assert_eq!(users.len(), 2);
    let user = users
        .authorize(
            &form(json!({"username": "jane", "password": PASSWORD, "csrfToken": "x"})),
            &request(),
        )
        .await
        .unwrap();
    assert_eq!(
        user,
        Some(json!({"id": "user-1", "name": "Jane", "email": "jane@example.com", "image": null}))
    );
    // The id defaults to the username; missing name and e-mail are null.
    let bob = users
        .authorize(
            &form(json!({"username": "bob", "password": "bob-password"})),
            &request(),
        )
        .await
        .unwrap();
    assert_eq!(
        bob,
        Some(json!({"id": "bob", "name": null, "email": null, "image": null}))
    );

    for (username, password) in [
        ("jane", "wrong"),
        ("jane", ""),
        ("jane", "bob-password"),
        ("bob", PASSWORD),
        ("nobody", PASSWORD),
        ("", ""),
        ("Jane", PASSWORD),
    ] {
        let result = users
            .authorize(
                &form(json!({"username": username, "password": password})),
                &request(),
            )
            .await
            .unwrap();
        assert_eq!(result, None, "{username}/{password}");
    }
}

#[tokio::test]
async fn missing_or_non_string_fields_fail_quietly() {
    let users = directory();
    for fields in [
        json!({}),
        json!({"username": "jane"}),
        json!({"password": PASSWORD}),
        json!({"username": ["jane", "jane"], "password": PASSWORD}),
        json!({"username": "jane", "password": [PASSWORD, PASSWORD]}),
        json!({"username": "jane", "password": 12345}),
        json!({"username": null, "password": PASSWORD}),
        json!({"username": {"a": 1}, "password": PASSWORD}),
    ] {
        let result = users.authorize(&form(fields.clone()), &request()).await;
        assert_eq!(result, Ok(None), "{fields}");
    }
}

#[tokio::test]
async fn long_unicode_passwords_are_never_truncated() {
    let long: String = "pâsswörd-🔐-".repeat(100); // > 1024 bytes
    assert!(long.len() > 1024);
    let mut almost = long.clone();
    almost.pop();
    almost.push('x');
    let text = format!(
        "[[users]]\nusername = \"ünï\"\npassword_hash = \"{}\"\n",
        cheap_hash(&long)
    );
    let users = UserDirectory::from_toml(&text).unwrap();
    let check = |password: String| {
        let users = users.clone();
        async move {
            users
                .authorize(
                    &form(json!({"username": "ünï", "password": password})),
                    &request(),
                )
                .await
                .unwrap()
        }
    };
    assert!(check(long.clone()).await.is_some());
    assert!(check(almost).await.is_none());
    assert!(check(long[..1024].to_owned()).await.is_none());
}

#[test]
fn bad_users_files_are_refused_with_the_reason() {
    let hash = cheap_hash("x");
    let cases = [
        (
            format!("[[users]]\nusername = \"a\"\npassword_hash = \"{hash}\"\nrole = \"admin\"\n"),
            "role",
        ),
        (
            "[[users]]\nusername = \"a\"\npassword_hash = \"plain\"\n".to_owned(),
            "Argon2id",
        ),
        (
            "[[users]]\nusername = \"a\"\npassword_hash = \"$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\"\n".to_owned(),
            "Argon2id",
        ),
        (
            format!("[[users]]\nusername = \"a\"\npassword_hash = \"{hash}\"\n[[users]]\nusername = \"a\"\npassword_hash = \"{hash}\"\n"),
            "twice",
        ),
        (
            format!("[[users]]\nusername = \"\"\npassword_hash = \"{hash}\"\n"),
            "empty",
        ),
    ];
    for (text, needle) in cases {
        let err = UserDirectory::from_toml(&text).unwrap_err();
        assert!(err.contains(needle), "{needle}: {err}");
    }
    assert!(UserDirectory::from_toml("").unwrap().is_empty());
}

#[test]
fn hash_password_round_trip() {
    let hash = hash_password("pässwörd 🔑").unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(verify_password("pässwörd 🔑", &hash));
    assert!(!verify_password("pässwörd", &hash));
    assert!(!verify_password("pässwörd 🔑", "not a hash"));
    // A fresh salt every time.
    assert_ne!(hash, hash_password("pässwörd 🔑").unwrap());
    assert_eq!(hash_password(""), Err(PasswordError::Empty));
}
